package differ

import (
	"bytes"
	"testing"
)

// TestPatchRFC6902 runs the examples of RFC 6902 Appendix A that turn a
// document into a result: the patch computed from the two is pinned, it
// is the RFC's own patch (in canonical form) unless said why not, never
// has more operations than it, and applying either to the document with
// evanphx/json-patch gives the result. A.9, A.12, A.13 and A.15 are left
// out: they are patches that fail (a failing test, a missing parent, an
// unknown op, a string compared with a number), with no result to reach.
func TestPatchRFC6902(t *testing.T) {
	tests := []struct {
		name        string
		doc, result string // as printed in the RFC
		rfc         string // the RFC's patch
		want        string // ours
		differs     string // why ours is not the RFC's, if it is not
	}{
		{
			name: "A.1 adding an object member",
			doc:  `{"foo":"bar"}`, result: `{"baz":"qux","foo":"bar"}`,
			rfc:  `[{"op":"add","path":"/baz","value":"qux"}]`,
			want: `[{"op":"add","path":"/baz","value":"qux"}]`,
		},
		{
			name: "A.2 adding an array element",
			doc:  `{"foo":["bar","baz"]}`, result: `{"foo":["bar","qux","baz"]}`,
			rfc:  `[{"op":"add","path":"/foo/1","value":"qux"}]`,
			want: `[{"op":"add","path":"/foo/1","value":"qux"}]`,
		},
		{
			name: "A.3 removing an object member",
			doc:  `{"baz":"qux","foo":"bar"}`, result: `{"foo":"bar"}`,
			rfc:  `[{"op":"remove","path":"/baz"}]`,
			want: `[{"op":"remove","path":"/baz"}]`,
		},
		{
			name: "A.4 removing an array element",
			doc:  `{"foo":["bar","qux","baz"]}`, result: `{"foo":["bar","baz"]}`,
			rfc:  `[{"op":"remove","path":"/foo/1"}]`,
			want: `[{"op":"remove","path":"/foo/1"}]`,
		},
		{
			name: "A.5 replacing a value",
			doc:  `{"baz":"qux","foo":"bar"}`, result: `{"baz":"boo","foo":"bar"}`,
			rfc:  `[{"op":"replace","path":"/baz","value":"boo"}]`,
			want: `[{"op":"replace","path":"/baz","value":"boo"}]`,
		},
		{
			name:   "A.6 moving a value",
			doc:    `{"foo":{"bar":"baz","waldo":"fred"},"qux":{"corge":"grault"}}`,
			result: `{"foo":{"bar":"baz"},"qux":{"corge":"grault","thud":"fred"}}`,
			rfc:    `[{"op":"move","from":"/foo/waldo","path":"/qux/thud"}]`,
			want:   `[{"from":"/foo/waldo","op":"move","path":"/qux/thud"}]`,
		},
		{
			name: "A.7 moving an array element",
			doc:  `{"foo":["all","grass","cows","eat"]}`, result: `{"foo":["all","cows","eat","grass"]}`,
			rfc:  `[{"op":"move","from":"/foo/1","path":"/foo/3"}]`,
			want: `[{"from":"/foo/1","op":"move","path":"/foo/3"}]`,
		},
		{
			name: "A.8 testing a value: success",
			doc:  `{"baz":"qux","foo":["a",2,"c"]}`, result: `{"baz":"qux","foo":["a",2,"c"]}`,
			rfc:     `[{"op":"test","path":"/baz","value":"qux"},{"op":"test","path":"/foo/1","value":2}]`,
			want:    `[]`,
			differs: "a diff has no test operations: the two are equal",
		},
		{
			name: "A.10 adding a nested member object",
			doc:  `{"foo":"bar"}`, result: `{"foo":"bar","child":{"grandchild":{}}}`,
			rfc:  `[{"op":"add","path":"/child","value":{"grandchild":{}}}]`,
			want: `[{"op":"add","path":"/child","value":{"grandchild":{}}}]`,
		},
		{
			name: "A.11 ignoring unrecognized elements",
			doc:  `{"foo":"bar"}`, result: `{"foo":"bar","baz":"qux"}`,
			rfc:     `[{"op":"add","path":"/baz","value":"qux","xyz":123}]`,
			want:    `[{"op":"add","path":"/baz","value":"qux"}]`,
			differs: "the RFC's patch has a member to ignore",
		},
		{
			name: "A.14 ~ escape ordering",
			doc:  `{"/":9,"~1":10}`, result: `{"/":9,"~1":10}`,
			rfc:     `[{"op":"test","path":"/~01","value":10}]`,
			want:    `[]`,
			differs: "a diff has no test operations: the two are equal",
		},
		{
			name: "A.16 adding an array value",
			doc:  `{"foo":["bar"]}`, result: `{"foo":["bar",["abc","def"]]}`,
			rfc:  `[{"op":"add","path":"/foo/-","value":["abc","def"]}]`,
			want: `[{"op":"add","path":"/foo/-","value":["abc","def"]}]`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := wantPatch(t, tt.doc, tt.result, tt.want)
			if rfc := mustCanonical(t, tt.rfc); bytes.Equal(got, rfc) != (tt.differs == "") {
				t.Errorf("patch %s, the RFC's %s: want them equal unless ours differs (%q)", got, rfc, tt.differs)
			}
			if ours, theirs := countOps(t, got), countOps(t, []byte(tt.rfc)); ours > theirs {
				t.Errorf("%d operations, the RFC's patch %d", ours, theirs)
			}
			// Ours is applied by wantPatch.
			doc, result := mustCanonical(t, tt.doc), mustCanonical(t, tt.result)
			applied, err := applyPatch([]byte(tt.rfc), doc)
			if err != nil {
				t.Fatalf("apply %s to %s: %v", tt.rfc, doc, err)
			}
			if !bytes.Equal(applied, result) {
				t.Errorf("%s applied to %s gives %s, want %s", tt.rfc, doc, applied, result)
			}
		})
	}
}

// countOps counts the operations of an RFC 6902 patch other than test.
func countOps(t *testing.T, p []byte) int {
	t.Helper()
	ops, ok := mustDecode(t, p).([]any)
	if !ok {
		t.Fatalf("patch %s is no array", p)
	}
	n := 0
	for _, op := range ops {
		if op.(map[string]any)["op"] != "test" {
			n++
		}
	}
	return n
}
