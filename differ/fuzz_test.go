package differ

import (
	"slices"
	"testing"
)

// fuzzSpecs cover every mode and the guard.
var fuzzSpecs = []Spec{
	{},
	{Ignore: []string{"a", "b.c"}},
	{Items: "$", Key: []string{"id"}, Ignore: []string{"ts"}},
	{Items: "$", Key: []string{"a", "b.c"}},
	{Items: "items", Key: []string{"id"}},
	{Items: "$"},
	{Items: "$", Key: []string{"id"}, Guard: Guard{MaxDeletedRatio: 0.3, ConfirmPolls: 2}},
	{Items: "$[*].o", Key: []string{"id"}},
	{Items: "a[*][*]"},
	{Items: "$", Key: []string{"id"}, Debounce: 2},
	{Items: "$", Key: []string{"id"}, Debounce: 2, Guard: Guard{MaxDeletedRatio: 0.3, ConfirmPolls: 2}},
	{Items: "$", Debounce: 3},
	{Debounce: 2},
}

// FuzzDiff diffs arbitrary bodies: Diff never panics, a body diffed
// against its own snapshot (as the same bytes or respelled) yields no
// changes, every patch turns Before into After, what a result stores
// loads back as its next state, and recognising items by their raw bytes
// changes no result and no error, and neither does a lean state (one
// that reads its values from what the results stored).
func FuzzDiff(f *testing.F) {
	for _, s := range [][2]string{
		{`[{"id":1,"v":1},{"id":2}]`, `[{"id":2,"v":[1,2]},{"id":3}]`},
		{`{"items":[{"id":"x","ts":1}]}`, `{"items":[{"id":"x","ts":2,"n":{"m":1}}]}`},
		{`[{"a":1,"b":{"c":2}},{"a":1,"b":{"c":3}}]`, `[{"a":1,"b":{"c":3},"d":null}]`},
		{`{"a":1,"b":{"c":[1,{"d":2}]}}`, `{"b":{"c":[{"d":3}]},"x":"y"}`},
		{`"x"`, `[1]`},
		{`[1,1,2]`, `[2,1.0,"1"]`},
		{`[{"o":[{"id":1},{"id":2}]},{"o":[]}]`, `[{"o":[{"id":2}]},{"o":[{"id":1,"v":"]"}]}]`},
		{`{"a":[[1,"x\"]"],[2]]}`, `{"a":[[2],[1,"x\"]",3]]}`},
	} {
		f.Add([]byte(s[0]), []byte(s[1]))
	}
	f.Fuzz(func(t *testing.T, a, b []byte) {
		for _, spec := range fuzzSpecs {
			d, err := Compile(spec)
			if err != nil {
				t.Fatal(err)
			}
			first, err := d.Diff(nil, a)
			if err != nil {
				continue
			}
			checkStored(t, nil, first)
			// Same bytes (the shortcut), then respelled (a full parse).
			for _, body := range [][]byte{a, slices.Concat([]byte(" \n"), a)} {
				res, err := d.Diff(first.Next, body)
				if err != nil || len(res.Changes) != 0 || res.Held || res.Baseline {
					t.Fatalf("spec %+v: %q against its own snapshot: %+v, %v", spec, body, res, err)
				}
			}
			// Whether the state knows the raw bytes of its items must
			// not matter, errors included.
			compareWarmCold(t, d, a, b)
			// Nor whether it holds its values or reads them from the store.
			compareLean(t, d, [][]byte{a, b, b, a, b, b})
			res, err := d.Diff(first.Next, b)
			if err != nil {
				continue
			}
			checkPatches(t, res.Changes)
			checkStored(t, first.Next, res)
			if res.Held {
				// The next poll with b would confirm the hold.
				continue
			}
			// Debounced changes are applied once b has been seen often
			// enough; until then each poll emits nothing.
			for range spec.Debounce {
				if len(res.Next.pending) == 0 {
					break
				}
				prev := res.Next
				if res, err = d.Diff(prev, b); err != nil {
					t.Fatalf("spec %+v: %q again: %v", spec, b, err)
				}
				checkPatches(t, res.Changes)
				checkStored(t, prev, res)
			}
			if len(res.Next.pending) != 0 {
				t.Fatalf("spec %+v: %q still pending after %d polls", spec, b, spec.Debounce+1)
			}
			again, err := d.Diff(res.Next, slices.Concat(b, []byte(" ")))
			if err != nil || len(again.Changes) != 0 {
				t.Fatalf("spec %+v: %q against its own snapshot: %+v, %v", spec, b, again, err)
			}
		}
	})
}
