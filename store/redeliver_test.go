package store

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
)

func queuedSeqs(t *testing.T, b *Badger, dest, job string) []uint64 {
	t.Helper()
	rs, err := b.Redeliveries(dest, job, 0)
	if err != nil {
		t.Fatal(err)
	}
	var s []uint64
	for _, r := range rs {
		s = append(s, r.Event.Seq)
	}
	return s
}

func TestRetryAndReplayDeadLetters(t *testing.T) {
	dir := t.TempDir()
	b := openTest(t, dir, Options{SyncWrites: true})
	events := commitEvents(t, b, "orders", 3, 50, "hook", "audit")
	users := commitEvents(t, b, "users", 1, 50, "hook")
	for _, dl := range []DeadLetter{
		{Destination: "hook", Event: events[0], Attempts: 15, LastStatus: 500, LastError: "500 Internal Server Error", DeadAt: testNow.Add(-3 * time.Hour)},
		{Destination: "hook", Event: events[1], Attempts: 15, LastStatus: 500, LastError: "500 Internal Server Error", DeadAt: testNow.Add(-2 * time.Hour)},
		{Destination: "hook", Event: users[0], Attempts: 1, LastError: "cannot be rendered", DeadAt: testNow.Add(-time.Hour)},
		{Destination: "audit", Event: events[0], Attempts: 3},
	} {
		if err := b.DeadLetter(dl); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Ack("hook", "orders", 3); err != nil {
		t.Fatal(err)
	}

	r, err := b.RetryDeadLetter("hook", events[1].ID)
	want := Redelivery{Destination: "hook", Event: events[1], Queued: testNow, Token: r.Token}
	if err != nil || !equalJSON(r, want) || r.Token == 0 {
		t.Fatalf("RetryDeadLetter = %+v, %v\nwant %+v with a token", r, err, want)
	}
	_, err = b.RetryDeadLetter("hook", events[1].ID)
	if msg := `destination "hook", event "` + events[1].ID + `": store: no such dead letter`; !errors.Is(err, ErrNoDeadLetter) || err.Error() != msg {
		t.Errorf("retrying it twice = %v, want %s", err, msg)
	}
	if got := deadIDs(t, b, "hook"); !slices.Equal(got, []string{events[0].ID, users[0].ID}) {
		t.Errorf("dead letters of hook = %v, want events 1 and users 1", got)
	}

	// The queue survives a restart, with the events' data.
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	b = openTest(t, dir, Options{SyncWrites: true})
	if rs, err := b.Redeliveries("hook", "orders", 0); err != nil || !equalJSON(rs, []Redelivery{r}) {
		t.Fatalf("queue after reopening = %+v, %v; want %+v", rs, err, r)
	}

	// The users lane is gone: its letter stays, the others move.
	if err := b.DeleteLane("hook", "users"); err != nil {
		t.Fatal(err)
	}
	n, err := b.ReplayDeadLetters("hook")
	if msg := `1 dead letters kept: destination "hook", job "users": store: no such lane`; n != 1 || !errors.Is(err, ErrNoLane) || err.Error() != msg {
		t.Errorf("ReplayDeadLetters = %d, %v; want 1, %s", n, err, msg)
	}
	if got := queuedSeqs(t, b, "hook", "orders"); !slices.Equal(got, []uint64{1, 2}) {
		t.Errorf("queue = %v, want events 1, 2 in order", got)
	}
	if got := deadIDs(t, b, "hook"); !slices.Equal(got, []string{users[0].ID}) {
		t.Errorf("dead letters of hook = %v, want only users 1", got)
	}
	if got := deadIDs(t, b, "audit"); !slices.Equal(got, []string{events[0].ID}) {
		t.Errorf("dead letters of audit = %v, want untouched", got)
	}
	if _, err := b.RetryDeadLetter("hook", users[0].ID); !errors.Is(err, ErrNoLane) {
		t.Errorf("retrying a letter of a removed lane = %v, want ErrNoLane", err)
	}
	if n, err := b.ReplayDeadLetters("nobody"); n != 0 || err != nil {
		t.Errorf("ReplayDeadLetters of a destination without letters = %d, %v", n, err)
	}
}

// deadIDs lists the event ids of dest's dead letters, oldest first.
func deadIDs(t *testing.T, b *Badger, dest string) []string {
	t.Helper()
	dls, err := b.DeadLetters(dest)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, dl := range dls {
		ids = append(ids, dl.Event.ID)
	}
	return ids
}

func TestSetRedeliveryRetry(t *testing.T) {
	b := openTest(t, "", Options{})
	events := commitEvents(t, b, "orders", 1, 50, "hook")
	if err := b.DeadLetter(DeadLetter{Destination: "hook", Event: events[0]}); err != nil {
		t.Fatal(err)
	}
	r, err := b.RetryDeadLetter("hook", events[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	first := time.Date(2026, 11, 27, 21, 0, 0, 0, time.FixedZone("CET", 3600))
	retry := r
	retry.Attempts, retry.FirstAttempt, retry.NextAttempt = 2, first, first.Add(time.Minute)
	retry.LastStatus, retry.LastError = 503, "503 Service Unavailable"
	if err := b.SetRedeliveryRetry(retry); err != nil {
		t.Fatal(err)
	}
	retry.FirstAttempt, retry.NextAttempt = first.UTC(), first.Add(time.Minute).UTC() // stored in UTC
	if rs, err := b.Redeliveries("hook", "orders", 0); err != nil || !equalJSON(rs, []Redelivery{retry}) {
		t.Errorf("queue = %+v, %v; want %+v", rs, err, retry)
	}
	stale := retry
	stale.Token++
	stale.Attempts = 9
	if err := b.SetRedeliveryRetry(stale); err != nil {
		t.Errorf("retry state of a replaced request = %v, want ignored", err)
	}
	if rs, _ := b.Redeliveries("hook", "orders", 0); len(rs) != 1 || rs[0].Attempts != 2 {
		t.Errorf("a replaced request's retry state was stored: %+v", rs)
	}
}

func TestReplaySince(t *testing.T) {
	b := openTest(t, t.TempDir(), Options{})
	at := func(h int) time.Time { return testNow.Add(time.Duration(h) * time.Hour) }
	c := &Commit{Destinations: []string{"hook", "audit"}}
	for i := range 5 {
		c.Events = append(c.Events, Event{Type: "item.updated", Key: "k", Time: at(i - 5), Data: json.RawMessage(`{"i":1}`)})
	}
	if _, err := b.Commit(context.Background(), "orders", 0, c); err != nil {
		t.Fatal(err)
	}
	if err := b.Ack("hook", "orders", 4); err != nil { // audit, at 1, keeps the log
		t.Fatal(err)
	}
	// Events 3 and 4 are recent enough and passed; 5 is still ahead.
	if n, err := b.ReplaySince("hook", "orders", at(-3)); n != 2 || err != nil {
		t.Errorf("ReplaySince = %d, %v; want 2", n, err)
	}
	rs, err := b.Redeliveries("hook", "orders", 0)
	if err != nil || len(rs) != 2 || !equalJSON(rs[0].Event, c.Events[2]) || !equalJSON(rs[1].Event, c.Events[3]) {
		t.Errorf("queue = %+v, %v; want events 3 and 4", rs, err)
	}
	if n, err := b.ReplaySince("hook", "orders", time.Time{}); n != 4 || err != nil {
		t.Errorf("ReplaySince(everything) = %d, %v; want 4", n, err)
	}
	if got := queuedSeqs(t, b, "hook", "orders"); !slices.Equal(got, []uint64{1, 2, 3, 4}) {
		t.Errorf("queue = %v, want 1-4, each once", got)
	}
	if n, err := b.ReplaySince("audit", "orders", time.Time{}); n != 0 || err != nil {
		t.Errorf("ReplaySince on a lane that passed nothing = %d, %v", n, err)
	}
	if _, err := b.ReplaySince("nope", "orders", time.Time{}); !errors.Is(err, ErrNoLane) {
		t.Errorf("ReplaySince on a missing lane = %v, want ErrNoLane", err)
	}
	if err := b.DeleteLane("hook", "orders"); err != nil {
		t.Fatal(err)
	}
	if got := queuedSeqs(t, b, "hook", "orders"); got != nil {
		t.Errorf("queue of a deleted lane = %v, want none", got)
	}
}

// TestReplayReachesWhatTheLogHolds shows the retention: events every lane
// passed are pruned and cannot be replayed.
func TestReplayReachesWhatTheLogHolds(t *testing.T) {
	b := openTest(t, "", Options{})
	commitEvents(t, b, "orders", 130, 50, "hook", "audit") // chunks 1-128 and 129-130
	if err := b.Ack("hook", "orders", 130); err != nil {
		t.Fatal(err)
	}
	if err := b.Ack("audit", "orders", 128); err != nil {
		t.Fatal(err)
	}
	if got := chunkKeys(t, b.db, "orders"); !slices.Equal(got, []string{"129-130/1"}) {
		t.Fatalf("chunks %v, want only the second", got)
	}
	if n, err := b.ReplaySince("hook", "orders", time.Time{}); n != 2 || err != nil {
		t.Errorf("ReplaySince = %d, %v; want the 2 events still in the log", n, err)
	}
	if got := queuedSeqs(t, b, "hook", "orders"); !slices.Equal(got, []uint64{129, 130}) {
		t.Errorf("queue = %v", got)
	}
}

func TestRetryDeadLetterAheadOfTheCursor(t *testing.T) {
	// A lane removed and created again starts after its old dead letters;
	// were it behind one, the event would be sent from the log anyway, so
	// the letter is removed without queuing a copy.
	b := openTest(t, "", Options{})
	events := commitEvents(t, b, "orders", 2, 50, "hook")
	if err := b.Settle(Settlement{Destination: "hook", Job: "orders", Dead: []DeadLetter{{Destination: "hook", Event: events[1]}},
		Ack: 2}); err != nil {
		t.Fatal(err)
	}
	// Put the cursor back behind the letter, as no API can.
	if err := b.db.Update(func(txn *badger.Txn) error {
		return setJSON(txn, laneKey("hook", "orders"), &LaneState{Cursor: 2})
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.RetryDeadLetter("hook", events[1].ID); err != nil {
		t.Fatal(err)
	}
	if got := queuedSeqs(t, b, "hook", "orders"); got != nil {
		t.Errorf("queue = %v, want nothing queued", got)
	}
	if got := deadIDs(t, b, "hook"); got != nil {
		t.Errorf("dead letters = %v, want the letter removed", got)
	}
}
