package differ

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

func TestCanonicalUnordered(t *testing.T) {
	tests := []struct {
		name              string
		ignore, unordered []string
		in, want          string
	}{
		{"scalars, duplicates kept", nil, []string{"tags"}, `{"tags":["b","a","c","a"]}`, `{"tags":["a","a","b","c"]}`},
		{"already sorted", nil, []string{"tags"}, `{"tags":["a","b"]}`, `{"tags":["a","b"]}`},
		{"empty and single", nil, []string{"a", "b"}, `{"a":[],"b":[ 2 ]}`, `{"a":[],"b":[2]}`},
		{"sorted by canonical bytes", nil, []string{"$"}, `[3,"a",null,true,{"a":1},[1],10,false]`, `["a",10,3,[1],false,null,true,{"a":1}]`},
		{"spellings compared canonically", nil, []string{"$"}, `[1.0,"\u0062","a",1e0,"b"]`, `["a","b","b",1,1]`},
		{"objects", nil, []string{"lines"}, `{"lines":[{"sku":"B","qty":2},{"qty":1,"sku":"C"}]}`, `{"lines":[{"qty":1,"sku":"C"},{"qty":2,"sku":"B"}]}`},
		{"nested arrays: only the named one", nil, []string{"m"}, `{"m":[[2,1],[1,3],[1]]}`, `{"m":[[1,3],[1],[2,1]]}`},
		{"nested arrays: [*] names the inner ones", nil, []string{"m[*]"}, `{"m":[[3,1],[2,1]]}`, `{"m":[[1,3],[1,2]]}`},
		{"nested arrays: both levels", nil, []string{"m", "m[*]"}, `{"m":[[3,1],[2,1]]}`, `{"m":[[1,2],[1,3]]}`},
		{"nested arrays: third level", nil, []string{"m[*][*]"}, `{"m":[[[2,1],[0]],[[4,3]]]}`, `{"m":[[[1,2],[0]],[[3,4]]]}`},
		{"root elements", nil, []string{"$[*]"}, `[[2,1],[1,0]]`, `[[1,2],[0,1]]`},
		{"inner sets sorted before the outer", nil, []string{"s", "s.t"}, `{"s":[{"t":[2,1]},{"t":[1,0]}]}`, `{"s":[{"t":[0,1]},{"t":[1,2]}]}`},
		{"arrays on the way are transparent", nil, []string{"lines.tags"}, `{"lines":[{"tags":["d","c"]},{"tags":["b","a"]}]}`, `{"lines":[{"tags":["c","d"]},{"tags":["a","b"]}]}`},
		{"[*] on the way", nil, []string{"lines[*].tags"}, `{"lines":[{"tags":["d","c"]},{"tags":["b","a"]}]}`, `{"lines":[{"tags":["c","d"]},{"tags":["a","b"]}]}`},
		{"wildcard", nil, []string{"*.tags"}, `{"a":{"tags":[2,1]},"b":{"tags":[4,3]},"tags":[6,5]}`, `{"a":{"tags":[1,2]},"b":{"tags":[3,4]},"tags":[6,5]}`},
		{"every member", nil, []string{"sets.*"}, `{"sets":{"x":[2,1],"y":"ba","z":{"q":[2,1]}}}`, `{"sets":{"x":[1,2],"y":"ba","z":{"q":[2,1]}}}`},
		{"not an array: unchanged", nil, []string{"tags"}, `{"tags":"b,a"}`, `{"tags":"b,a"}`},
		{"an object: keys sorted as always", nil, []string{"tags"}, `{"tags":{"b":[2,1],"a":1}}`, `{"tags":{"a":1,"b":[2,1]}}`},
		{"elements of a set are no sets", nil, []string{"tags"}, `{"tags":[["b","a"],["a"]]}`, `{"tags":[["a"],["b","a"]]}`},
		{"ignore applies before sorting", []string{"lines.a_ts"}, []string{"lines"}, `{"lines":[{"a_ts":1,"id":2},{"a_ts":2,"id":1}]}`, `{"lines":[{"id":1},{"id":2}]}`},
		{"ignore with [*] and wildcard", []string{"lines[*].*.seen"}, []string{"lines"}, `{"lines":[{"p":{"seen":1,"v":2}},{"p":{"seen":2,"v":1}}]}`, `{"lines":[{"p":{"v":1}},{"p":{"v":2}}]}`},
		{"ignore wins over unordered", []string{"tags"}, []string{"tags"}, `{"tags":[2,1],"id":1}`, `{"id":1}`},
		{"ignored array inside is no set", []string{"a.*"}, []string{"a.b"}, `{"a":{"b":[2,1]}}`, `{"a":{}}`},
		{"sibling sets", nil, []string{"a", "b"}, `{"b":[2,1],"a":[4,3],"c":[6,5]}`, `{"a":[3,4],"b":[1,2],"c":[6,5]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := canonicalizeTrie([]byte(tt.in), mustTrie(t, tt.ignore, tt.unordered))
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("ignore %q, unordered %q: canonicalize(%s) = %s, want %s", tt.ignore, tt.unordered, tt.in, got, tt.want)
			}
		})
	}
}

// TestUnorderedFramed pins items mode: the item array keeps its order
// (items are matched by key, not sorted), and "$" makes each item that is
// an array a set.
func TestUnorderedFramed(t *testing.T) {
	in := `[[2,1],{"tags":["b","a"]},[1]]`
	c := canonicalizer{src: []byte(in)}
	if err := c.elements(mustTrie(t, nil, []string{"$", "tags"}), true); err != nil {
		t.Fatal(err)
	}
	var items []string
	for pos := 0; pos < len(c.out); {
		end := pos + 4 + int(binary.LittleEndian.Uint32(c.out[pos:]))
		items = append(items, string(c.out[pos+4:end]))
		pos = end
	}
	want := []string{`[1,2]`, `{"tags":["a","b"]}`, `[1]`}
	if !slices.Equal(items, want) {
		t.Errorf("items %q, want %q", items, want)
	}
}

// TestUnorderedErrors pins that a set reports a syntax error exactly as
// any array does.
func TestUnorderedErrors(t *testing.T) {
	trie := mustTrie(t, []string{"s.x"}, []string{"s", "s[*]"})
	for _, in := range []string{`{"s":[1,2,x]}`, `{"s":[[1,2],[3,]]}`, `{"s":[{"x":1,}]}`, `{"s":[1`, `{"s":[2,1]}}`} {
		_, want := canonicalize([]byte(in))
		_, err := canonicalizeTrie([]byte(in), trie)
		var se *syntaxError
		if !errors.As(err, &se) || want == nil || err.Error() != want.Error() {
			t.Errorf("canonicalize(%s) with sets: error %v, want %v", in, err, want)
		}
	}
}

// fuzzRules are the ignore and unordered entries FuzzUnordered tries.
var fuzzRules = []struct{ ignore, unordered []string }{
	{nil, []string{"$"}},
	{nil, []string{"$[*]", "*", "*.*"}},
	{[]string{"*.ts", "a"}, []string{"$", "*.s", "m[*]"}},
	{[]string{"x.*", "[*].b"}, []string{"[*]", "$[*][*]", "t", "*.t"}},
}

// FuzzUnordered checks the canonicalizer under ignore and unordered rules
// against refRules, a model on the decoded tree; that its output is a
// fixed point; that the rules never change which bodies are accepted; and
// that shuffling the elements of every set gives the same bytes.
func FuzzUnordered(f *testing.F) {
	for _, s := range []string{
		`[3,1,2,1]`, `{"s":[{"b":1},{"a":2}],"t":[2,1],"ts":1}`, `[{"ts":1,"s":[2,1]},{"b":[1,0],"t":["y","x"]}]`,
		`{"m":[[3,2,1],[0]],"a":[2,1]}`, `{"x":{"y":[2,1]},"t":[[2,1],[1,0]]}`, `[[{"b":1,"c":2}],[{"b":0}]]`, `[1,]`,
	} {
		f.Add([]byte(s), uint64(1))
	}
	f.Fuzz(func(t *testing.T, in []byte, seed uint64) {
		plain, plainErr := canonicalize(in)
		var se *syntaxError
		if errors.As(plainErr, &se) && strings.HasPrefix(se.msg, "exceeded max depth") {
			return
		}
		tree, err := decodeTree(bytes.TrimPrefix(in, []byte("\xef\xbb\xbf")))
		if plainErr == nil && err != nil {
			t.Fatalf("decode %s: %v", plain, err)
		}
		for _, r := range fuzzRules {
			trie := mustTrie(t, r.ignore, r.unordered)
			out, err := canonicalizeTrie(in, trie)
			if (err == nil) != (plainErr == nil) || err != nil && err.Error() != plainErr.Error() {
				t.Fatalf("rules %v: canonicalize(%q) error %v, without rules %v", r, in, err, plainErr)
			}
			if err != nil {
				continue
			}
			rules := fuzzRuleList(t, r.ignore, r.unordered)
			want := mustEncode(t, refRules{drop: true, set: sortByCanonical(t)}.apply(tree, rules))
			if !bytes.Equal(out, want) {
				t.Fatalf("rules %v: canonicalize(%q) = %s, model %s", r, in, out, want)
			}
			if again, err := canonicalizeTrie(out, trie); err != nil || !bytes.Equal(again, out) {
				t.Fatalf("rules %v: %s is not a fixed point: %s, %v", r, out, again, err)
			}
			rng := rand.New(rand.NewPCG(seed, seed>>32))
			shuffled := refRules{set: func(a []any) []any {
				rng.Shuffle(len(a), func(i, j int) { a[i], a[j] = a[j], a[i] })
				return a
			}}.apply(tree, rules)
			body, err := json.Marshal(shuffled)
			if err != nil {
				t.Fatal(err)
			}
			if got, err := canonicalizeTrie(body, trie); err != nil || !bytes.Equal(got, out) {
				t.Fatalf("rules %v: shuffled %s gives %s, %v; want %s", r, body, got, err, out)
			}
		}
	})
}

func fuzzRuleList(tb testing.TB, ignore, unordered []string) []fieldRule {
	var rules []fieldRule
	for _, s := range ignore {
		p, err := ParseIgnore(s)
		if err != nil {
			tb.Fatal(err)
		}
		rules = append(rules, fieldRule{rest: p})
	}
	for _, s := range unordered {
		p, err := ParseUnordered(s)
		if err != nil {
			tb.Fatal(err)
		}
		rules = append(rules, fieldRule{rest: p, set: true})
	}
	return rules
}

// refRules is the model of ignore and unordered for FuzzUnordered, read
// straight from their documentation on a decoded tree: at an object, a
// rule whose next segment is the member's name or "*" goes on into the
// member, which an ignore rule ending there drops; at an array, rules
// naming fields go on into every element, a rule stepping in with [*]
// goes on without that step, and an unordered rule ending there makes the
// array a set.
type refRules struct {
	drop bool              // drop ignored members (otherwise keep them)
	set  func([]any) []any // applied to every set, after its elements
}

func (m refRules) apply(v any, rules []fieldRule) any {
	switch v := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, x := range v {
			var sub []fieldRule
			dropped := false
			for _, r := range rules {
				if len(r.rest) == 0 || r.rest[0] == elemStep || r.rest[0] != k && r.rest[0] != anyName {
					continue
				}
				dropped = dropped || len(r.rest) == 1 && !r.set
				sub = append(sub, fieldRule{rest: r.rest[1:], set: r.set})
			}
			if !dropped || !m.drop {
				out[k] = m.apply(x, sub)
			}
		}
		return out
	case []any:
		var sub []fieldRule
		set := false
		for _, r := range rules {
			switch {
			case len(r.rest) == 0:
				set = set || r.set
			case r.rest[0] == elemStep:
				sub = append(sub, fieldRule{rest: r.rest[1:], set: r.set})
			default:
				sub = append(sub, r)
			}
		}
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = m.apply(x, sub)
		}
		if set {
			out = m.set(out)
		}
		return out
	}
	return v
}

// sortByCanonical sorts decoded values by their canonical JSON, replacing
// each by it.
func sortByCanonical(tb testing.TB) func([]any) []any {
	return func(a []any) []any {
		raw := make([]json.RawMessage, len(a))
		for i, v := range a {
			raw[i] = mustEncode(tb, v)
		}
		slices.SortFunc(raw, func(x, y json.RawMessage) int { return bytes.Compare(x, y) })
		for i, r := range raw {
			a[i] = r
		}
		return a
	}
}

// mustEncode is the canonical JSON of a decoded value.
func mustEncode(tb testing.TB, v any) []byte {
	tb.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		tb.Fatal(err)
	}
	out, err := canonicalize(b)
	if err != nil {
		tb.Fatal(err)
	}
	return out
}
