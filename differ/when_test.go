package differ

import (
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"strconv"
	"sync"
	"testing"
)

// whenEvent is an event as match sees it.
type whenEvent struct {
	typ, key      string
	before, after string // "" for absent
}

func (e whenEvent) match(w *when) (bool, error) {
	var before, after []byte
	if e.before != "" {
		before = []byte(e.before)
	}
	if e.after != "" {
		after = []byte(e.after)
	}
	return w.match(e.typ, "orders", e.key, before, after)
}

var whenEvents = map[string]whenEvent{
	"created": {typ: TypeItemCreated, key: "42", after: `{"id":42,"price":10,"status":"shipped","stock":3,"tags":["new","sale"]}`},
	"dropped": {typ: TypeItemUpdated, key: "42", before: `{"id":42,"price":10,"status":"paid","stock":7}`, after: `{"id":42,"price":12,"status":"shipped","stock":3}`},
	"low":     {typ: TypeItemUpdated, key: "42", before: `{"id":42,"price":10,"status":"paid","stock":4}`, after: `{"id":42,"price":10,"status":"delivered","stock":3}`},
	"deleted": {typ: TypeItemDeleted, key: "42", before: `{"id":42,"price":10,"status":"paid","stock":7}`},
	"doc":     {typ: TypeDocumentChanged, before: `{"total":1}`, after: `{"total":2}`},
	"big":     {typ: TypeItemCreated, key: "9007199254740993", after: `{"big":12345678901234567890123,"id":9007199254740993,"ratio":0.5}`},
}

func TestWhenMatch(t *testing.T) {
	type want struct {
		match bool
		err   string
	}
	tests := []struct {
		src  string
		want map[string]want // by whenEvents name; events not listed are not run
	}{
		{`type == "item.created"`, map[string]want{"created": {match: true}, "dropped": {}, "deleted": {}, "doc": {}}},
		{`after.stock < 5 && before.stock >= 5`, map[string]want{
			"dropped": {match: true},
			"low":     {},
			"created": {err: `when: item.created "42": cannot fetch stock from <nil> (1:27)`},
			"deleted": {err: `when: item.deleted "42": cannot fetch stock from <nil> (1:7)`},
		}},
		// Guarding with the type, or with ??, keeps creations and
		// deletions from failing.
		{`type == "item.updated" && after.stock < 5 && before.stock >= 5`, map[string]want{"dropped": {match: true}, "low": {}, "created": {}, "deleted": {}}},
		{`after?.stock < 5 && (before?.stock ?? 0) >= 5`, map[string]want{"dropped": {match: true}, "low": {}, "created": {}}},
		{`after.status in ["shipped", "delivered"]`, map[string]want{"created": {match: true}, "dropped": {match: true}, "low": {match: true}}},
		{`before?.status == "paid" && after?.status == "shipped"`, map[string]want{"dropped": {match: true}, "low": {}, "created": {}, "deleted": {}}},
		{`before?.price != after?.price`, map[string]want{"created": {match: true}, "dropped": {match: true}, "low": {}, "deleted": {match: true}}},
		{`key == "42" && job == "orders"`, map[string]want{"created": {match: true}, "doc": {}}},
		{`"sale" in after.tags && len(after.tags) == 2`, map[string]want{"created": {match: true}}},
		{`after.price > 10.5`, map[string]want{"dropped": {match: true}, "low": {}}},
		{`after.total - before.total == 1`, map[string]want{"doc": {match: true}}},
		{`$env.after.stock < 5`, map[string]want{"dropped": {match: true}}},
		// Integers are exact: as float64s both ids would be 2^53.
		{`after.id == 9007199254740993 && after.id != 9007199254740992`, map[string]want{"big": {match: true}}},
		{`after.big > 1.2e22 && after.ratio == 0.5`, map[string]want{"big": {match: true}}},
		{`before.total < "x"`, map[string]want{"doc": {err: `when: document.changed: invalid operation: int < string (1:14)`}}},
		{`after.stock`, map[string]want{"created": {err: `when: item.created "42": invalid operation: bool(int) (1:1)`}}},
	}
	for _, tt := range tests {
		w, err := compileWhen(tt.src)
		if err != nil {
			t.Errorf("compileWhen(%q): %v", tt.src, err)
			continue
		}
		for name, want := range tt.want {
			got, err := whenEvents[name].match(w)
			if got != want.match || errString(err) != want.err {
				t.Errorf("%q on %s = %t, %v; want %t, %q", tt.src, name, got, err, want.match, want.err)
			}
		}
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func TestWhenEmpty(t *testing.T) {
	w, err := compileWhen("")
	if w != nil || err != nil {
		t.Fatalf(`compileWhen("") = %v, %v; want nil, nil`, w, err)
	}
	for name, e := range whenEvents {
		if got, err := e.match(w); !got || err != nil {
			t.Errorf("nil when on %s = %t, %v; want true", name, got, err)
		}
	}
}

func TestWhenCompileErrors(t *testing.T) {
	tests := []struct {
		src          string
		want         string
		line, column int
	}{
		{`after.stock <<< 5`, `when: unexpected token Operator("<") (1:14)`, 1, 14},
		{`afterx.stock < 5`, `when: unknown name afterx (1:1)`, 1, 1},
		{`type`, `when: expected bool, but got string`, 0, 0},
		{"type == \"item.updated\" &&\n  after.stock <", `when: unexpected token EOF (2:15)`, 2, 15},
		{`type == 1`, `when: invalid operation: == (mismatched types string and int) (1:6)`, 1, 6},
		{`after.stock < 5 &&& true`, `when: unexpected token Operator("&") (1:19)`, 1, 19},
		// The variable type hides expr's builtin type().
		{`type(after) == "int"`, `when: string is not callable (1:1)`, 1, 1},
	}
	for _, tt := range tests {
		w, err := compileWhen(tt.src)
		var we *whenError
		if w != nil || !errors.As(err, &we) || err.Error() != tt.want || we.Line != tt.line || we.Column != tt.column {
			t.Errorf("compileWhen(%q) = %v, %v (%+v); want %q at %d:%d", tt.src, w, err, we, tt.want, tt.line, tt.column)
		}
	}
}

func TestWhenBadJSON(t *testing.T) {
	w, err := compileWhen(`after.stock < 5`)
	if err != nil {
		t.Fatal(err)
	}
	got, err := w.match(TypeItemUpdated, "orders", "7", []byte(`{}`), []byte(`{"stock":`))
	const want = `when: item.updated "7": after: not canonical JSON`
	if got || errString(err) != want {
		t.Errorf("match = %t, %v; want false, %q", got, err, want)
	}
	// A value the condition does not read is not even decoded.
	w, err = compileWhen(`type == "item.updated"`)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := w.match(TypeItemUpdated, "orders", "7", []byte(`{`), []byte(`{`)); !got || err != nil {
		t.Errorf("match = %t, %v; want true", got, err)
	}
}

// TestWhenDecode holds decodeWhenValue to encoding/json.
func TestWhenDecode(t *testing.T) {
	got, err := decodeWhenValue([]byte(`{"a":1,"b":1.5,"c":12345678901234567890,"d":-9223372036854775808,"e":1e+400,"f":[2,{"g":-3}],"h":"7"}`))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"a": 1, "b": 1.5, "c": 1.2345678901234567e19, "d": math.MinInt64, "e": math.Inf(1),
		"f": []any{2, map[string]any{"g": -3}}, "h": "7",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("decodeWhenValue = %#v, want %#v", got, want)
	}
}

func TestWhenDecodeNotCanonical(t *testing.T) {
	for _, in := range []string{``, `{`, `{"a"}`, `{"a":}`, `{"a":1`, `[1`, `"ab`, `tru`, `nul`, `[fals]`, `1x`, `{"a":1} `, `{"a":1,}x`, `{"a":t}`} {
		if v, err := decodeWhenValue([]byte(in)); err != errNotCanonical {
			t.Errorf("decodeWhenValue(%q) = %v, %v; want errNotCanonical", in, v, err)
		}
	}
}

// FuzzWhenDecode holds decodeWhenValue to encoding/json on canonical
// values, numbers converted the same way.
func FuzzWhenDecode(f *testing.F) {
	for _, s := range []string{
		`{"a":[1,-2.5,1e+400,12345678901234567890],"b":{"c":null,"d":true,"e":false},"\u0001\"":"x\\y\n"}`,
		`[]`, `{}`, `"é"`, `-9223372036854775808`, `[[],{},[{}]]`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := canonicalize(b)
		if err != nil {
			return
		}
		got, err := decodeWhenValue(c)
		if err != nil {
			t.Fatalf("decodeWhenValue(%s): %v", c, err)
		}
		if want := whenNumbers(mustDecode(t, c)); !reflect.DeepEqual(got, want) {
			t.Fatalf("decodeWhenValue(%s) = %#v, want %#v", c, got, want)
		}
	})
}

// whenNumbers converts the json.Numbers of a decoded value as when does.
func whenNumbers(v any) any {
	switch v := v.(type) {
	case json.Number:
		if i, err := strconv.ParseInt(string(v), 10, strconv.IntSize); err == nil {
			return int(i)
		}
		f, _ := strconv.ParseFloat(string(v), 64)
		return f
	case map[string]any:
		for k, e := range v {
			v[k] = whenNumbers(e)
		}
	case []any:
		for i, e := range v {
			v[i] = whenNumbers(e)
		}
	}
	return v
}

// TestWhenConcurrent runs one condition from several goroutines, as jobs
// sharing a config would (run it with -race).
func TestWhenConcurrent(t *testing.T) {
	w, err := compileWhen(`after.stock < 5 && before.stock >= 5`)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	results := make([]bool, 8)
	for i := range results {
		wg.Go(func() {
			for range 100 {
				ok, err := whenEvents["dropped"].match(w)
				if err != nil || !ok {
					return
				}
			}
			results[i] = true
		})
	}
	wg.Wait()
	for i, ok := range results {
		if !ok {
			t.Errorf("goroutine %d: a match failed", i)
		}
	}
}

// BenchmarkWhen measures one event: decoding what the condition reads and
// running it.
func BenchmarkWhen(b *testing.B) {
	e := whenEvents["dropped"]
	for _, src := range []string{
		`after.stock < 5 && before.stock >= 5`,
		`type == "item.updated"`,
	} {
		w, err := compileWhen(src)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(src, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if ok, err := e.match(w); !ok || err != nil {
					b.Fatal(ok, err)
				}
			}
		})
	}
}
