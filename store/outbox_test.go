package store

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// commitEvents commits n events of about size bytes on the job's head.
func commitEvents(t testing.TB, b *Badger, job string, n, size int, dests ...string) []Event {
	t.Helper()
	h, err := b.Head(job)
	if err != nil {
		t.Fatal(err)
	}
	c := &Commit{Events: newEvents(n, size), Destinations: dests}
	if _, err := b.Commit(context.Background(), job, h.Version, c); err != nil {
		t.Fatal(err)
	}
	return c.Events
}

func seqs(events []Event) []uint64 {
	s := make([]uint64, len(events))
	for i, ev := range events {
		s[i] = ev.Seq
	}
	return s
}

func seqRange(from, to uint64) []uint64 {
	var s []uint64
	for q := from; q <= to; q++ {
		s = append(s, q)
	}
	return s
}

func TestLanesStartAtTheirFirstCommit(t *testing.T) {
	b := openTest(t, "", Options{})
	commitEvents(t, b, "orders", 3, 50, "hook")
	second := commitEvents(t, b, "orders", 2, 50, "hook", "audit", "audit")
	commitEvents(t, b, "orders", 0, 50, "slack")
	commitEvents(t, b, "users", 1, 50, "hook")

	want := []LaneState{
		{Destination: "audit", Job: "orders", Cursor: 4},
		{Destination: "hook", Job: "orders", Cursor: 1},
		{Destination: "slack", Job: "orders", Cursor: 6},
		{Destination: "hook", Job: "users", Cursor: 1},
	}
	if got, err := b.Lanes(); err != nil || !equalJSON(got, want) {
		t.Errorf("Lanes = %+v, %v\nwant %+v", got, err, want)
	}
	if got, err := b.Pending("audit", "orders", 0); err != nil || !equalJSON(got, second) {
		t.Errorf("new lane's Pending = %v, %v; want the events of its first commit", seqs(got), err)
	}
	if got, err := b.Pending("slack", "orders", 0); err != nil || got != nil {
		t.Errorf("lane created by a commit without events has %v, %v pending", seqs(got), err)
	}
	if got, err := b.Lane("nope", "orders"); err != nil || got != (LaneState{Destination: "nope", Job: "orders"}) {
		t.Errorf("Lane of a missing lane = %+v, %v", got, err)
	}
}

func TestPendingAndAck(t *testing.T) {
	b := openTest(t, "", Options{})
	events := commitEvents(t, b, "orders", 300, 60, "hook") // chunks start at 1, 129, 257

	tests := []struct {
		name   string
		ack    uint64 // acked up to (0: nothing)
		limit  int
		want   []uint64
		cursor uint64
	}{
		{"from the start", 0, 2, []uint64{1, 2}, 1},
		{"after ack", 2, 2, []uint64{3, 4}, 3},
		{"ack already passed", 1, 2, []uint64{3, 4}, 3},
		{"across chunk ends", 99, 170, seqRange(100, 269), 100},
		{"at a chunk start", 128, 3, []uint64{129, 130, 131}, 129},
		{"limit beyond the head", 290, 50, seqRange(291, 300), 291},
		{"no limit", 297, 0, []uint64{298, 299, 300}, 298},
		{"all delivered", 300, 5, nil, 301},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.ack > 0 {
				if err := b.Ack("hook", "orders", tt.ack); err != nil {
					t.Fatal(err)
				}
			}
			got, err := b.Pending("hook", "orders", tt.limit)
			if err != nil || !slices.Equal(seqs(got), tt.want) {
				t.Fatalf("Pending = %v, %v; want %v", seqs(got), err, tt.want)
			}
			for _, ev := range got {
				if !equalJSON(ev, events[ev.Seq-1]) {
					t.Fatalf("event %d = %+v, want %+v", ev.Seq, ev, events[ev.Seq-1])
				}
			}
			if st, _ := b.Lane("hook", "orders"); st.Cursor != tt.cursor {
				t.Errorf("cursor %d, want %d", st.Cursor, tt.cursor)
			}
		})
	}

	more := commitEvents(t, b, "orders", 2, 60, "hook")
	if got, err := b.Pending("hook", "orders", 10); err != nil || !equalJSON(got, more) {
		t.Errorf("Pending after a new commit = %v, %v; want 301, 302", seqs(got), err)
	}

	err := b.Ack("hook", "orders", 303)
	if want := `store: ack of event 303 of destination "hook", job "orders", whose last event is 302`; err == nil || err.Error() != want {
		t.Errorf("Ack beyond the head = %v, want %s", err, want)
	}
	err = b.Ack("nope", "orders", 1)
	if want := `destination "nope", job "orders": store: no such lane`; !errors.Is(err, ErrNoLane) || err.Error() != want {
		t.Errorf("Ack of a missing lane = %v, want %s", err, want)
	}
	if got, err := b.Pending("nope", "orders", 10); err != nil || got != nil {
		t.Errorf("Pending of a missing lane = %v, %v", seqs(got), err)
	}
}

func TestPruning(t *testing.T) {
	b := openTest(t, t.TempDir(), Options{})
	commitEvents(t, b, "orders", 300, 60, "a", "b")
	check := func(step string, want ...string) {
		t.Helper()
		if got := chunkKeys(t, b.db, "orders"); !slices.Equal(got, want) {
			t.Errorf("%s: chunks %v, want %v", step, got, want)
		}
	}
	// Chunks of 128 events of 60 bytes take 4 parts.
	check("committed", "1-128/4", "129-256/4", "257-300/2")

	steps := []struct {
		dest string
		seq  uint64
		want []string
	}{
		{"a", 300, []string{"1-128/4", "129-256/4", "257-300/2"}}, // b still needs everything
		{"b", 150, []string{"129-256/4", "257-300/2"}},
		{"b", 256, []string{"257-300/2"}},
		{"b", 299, []string{"257-300/2"}}, // 300 still pending on b
		{"b", 300, nil},
	}
	for _, s := range steps {
		if err := b.Ack(s.dest, "orders", s.seq); err != nil {
			t.Fatal(err)
		}
		check(fmt.Sprintf("%s acked %d", s.dest, s.seq), s.want...)
	}

	// A lane removed from the job no longer holds its log back.
	commitEvents(t, b, "orders", 10, 60, "a", "b")
	if err := b.Ack("a", "orders", 310); err != nil {
		t.Fatal(err)
	}
	check("b behind", "301-310/1")
	if err := b.DeleteLane("b", "orders"); err != nil {
		t.Fatal(err)
	}
	check("b deleted")
	want := []LaneState{{Destination: "a", Job: "orders", Cursor: 311}}
	if got, err := b.Lanes(); err != nil || !equalJSON(got, want) {
		t.Errorf("Lanes = %+v, %v; want %+v", got, err, want)
	}
}

func TestPruneAtOpen(t *testing.T) {
	dir := t.TempDir()
	b, err := Open(dir, Options{Logger: discard})
	if err != nil {
		t.Fatal(err)
	}
	commitEvents(t, b, "orders", 20, 60, "hook", "audit")
	if err := b.Ack("hook", "orders", 20); err != nil {
		t.Fatal(err)
	}
	// Remove the lane holding the log back without the prune that follows,
	// as a crash in between would.
	err = b.db.Update(func(txn *badger.Txn) error {
		if err := txn.Delete(laneKey("audit", "orders")); err != nil {
			return err
		}
		return setJSON(txn, laneIndexKey("orders"), []string{"hook"})
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := chunkKeys(t, b.db, "orders"); !slices.Equal(got, []string{"1-20/1"}) {
		t.Fatalf("chunks before reopening %v, want [1-20/1]", got)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	b = openTest(t, dir, Options{})
	if got := chunkKeys(t, b.db, "orders"); len(got) != 0 {
		t.Errorf("chunks after Open %v, want none", got)
	}
}

func TestSetRetry(t *testing.T) {
	b := openTest(t, "", Options{})
	commitEvents(t, b, "orders", 3, 50, "hook")
	first := time.Date(2026, 11, 27, 21, 0, 0, 0, time.FixedZone("CET", 3600))
	st := LaneState{Destination: "hook", Job: "orders", Attempts: 3, FirstAttempt: first,
		NextAttempt: first.Add(time.Minute), LastStatus: 503, LastError: "status 503"}
	if err := b.SetRetry(st); err != nil {
		t.Fatal(err)
	}
	want := st
	want.Cursor = 1
	want.FirstAttempt, want.NextAttempt = first.UTC(), first.Add(time.Minute).UTC()
	if got, err := b.Lane("hook", "orders"); err != nil || !equalJSON(got, want) || !got.FirstAttempt.Equal(first) {
		t.Errorf("Lane = %+v, %v; want %+v", got, err, want)
	}

	st.Cursor, st.Attempts = 2, 4
	err := b.SetRetry(st)
	if msg := `store: retry state for event 2 of destination "hook", job "orders", whose cursor is at 1`; err == nil || err.Error() != msg {
		t.Errorf("SetRetry for another event = %v, want %s", err, msg)
	}
	if err := b.SetRetry(LaneState{Destination: "nope", Job: "orders"}); !errors.Is(err, ErrNoLane) {
		t.Errorf("SetRetry of a missing lane = %v, want ErrNoLane", err)
	}

	if err := b.Ack("hook", "orders", 1); err != nil {
		t.Fatal(err)
	}
	if got, err := b.Lane("hook", "orders"); err != nil || got != (LaneState{Destination: "hook", Job: "orders", Cursor: 2}) {
		t.Errorf("Ack left %+v, %v; want the retry state cleared", got, err)
	}
}

func TestDeadLetters(t *testing.T) {
	b := openTest(t, "", Options{})
	events := commitEvents(t, b, "orders", 3, 50, "a", "b")
	t1 := testNow.Add(-2 * time.Hour)
	t2 := testNow.Add(-time.Hour)
	letters := []DeadLetter{
		{Destination: "a", Event: events[0], Attempts: 15, LastStatus: 500, LastError: "status 500", DeadAt: t2},
		{Destination: "b", Event: events[0], Attempts: 3, LastError: "connection refused", DeadAt: t1},
		{Destination: "a", Event: events[1], Attempts: 1, LastStatus: 410, LastError: "status 410"}, // DeadAt: now
	}
	for _, dl := range letters {
		if err := b.DeadLetter(dl); err != nil {
			t.Fatal(err)
		}
	}
	letters[2].DeadAt = testNow

	tests := []struct {
		dest string
		want []DeadLetter
	}{
		{"", []DeadLetter{letters[1], letters[0], letters[2]}},
		{"a", []DeadLetter{letters[0], letters[2]}},
		{"b", []DeadLetter{letters[1]}},
		{"c", nil},
	}
	for _, tt := range tests {
		if got, err := b.DeadLetters(tt.dest); err != nil || !equalJSON(got, tt.want) {
			t.Errorf("DeadLetters(%q) = %+v, %v\nwant %+v", tt.dest, got, err, tt.want)
		}
	}

	wantLanes := []LaneState{{Destination: "a", Job: "orders", Cursor: 3}, {Destination: "b", Job: "orders", Cursor: 2}}
	if got, err := b.Lanes(); err != nil || !equalJSON(got, wantLanes) {
		t.Errorf("dead letters did not ack: lanes %+v, %v", got, err)
	}
	err := b.DeadLetter(DeadLetter{Destination: "a", Event: events[0]})
	if want := `store: dead letter for event 1 of destination "a", job "orders", whose cursor is at 3`; err == nil || err.Error() != want {
		t.Errorf("dead letter of an acked event = %v, want %s", err, want)
	}
	if got, _ := b.DeadLetters("a"); len(got) != 2 {
		t.Errorf("a refused dead letter was stored: %d letters", len(got))
	}
}

func TestEventLargerThanAPart(t *testing.T) {
	b := openTest(t, "", Options{})
	// Larger than a chunk's target size, so that it gets a chunk of its
	// own, and than several parts.
	size := max(chunkTargetBytes, 3*b.partSize)
	data, err := json.Marshal(map[string]string{"before": string(bytes.Repeat([]byte("b"), size/2)),
		"after": string(bytes.Repeat([]byte("a"), size/2))})
	if err != nil {
		t.Fatal(err)
	}
	c := &Commit{Events: []Event{{Type: "document.changed", Data: data}, {Type: "document.changed", Data: json.RawMessage(`{}`)}},
		Destinations: []string{"hook"}}
	if _, err := b.Commit(context.Background(), "doc", 0, c); err != nil {
		t.Fatal(err)
	}
	var chunkSize int
	if err := encodeChunks(c.Events[:1], func(_ uint64, _ int, chunk []byte) error { chunkSize = len(chunk); return nil }); err != nil {
		t.Fatal(err)
	}
	wantParts := (chunkSize + b.partSize - 1) / b.partSize
	if got := chunkKeys(t, b.db, "doc"); !slices.Equal(got, []string{fmt.Sprintf("1-1/%d", wantParts), "2-2/1"}) {
		t.Errorf("chunks %v, want the big event in %d parts", got, wantParts)
	}
	for _, cursor := range []uint64{1, 2} {
		if cursor == 2 {
			if err := b.Ack("hook", "doc", 1); err != nil {
				t.Fatal(err)
			}
		}
		got, err := b.Pending("hook", "doc", 0)
		if err != nil || !equalJSON(got, c.Events[cursor-1:]) {
			t.Errorf("cursor %d: Pending = %v, %v", cursor, seqs(got), err)
		}
	}
}
