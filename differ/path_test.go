package differ

import (
	"slices"
	"testing"
)

func TestParsePath(t *testing.T) {
	tests := []struct {
		in      string
		want    Path
		str     string
		wantErr string
	}{
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
	}
	for _, tt := range tests {
		got, err := ParsePath(tt.in)
		if tt.wantErr != "" {
			if err == nil || err.Error() != tt.wantErr {
				t.Errorf("ParsePath(%q) error = %v, want %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil || !slices.Equal(got, tt.want) || got.String() != tt.str {
			t.Errorf("ParsePath(%q) = %q (%s), %v; want %q (%s)", tt.in, got, got, err, tt.want, tt.str)
		}
	}
}

func TestFieldTrie(t *testing.T) {
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
		{[]string{"a"}, true, true},
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
	if newFieldTrie(nil) != nil {
		t.Error("the trie of no paths is not nil")
	}
	if drop, next := (*fieldTrie)(nil).lookup([]byte("a")); drop || next != nil {
		t.Error("a nil trie drops a field")
	}
}
