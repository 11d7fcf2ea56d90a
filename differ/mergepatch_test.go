package differ

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"

	jsonpatch "github.com/evanphx/json-patch/v5"
)

// TestMergePatchRFC7386 runs every example of RFC 7386 (Section 1, Section
// 3 and Appendix A): the patch computed from the target and the result
// turns the target into the result under evanphx/json-patch and under the
// RFC's own algorithm, and equals the RFC's patch wherever that one is
// minimal.
func TestMergePatchRFC7386(t *testing.T) {
	tests := []struct {
		name                  string
		target, patch, result string // as printed in the RFC
		want                  string // our patch, canonical
		notMinimal            string // why the RFC's patch is not minimal, if it is not
	}{
		{
			name:   "section 1",
			target: `{"a":"b","c":{"d":"e","f":"g"}}`,
			patch:  `{"a":"z","c":{"f":null}}`,
			result: `{"a":"z","c":{"d":"e"}}`,
			want:   `{"a":"z","c":{"f":null}}`,
		},
		{
			name: "section 3",
			target: `{
				"title": "Goodbye!",
				"author" : {"givenName" : "John", "familyName" : "Doe"},
				"tags":[ "example", "sample" ],
				"content": "This will be unchanged"
			}`,
			patch: `{
				"title": "Hello!",
				"phoneNumber": "+01-123-456-7890",
				"author": {"familyName": null},
				"tags": [ "example" ]
			}`,
			result: `{
				"title": "Hello!",
				"author" : {"givenName" : "John"},
				"tags": [ "example" ],
				"content": "This will be unchanged",
				"phoneNumber": "+01-123-456-7890"
			}`,
			want: `{"author":{"familyName":null},"phoneNumber":"+01-123-456-7890","tags":["example"],"title":"Hello!"}`,
		},
		{name: "A replace member", target: `{"a":"b"}`, patch: `{"a":"c"}`, result: `{"a":"c"}`, want: `{"a":"c"}`},
		{name: "A add member", target: `{"a":"b"}`, patch: `{"b":"c"}`, result: `{"a":"b","b":"c"}`, want: `{"b":"c"}`},
		{name: "A remove member", target: `{"a":"b"}`, patch: `{"a":null}`, result: `{}`, want: `{"a":null}`},
		{name: "A remove one of two", target: `{"a":"b","b":"c"}`, patch: `{"a":null}`, result: `{"b":"c"}`, want: `{"a":null}`},
		{name: "A array to string", target: `{"a":["b"]}`, patch: `{"a":"c"}`, result: `{"a":"c"}`, want: `{"a":"c"}`},
		{name: "A string to array", target: `{"a":"c"}`, patch: `{"a":["b"]}`, result: `{"a":["b"]}`, want: `{"a":["b"]}`},
		{
			name: "A nested", target: `{"a":{"b":"c"}}`, patch: `{"a":{"b":"d","c":null}}`, result: `{"a":{"b":"d"}}`,
			want:       `{"a":{"b":"d"}}`,
			notMinimal: `"c":null removes a member the target does not have`,
		},
		{name: "A array of objects", target: `{"a":[{"b":"c"}]}`, patch: `{"a":[1]}`, result: `{"a":[1]}`, want: `{"a":[1]}`},
		{name: "A arrays", target: `["a","b"]`, patch: `["c","d"]`, result: `["c","d"]`, want: `["c","d"]`},
		{name: "A object to array", target: `{"a":"b"}`, patch: `["c"]`, result: `["c"]`, want: `["c"]`},
		{name: "A object to null", target: `{"a":"foo"}`, patch: `null`, result: `null`, want: `null`},
		{name: "A object to string", target: `{"a":"foo"}`, patch: `"bar"`, result: `"bar"`, want: `"bar"`},
		{name: "A null member kept", target: `{"e":null}`, patch: `{"a":1}`, result: `{"e":null,"a":1}`, want: `{"a":1}`},
		{
			name: "A array to object", target: `[1,2]`, patch: `{"a":"b","c":null}`, result: `{"a":"b"}`,
			want:       `{"a":"b"}`,
			notMinimal: `"c":null removes a member of an object that is created empty`,
		},
		{
			name: "A nested into empty", target: `{}`, patch: `{"a":{"bb":{"ccc":null}}}`, result: `{"a":{"bb":{}}}`,
			want:       `{"a":{"bb":{}}}`,
			notMinimal: `"ccc":null removes a member of an object that is created empty`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			target, rfcPatch, result := mustCanonical(t, tt.target), mustCanonical(t, tt.patch), mustCanonical(t, tt.result)
			got, err := mergePatch(target, result)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("mergePatch(%s, %s) = %s, want %s", target, result, got, tt.want)
			}
			if minimal := tt.notMinimal == ""; minimal != bytes.Equal(got, rfcPatch) {
				t.Errorf("patch %s, RFC's %s: want them equal unless the RFC's is not minimal (%q)", got, rfcPatch, tt.notMinimal)
			}
			// Both the table's RFC patch and ours must give the result.
			for _, p := range [][]byte{rfcPatch, got} {
				applied, err := jsonpatch.MergePatch(target, p)
				if err != nil {
					t.Fatalf("evanphx MergePatch(%s, %s): %v", target, p, err)
				}
				if c := mustCanonical(t, string(applied)); !bytes.Equal(c, result) {
					t.Errorf("evanphx: %s merged into %s gives %s, want %s", p, target, c, result)
				}
				if c := applyMergePatchRFC(t, target, p); !bytes.Equal(c, result) {
					t.Errorf("RFC algorithm: %s merged into %s gives %s, want %s", p, target, c, result)
				}
			}
		})
	}
}

// TestMergePatch pins the patch and what applying it gives, for the cases
// the RFC has no example of, nulls that a merge patch cannot set included.
func TestMergePatch(t *testing.T) {
	tests := []struct {
		before, after string
		want          string // the patch
		applied       string // before with the patch applied; "" means after
	}{
		{`{"a":1}`, `{"a":1}`, `{}`, ""},
		{`[1,{"a":null}]`, `[1,{"a":null}]`, `[1,{"a":null}]`, ""},
		{`"x"`, `"x"`, `"x"`, ""},
		{`1`, `2`, `2`, ""},
		{`{"a":1}`, `"a"`, `"a"`, ""},
		{`{"a":{"b":1,"c":2},"d":3}`, `{"a":{"b":1,"c":3},"d":3}`, `{"a":{"c":3}}`, ""},
		{`{"a":{"b":{"c":[1]}},"z":1}`, `{"a":{"b":{"c":[1,2]}},"z":1}`, `{"a":{"b":{"c":[1,2]}}}`, ""},
		{`{"a":{"b":1}}`, `{"a":[1]}`, `{"a":[1]}`, ""},
		{`{"a":[1]}`, `{"a":{"b":1}}`, `{"a":{"b":1}}`, ""},
		{`{"a":1,"b":2}`, `{}`, `{"a":null,"b":null}`, ""},
		{`{}`, `{"a":{"b":[]}}`, `{"a":{"b":[]}}`, ""},
		{`{"\u0001":1,"A":1,"é":1}`, `{"\u0001":2,"B":1,"é":1}`, `{"\u0001":2,"A":null,"B":1}`, ""},
		{`{"a/b":1,"m~n":1,"q\"":1}`, `{"a/b":2,"m~n":1,"q\"":2}`, `{"a/b":2,"q\"":2}`, ""},
		{`{"n":12345678901234567890123}`, `{"n":12345678901234567890124}`, `{"n":12345678901234567890124}`, ""},
		// Nulls that are no new object members are ordinary values.
		{`{"a":null}`, `{"a":null,"b":1}`, `{"b":1}`, ""},
		{`{"a":[1]}`, `{"a":[{"b":null},null]}`, `{"a":[{"b":null},null]}`, ""},
		{`{"a":1}`, `null`, `null`, ""},
		// A new null member cannot be set: its null removes the member
		// or leaves it absent.
		{`{"a":1}`, `{"a":null}`, `{"a":null}`, `{}`},
		{`{}`, `{"a":null}`, `{"a":null}`, `{}`},
		{`{"a":null}`, `{}`, `{"a":null}`, ""},
		{`{"a":{"x":1}}`, `{"a":{"x":1,"y":null}}`, `{"a":{"y":null}}`, `{"a":{"x":1}}`},
		{`{"a":1}`, `{"a":{"b":null,"c":1}}`, `{"a":{"b":null,"c":1}}`, `{"a":{"c":1}}`},
		{`null`, `{"a":null}`, `{"a":null}`, `{}`},
		{`[1]`, `{"a":{"b":null}}`, `{"a":{"b":null}}`, `{"a":{}}`},
	}
	for _, tt := range tests {
		before, after := mustCanonical(t, tt.before), mustCanonical(t, tt.after)
		got, err := mergePatch(before, after)
		if err != nil {
			t.Fatalf("mergePatch(%s, %s): %v", before, after, err)
		}
		if string(got) != tt.want {
			t.Errorf("mergePatch(%s, %s) = %s, want %s", before, after, got, tt.want)
		}
		want := after
		if tt.applied != "" {
			want = mustCanonical(t, tt.applied)
		}
		if applied := applyMergePatchRFC(t, before, got); !bytes.Equal(applied, want) {
			t.Errorf("%s merged into %s gives %s, want %s", got, before, applied, want)
		}
	}
}

func TestMergePatchNotCanonical(t *testing.T) {
	tests := []struct{ before, after, want string }{
		{``, `{}`, "merge patch: empty value"},
		{`{"a":1}`, ``, "merge patch: empty value"},
		{`{"a":1`, `{"a":2}`, "merge patch: not canonical JSON"},
		{`{"a":1}`, `{"a":{"b":2}`, "merge patch: not canonical JSON"},
		{`{"a"}`, `{"b":1}`, "merge patch: not canonical JSON"},
		{`{"a":}`, `{"b":1}`, "merge patch: not canonical JSON"},
		{`{"a":1}`, `{a:1}`, "merge patch: not canonical JSON"},
		{`{"a":{"b":1}}`, `{"a":{"b":2,}}`, "merge patch: not canonical JSON"},
	}
	for _, tt := range tests {
		_, err := mergePatch([]byte(tt.before), []byte(tt.after))
		if err == nil || err.Error() != tt.want {
			t.Errorf("mergePatch(%s, %s) error = %v, want %q", tt.before, tt.after, err, tt.want)
		}
	}
}

// FuzzMergePatch checks on arbitrary documents that the patch is
// canonical, is {} between objects only when nothing changed (and the
// after value whole unless both are objects), names no unchanged member,
// and applied with the RFC's algorithm gives after (without the new null
// members a merge patch cannot set), as evanphx/json-patch does where
// nulls play no part (it also drops nulls inside arrays, unlike the RFC).
func FuzzMergePatch(f *testing.F) {
	for _, s := range [][2]string{
		{`{"a":1,"b":[1,2,{"c":3}]}`, `{"b":[1,{"c":4}],"d":null}`},
		{`{"a":{"b":{"c":1,"d":2}},"e":"x"}`, `{"a":{"b":{"c":1,"d":3}},"e":"x"}`},
		{`{"a~/":{"é":"x"}}`, `{"a~/":{"é":"y","\u0000":1}}`},
		{`{"a":null,"b":{"c":null}}`, `{"b":{"c":null,"d":{"e":null}},"f":[null]}`},
		{`1`, `{"a":1}`},
		{`[1,2]`, `[1,2]`},
	} {
		f.Add([]byte(s[0]), []byte(s[1]))
	}
	f.Fuzz(func(t *testing.T, a, b []byte) {
		before, err1 := canonicalize(a)
		after, err2 := canonicalize(b)
		if err1 != nil || err2 != nil {
			return
		}
		p, err := mergePatch(before, after)
		if err != nil {
			t.Fatalf("mergePatch(%s, %s): %v", before, after, err)
		}
		if c, err := canonicalize(p); err != nil || !bytes.Equal(c, p) {
			t.Fatalf("mergePatch(%s, %s) = %s, not canonical (%s, %v)", before, after, p, c, err)
		}
		if objects := before[0] == '{' && after[0] == '{'; objects && (string(p) == "{}") != bytes.Equal(before, after) || !objects && !bytes.Equal(p, after) {
			t.Fatalf("mergePatch(%s, %s) = %s", before, after, p)
		}
		bt, at, pt := mustDecode(t, before), mustDecode(t, after), mustDecode(t, p)
		checkMinimal(t, bt, at, pt)
		want := encodeCanonical(t, withoutNewNulls(bt, at))
		if got := applyMergePatchRFC(t, before, p); !bytes.Equal(got, want) {
			t.Fatalf("%s merged into %s gives %s, want %s", p, before, got, want)
		}
		if bytes.Contains(after, []byte("null")) || string(before) == "null" {
			return
		}
		got, err := jsonpatch.MergePatch(before, p)
		if err != nil {
			t.Fatalf("evanphx MergePatch(%s, %s): %v", before, p, err)
		}
		if c := mustCanonical(t, string(got)); !bytes.Equal(c, after) {
			t.Fatalf("evanphx: %s merged into %s gives %s, want %s", p, before, c, after)
		}
	})
}

// applyMergePatchRFC applies a merge patch with the algorithm of RFC 7386
// Section 2, transcribed on decoded values, and returns the canonical
// result.
func applyMergePatchRFC(t *testing.T, target, patch []byte) []byte {
	t.Helper()
	var merge func(target, patch any) any
	merge = func(target, patch any) any {
		p, ok := patch.(map[string]any)
		if !ok {
			return patch
		}
		tgt, ok := target.(map[string]any)
		if !ok {
			tgt = map[string]any{}
		}
		for name, value := range p {
			if value == nil {
				delete(tgt, name)
			} else {
				tgt[name] = merge(tgt[name], value)
			}
		}
		return tgt
	}
	return encodeCanonical(t, merge(mustDecode(t, target), mustDecode(t, patch)))
}

// withoutNewNulls is after without the null members, outside arrays, that
// are not null in before already: what a merge patch can make of before.
func withoutNewNulls(before, after any) any {
	a, ok := after.(map[string]any)
	if !ok {
		return after
	}
	b, _ := before.(map[string]any)
	out := make(map[string]any, len(a))
	for name, v := range a {
		old, had := b[name]
		switch {
		case v != nil:
			out[name] = withoutNewNulls(old, v)
		case had && old == nil:
			out[name] = nil
		}
	}
	return out
}

// checkMinimal fails when the merge patch p from b to a has a member that
// is equal on both sides, or absent from both.
func checkMinimal(t *testing.T, b, a, p any) {
	t.Helper()
	pm, ok := p.(map[string]any)
	if !ok {
		return
	}
	bm, _ := b.(map[string]any)
	am, isObject := a.(map[string]any)
	if !isObject {
		t.Fatalf("patch %v for a non-object %v", p, a)
	}
	for name, pv := range pm {
		bv, inB := bm[name]
		av, inA := am[name]
		if !inA && !inB || inA && inB && reflect.DeepEqual(av, bv) {
			t.Fatalf("patch member %q = %v, but before has %v (%t) and after %v (%t)", name, pv, bv, inB, av, inA)
		}
		checkMinimal(t, bv, av, pv)
	}
}

func mustDecode(t *testing.T, b []byte) any {
	t.Helper()
	v, err := decodeTree(b)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func encodeCanonical(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return mustCanonical(t, string(b))
}

// BenchmarkMergePatch compares mergePatch with evanphx/json-patch's
// CreateMergePatch on an item of a typical size with one field changed.
func BenchmarkMergePatch(b *testing.B) {
	before := []byte(`{"customer":{"id":7781,"name":"Ada Lovelace","tier":"gold"},"id":1042,"lines":[{"qty":2,"sku":"A-1"},{"qty":1,"sku":"B-7"}],"status":"paid","total":"129.90","updated_at":"2024-05-01T10:00:00Z"}`)
	after := bytes.Replace(before, []byte(`"paid"`), []byte(`"shipped"`), 1)
	b.Run("canonical", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := mergePatch(before, after); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("evanphx", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := jsonpatch.CreateMergePatch(before, after); err != nil {
				b.Fatal(err)
			}
		}
	})
}
