package store

import (
	"errors"
	"slices"
	"testing"

	"github.com/dgraph-io/badger/v4"
)

func TestEventsFromAnyPosition(t *testing.T) {
	b := openTest(t, "", Options{})
	commitEvents(t, b, "orders", 300, 60, "hook") // chunks start at 1, 129, 257
	if err := b.Ack("hook", "orders", 100); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		from  uint64
		limit int
		want  []uint64
	}{
		{0, 2, []uint64{1, 2}}, // from the start of what the log holds
		{101, 3, []uint64{101, 102, 103}},
		{200, 60, seqRange(200, 259)}, // ahead of the stored cursor, across a chunk end
		{299, 0, []uint64{299, 300}},
		{301, 5, nil},
		{1000, 5, nil},
	}
	for _, tt := range tests {
		got, err := b.Events("orders", tt.from, tt.limit)
		if err != nil || !slices.Equal(seqs(got), tt.want) {
			t.Errorf("Events(from %d, limit %d) = %v, %v; want %v", tt.from, tt.limit, seqs(got), err, tt.want)
		}
	}
	if got, err := b.Events("nope", 1, 5); err != nil || got != nil {
		t.Errorf("Events of an unknown job = %v, %v", seqs(got), err)
	}
}

func TestSettle(t *testing.T) {
	b := openTest(t, "", Options{})
	events := commitEvents(t, b, "orders", 6, 50, "hook")
	if err := b.Ack("hook", "orders", 3); err != nil {
		t.Fatal(err)
	}
	// Event 2 was dead-lettered earlier and is queued again.
	if err := b.db.Update(func(txn *badger.Txn) error {
		return setJSON(txn, redeliveryKey("hook", "orders", 2), &Redelivery{Destination: "hook", Event: events[1], Token: 7})
	}); err != nil {
		t.Fatal(err)
	}
	queued := Redelivery{Destination: "hook", Event: events[1], Token: 7}
	dead := func(ev Event) DeadLetter {
		return DeadLetter{Destination: "hook", Event: ev, Attempts: 2, LastStatus: 500, LastError: "500 Internal Server Error"}
	}

	errTests := []struct {
		name string
		s    Settlement
		want string
	}{
		{"dead letter before the cursor", Settlement{Destination: "hook", Job: "orders", Ack: 5, Dead: []DeadLetter{dead(events[0])}},
			`store: dead letter for event 1 of destination "hook", job "orders": neither redelivered nor between the cursor (4) and the ack (5)`},
		{"dead letter beyond the ack", Settlement{Destination: "hook", Job: "orders", Ack: 4, Dead: []DeadLetter{dead(events[4])}},
			`store: dead letter for event 5 of destination "hook", job "orders": neither redelivered nor between the cursor (4) and the ack (4)`},
		{"dead letter of another lane", Settlement{Destination: "audit", Job: "orders", Dead: []DeadLetter{dead(events[3])}},
			`store: dead letter of destination "hook", job "orders" settled on destination "audit", job "orders"`},
		{"ack beyond the head", Settlement{Destination: "hook", Job: "orders", Ack: 7},
			`store: ack of event 7 of destination "hook", job "orders", whose last event is 6`},
		{"no such lane", Settlement{Destination: "audit", Job: "orders", Ack: 1},
			`destination "audit", job "orders": store: no such lane`},
	}
	for _, tt := range errTests {
		if err := b.Settle(tt.s); err == nil || err.Error() != tt.want {
			t.Errorf("%s: Settle = %v, want %s", tt.name, err, tt.want)
		}
	}
	if dls, _ := b.DeadLetters(""); len(dls) != 0 {
		t.Fatalf("refused settlements stored dead letters: %+v", dls)
	}

	// One transaction: event 4 dead (a batch of 4-5 failed for good, with
	// 5 skipped), the redelivery of 2 delivered.
	err := b.Settle(Settlement{Destination: "hook", Job: "orders", Ack: 5,
		Redelivered: []Redelivery{queued}, Dead: []DeadLetter{dead(events[3])}})
	if err != nil {
		t.Fatal(err)
	}
	if st, _ := b.Lane("hook", "orders"); st != (LaneState{Destination: "hook", Job: "orders", Cursor: 6}) {
		t.Errorf("lane = %+v, want cursor 6", st)
	}
	if rs, err := b.Redeliveries("hook", "orders", 0); err != nil || len(rs) != 0 {
		t.Errorf("queue after settling = %+v, %v; want empty", rs, err)
	}
	want := dead(events[3])
	want.DeadAt = testNow
	if dls, err := b.DeadLetters("hook"); err != nil || !equalJSON(dls, []DeadLetter{want}) {
		t.Errorf("dead letters = %+v, %v; want %+v", dls, err, want)
	}
	if err := b.Settle(Settlement{Destination: "hook", Job: "orders"}); err != nil {
		t.Errorf("empty settlement = %v", err)
	}
}

// TestSettleKeepsARequeuedRedelivery shows that a redelivery queued again
// while an earlier request for it was being delivered stays queued, and
// that the earlier request's dead letter is then not stored.
func TestSettleKeepsARequeuedRedelivery(t *testing.T) {
	b := openTest(t, "", Options{})
	events := commitEvents(t, b, "orders", 2, 50, "hook", "audit") // audit keeps the log
	if err := b.Ack("hook", "orders", 2); err != nil {
		t.Fatal(err)
	}
	if _, err := b.ReplaySince("hook", "orders", testNow); err != nil {
		t.Fatal(err)
	}
	read, err := b.Redeliveries("hook", "orders", 0)
	if err != nil || len(read) != 2 {
		t.Fatalf("queue = %+v, %v", read, err)
	}
	if _, err := b.ReplaySince("hook", "orders", testNow); err != nil { // queued again: new tokens
		t.Fatal(err)
	}
	again, err := b.Redeliveries("hook", "orders", 0)
	if err != nil || len(again) != 2 || again[0].Token == read[0].Token {
		t.Fatalf("queue after a second replay = %+v, %v", again, err)
	}
	err = b.Settle(Settlement{Destination: "hook", Job: "orders", Redelivered: read,
		Dead: []DeadLetter{{Destination: "hook", Event: events[1], LastError: "gave up"}}})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := b.Redeliveries("hook", "orders", 0); err != nil || !equalJSON(got, again) {
		t.Errorf("queue = %+v, %v; want the second requests", got, err)
	}
	if dls, err := b.DeadLetters(""); err != nil || len(dls) != 0 {
		t.Errorf("dead letters = %+v, %v; want none", dls, err)
	}
	if err := b.Settle(Settlement{Destination: "hook", Job: "orders", Redelivered: again}); err != nil {
		t.Fatal(err)
	}
	if got, err := b.Redeliveries("hook", "orders", 0); err != nil || len(got) != 0 {
		t.Errorf("queue = %+v, %v; want empty", got, err)
	}
	if err := b.Settle(Settlement{Destination: "nope", Job: "orders", Redelivered: again}); !errors.Is(err, ErrNoLane) {
		t.Errorf("settling on a missing lane = %v, want ErrNoLane", err)
	}
}
