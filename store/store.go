// Package store keeps pollhook's durable state: per-job snapshots and their
// validators, the per-job event log that feeds delivery, per-lane delivery
// cursors and retry state, and dead letters.
package store

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"time"
)

// ErrStale is returned by Commit when the job's snapshot version is no longer
// the base version the caller diffed against; the caller re-reads and re-diffs.
var ErrStale = errors.New("store: snapshot version changed since it was read")

// Head is the small per-job record that says which snapshot is current.
type Head struct {
	Version      uint64 // 0 means the job has never been committed
	LastSeq      uint64 // sequence number of the job's last committed event (0 = none)
	BodyHash     []byte // hash of the raw body the current snapshot came from
	ETag         string // validators of that response, for conditional requests
	LastModified string
	CommittedAt  time.Time // time of the last commit
	ChangedAt    time.Time // time of the last commit that carried events
}

// Event is one detected change, as stored in the job's event log and
// delivered to every destination of the job.
type Event struct {
	ID   string          // stable id, assigned by Commit when empty ("evt_" + 26 base32 chars)
	Seq  uint64          // per-job sequence number, assigned by Commit
	Type string          // item.created, item.updated, item.deleted, document.changed
	Job  string          // the job that produced it
	Key  string          // item key ("" in document mode)
	Time time.Time       // detection time, assigned by Commit when zero
	Data json.RawMessage // the envelope's "data" object
}

// Commit is what one successful poll writes: the new snapshot (in full, or
// as a delta on the stored one) and the events it produced, applied
// atomically.
type Commit struct {
	Snapshot []byte // the differ's full encoded snapshot, replacing the stored one and its deltas; nil keeps them
	// SnapshotDelta is appended to the stored snapshot's deltas instead
	// (at most one of the two is set). A job without a stored snapshot
	// cannot take one.
	SnapshotDelta []byte
	// SnapshotWriter, instead of Snapshot or SnapshotDelta, streams a full
	// snapshot straight into its file, so that a large snapshot never has
	// to be held in memory whole; it counts as a full snapshot. An error
	// it returns fails the commit.
	SnapshotWriter func(w io.Writer) error
	BodyHash       []byte // hash of the raw body
	ETag           string // validators from the response
	LastModified   string
	Events         []Event  // appended to the job's log in order
	Destinations   []string // lanes (destination × job) that must receive these events
}

// LaneState is the delivery position and retry state of one destination × job lane.
type LaneState struct {
	Destination  string
	Job          string
	Cursor       uint64    // sequence number of the next event to deliver
	Attempts     int       // failed attempts of the event at Cursor
	FirstAttempt time.Time // when the event at Cursor was first attempted (zero: not yet)
	NextAttempt  time.Time // not before this time (zero: now)
	LastStatus   int       // HTTP status of the last failed attempt (0: transport error)
	LastError    string    // redacted reason of the last failed attempt
	// BatchLast is, for a destination that batches, the sequence number of
	// the last event of the batch at Cursor whose attempts failed (0: none
	// pinned): a retry sends the very same batch, so that its webhook-id
	// always names the same events.
	BatchLast uint64 `json:",omitempty"`
}

// DeadLetter is an event that ran out of attempts or age on one lane.
type DeadLetter struct {
	Destination string
	Event       Event
	Attempts    int
	LastStatus  int
	LastError   string
	DeadAt      time.Time
}

// Redelivery is an event queued to be delivered again on one lane (a dead
// letter retried, or an event replayed), with the retry state of its own
// attempts. A lane sends its queued redeliveries, oldest event first, before
// it goes on from its cursor; only events the cursor has passed are queued.
type Redelivery struct {
	Destination string
	Event       Event
	// Queued is when it was queued; Token tells this request from a later
	// one for the same event, which replaces it.
	Queued       time.Time
	Token        uint64
	Attempts     int
	FirstAttempt time.Time
	NextAttempt  time.Time
	LastStatus   int
	LastError    string
}

// Settlement is the outcome of deliveries on one lane, recorded in one
// transaction: acknowledged events, delivered redeliveries and dead letters.
type Settlement struct {
	Destination string
	Job         string
	// Ack moves the cursor past this sequence number and clears the retry
	// state, as Ack does (0: the cursor stays).
	Ack uint64
	// Redelivered are removed from the lane's queue, each only if it was
	// not queued again (another Token) since it was read.
	Redelivered []Redelivery
	// Dead are stored as dead letters. Each one's event is either one of
	// Redelivered or an event of the log between the cursor and Ack.
	Dead []DeadLetter
}

// Pause records that a destination is paused: its receiver answered
// 410 Gone, so none of its lanes delivers until it is resumed.
type Pause struct {
	Destination string
	At          time.Time
	Job         string // the lane whose delivery was answered 410
	EventID     string // the event (or batch) that was answered 410
	Status      int
	Reason      string // redacted, as in LaneState.LastError
}

// Store is the persistence pollhook needs. Badger implements it; the
// interface exists so that a replicated backend can replace it.
type Store interface {
	// Head returns the job's head; a job never committed has Version 0.
	Head(job string) (Head, error)
	// LoadSnapshot returns what is stored for the job's snapshot at
	// version: the full snapshot and the deltas committed after it, oldest
	// first (nil and none when version is 0). version must be the head's;
	// any other fails with ErrStale.
	LoadSnapshot(job string, version uint64) (base []byte, deltas [][]byte, err error)
	// ReadSnapshot fills p from offset off of one chunk of the job's
	// snapshot at version: chunk 0 is the full snapshot, chunk k the k-th
	// delta after it (LoadSnapshot's base and deltas). version must be the
	// head's (else an error wrapping ErrStale) and the range must lie
	// inside the chunk. It is cheap enough to call thousands of times a poll.
	ReadSnapshot(job string, version uint64, chunk int, p []byte, off int64) error
	// Commit atomically replaces the job's snapshot and appends its events,
	// provided the job is still at base; otherwise it returns ErrStale.
	// Lanes for c.Destinations that do not exist yet are created at the first
	// event of this commit. The returned head is the new one; the events in
	// c.Events have their ID, Seq and Time filled in.
	Commit(ctx context.Context, job string, base uint64, c *Commit) (Head, error)

	// Lanes lists every lane that has a stored state.
	Lanes() ([]LaneState, error)
	// Lane returns one lane's state (Cursor 0 and no error when it does not exist).
	Lane(dest, job string) (LaneState, error)
	// Pending returns up to limit events of the job from the lane's cursor on.
	Pending(dest, job string, limit int) ([]Event, error)
	// Ack records that every event up to and including seq was delivered (or
	// skipped) on the lane: the cursor moves to seq+1 and the retry state is
	// cleared. Events every lane has passed may be pruned.
	Ack(dest, job string, seq uint64) error
	// SetRetry stores the retry state of the lane's head event.
	SetRetry(st LaneState) error
	// DeadLetter moves the lane's head event to the dead letters and acks it, atomically.
	DeadLetter(dl DeadLetter) error
	// DeadLetters lists the dead letters of a destination ("" for all).
	DeadLetters(dest string) ([]DeadLetter, error)
	// DeleteLane removes the state of a lane that is no longer configured,
	// so that its cursor stops holding back pruning of the job's log.
	DeleteLane(dest, job string) error

	// Events returns up to limit events of the job's log from seq from on,
	// for a lane that tracks its cursor in memory ahead of its acks.
	Events(job string, from uint64, limit int) ([]Event, error)
	// Settle records acks, delivered redeliveries and dead letters of one
	// lane atomically.
	Settle(s Settlement) error

	// Redeliveries returns up to limit queued redeliveries of the lane, in
	// event order.
	Redeliveries(dest, job string, limit int) ([]Redelivery, error)
	// SetRedeliveryRetry stores the retry state of a queued redelivery.
	SetRedeliveryRetry(r Redelivery) error
	// RetryDeadLetter moves a destination's dead letter (named by event id)
	// back to its lane for delivery.
	RetryDeadLetter(dest, eventID string) (Redelivery, error)
	// ReplayDeadLetters moves every dead letter of a destination back to
	// its lanes and returns how many it moved.
	ReplayDeadLetters(dest string) (int, error)
	// ReplaySince queues for delivery again, to one destination, the
	// events of a job detected at or after since that the lane has passed
	// and that are still in the log, and returns how many it queued.
	ReplaySince(dest, job string, since time.Time) (int, error)

	// PauseDestination records that a destination is paused.
	PauseDestination(p Pause) error
	// ResumeDestination removes a destination's pause, reporting whether
	// there was one.
	ResumeDestination(dest string) (bool, error)
	// Paused lists the paused destinations, by name.
	Paused() ([]Pause, error)

	// Close flushes and closes the store.
	Close() error
}
