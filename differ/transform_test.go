package differ

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

func mustTransform(t testing.TB, src string) *transform {
	t.Helper()
	tr, err := compileTransform(src)
	if err != nil {
		t.Fatalf("compileTransform(%q): %v", src, err)
	}
	return tr
}

func TestTransformApply(t *testing.T) {
	orders := `{"data":{"orders":[{"id":1,"status":"paid","total":3.5},{"id":2,"status":"new","lines":[]}]},"meta":{"ts":1}}`
	items := `{"items":[{"id":"a","active":true},{"id":"b","active":false},{"id":"c","active":true,"n":null}]}`
	big := `{"id":123456789012345678901234567890,"exact":0.100000000000000000000001,"n":9007199254740993,"ratio":0.1}`
	tests := []struct {
		src, doc, want string
	}{
		{`.data.orders | map({id, status})`, orders, `[{"id":1,"status":"paid"},{"id":2,"status":"new"}]`},
		{`{orders: [.items[] | select(.active)]}`, items, `{"orders":[{"active":true,"id":"a"},{"active":true,"id":"c","n":null}]}`},
		{`del(.meta) | .data.orders |= sort_by(-.id)`, orders, `{"data":{"orders":[{"id":2,"lines":[],"status":"new"},{"id":1,"status":"paid","total":3.5}]}}`},
		{`.`, "\ufeff{\"a\": [1, 2.50, 1e2]} \n", `{"a":[1,2.50,1e2]}`},
		// Numbers keep every digit unless computed with; integer
		// arithmetic stays exact, anything else is float64 (n+0.5 is
		// n rounded to a float64, 2^53, plus 0.5, rounded again).
		{`.`, big, `{"exact":0.100000000000000000000001,"id":123456789012345678901234567890,"n":9007199254740993,"ratio":0.1}`},
		{`[.id + 1, .n * 2, .n + 0.5, .ratio * 3]`, big, `[123456789012345678901234567891,18014398509481986,9007199254740992,0.30000000000000004]`},
		{`1e1000`, `null`, `1.7976931348623157e+308`},
		{`[nan, -infinite]`, `null`, `[null,-1.7976931348623157e+308]`},
		// The environment is out of reach.
		{`[$ENV, env]`, `null`, `[{},{}]`},
		// halt ends the outputs, as in jq.
		{`.meta, halt`, orders, `{"ts":1}`},
		{`"<&>\u2028"`, `null`, `"<&>` + "\u2028" + `"`},
	}
	for _, tt := range tests {
		got, err := mustTransform(t, tt.src).apply(t.Context(), []byte(tt.doc))
		if err != nil || string(got) != tt.want {
			t.Errorf("%q on %s = %s, %v; want %s", tt.src, tt.doc, got, err, tt.want)
		}
	}
}

func TestTransformErrors(t *testing.T) {
	tests := []struct {
		src, doc, want string
	}{
		{`.a |`, ``, `transform: unexpected EOF`},
		{`.a | foo(1)`, ``, `transform: function not defined: foo/1`},
		{`input`, ``, `transform: input(s)/0 is not allowed`},
		{`$secret`, ``, `transform: variable not defined: $secret`},
		{`import "lib" as lib; .`, ``, `transform: cannot load module: "lib"`},
		{`.`, `{"a":`, `transform: decode document: unexpected EOF`},
		{`.`, `{"a":1} {"b":2}`, `transform: decode document: data after the JSON value at offset 8`},
		{`.`, `{'a':1}`, `transform: decode document: invalid character '\'' looking for beginning of object key string`},
		{`.`, " \ufeff{}", `transform: decode document: invalid character 'ï' looking for beginning of value`}, // a BOM after a space is no BOM
		{`.a.b`, `{"a":[1]}`, `transform: expected an object but got: array ([1])`},
		{`.a + 1`, `{"a":"x"}`, `transform: cannot add: string ("x") and number (1)`},
		{`error("no orders")`, `{}`, `transform: error: no orders`},
		{`"x" | halt_error`, `{}`, `transform: halt error: x`},
		{`empty`, `{}`, `transform: produced no value; expected exactly one`},
		{`halt`, `{}`, `transform: produced no value; expected exactly one`},
		{`.[]`, `[1,2]`, `transform: produced more than one value; expected exactly one (collect them in an array: [expression])`},
		{`repeat(1)`, `{}`, `transform: produced more than one value; expected exactly one (collect them in an array: [expression])`},
		{`.[]`, `[1,{"a":1}]`, `transform: produced more than one value; expected exactly one (collect them in an array: [expression])`},
		// A failure after the first value is reported as such.
		{`1, error("late")`, `{}`, `transform: error: late`},
	}
	for _, tt := range tests {
		tr, err := compileTransform(tt.src)
		if err == nil {
			_, err = tr.apply(t.Context(), []byte(tt.doc))
		}
		if errString(err) != tt.want {
			t.Errorf("%q on %q: error %v, want %q", tt.src, tt.doc, err, tt.want)
		}
	}
}

// TestTransformDeadline shows that the context stops an expression that
// never ends, with or without producing values.
func TestTransformDeadline(t *testing.T) {
	for _, src := range []string{`def f: f; f`, `last(repeat(1))`, `[range(infinite)] | length`, `until(false; .)`} {
		ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
		_, err := mustTransform(t, src).apply(ctx, []byte(`{"a":1}`))
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) || err.Error() != "transform: stopped: context deadline exceeded" {
			t.Errorf("%q: error %v, want the deadline", src, err)
		}
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := mustTransform(t, `.`).apply(ctx, []byte(`{}`)); !errors.Is(err, context.Canceled) || err.Error() != "transform: stopped: context canceled" {
		t.Errorf("cancelled context: error %v", err)
	}
}

// TestTransformConcurrent runs one transform from several goroutines, as
// the polls of one job may overlap (run it with -race).
func TestTransformConcurrent(t *testing.T) {
	tr := mustTransform(t, `.items | map(select(.active) | .id)`)
	var wg sync.WaitGroup
	got := make([]string, 8)
	for i := range got {
		wg.Go(func() {
			doc := fmt.Sprintf(`{"items":[{"id":%d,"active":true},{"id":0}]}`, i)
			for range 50 {
				out, err := tr.apply(t.Context(), []byte(doc))
				if err != nil {
					got[i] = err.Error()
					return
				}
				got[i] = string(out)
			}
		})
	}
	wg.Wait()
	for i, g := range got {
		if want := fmt.Sprintf("[%d]", i); g != want {
			t.Errorf("goroutine %d: %s, want %s", i, g, want)
		}
	}
}

// BenchmarkTransform reshapes a document of 1000 items of a typical size.
func BenchmarkTransform(b *testing.B) {
	var sb strings.Builder
	sb.WriteString(`{"data":{"orders":[`)
	for i := range 1000 {
		if i > 0 {
			sb.WriteByte(',')
		}
		fmt.Fprintf(&sb, `{"customer":{"id":%d,"name":"Ada Lovelace","tier":"gold"},"id":%d,"lines":[{"qty":2,"sku":"A-1"}],"status":"paid","total":"129.90"}`, i%97, i)
	}
	sb.WriteString(`]}}`)
	doc := []byte(sb.String())
	tr := mustTransform(b, `.data.orders | map({id, status, customer: .customer.id})`)
	b.SetBytes(int64(len(doc)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := tr.apply(b.Context(), doc); err != nil {
			b.Fatal(err)
		}
	}
}
