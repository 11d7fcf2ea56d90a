package differ

import (
	"crypto/sha256"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
)

// canonicalized counts the items of body that d would canonicalize when
// comparing with prev, rather than recognise by their raw bytes.
func canonicalized(t *testing.T, d *Differ, prev *State, body string) int {
	t.Helper()
	w, err := d.walk(prev, []byte(body), false)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, p := range w.items {
		if p.prev < 0 {
			n++
		}
	}
	return n
}

// TestRecognised pins which items are parsed on a poll: only those whose
// raw bytes no item of the previous poll had.
func TestRecognised(t *testing.T) {
	d, err := Compile(Spec{Items: "data", Ignore: []string{"ts"}})
	if err != nil {
		t.Fatal(err)
	}
	const prev = `{"data":[{"id":1,"v":"a"}, {"id":2,"v":"b"},
		{"id":3,"v":"c"}, {"id":4,"v":"d"}, 7]}`
	tests := []struct {
		name string
		body string
		want int
	}{
		{"same items, other whitespace between them", `{"data":[{"id":1,"v":"a"},{"id":2,"v":"b"},{"id":3,"v":"c"},{"id":4,"v":"d"},7]}`, 0},
		{"reordered", `{"data":[7,{"id":4,"v":"d"},{"id":2,"v":"b"},{"id":3,"v":"c"},{"id":1,"v":"a"}]}`, 0},
		{"one changed", `{"data":[{"id":1,"v":"a"},{"id":2,"v":"B"},{"id":3,"v":"c"},{"id":4,"v":"d"},7]}`, 1},
		{"one inserted, one deleted", `{"data":[{"id":1,"v":"a"},{"id":9,"v":"x"},{"id":3,"v":"c"},{"id":4,"v":"d"},7]}`, 1},
		{"respelled inside", `{"data":[{"id":1,"v":"a"},{"id":2, "v":"b"},{"id":3,"v":"c"},{"id":4,"v":"d"},7]}`, 1},
		{"a number continued", `{"data":[{"id":1,"v":"a"},{"id":2,"v":"b"},{"id":3,"v":"c"},{"id":4,"v":"d"},77]}`, 1},
		{"other envelope", `{"meta":{"at":1},"data":[{"id":1,"v":"a"},{"id":2,"v":"b"},{"id":3,"v":"c"},{"id":4,"v":"d"},7]}`, 0},
	}
	st := mustDiff(t, d, nil, prev).Next
	for _, tt := range tests {
		if got := canonicalized(t, d, st, tt.body); got != tt.want {
			t.Errorf("%s: %d items parsed, want %d", tt.name, got, tt.want)
		}
	}
	// A run of new items at the top: after maxMisses of them, lookups
	// pause for skipMisses elements at a time, so a few old items after
	// the run are parsed too: 32 new ones looked up, 64 skipped, one
	// looked up, 64 skipped (61 of them old), then the rest recognised.
	items := func(from, to int) string {
		var parts []string
		for id := from; id < to; id++ {
			parts = append(parts, fmt.Sprintf(`{"id":%d}`, id))
		}
		return strings.Join(parts, ",")
	}
	old := mustDiff(t, d, nil, `{"data":[`+items(0, 200)+`]}`).Next
	if got, want := canonicalized(t, d, old, `{"data":[`+items(1000, 1100)+","+items(0, 200)+`]}`), maxMisses+skipMisses+1+skipMisses; got != want {
		t.Errorf("100 new items before 200 old ones: %d parsed, want %d", got, want)
	}

	// A state loaded from the store knows the canonical bytes only: a
	// source that sends them is recognised, any other is parsed.
	loaded, err := Load(st.Snapshot(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := canonicalized(t, d, loaded, `{"data":[{"id":1,"v":"a"},{"id":2,"v":"b"}]}`); got != 0 {
		t.Errorf("canonical items against a loaded state: %d parsed, want 0", got)
	}
	if got := canonicalized(t, d, loaded, `{"data":[{"id":1, "v":"a"},{"v":"b","id":2}]}`); got != 2 {
		t.Errorf("other spellings against a loaded state: %d parsed, want 2", got)
	}
}

// warmCases are pairs of responses whose diff must not depend on whether
// the previous state knows the raw bytes of its items.
var warmCases = []struct {
	spec       Spec
	prev, body string
}{
	{orders, `{"data":{"orders":[{"id":1,"v":1},{"id":2,"v":2},{"id":3,"v":3}]}}`, `{"data":{"orders":[{"id":3,"v":3},{"id":1,"v":1},{"id":4},{"id":2,"v":2.0}]}}`},
	{orders, `{"data":{"orders":[{"id":1},{"id":2},{"id":3}]}}`, `{"data":{"orders":[{"id":1},{"id":2},{"id":3}x]}}`},
	{orders, `{"data":{"orders":[{"id":1},{"id":2},{"id":3}]}}`, `{"data":{"orders":[{"id":1},{"id":2},{"id":3}`},
	{orders, `{"data":{"orders":[{"id":1},{"id":2},{"id":3}]}}`, `{"data":{"orders":[{"id":1} {"id":2}]}}`},
	{orders, `{"data":{"orders":[{"id":1},{"id":2},{"id":3}]}}`, `{"data":{"orders":[{"id":1},{"id":2},{"id":3},]}}`},
	{orders, `{"data":{"orders":[{"id":1},{"id":2},{"id":3}]}}`, `{"data":{"orders":[{"id":1},{"id":2},{"id":3}]}}garbage`},
	{orders, `{"data":{"orders":[{"id":1},{"id":2}]}}`, `{"data":{"orders":[{"id":1},{"id":1}]}}`},
	{orders, `{"data":{"orders":[{"id":1},{"id":2}]}}`, `{"data":{"orders":[{"id":1},{"id":1.0}]}}`},
	{orders, `{"data":{"orders":[{"id":1},{"id":2}]}}`, `{"data":{"orders":[{"id":2.0},{"id":2}]}}`},
	{orders, `{"data":{"orders":[{"id":1},{"id":2}]}}`, `{"data":{"orders":[{"id":1},{"x":1},{"id":1}]}}`},
	{orders, `{"data":{"orders":[{"id":1},{"id":2}]}}`, `{"data":{"orders":[{"id":1},{"id":1},{"x":1}]}}`},
	{orders, `{"data":{"orders":[{"id":1},{"id":2}]}}`, `{"data":{"orders":[{"id":1},{"id":2}],"orders":[]}}`},
	{orders, `{"data":{"orders":[{"id":1},{"id":2}]}}`, `{"data":{"orders":[{"id":1},{"id":2}]},"data":{"orders":[{"id":2}]}}`},
	{orders, `{"data":{"orders":[{"id":1},{"id":2}]}}`, `{"data":{"orders":[{"id":1},{"id":2}]},"data":{"orders":[{"id":2}]},"x":}`},
	{Spec{Items: "$"}, `[12,3,"a\"b",{"k":[1,{"x":"]"}]}]`, `[123,"a\"b",{"k":[1,{"x":"]"}]},"a\"b",12]`},
	{Spec{Items: "$"}, `["a","a","b"]`, `["a","b","a","a"]`},
	{Spec{Items: "$"}, `[1,2]`, `[1,2,` + strings.Repeat("[", 1000) + strings.Repeat("]", 1000) + `]`},
	{Spec{Items: "a", Key: []string{"id"}}, `{"a":[{"id":1,"d":` + strings.Repeat("[", 997) + strings.Repeat("]", 997) + `}]}`,
		`{"a":[{"id":1,"d":` + strings.Repeat("[", 997) + strings.Repeat("]", 997) + `},{"id":2,"d":` + strings.Repeat("[", 998) + strings.Repeat("]", 998) + `}]}`},
	{Spec{Items: "$[*].o", Key: []string{"id"}, Ignore: []string{"ts"}}, `[{"o":[{"id":1,"ts":1},{"id":2}]},{"o":[{"id":3}]}]`, `[{"o":[{"id":3}]},{"o":[{"id":1,"ts":2},{"id":2,"v":1}]}]`},
	{Spec{Items: "$", Key: []string{"id"}, Guard: Guard{MaxDeletedRatio: 0.5, ConfirmPolls: 2}}, `[{"id":1},{"id":2},{"id":3}]`, `[{"id":3}]`},
	{Spec{Ignore: []string{"ts"}}, `{"a":1,"ts":1}`, `{"ts":2,"a":1}`},
}

// TestWarmMatchesCold diffs each case against the state Diff returned
// (which knows the raw bytes of the items), against that state loaded
// from its snapshot (which does not) and, for errors, against no state at
// all: results and errors must be the same.
func TestWarmMatchesCold(t *testing.T) {
	for i, tt := range warmCases {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			d, err := Compile(tt.spec)
			if err != nil {
				t.Fatal(err)
			}
			compareWarmCold(t, d, []byte(tt.prev), []byte(tt.body))
		})
	}
}

// compareWarmCold checks that diffing body against the state of prev
// gives the same result whether or not that state knows the raw bytes of
// its items. It returns false when prev itself fails to diff.
func compareWarmCold(t *testing.T, d *Differ, prev, body []byte) bool {
	t.Helper()
	first, err := d.Diff(nil, prev)
	if err != nil {
		return false
	}
	cold, err := Load(first.Next.Snapshot(), nil)
	if err != nil {
		t.Fatal(err)
	}
	w, werr := d.Diff(first.Next, body)
	c, cerr := d.Diff(cold, body)
	if fmt.Sprint(werr) != fmt.Sprint(cerr) {
		t.Fatalf("%q after %q: error %v with the raw bytes known, %v without", body, prev, werr, cerr)
	}
	if werr != nil {
		if _, nerr := d.Diff(nil, body); nerr == nil || nerr.Error() != werr.Error() {
			t.Fatalf("%q after %q: error %v, but %v on a first poll", body, prev, werr, nerr)
		}
		return true
	}
	if !reflect.DeepEqual(w.Changes, c.Changes) || w.Held != c.Held || w.Baseline != c.Baseline {
		t.Fatalf("%q after %q: with the raw bytes known %+v, without %+v", body, prev, w, c)
	}
	if diff := sameState(w.Next, c.Next); diff != "" {
		t.Fatalf("%q after %q: next states differ: %s", body, prev, diff)
	}
	checkStored(t, first.Next, w)
	return true
}

// TestDiffKeepsPrev checks that Diff never changes the state it compares
// with: two different polls diffed against one state give what each gives
// alone, and the state still holds what it held.
func TestDiffKeepsPrev(t *testing.T) {
	d, err := Compile(Spec{Items: "$", Key: []string{"id"}, Guard: Guard{MaxDeletedRatio: 0.5, ConfirmPolls: 2}})
	if err != nil {
		t.Fatal(err)
	}
	prev := mustDiff(t, d, nil, `[{"id":1},{"id":2},{"id":3}]`).Next
	before := prev.Snapshot()
	for _, body := range []string{`[{"id":1,"v":1},{"id":4},{"id":3}]`, `[]`, `[{"id":3},{"id":2},{"id":1}]`, `[{"id":1},{"id":2},{"id":3}]`} {
		first := mustDiff(t, d, prev, body)
		for _, other := range []string{`[{"id":5}]`, `[{"id":1},{"id":2},{"id":3},{"id":4}]`} {
			mustDiff(t, d, prev, other)
		}
		again := mustDiff(t, d, prev, body)
		if !reflect.DeepEqual(first.Changes, again.Changes) || sameState(first.Next, again.Next) != "" {
			t.Errorf("%s: a second diff against the same state differs", body)
		}
		if got := prev.Snapshot(); string(got) != string(before) {
			t.Fatalf("%s: the state compared with changed", body)
		}
	}
}

// TestLargeBodyHashedAside checks the result of a body large enough to be
// hashed while it is parsed: the same as with the hash given.
func TestLargeBodyHashedAside(t *testing.T) {
	d, err := Compile(Spec{Items: "$", Key: []string{"id"}})
	if err != nil {
		t.Fatal(err)
	}
	body := func(n int, v string) []byte {
		var b strings.Builder
		b.WriteString("[")
		for i := range n {
			if i > 0 {
				b.WriteString(",")
			}
			fmt.Fprintf(&b, `{"id":%d,"v":%q,"pad":"%s"}`, i, v, strings.Repeat("p", 100))
		}
		b.WriteString("]")
		return []byte(b.String())
	}
	prev := mustDiff(t, d, nil, string(body(10000, "a"))).Next
	for _, next := range [][]byte{body(10001, "a"), body(10000, "b")} { // another length, then the same
		if len(next) < parallelHashSize {
			t.Fatalf("body of %d bytes is below %d", len(next), parallelHashSize)
		}
		res, err := d.Diff(prev, next)
		if err != nil {
			t.Fatal(err)
		}
		given, err := d.DiffSum(prev, next, sha256.Sum256(next))
		if err != nil {
			t.Fatal(err)
		}
		if res.Sum != sha256.Sum256(next) || !reflect.DeepEqual(res.Changes, given.Changes) || sameState(res.Next, given.Next) != "" {
			t.Errorf("%d-byte body: result differs from the one with the hash given", len(next))
		}
		if again := mustDiff(t, d, res.Next, string(next)); !again.Unchanged || again.Sum != res.Sum {
			t.Errorf("%d-byte body against its own state: Unchanged %v", len(next), again.Unchanged)
		}
	}
}

// TestConcurrentDiffs diffs several polls against one state at once, as
// a retry racing a poll might: each gets its own result (run with -race).
func TestConcurrentDiffs(t *testing.T) {
	d, prev := compileAfter(t, Spec{Items: "$", Key: []string{"id"}}, `[{"id":1},{"id":2},{"id":3}]`)
	bodies := []string{`[{"id":1,"v":1},{"id":2},{"id":3}]`, `[{"id":3},{"id":4}]`, `[{"id":2},{"id":1}]`, `[]`}
	want := []string{"item.updated 1", "item.created 4, item.deleted 1, item.deleted 2", "item.deleted 3",
		"item.deleted 1, item.deleted 2, item.deleted 3"}
	got := make([]string, len(bodies))
	var wg sync.WaitGroup
	for i, body := range bodies {
		wg.Go(func() {
			res, err := d.Diff(prev, []byte(body))
			if err != nil {
				got[i] = err.Error()
				return
			}
			got[i] = changeList(res.Changes)
		})
	}
	wg.Wait()
	if !slices.Equal(got, want) {
		t.Errorf("changes %q, want %q", got, want)
	}
}
