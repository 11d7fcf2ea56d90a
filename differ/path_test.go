package differ

import (
	"slices"
	"testing"
)

// parseCase is one input of a path parser and what it must give.
type parseCase struct {
	in      string
	want    Path
	str     string // want.String()
	wantErr string
}

// checkParse runs the cases through parse. A successful result must
// render as str and parse back from it to the same path, which is what
// makes the rendering fit for fingerprints and messages.
func checkParse(t *testing.T, name string, parse func(string) (Path, error), tests []parseCase) {
	t.Helper()
	for _, tt := range tests {
		got, err := parse(tt.in)
		if tt.wantErr != "" {
			if err == nil || err.Error() != tt.wantErr {
				t.Errorf("%s(%q) = %q, %v; want error %q", name, tt.in, got, err, tt.wantErr)
			}
			continue
		}
		if err != nil || !slices.Equal(got, tt.want) || got.String() != tt.str {
			t.Errorf("%s(%q) = %q (%s), %v; want %q (%s)", name, tt.in, got, got, err, tt.want, tt.str)
			continue
		}
		if again, err := parse(got.String()); err != nil || !slices.Equal(again, got) {
			t.Errorf("%s(%q) = %q, %v; want %q", name, got.String(), again, err, got)
		}
	}
}

func TestParsePath(t *testing.T) {
	checkParse(t, "ParsePath", ParsePath, []parseCase{
		{in: "$", want: Path{}, str: "$"},
		{in: " $ ", want: Path{}, str: "$"},
		{in: "data.orders", want: Path{"data", "orders"}, str: "data.orders"},
		{in: "$.data.orders", want: Path{"data", "orders"}, str: "data.orders"},
		{in: "id", want: Path{"id"}, str: "id"},
		{in: "", wantErr: "empty path"},
		{in: "a..b", wantErr: `path "a..b" has an empty segment`},
		{in: "$.", wantErr: `path "$." has an empty segment`},
		{in: "a.$b", wantErr: `path "a.$b": segment "$b" may not contain '$', '[', ']' or spaces`},
		{in: "items[0]", wantErr: `path "items[0]": segment "items[0]" may not contain '$', '[', ']' or spaces`},
		{in: "items[*]", wantErr: `path "items[*]": segment "items[*]" may not contain '$', '[', ']' or spaces`},
		{in: "$[*]", wantErr: `path "$[*]": segment "$[*]" may not contain '$', '[', ']' or spaces`},
	})
}

func TestPathPattern(t *testing.T) {
	checkParse(t, "ParsePattern", ParsePattern, []parseCase{
		{in: "$", want: Path{}, str: "$"},
		{in: "updated_at", want: Path{"updated_at"}, str: "updated_at"},
		{in: "meta.*", want: Path{"meta", "*"}, str: "meta.*"},
		{in: "*", want: Path{"*"}, str: "*"},
		{in: "$.*.id", want: Path{"*", "id"}, str: "*.id"},
		{in: "items[*].seen_at", want: Path{"items", "seen_at"}, str: "items.seen_at"},
		{in: " $.items[*].seen_at ", want: Path{"items", "seen_at"}, str: "items.seen_at"},
		{in: "a[*][*].b[*].c", want: Path{"a", "b", "c"}, str: "a.b.c"},
		{in: "*[*].x", want: Path{"*", "x"}, str: "*.x"},
		{in: "tags[*]", want: Path{"tags", "[*]"}, str: "tags[*]"},
		{in: "m[*][*]", want: Path{"m", "[*]", "[*]"}, str: "m[*][*]"},
		{in: "a[*].m[*]", want: Path{"a", "m", "[*]"}, str: "a.m[*]"},
		{in: "$[*]", want: Path{"[*]"}, str: "$[*]"},
		{in: "[*]", want: Path{"[*]"}, str: "$[*]"},
		{in: "$[*].id", want: Path{"id"}, str: "id"},
		{in: "[*][*]", want: Path{"[*]", "[*]"}, str: "$[*][*]"},
		{in: "", wantErr: "empty path"},
		{in: "  ", wantErr: "empty path"},
		{in: "a..b", wantErr: `path "a..b" has an empty segment`},
		{in: "meta.", wantErr: `path "meta." has an empty segment`},
		{in: "a.$b", wantErr: `path "a.$b": segment "$b" may not contain '$', '[', ']' or spaces`},
		{in: "a b", wantErr: `path "a b": segment "a b" may not contain '$', '[', ']' or spaces`},
		{in: "a].b", wantErr: `path "a].b": segment "a]" may not contain '$', '[', ']' or spaces`},
		{in: "items[0]", wantErr: `path "items[0]": segment "items[0]": only [*] (every element of an array) may follow a name`},
		{in: "items[*", wantErr: `path "items[*": segment "items[*": only [*] (every element of an array) may follow a name`},
		{in: "items[*]x", wantErr: `path "items[*]x": segment "items[*]x": only [*] (every element of an array) may follow a name`},
		{in: "items[]", wantErr: `path "items[]": segment "items[]": only [*] (every element of an array) may follow a name`},
		{in: "a.[*]", wantErr: `path "a.[*]": segment "[*]": [*] must follow a name, as in orders[*]`},
		{in: "meta.x_*", wantErr: `path "meta.x_*": segment "x_*": '*' matches a whole segment only; globs such as x_* are not supported`},
		{in: "**", wantErr: `path "**": segment "**": '*' matches a whole segment only; globs such as x_* are not supported`},
		{in: "*x[*]", wantErr: `path "*x[*]": segment "*x[*]": '*' matches a whole segment only; globs such as x_* are not supported`},
	})
}

// TestPathSteps pins parseSteps without wildcards, the form items paths
// share: no '*' name, and every [*] kept where it is.
func TestPathSteps(t *testing.T) {
	checkParse(t, "parseSteps", func(s string) (Path, error) { return parseSteps(s, false) }, []parseCase{
		{in: "data.groups[*].orders", want: Path{"data", "groups", "[*]", "orders"}, str: "data.groups[*].orders"},
		{in: "$[*].items", want: Path{"[*]", "items"}, str: "$[*].items"},
		{in: "data.orders", want: Path{"data", "orders"}, str: "data.orders"},
		{in: "a.*", wantErr: `path "a.*": segment "*" may not contain '$', '[', ']', '*' or spaces`},
		{in: "a.x_*", wantErr: `path "a.x_*": segment "x_*" may not contain '$', '[', ']', '*' or spaces`},
		{in: "a[1]", wantErr: `path "a[1]": segment "a[1]": only [*] (every element of an array) may follow a name`},
	})
}

// TestParseIgnoreUnordered pins where the two entry kinds differ: only
// unordered may end in [*].
func TestParseIgnoreUnordered(t *testing.T) {
	tests := []struct {
		in                   string
		ignoreErr, unordered string // "" for no error
	}{
		{in: "items[*].seen_at"},
		{in: "meta.*"},
		{in: "$"},
		{in: "tags[*]", ignoreErr: `path "tags[*]" ends in [*]: ignore drops fields, not array elements; name the array itself or a field of its elements`},
		{in: "$[*]", ignoreErr: `path "$[*]" ends in [*]: ignore drops fields, not array elements; name the array itself or a field of its elements`},
		{in: "a..b", ignoreErr: `path "a..b" has an empty segment`, unordered: `path "a..b" has an empty segment`},
	}
	errString := func(err error) string {
		if err == nil {
			return ""
		}
		return err.Error()
	}
	for _, tt := range tests {
		if _, err := ParseIgnore(tt.in); errString(err) != tt.ignoreErr {
			t.Errorf("ParseIgnore(%q) error = %v, want %q", tt.in, err, tt.ignoreErr)
		}
		if _, err := ParseUnordered(tt.in); errString(err) != tt.unordered {
			t.Errorf("ParseUnordered(%q) error = %v, want %q", tt.in, err, tt.unordered)
		}
	}
}

func TestPathCovers(t *testing.T) {
	tests := []struct {
		pattern, field Path
		want           bool
	}{
		{Path{"id"}, Path{"id"}, true},
		{Path{"a"}, Path{"a", "b"}, true},
		{Path{"*"}, Path{"id"}, true},
		{Path{"*", "id"}, Path{"customer", "id"}, true},
		{Path{"customer", "*"}, Path{"customer", "id"}, true},
		{Path{"customer", "*"}, Path{"customer"}, false},
		{Path{"a", "b"}, Path{"a"}, false},
		{Path{"a"}, Path{"ab"}, false},
		{Path{"*", "x"}, Path{"customer", "id"}, false},
	}
	for _, tt := range tests {
		if got := tt.pattern.covers(tt.field); got != tt.want {
			t.Errorf("%s.covers(%s) = %v, want %v", tt.pattern, tt.field, got, tt.want)
		}
	}
}

func TestPathTrie(t *testing.T) {
	var paths []Path
	for _, s := range []string{"a", "a.b", "m.n", "m.o.p", `q"r`} {
		p, err := ParsePath(s)
		if err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	trie := newFieldTrie(paths)
	tests := []struct {
		path []string // looked up level by level; the last one answers
		drop bool
		next bool
	}{
		{[]string{"a"}, true, false}, // a dropped value needs no trie
		{[]string{"m"}, false, true},
		{[]string{"m", "n"}, true, false},
		{[]string{"m", "o"}, false, true},
		{[]string{"m", "o", "p"}, true, false},
		{[]string{"m", "x"}, false, false},
		{[]string{"z"}, false, false},
		{[]string{`q"r`}, true, false},
	}
	for _, tt := range tests {
		t2 := trie
		var drop bool
		for _, seg := range tt.path {
			drop, t2 = t2.lookup(canonicalName(seg))
		}
		if drop != tt.drop || (t2 != nil) != tt.next {
			t.Errorf("lookup %q: drop %v, next %v; want %v, %v", tt.path, drop, t2 != nil, tt.drop, tt.next)
		}
	}
	for _, empty := range []*fieldTrie{newFieldTrie(nil), newPatternTrie(nil, nil), newPatternTrie([]Path{{}}, nil)} {
		if empty != nil {
			t.Error("the trie of no paths is not nil")
		}
	}
	if drop, next := (*fieldTrie)(nil).lookup([]byte("a")); drop || next != nil {
		t.Error("a nil trie drops a field")
	}
}
