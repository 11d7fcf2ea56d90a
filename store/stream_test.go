package store

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"
)

// recorder collects what a Streams publishes.
type recorder struct {
	mu     sync.Mutex
	events []Event
}

func (r *recorder) publish(events []Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, events...)
}

func (r *recorder) ids() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return eventIDs(r.events)
}

func eventIDs(events []Event) []string {
	var out []string
	for _, ev := range events {
		out = append(out, ev.ID)
	}
	return out
}

func openStreams(t *testing.T, dir string) (*Streams, *recorder) {
	t.Helper()
	rec := &recorder{}
	s := NewStreams(openTest(t, dir, Options{}), rec.publish)
	s.Enable(time.Hour)
	return s, rec
}

// commitEvents commits n events of job on its head, with dests.
func commitStream(t *testing.T, s Store, job string, n int, dests ...string) []Event {
	t.Helper()
	head, err := s.Head(job)
	if err != nil {
		t.Fatal(err)
	}
	c := &Commit{Events: newEvents(n, 100), Destinations: dests}
	if _, err := s.Commit(context.Background(), job, head.Version, c); err != nil {
		t.Fatal(err)
	}
	return c.Events
}

func streamAll(t *testing.T, s *Streams, after, upto string, keep func(string) bool) []Event {
	t.Helper()
	var out []Event
	for {
		events, next, err := s.StreamEvents(after, upto, keep, 50)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, events...)
		if next == after || (upto != "" && next == upto) {
			return out
		}
		after = next
	}
}

func TestStreamsKeepEveryJobsEventsInIDOrder(t *testing.T) {
	dir := t.TempDir()
	s, rec := openStreams(t, dir)
	var want []Event
	want = append(want, commitStream(t, s, "orders", 3)...)        // no destination: not in the job's log
	want = append(want, commitStream(t, s, "users", 2, "hook")...) // with a lane
	want = append(want, commitStream(t, s, "orders", 300)...)      // several chunks
	want = append(want, commitStream(t, s, "users", 1, "hook")...)

	if got := rec.ids(); !slices.Equal(got, eventIDs(want)) {
		t.Fatalf("published %d events %v..., want %d", len(got), got[:min(3, len(got))], len(want))
	}
	if !slices.IsSorted(eventIDs(want)) {
		t.Fatal("commit ids are not increasing")
	}
	got := streamAll(t, s, "", "", nil)
	if !slices.Equal(eventIDs(got), eventIDs(want)) {
		t.Fatalf("stream log holds %d events, want %d in id order", len(got), len(want))
	}
	for i := range got {
		w := want[i]
		if got[i].Job != w.Job || got[i].Seq != w.Seq || got[i].Type != w.Type || got[i].Key != w.Key ||
			!got[i].Time.Equal(w.Time) || string(got[i].Data) != string(w.Data) {
			t.Fatalf("event %d = %+v, want %+v", i, got[i], w)
		}
	}

	// After a cursor in the middle of a chunk, up to a bound in another one.
	after, upto := want[10].ID, want[200].ID
	if got := streamAll(t, s, after, upto, nil); !slices.Equal(eventIDs(got), eventIDs(want[11:201])) {
		t.Errorf("events in (%s, %s]: %d, want %d", after, upto, len(got), 190)
	}
	// One job only.
	var users []Event
	for _, ev := range want {
		if ev.Job == "users" {
			users = append(users, ev)
		}
	}
	if got := streamAll(t, s, "", "", func(job string) bool { return job == "users" }); !slices.Equal(eventIDs(got), eventIDs(users)) {
		t.Errorf("users' events: %v, want %v", eventIDs(got), eventIDs(users))
	}
	// Nothing after the last one; the bound is reported as reached.
	last := want[len(want)-1].ID
	if events, next, err := s.StreamEvents(last, "", nil, 10); err != nil || len(events) != 0 || next != last {
		t.Errorf("after the last event: %d events, next %q, %v; want none, %q", len(events), next, err, last)
	}
	if events, next, err := s.StreamEvents(last, "evt_7ZZZZZZZZZZZZZZZZZZZZZZZZZ", nil, 10); err != nil || len(events) != 0 || next != "evt_7ZZZZZZZZZZZZZZZZZZZZZZZZZ" {
		t.Errorf("after the last event, bounded: %d events, next %q, %v", len(events), next, err)
	}

	// Durable: the log survives a restart, and says where it ends.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2, _ := openStreams(t, dir)
	if got := streamAll(t, s2, "", "", nil); !slices.Equal(eventIDs(got), eventIDs(want)) {
		t.Errorf("after a restart the stream log holds %d events, want %d", len(got), len(want))
	}
	if id, err := s2.LastStreamID(); err != nil || id != last {
		t.Errorf("LastStreamID = %q, %v; want %q", id, err, last)
	}
}

func TestStreamsDisabledKeepNothing(t *testing.T) {
	s, rec := openStreams(t, "")
	s.Disable()
	commitStream(t, s, "orders", 3, "hook")
	if got := streamAll(t, s, "", "", nil); len(got) != 0 || len(rec.ids()) != 0 {
		t.Errorf("disabled: %d events kept, %d published; want none", len(got), len(rec.ids()))
	}
	eachKey(t, s.db, []byte{kindStreamPart}, func(k []byte) error {
		t.Errorf("disabled streams wrote part %q", k)
		return nil
	})
	if id, err := s.LastStreamID(); err != nil || id != "" {
		t.Errorf("LastStreamID = %q, %v; want none", id, err)
	}
}

// A change set too large for one transaction: parts are staged before the
// flip and every event is in the log.
func TestStreamsLargeCommit(t *testing.T) {
	s, rec := openStreams(t, t.TempDir())
	head, err := s.Head("orders")
	if err != nil {
		t.Fatal(err)
	}
	c := &Commit{Events: newEvents(3000, 800), Destinations: []string{"hook"}}
	if _, err := s.Commit(context.Background(), "orders", head.Version, c); err != nil {
		t.Fatal(err)
	}
	if got := streamAll(t, s, "", "", nil); !slices.Equal(eventIDs(got), eventIDs(c.Events)) {
		t.Errorf("stream log holds %d events, want %d", len(got), len(c.Events))
	}
	if len(rec.ids()) != 3000 {
		t.Errorf("published %d events, want 3000", len(rec.ids()))
	}
}

// A commit that took its ids first is published first, even when a later
// one flips before it; a commit that fails no longer holds the others.
func TestStreamsPublishInIDOrder(t *testing.T) {
	s, rec := openStreams(t, "")
	reached, release := make(chan struct{}), make(chan error)
	var calls sync.Mutex
	first := true
	s.beforeFlip = func() error {
		calls.Lock()
		hold := first
		first = false
		calls.Unlock()
		if !hold {
			return nil
		}
		close(reached)
		return <-release
	}
	var slow []Event
	done := make(chan error)
	go func() {
		c := &Commit{Events: newEvents(2, 50)}
		_, err := s.Commit(context.Background(), "slow", 0, c)
		slow = c.Events
		done <- err
	}()
	<-reached
	fast := commitStream(t, s, "fast", 2)
	if got := rec.ids(); len(got) != 0 {
		t.Fatalf("published %v while an earlier commit was in flight", got)
	}
	release <- nil
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got, want := rec.ids(), eventIDs(append(slices.Clone(slow), fast...)); !slices.Equal(got, want) {
		t.Errorf("published %v, want %v", got, want)
	}

	// Now the held commit fails.
	rec.events = nil
	first = true
	reached = make(chan struct{})
	go func() {
		_, err := s.Commit(context.Background(), "slow", 1, &Commit{Events: newEvents(2, 50)})
		done <- err
	}()
	<-reached
	fast = commitStream(t, s, "fast", 1)
	died := errors.New("died")
	release <- died
	if err := <-done; !errors.Is(err, died) {
		t.Fatalf("held commit: %v, want the injected failure", err)
	}
	if got := rec.ids(); !slices.Equal(got, eventIDs(fast)) {
		t.Errorf("published %v, want %v", got, eventIDs(fast))
	}
}

func TestStreamsPrune(t *testing.T) {
	s, _ := openStreams(t, t.TempDir())
	now := testNow
	s.now = func() time.Time { return now }
	s.Enable(time.Hour)

	old := commitStream(t, s, "orders", 3)
	// A large commit that dies before its flip leaves staged parts no
	// marker names.
	died := errors.New("died")
	s.beforeFlip = func() error { return died }
	head, _ := s.Head("orders")
	if _, err := s.Commit(context.Background(), "orders", head.Version, &Commit{Events: newEvents(2000, 800)}); !errors.Is(err, died) {
		t.Fatalf("Commit = %v, want the injected failure", err)
	}
	s.beforeFlip = nil
	now = testNow.Add(40 * time.Minute)
	recent := commitStream(t, s, "orders", 2)

	now = testNow.Add(61 * time.Minute)
	// Past retention, events are not served even before they are pruned.
	if got := streamAll(t, s, "", "", nil); !slices.Equal(eventIDs(got), eventIDs(recent)) {
		t.Errorf("served %v, want only %v", eventIDs(got), eventIDs(recent))
	}
	if got := streamAll(t, s, old[0].ID, "", nil); !slices.Equal(eventIDs(got), eventIDs(recent)) {
		t.Errorf("served after an expired cursor %v, want %v", eventIDs(got), eventIDs(recent))
	}
	n, err := s.PruneStreams()
	if err != nil {
		t.Fatal(err)
	}
	countKeys := func(kind byte) int {
		k := 0
		eachKey(t, s.db, []byte{kind}, func([]byte) error { k++; return nil })
		return k
	}
	if markers, parts := countKeys(kindStreamMarker), countKeys(kindStreamPart); markers != 1 || parts != 1 {
		t.Errorf("after pruning: %d markers and %d parts, want 1 and 1 (the recent commit's)", markers, parts)
	}
	if n < 2+100 { // the old chunk's marker and part, and the orphan parts of 2,000 events of 800 bytes
		t.Errorf("pruned %d keys, want the old chunk and the orphan parts", n)
	}
	if n, err := s.PruneStreams(); err != nil || n != 0 {
		t.Errorf("second prune: %d, %v; want 0", n, err)
	}
	now = testNow.Add(101 * time.Minute)
	if n, err := s.PruneStreams(); err != nil || n != 2 {
		t.Errorf("prune after the recent events expired: %d, %v; want 2", n, err)
	}
	if got := streamAll(t, s, "", "", nil); len(got) != 0 {
		t.Errorf("served %d events after they expired", len(got))
	}
}

func TestValidEventID(t *testing.T) {
	g := newIDGen()
	for _, tc := range []struct {
		id   string
		want bool
	}{
		{g.next(testNow), true},
		{"evt_01JDQ7Y3ZB0000000000000000", true},
		{"evt_81JDQ7Y3ZB0000000000000000", false}, // more than 128 bits
		{"evt_01JDQ7Y3ZB000000000000000", false},
		{"evt_01JDQ7Y3ZB000000000000000U", false},
		{"evx_01JDQ7Y3ZB0000000000000000", false},
		{"", false},
	} {
		if got := ValidEventID(tc.id); got != tc.want {
			t.Errorf("ValidEventID(%q) = %v, want %v", tc.id, got, tc.want)
		}
	}
	if id := eventIDAt(testNow); id > newIDGen().next(testNow) || id <= newIDGen().next(testNow.Add(-time.Millisecond)) {
		t.Errorf("eventIDAt(%v) = %s does not sit between the ids of that millisecond and the one before", testNow, id)
	}
}
