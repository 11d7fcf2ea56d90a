package differ

import (
	"bytes"
	"encoding/json"
	"errors"
	"math/big"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestCanonicalize(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"keys sorted", `{"b":1,"a":2,"c":{"z":1,"y":2}}`, `{"a":2,"b":1,"c":{"y":2,"z":1}}`},
		{"whitespace dropped", " {\n\t\"a\" : [ 1 , 2 ] ,\r\n \"b\" : { } , \"c\" : [ ] } ", `{"a":[1,2],"b":{},"c":[]}`},
		{"sorted object kept", `{"a":1,"b":2}`, `{"a":1,"b":2}`},
		{"duplicate names: last wins", `{"a":1,"b":2,"a":{"x":1}}`, `{"a":{"x":1},"b":2}`},
		{"duplicate names in order", `{"a":1,"a":2}`, `{"a":2}`},
		{"arrays keep order", `[3,1,2,{"b":1,"a":2}]`, `[3,1,2,{"a":2,"b":1}]`},
		{"escapes reduced", `"\u0041\/\"\\\b\f\n\r\t\u0001\u00e9"`, `"A/\"\\\b\f\n\r\t\u0001é"`},
		{"non-ASCII kept raw", `"Café ☕ 😀"`, `"Café ☕ 😀"`},
		{"surrogate pair", `"\ud83d\ude00"`, `"😀"`},
		{"lone surrogate", `"\ud83d"`, "\"\uFFFD\""},
		{"high surrogate then escape", `"\ud83d\u0041"`, "\"\uFFFDA\""},
		{"escaped key sorts by canonical name", `{"\u0062":1,"a":2}`, `{"a":2,"b":1}`},
		{"names sort by what they encode", `{"A":1,"\u0001":2,"\"":3,"!":4,"\\":5,"é":6}`, `{"\u0001":2,"!":4,"\"":3,"A":1,"\\":5,"é":6}`},
		{"HTML not escaped", `"<a&b>"`, `"<a&b>"`},
		{"literals", `[true,false,null]`, `[true,false,null]`},
		{"byte order mark", "\xef\xbb\xbf{\"a\":1}", `{"a":1}`},
		{"scalar document", ` 12.50 `, `12.5`},
		{"nested sort inside unsorted parent", `{"z":{"d":1,"c":2},"a":[{"y":1,"x":2}]}`, `{"a":[{"x":2,"y":1}],"z":{"c":2,"d":1}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := canonicalize([]byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("canonicalize(%q) = %s, want %s", tt.in, got, tt.want)
			}
		})
	}
}

func TestCanonicalNumbers(t *testing.T) {
	tests := []struct{ in, want string }{
		{"0", "0"},
		{"-0", "0"},
		{"-0.0e5", "0"},
		{"0.000", "0"},
		{"1", "1"},
		{"1.0", "1"},
		{"1.000", "1"},
		{"1e0", "1"},
		{"10e-1", "1"},
		{"0.1e1", "1"},
		{"1e2", "100"},
		{"1E+2", "100"},
		{"100", "100"},
		{"-12.50", "-12.5"},
		{"123.456", "123.456"},
		{"0.001", "0.001"},
		{"1e-6", "0.000001"},
		{"1e-7", "1e-7"},
		{"0.0000001", "1e-7"},
		{"-1.5e-10", "-1.5e-10"},
		{"1e21", "1000000000000000000000"},
		{"1e39", "1000000000000000000000000000000000000000"},
		{"1e40", "1e+40"},
		{"-1.5e40", "-1.5e+40"},
		{"123456789012345678901", "123456789012345678901"},
		{"340282366920938463463374607431768211455", "340282366920938463463374607431768211455"}, // 2^128-1
		{"34028236692093846346337460743176821145500", "3.40282366920938463463374607431768211455e+40"},
		{"9007199254740993", "9007199254740993"},                   // not representable as float64
		{"12345678901234567890123e-2", "123456789012345678901.23"}, // exact, long
		{"0.30000000000000000000001", "0.30000000000000000000001"},
		{"1e999999999999999999999", "1e+999999999999999999999"},
		{"25e-1000000000000000000000", "2.5e-999999999999999999999"},
		{"-0e999999999999999999999", "0"},
		{"1e000000000000000000000002", "100"},
	}
	for _, tt := range tests {
		got, err := canonicalize([]byte(tt.in))
		if err != nil {
			t.Errorf("canonicalize(%s): %v", tt.in, err)
			continue
		}
		if string(got) != tt.want {
			t.Errorf("canonicalize(%s) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

func TestCanonicalizeErrors(t *testing.T) {
	tests := []struct{ in, want string }{
		{``, `unexpected end of JSON input at offset 0`},
		{`   `, `unexpected end of JSON input at offset 3`},
		{`x`, `invalid character 'x' looking for beginning of value at offset 0`},
		{`{"a":1,}`, `invalid character '}' looking for beginning of object key string at offset 7`},
		{`{"a" 1}`, `invalid character '1' after object key at offset 5`},
		{`{"a":1 "b":2}`, `invalid character '"' after object key:value pair at offset 7`},
		{`[1 2]`, `invalid character '2' after array element at offset 3`},
		{`[1,]`, `invalid character ']' looking for beginning of value at offset 3`},
		{`{"a":1}}`, `invalid character '}' after top-level value at offset 7`},
		{`01`, `invalid character '1' after top-level value at offset 1`},
		{"[\"a\xffb\"]", `invalid UTF-8 byte '\xff' in string literal (JSON must be UTF-8) at offset 3`},
		{"{\"caf\xe9\":1}", `invalid UTF-8 byte '\xe9' in string literal (JSON must be UTF-8) at offset 5`},
		{"\"\xed\xa0\x80\"", `invalid UTF-8 byte '\xed' in string literal (JSON must be UTF-8) at offset 1`},
		{`-`, `unexpected end of JSON input at offset 1`},
		{`-x`, `invalid character 'x' in numeric literal at offset 1`},
		{`1.`, `unexpected end of JSON input at offset 2`},
		{`1.e3`, `invalid character 'e' after decimal point in numeric literal at offset 2`},
		{`1e+`, `unexpected end of JSON input at offset 3`},
		{`1ex`, `invalid character 'x' in exponent of numeric literal at offset 2`},
		{`+1`, `invalid character '+' looking for beginning of value at offset 0`},
		{`.5`, `invalid character '.' looking for beginning of value at offset 0`},
		{`tru`, `unexpected end of JSON input at offset 3`},
		{`trux`, `invalid character 'x' in literal true (expecting 'e') at offset 3`},
		{`nul1`, `invalid character '1' in literal null (expecting 'l') at offset 3`},
		{`"abc`, `unexpected end of JSON input at offset 4`},
		{"\"a\nb\"", `invalid character '\n' in string literal at offset 2`},
		{`"a\x"`, `invalid character 'x' in string escape code at offset 3`},
		{`"\u12g4"`, `invalid character 'g' in \u hexadecimal character escape at offset 5`},
		{`"\u12`, `unexpected end of JSON input at offset 5`},
		{"\x80", `invalid character '\x80' looking for beginning of value at offset 0`},
		{"'a'", `invalid character '\'' looking for beginning of value at offset 0`},
		{strings.Repeat("[", maxDepth+1), `exceeded max depth 1000 at offset 1000`},
	}
	for _, tt := range tests {
		_, err := canonicalize([]byte(tt.in))
		var se *syntaxError
		if !errors.As(err, &se) {
			t.Errorf("canonicalize(%q) error = %v, want a syntax error", tt.in, err)
			continue
		}
		if err.Error() != tt.want {
			t.Errorf("canonicalize(%q) error = %q, want %q", tt.in, err, tt.want)
		}
	}
}

// TestCanonicalizeMaxDepth pins that the deepest accepted value still
// decodes with encoding/json, which patches rely on.
func TestCanonicalizeMaxDepth(t *testing.T) {
	in := strings.Repeat("[", maxDepth) + strings.Repeat("]", maxDepth)
	out, err := canonicalize([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := decodeTree(out); err != nil {
		t.Fatal(err)
	}
}

// FuzzCanonical checks the canonicalizer against encoding/json: it accepts
// exactly what encoding/json accepts, its output is a fixed point, and it
// denotes the same value.
func FuzzCanonical(f *testing.F) {
	for _, s := range []string{
		`{"b":1,"a":[1.0,2e3,-0,"x"]}`, `"\ud83d\ude00\u0041\n"`, `[{"a":1,"a":2}]`,
		`1e400`, `-0.000e-3`, "\"\xff\"", `{"":{"":[]}}`, `[null,true,false]`, `01`, `{"a":}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		out, err := canonicalize(in)
		var se *syntaxError
		if errors.As(err, &se) && strings.HasPrefix(se.msg, "exceeded max depth") {
			return
		}
		// encoding/json reads invalid UTF-8 in a string as U+FFFD;
		// pollhook refuses it (see stringSlow).
		trimmed := bytes.TrimPrefix(in, []byte("\xef\xbb\xbf"))
		if valid := json.Valid(trimmed) && utf8.Valid(trimmed); (err == nil) != valid {
			t.Fatalf("canonicalize(%q): err = %v, but json.Valid && utf8.Valid = %v", in, err, valid)
		}
		if err != nil {
			return
		}
		again, err := canonicalize(out)
		if err != nil || !bytes.Equal(again, out) {
			t.Fatalf("canonical form %s is not a fixed point: %s, %v", out, again, err)
		}
		want, err1 := decodeTree(bytes.TrimPrefix(in, []byte("\xef\xbb\xbf")))
		got, err2 := decodeTree(out)
		if err1 != nil || err2 != nil {
			t.Fatalf("decode: %v, %v", err1, err2)
		}
		if !sameValue(want, got) {
			t.Fatalf("canonicalize(%q) = %s: different value", in, out)
		}
	})
}

// hugeExponent tells numbers that big.Rat cannot hold.
func hugeExponent(n json.Number) bool {
	i := strings.IndexAny(string(n), "eE")
	return i >= 0 && len(strings.TrimLeft(strings.TrimLeft(string(n[i+1:]), "+-"), "0")) > 3
}

// sameValue compares decoded JSON values, numbers by their exact decimal
// value (numbers with huge exponents only by their canonical spelling).
func sameValue(a, b any) bool {
	switch a := a.(type) {
	case json.Number:
		b, ok := b.(json.Number)
		if !ok {
			return false
		}
		if hugeExponent(a) || hugeExponent(b) {
			return string(appendNumber(nil, []byte(a))) == string(appendNumber(nil, []byte(b)))
		}
		x, ok1 := new(big.Rat).SetString(string(a))
		y, ok2 := new(big.Rat).SetString(string(b))
		return ok1 && ok2 && x.Cmp(y) == 0
	case map[string]any:
		b, ok := b.(map[string]any)
		if !ok || len(a) != len(b) {
			return false
		}
		for k, v := range a {
			if w, ok := b[k]; !ok || !sameValue(v, w) {
				return false
			}
		}
		return true
	case []any:
		b, ok := b.([]any)
		if !ok || len(a) != len(b) {
			return false
		}
		for i := range a {
			if !sameValue(a[i], b[i]) {
				return false
			}
		}
		return true
	}
	return a == b
}

// canonicalizeTrie returns the canonical form of the JSON document b under
// the ignore and unordered rules of t.
func canonicalizeTrie(b []byte, t *fieldTrie) ([]byte, error) {
	c := canonicalizer{src: b, out: make([]byte, 0, len(b))}
	c.skipBOM()
	if err := c.value(t); err != nil {
		return nil, err
	}
	if err := c.end(); err != nil {
		return nil, err
	}
	return c.out, nil
}

// mustTrie parses ignore and unordered entries as the spec gives them and
// builds their trie.
func mustTrie(tb testing.TB, ignore, unordered []string) *fieldTrie {
	tb.Helper()
	var ig, un []Path
	for _, s := range ignore {
		p, err := ParseIgnore(s)
		if err != nil {
			tb.Fatal(err)
		}
		ig = append(ig, p)
	}
	for _, s := range unordered {
		p, err := ParseUnordered(s)
		if err != nil {
			tb.Fatal(err)
		}
		un = append(un, p)
	}
	return newPatternTrie(ig, un)
}

func TestCanonicalIgnore(t *testing.T) {
	tests := []struct {
		name     string
		ignore   []string
		in, want string
	}{
		{"plain path", []string{"meta.request_id"}, `{"meta":{"request_id":"r1","page":1},"id":1}`, `{"id":1,"meta":{"page":1}}`},
		{"members of meta, meta stays", []string{"meta.*"}, `{"id":1,"meta":{"a":1,"b":{"c":[2]}}}`, `{"id":1,"meta":{}}`},
		{"wildcard over a scalar", []string{"meta.*"}, `{"meta":5}`, `{"meta":5}`},
		{"wildcard inside array elements", []string{"meta.*"}, `{"meta":[{"a":1},2,[{"b":3}]]}`, `{"meta":[{},2,[{}]]}`},
		{"every member at the top", []string{"*"}, `{"a":1,"b":[1]}`, `{}`},
		{"every member at the top, $. form", []string{"$.*"}, `{"a":1,"b":[1]}`, `{}`},
		{"a field of every member", []string{"*.ts"}, `{"a":{"ts":1,"v":1},"b":{"ts":2},"c":3,"ts":4}`, `{"a":{"v":1},"b":{},"c":3,"ts":4}`},
		{"depth three", []string{"*.*.ts"}, `{"a":{"x":{"ts":1,"v":1},"ts":2},"ts":3}`, `{"a":{"ts":2,"x":{"v":1}},"ts":3}`},
		{"wildcard in the middle", []string{"groups.*.updated_at"}, `{"groups":{"g1":{"updated_at":1,"n":1},"g2":{"updated_at":2}},"updated_at":0}`, `{"groups":{"g1":{"n":1},"g2":{}},"updated_at":0}`},
		{"wildcard merges with a name beside it", []string{"a.*.b", "a.x.c"}, `{"a":{"x":{"b":1,"c":2,"d":3},"y":{"b":1,"c":2}}}`, `{"a":{"x":{"d":3},"y":{"c":2}}}`},
		{"name dropped, wildcard below others", []string{"a", "*.b"}, `{"a":{"b":1},"c":{"b":1,"d":2}}`, `{"c":{"d":2}}`},
		{"wildcard matches escaped names", []string{"*.x"}, `{"\u00e9":{"x":1,"y":2},"\"":{"x":1}}`, `{"\"":{},"é":{"y":2}}`},
		{"[*] steps into elements", []string{"items[*].seen_at"}, `{"items":[{"id":1,"seen_at":"x"},{"id":2,"seen_at":"y"}],"seen_at":"z"}`, `{"items":[{"id":1},{"id":2}],"seen_at":"z"}`},
		{"[*] is a synonym of the transparent array", []string{"items.seen_at"}, `{"items":[{"id":1,"seen_at":"x"},{"id":2,"seen_at":"y"}],"seen_at":"z"}`, `{"items":[{"id":1},{"id":2}],"seen_at":"z"}`},
		{"[*] through nested arrays", []string{"m[*].ts"}, `{"m":[[{"ts":1,"v":1}],{"ts":2}]}`, `{"m":[[{"v":1}],{}]}`},
		{"[*] at the root", []string{"$[*].ts"}, `[{"ts":1,"a":1},[{"ts":2}],3]`, `[{"a":1},[{}],3]`},
		{"wildcard then [*]", []string{"*[*].ts"}, `{"a":[{"ts":1,"v":1}],"b":{"ts":2},"ts":3}`, `{"a":[{"v":1}],"b":{},"ts":3}`},
		{"duplicate members", []string{"m.*"}, `{"m":{"a":1},"m":{"b":2,"c":3}}`, `{"m":{}}`},
		{"literal name is no glob", []string{"ts"}, `{"ts":1,"ts2":2,"xts":3}`, `{"ts2":2,"xts":3}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := canonicalizeTrie([]byte(tt.in), mustTrie(t, tt.ignore, nil))
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("ignore %q: canonicalize(%s) = %s, want %s", tt.ignore, tt.in, got, tt.want)
			}
		})
	}
}

// BenchmarkCanonicalizeRules measures the canonicalizer on the 100k-order
// body of BenchmarkCanonicalize under ignore and unordered rules. "ignore"
// uses plain paths only, which this package had before wildcards; the
// others show what wildcards and sets cost ("orders" sorts all 100k orders).
func BenchmarkCanonicalizeRules(b *testing.B) {
	_, body := benchPair(100000)
	plain := []Path{{"data", "orders", "updated_at"}, {"data", "orders", "customer", "tier"}}
	for _, bm := range []struct {
		name string
		trie *fieldTrie
	}{
		{"ignore", newFieldTrie(plain)},
		{"wildcard", mustTrie(b, []string{"data.orders[*].updated_at", "data.orders.*.tier"}, nil)},
		{"unordered-lines", mustTrie(b, []string{"data.orders.updated_at"}, []string{"data.orders[*].lines"})},
		{"unordered-orders", mustTrie(b, []string{"data.orders.updated_at"}, []string{"data.orders"})},
	} {
		b.Run(bm.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			cpu := cpuTime(b)
			for b.Loop() {
				if _, err := canonicalizeTrie(body, bm.trie); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(cpuTime(b)-cpu)/float64(b.N), "cpu-ns/op")
		})
	}
}
