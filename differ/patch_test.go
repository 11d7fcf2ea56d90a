package differ

import (
	"testing"
)

func TestPatch(t *testing.T) {
	tests := []struct {
		before, after, want string
	}{
		{`{"a":1}`, `{"a":2}`, `[{"op":"replace","path":"/a","value":2}]`},
		{`{"a":1,"c":3}`, `{"b":2,"c":3}`, `[{"op":"remove","path":"/a"},{"op":"add","path":"/b","value":2}]`},
		{`{"c":{"x":1,"y":[1]}}`, `{"c":{"x":1,"y":[2]}}`, `[{"op":"replace","path":"/c/y/0","value":2}]`},
		{`{"customer":{"tier":"gold"}}`, `{"customer":{"tier":"silver"}}`, `[{"op":"replace","path":"/customer/tier","value":"silver"}]`},
		{`[1,2,3,4]`, `[1,5]`, `[{"op":"remove","path":"/2"},{"op":"remove","path":"/2"},{"op":"replace","path":"/1","value":5}]`},
		{`[1]`, `[1,{"a":1},[]]`, `[{"op":"add","path":"/-","value":{"a":1}},{"op":"add","path":"/-","value":[]}]`},
		{`{"a":{"b":1}}`, `{"a":[1]}`, `[{"op":"replace","path":"/a","value":[1]}]`},
		{`{"a":null}`, `{"a":false}`, `[{"op":"replace","path":"/a","value":false}]`},
		{`{"a":true}`, `{"a":false}`, `[{"op":"replace","path":"/a","value":false}]`},
		{`{"a":1}`, `[1]`, `[{"op":"add","path":"","value":[1]}]`},
		{`"x"`, `"y"`, `[{"op":"replace","path":"","value":"y"}]`},
		{`{"a/b":1,"m~n":1,"q\"":1}`, `{"a/b":2,"m~n":2,"q\"":2}`, `[{"op":"replace","path":"/a~1b","value":2},{"op":"replace","path":"/m~0n","value":2},{"op":"replace","path":"/q\"","value":2}]`},
		{`{"\u0001":1,"A":1}`, `{"\u0001":2,"B":1}`, `[{"op":"replace","path":"/\u0001","value":2},{"op":"remove","path":"/A"},{"op":"add","path":"/B","value":1}]`},
		{`{}`, `{"a":{"b":[]}}`, `[{"op":"add","path":"/a","value":{"b":[]}}]`},
		{`{"a":1,"b":2}`, `{}`, `[{"op":"remove","path":"/a"},{"op":"remove","path":"/b"}]`},
		{`{"":[]}`, `{"":[{}]}`, `[{"op":"add","path":"//-","value":{}}]`}, // the member named ""
	}
	for _, tt := range tests {
		before, after := mustCanonical(t, tt.before), mustCanonical(t, tt.after)
		got := patch(before, after)
		if string(got) != tt.want {
			t.Errorf("patch(%s, %s) =\n %s\nwant\n %s", before, after, got, tt.want)
		}
		checkAgainstReferences(t, before, after, got)
	}
}

// FuzzPatch holds patch to byte equality with jsondiff and checks that
// evanphx/json-patch applies it.
func FuzzPatch(f *testing.F) {
	for _, s := range [][2]string{
		{`{"a":1,"b":[1,2,{"c":3}]}`, `{"b":[1,{"c":4}],"d":null}`},
		{`[[1],[2,3]]`, `[[1,2],[3]]`},
		{`{"a~/":{"é":"x"}}`, `{"a~/":{"é":"y","\u0000":1}}`},
		{`1`, `{"a":1}`},
	} {
		f.Add([]byte(s[0]), []byte(s[1]))
	}
	f.Fuzz(func(t *testing.T, a, b []byte) {
		before, err1 := canonicalize(a)
		after, err2 := canonicalize(b)
		if err1 != nil || err2 != nil || string(before) == string(after) {
			return
		}
		checkAgainstReferences(t, before, after, patch(before, after))
	})
}

func mustCanonical(t *testing.T, s string) []byte {
	t.Helper()
	b, err := canonicalize([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func checkAgainstReferences(t *testing.T, before, after, got []byte) {
	t.Helper()
	want, err := jsondiffPatch(before, after)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Errorf("patch(%s, %s) =\n %s\njsondiff:\n %s", before, after, got, want)
	}
	checkPatches(t, []Change{{Type: TypeItemUpdated, Before: before, After: after, Patch: got}})
}
