package differ

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
)

// memChunks plays the store for lean states: it holds the full snapshot
// and the deltas each result says to write, and reads them back as a
// ChunkReader, counting what it read.
type memChunks struct {
	chunks    [][]byte
	reads     int
	readBytes int
	fail      error // when set, every read fails with it
}

func (m *memChunks) ReadChunk(chunk int, p []byte, off int64) error {
	if m.fail != nil {
		return m.fail
	}
	if chunk >= len(m.chunks) || off < 0 || off+int64(len(p)) > int64(len(m.chunks[chunk])) {
		return fmt.Errorf("read %d bytes at %d of chunk %d: out of range", len(p), off, chunk)
	}
	m.reads++
	m.readBytes += len(p)
	copy(p, m.chunks[chunk][off:])
	return nil
}

// apply stores what res says to store and returns a reader of the result,
// as a store does after a commit.
func (m *memChunks) apply(t *testing.T, res *Result) *memChunks {
	t.Helper()
	next := &memChunks{chunks: m.chunks}
	switch {
	case res.Snapshot != nil && res.SnapshotTo != nil:
		t.Fatal("result has both Snapshot and SnapshotTo")
	case res.SnapshotTo != nil:
		var b bytes.Buffer
		if err := res.SnapshotTo(&b); err != nil {
			t.Fatalf("SnapshotTo: %v", err)
		}
		next.chunks = [][]byte{b.Bytes()}
	case res.Snapshot != nil:
		next.chunks = [][]byte{res.Snapshot}
	case res.Delta != nil:
		next.chunks = append(append([][]byte(nil), m.chunks...), res.Delta)
	}
	return next
}

// stored returns what apply stored: the full snapshot and the deltas.
func (m *memChunks) stored() (base []byte, deltas [][]byte) {
	if len(m.chunks) == 0 {
		return nil, nil
	}
	return m.chunks[0], m.chunks[1:]
}

// heldBytes is how many bytes of chunks s holds in memory.
func heldBytes(s *State) int {
	n := 0
	for _, c := range s.chunks {
		n += len(c.data)
	}
	return n
}

// compareLean runs the polls of bodies twice, once keeping every state in
// memory and once keeping lean states that read their values from what
// the results stored, and fails unless both give the same results, store
// the same bytes and end with the same state. It returns the reader of the
// lean run's last state.
func compareLean(t *testing.T, d *Differ, bodies [][]byte) *memChunks {
	t.Helper()
	var full, lean *State
	fullStore, leanStore := &memChunks{}, &memChunks{}
	for n, body := range bodies {
		fres, ferr := d.Diff(full, body)
		lres, lerr := d.Diff(lean, body)
		if fmt.Sprint(ferr) != fmt.Sprint(lerr) {
			t.Fatalf("poll %d: error %v in memory, %v lean", n, ferr, lerr)
		}
		if ferr != nil {
			continue
		}
		if fres.Baseline != lres.Baseline || fres.Held != lres.Held || fres.Unchanged != lres.Unchanged || fres.Sum != lres.Sum {
			t.Fatalf("poll %d: flags %+v in memory, %+v lean", n, fres, lres)
		}
		if !reflect.DeepEqual(fres.Changes, lres.Changes) {
			t.Fatalf("poll %d: changes\n%v in memory\n%v lean", n, fres.Changes, lres.Changes)
		}
		fullStore, leanStore = fullStore.apply(t, fres), leanStore.apply(t, lres)
		if !reflect.DeepEqual(fullStore.chunks, leanStore.chunks) {
			t.Fatalf("poll %d: stored chunks differ (%d vs %d)", n, len(fullStore.chunks), len(leanStore.chunks))
		}
		full = fres.Next
		lean = lres.Next.Lean(leanStore)
		if diff := sameState(full, lean); diff != "" {
			t.Fatalf("poll %d: lean state differs: %s", n, diff)
		}
		if n, size := lean.Deltas(); n != len(leanStore.chunks)-1 || size != totalLen(leanStore.chunks[1:]) {
			t.Fatalf("lean state counts %d deltas of %d bytes, the store holds %d of %d", n, size, len(leanStore.chunks)-1, totalLen(leanStore.chunks[1:]))
		}
		// What the store holds loads as the lean state too.
		base, deltas := leanStore.stored()
		loaded, err := Load(base, deltas)
		if err != nil {
			t.Fatalf("poll %d: load the lean run's store: %v", n, err)
		}
		if diff := sameState(loaded, lean); diff != "" {
			t.Fatalf("poll %d: loaded state differs from the lean one: %s", n, diff)
		}
	}
	return leanStore
}

// orderBodies is a random walk over keyed orders: each poll updates,
// creates, deletes, reorders and respells some, and now and then deletes
// most of them (which the guard holds) or repeats the last body.
func orderBodies(r *rand.Rand, polls, items int) [][]byte {
	type order struct {
		id, v int
		tags  []int
	}
	var cur []order
	next := 0
	for range items {
		cur = append(cur, order{id: next, v: r.IntN(5)})
		next++
	}
	var bodies [][]byte
	for p := range polls {
		switch r.IntN(10) {
		case 0: // the same body again
			if len(bodies) > 0 {
				bodies = append(bodies, bodies[len(bodies)-1])
				continue
			}
		case 1: // most items vanish
			cur = cur[:len(cur)/5]
		default:
			for i := range cur {
				if r.IntN(10) == 0 {
					cur[i].v = r.IntN(5)
				}
				if r.IntN(20) == 0 {
					cur[i].tags = append(cur[i].tags, r.IntN(3))
				}
			}
			for range r.IntN(4) {
				if len(cur) > 0 {
					i := r.IntN(len(cur))
					cur = append(cur[:i], cur[i+1:]...)
				}
			}
			for range r.IntN(4) {
				cur = append(cur, order{id: next, v: r.IntN(5)})
				next++
			}
			if r.IntN(4) == 0 {
				r.Shuffle(len(cur), func(i, j int) { cur[i], cur[j] = cur[j], cur[i] })
			}
		}
		var b strings.Builder
		b.WriteString(`{"orders":[`)
		for i, o := range cur {
			if i > 0 {
				b.WriteString(",")
			}
			space := ""
			if r.IntN(8) == 0 {
				space = " " // respelled: other raw bytes, the same value
			}
			fmt.Fprintf(&b, `{"id":%d,%s"v":%d,"seen":%d,"tags":%s}`, o.id, space, o.v, p, strings.ReplaceAll(fmt.Sprint(o.tags), " ", ","))
		}
		b.WriteString("]}")
		bodies = append(bodies, []byte(strings.ReplaceAll(b.String(), `"tags":[]`, `"tags":[0]`)))
	}
	return bodies
}

// TestLeanMatchesFull holds lean states to what states kept in memory do,
// over random polls of every items mode, the guard and debounce included:
// the same changes, the same bytes stored (a full snapshot written through
// SnapshotTo included), the same state.
func TestLeanMatchesFull(t *testing.T) {
	specs := []Spec{
		{Items: "orders", Key: []string{"id"}, Ignore: []string{"seen"}},
		{Items: "orders", Key: []string{"id"}, Ignore: []string{"seen"}, Unordered: []string{"tags"}},
		{Items: "orders", Ignore: []string{"seen"}},
		{Items: "orders", Key: []string{"id"}, Ignore: []string{"seen"}, Debounce: 2},
		{Items: "orders", Key: []string{"id"}, Ignore: []string{"seen"}, Guard: Guard{MaxDeletedRatio: 0.5, ConfirmPolls: 2}},
		{Items: "orders", Key: []string{"id"}, Ignore: []string{"seen"}, Debounce: 2, Guard: Guard{MaxDeletedRatio: 0.5, ConfirmPolls: 2}},
		{Items: "orders", Key: []string{"id"}, Guard: Guard{MaxDeletedRatio: 0.9, MaxChangedRatio: 0.2, ConfirmPolls: 3}},
		{Items: "orders", Key: []string{"id"}},
	}
	for i, spec := range specs {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			d, err := Compile(spec)
			if err != nil {
				t.Fatal(err)
			}
			for seed := range uint64(4) {
				r := rand.New(rand.NewPCG(seed, uint64(i)))
				compareLean(t, d, orderBodies(r, 80, 60))
			}
		})
	}
}

// TestLeanReads pins what a lean state holds and reads: only its keys
// stay in memory, an unchanged poll reads nothing, a poll that updates
// one item and deletes another reads just those two values, and a full
// snapshot written through SnapshotTo reads the kept values window by
// window rather than one by one.
func TestLeanReads(t *testing.T) {
	d, err := Compile(Spec{Items: "$", Key: []string{"id"}})
	if err != nil {
		t.Fatal(err)
	}
	body := func(n, changed int) []byte {
		var b strings.Builder
		b.WriteString("[")
		for i := range n {
			if i > 0 {
				b.WriteString(",")
			}
			v := "x"
			if i == changed {
				v = "y"
			}
			fmt.Fprintf(&b, `{"id":%d,"v":"%s%s"}`, i, v, strings.Repeat("-", 40))
		}
		b.WriteString("]")
		return []byte(b.String())
	}
	base := mustDiff(t, d, nil, string(body(1000, -1)))
	st := (&memChunks{}).apply(t, base)
	lean := base.Next.Lean(st)
	if held, stored := heldBytes(lean), len(st.chunks[0]); held*5 > stored {
		t.Fatalf("a lean state holds %d of the %d stored bytes, want its keys only", held, stored)
	}

	res := mustDiff(t, d, lean, string(body(1000, -1)))
	if !res.Unchanged || st.reads != 0 {
		t.Fatalf("the same body: unchanged %v, %d reads; want true, 0", res.Unchanged, st.reads)
	}
	// Item 7 updated, item 999 deleted.
	res = mustDiff(t, d, lean, string(body(999, 7)))
	if len(res.Changes) != 2 || res.Changes[0].Type != TypeItemUpdated || res.Changes[1].Type != TypeItemDeleted {
		t.Fatalf("changes %v, want item 7 updated and item 999 deleted", res.Changes)
	}
	if want := `{"id":7,"v":"x` + strings.Repeat("-", 40) + `"}`; string(res.Changes[0].Before) != want {
		t.Fatalf("before %s, want %s", res.Changes[0].Before, want)
	}
	// Each value is read once, however many steps compare it.
	if st.reads != 2 {
		t.Fatalf("%d reads for one update and one delete, want 2", st.reads)
	}

	// Rewriting the whole snapshot from a lean state reads windows.
	st.reads = 0
	noRoom := *lean
	noRoom.deltas = maxDeltas // no room for another delta: a full snapshot
	res = d.hold(&noRoom, 1, [32]byte{1})
	if res.SnapshotTo == nil || res.Snapshot != nil {
		t.Fatal("a hold of a lean state without room for a delta did not plan a full snapshot")
	}
	rewritten := st.apply(t, res)
	if want := len(st.chunks[0])/windowSize + 1; st.reads > want {
		t.Fatalf("writing the snapshot took %d reads, want at most %d", st.reads, want)
	}
	loaded, err := Load(rewritten.chunks[0], nil)
	if err != nil {
		t.Fatal(err)
	}
	if diff := sameState(loaded, base.Next); diff != "hold 1/01000000 vs 0/00000000" {
		t.Fatalf("rewritten snapshot: %q, want only the hold to differ", diff)
	}
}

// TestLeanReadError: a value the store cannot read fails the poll with the
// store's error; nothing is compared against made-up bytes.
func TestLeanReadError(t *testing.T) {
	d, err := Compile(Spec{Items: "$", Key: []string{"id"}})
	if err != nil {
		t.Fatal(err)
	}
	base := mustDiff(t, d, nil, `[{"id":1,"v":1},{"id":2,"v":2}]`)
	st := (&memChunks{}).apply(t, base)
	st.fail = errors.New("disk on fire")
	lean := base.Next.Lean(st)
	_, err = d.Diff(lean, []byte(`[{"id":1,"v":9},{"id":2,"v":2}]`))
	if want := "read snapshot chunk 0: disk on fire"; err == nil || err.Error() != want {
		t.Fatalf("Diff: %v, want %q", err, want)
	}
	if _, err := lean.Items(); err == nil || err.Error() != "read snapshot chunk 0: disk on fire" {
		t.Fatalf("Items: %v", err)
	}
	// Without a reader a lean state's values are out of reach: said so.
	noReader := *lean
	noReader.src = nil
	_, err = d.Diff(&noReader, []byte(`[{"id":1,"v":9}]`))
	if err == nil || !strings.Contains(err.Error(), "not in memory and there is no reader") {
		t.Fatalf("Diff without a reader: %v", err)
	}
}
