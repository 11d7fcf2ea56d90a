package differ

import (
	"bytes"
	"fmt"
	"maps"
	"strings"
	"testing"
)

// sameState describes how two states differ in what they hold ("" when
// they hold the same): rules, body hash, guard state and items.
func sameState(a, b *State) string {
	switch {
	case a == nil || b == nil:
		if a != b {
			return fmt.Sprintf("state %v vs %v", a, b)
		}
		return ""
	case a.kind != b.kind || a.spec != b.spec:
		return fmt.Sprintf("rules %d/%x vs %d/%x", a.kind, a.spec, b.kind, b.spec)
	case a.body != b.body:
		return "body hash differs"
	case a.holdPolls != b.holdPolls || a.holdHash != b.holdHash:
		return fmt.Sprintf("hold %d/%x vs %d/%x", a.holdPolls, a.holdHash[:4], b.holdPolls, b.holdHash[:4])
	case !maps.Equal(a.pending, b.pending):
		return fmt.Sprintf("pending %v vs %v", a.pending, b.pending)
	case len(a.items) != len(b.items):
		return fmt.Sprintf("%d items vs %d", len(a.items), len(b.items))
	}
	for i := range a.items {
		if !bytes.Equal(a.key(i), b.key(i)) || !bytes.Equal(a.value(i), b.value(i)) {
			return fmt.Sprintf("item %d: %s %s vs %s %s", i, a.key(i), a.value(i), b.key(i), b.value(i))
		}
	}
	return ""
}

// checkStored checks that what res says to store, applied to prev in its
// full form, is what res.Next holds: a store replaying the result ends up
// with the state the differ keeps in memory.
func checkStored(t *testing.T, prev *State, res *Result) {
	t.Helper()
	var loaded *State
	var err error
	switch {
	case res.Snapshot != nil && res.Delta != nil:
		t.Fatal("result has both a snapshot and a delta")
	case res.Snapshot != nil:
		loaded, err = Load(res.Snapshot, nil)
	case res.Delta != nil:
		loaded, err = Load(prev.Snapshot(), [][]byte{res.Delta})
	default:
		loaded = prev
	}
	if err != nil {
		t.Fatalf("load what the result stores: %v", err)
	}
	if diff := sameState(loaded, res.Next); diff != "" {
		t.Fatalf("stored state differs from Result.Next: %s", diff)
	}
}

// stored plays the store for a sequence of polls: it keeps the full
// snapshot and the deltas each result says to write, and checks after
// every poll that loading them gives the state the differ returned.
type stored struct {
	t      *testing.T
	d      *Differ
	base   []byte
	deltas [][]byte
	state  *State
}

func newStored(t *testing.T, d *Differ) *stored { return &stored{t: t, d: d} }

func (s *stored) diff(body string) *Result {
	s.t.Helper()
	res := mustDiff(s.t, s.d, s.state, body)
	switch {
	case res.Snapshot != nil:
		s.base, s.deltas = res.Snapshot, nil
	case res.Delta != nil:
		s.deltas = append(s.deltas, res.Delta)
	}
	loaded, err := Load(s.base, s.deltas)
	if err != nil {
		s.t.Fatalf("Load after %q: %v", body, err)
	}
	if diff := sameState(loaded, res.Next); diff != "" {
		s.t.Fatalf("after %q the stored state differs from Result.Next: %s", body, diff)
	}
	if n, size := res.Next.Deltas(); n != len(s.deltas) || size != totalLen(s.deltas) {
		s.t.Fatalf("Next counts %d deltas of %d bytes, the store holds %d of %d", n, size, len(s.deltas), totalLen(s.deltas))
	}
	s.state = res.Next
	return res
}

func totalLen(bs [][]byte) int {
	n := 0
	for _, b := range bs {
		n += len(b)
	}
	return n
}

// TestDeltas runs a keyed job through polls that each change little and
// checks what is stored: deltas while they stay small, a full snapshot on
// the baseline and once they outgrow half of it, and every stored state
// loading back to the one the differ keeps.
func TestDeltas(t *testing.T) {
	d, err := Compile(Spec{Items: "$", Key: []string{"id"}, Ignore: []string{"ts"}})
	if err != nil {
		t.Fatal(err)
	}
	vals := map[int]string{}
	var order []int
	for id := 1; id <= 20; id++ {
		vals[id] = "a"
		order = append(order, id)
	}
	items := func(v map[int]string, ts int) string {
		var parts []string
		for _, id := range order {
			parts = append(parts, fmt.Sprintf(`{"id":%d,"ts":%d,"v":%q,"pad":"................................"}`, id, ts, v[id]))
		}
		return "[" + strings.Join(parts, ",") + "]"
	}
	st := newStored(t, d)
	res := st.diff(items(vals, 0))
	if res.Snapshot == nil || res.Delta != nil || !res.Baseline {
		t.Fatalf("baseline stored %d-byte snapshot, %d-byte delta; want a full snapshot", len(res.Snapshot), len(res.Delta))
	}
	base := len(res.Snapshot)
	var kinds []string
	for poll := 1; poll <= 12; poll++ {
		vals[poll] = "b"
		res := st.diff(items(vals, poll))
		if got := changeList(res.Changes); got != fmt.Sprintf("item.updated %d", poll) {
			t.Fatalf("poll %d: changes %q", poll, got)
		}
		switch {
		case res.Delta != nil:
			kinds = append(kinds, "delta")
			if len(res.Delta) > base/8 {
				t.Errorf("poll %d: delta of %d bytes for one item of a %d-byte snapshot", poll, len(res.Delta), base)
			}
		case res.Snapshot != nil:
			kinds = append(kinds, "full")
		}
	}
	// One item of 20 changes per poll: with its header, each delta is
	// about a tenth of the snapshot, so four fit in half of it.
	want := "delta delta delta delta full delta delta delta delta full delta delta"
	if got := strings.Join(kinds, " "); got != want {
		t.Errorf("stored per poll: %s\nwant %s", got, want)
	}

	// A reordering with no change stores only the order.
	order = append([]int{20}, order[:19]...)
	res = st.diff(items(vals, 0))
	if res.Changes != nil || res.Delta == nil || len(res.Delta) > deltaHeaderSize+8 {
		t.Errorf("reordered items: changes %q, delta of %d bytes; want none and a run list", changeList(res.Changes), len(res.Delta))
	}
	if got := itemKeys(t, st.state); !strings.HasPrefix(got, "20 1 2 3 ") {
		t.Errorf("order after the reordering: %s", got)
	}
}

// TestDeltaCountBound checks that polls whose deltas are tiny (only the
// body hash changed) still end in a full snapshot after maxDeltas.
func TestDeltaCountBound(t *testing.T) {
	d, err := Compile(Spec{Items: "$", Key: []string{"id"}, Ignore: []string{"ts"}})
	if err != nil {
		t.Fatal(err)
	}
	st := newStored(t, d)
	st.diff(`[{"id":1,"ts":0,"v":"` + strings.Repeat("x", 100000) + `"}]`)
	for poll := 1; poll <= maxDeltas+1; poll++ {
		res := st.diff(fmt.Sprintf(`[{"id":1,"ts":%d,"v":"%s"}]`, poll, strings.Repeat("x", 100000)))
		full := res.Snapshot != nil
		if want := poll == maxDeltas+1; full != want || res.Changes != nil {
			t.Fatalf("poll %d: full snapshot %v, changes %q; want full %v and no changes", poll, full, changeList(res.Changes), want)
		}
	}
}

// TestLoadErrors pins the errors for stored data Load cannot replay.
func TestLoadErrors(t *testing.T) {
	d, err := Compile(Spec{Items: "$", Key: []string{"id"}})
	if err != nil {
		t.Fatal(err)
	}
	st := newStored(t, d)
	st.diff(`[{"id":1},{"id":2},{"id":3},{"id":4},{"id":5},{"id":6},{"id":7},{"id":8},{"id":9},{"id":10}]`)
	good := st.diff(`[{"id":1},{"id":2,"v":2},{"id":3},{"id":4},{"id":5},{"id":6},{"id":7},{"id":8},{"id":9},{"id":10}]`).Delta
	if good == nil {
		t.Fatal("no delta to corrupt")
	}
	edit := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(good)) }
	tests := []struct {
		name   string
		base   []byte
		deltas [][]byte
		want   string
	}{
		{"deltas without a base", nil, [][]byte{good}, "snapshot: 1 deltas without a full snapshot"},
		{"short header", st.base, [][]byte{good[:20]}, "snapshot: delta 1: truncated header (20 bytes)"},
		{"unknown version", st.base, [][]byte{edit(func(b []byte) []byte { b[0] = 9; return b })}, "snapshot: delta 1: format version 9 is not supported (this build reads versions 1 and 2)"},
		{"other previous state", st.base, [][]byte{edit(func(b []byte) []byte { putUint32(b[offDeltaPrev:], 11); return b })}, "snapshot: delta 1: applies to 11 items, not 10"},
		{"truncated run list", st.base, [][]byte{good[:len(good)-1]}, "snapshot: delta 1: run list of 4 bytes, header says 5"},
		{"run past the items", st.base, [][]byte{edit(func(b []byte) []byte { b[len(b)-1] = 12; return b })}, "snapshot: delta 1: malformed run list"},
		{"count too small", st.base, [][]byte{edit(func(b []byte) []byte { putUint32(b[offDeltaCount:], 9); return b })}, "snapshot: delta 1: runs give more than 9 items"},
		{"too many values", st.base, [][]byte{edit(func(b []byte) []byte { putUint32(b[offDeltaValues:], 1<<20); return b })}, "snapshot: delta 1: 1048576 new values do not fit 113 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Load(tt.base, tt.deltas); err == nil || err.Error() != tt.want {
				t.Errorf("Load error = %v, want %q", err, tt.want)
			}
		})
	}
}
