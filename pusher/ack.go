package pusher

import (
	"sync"
	"time"

	"github.com/pollhook/pollhook/store"
)

// acker records a lane's deliveries in the store in the background, so
// that the lane sends its next event while the previous acknowledgement is
// being made durable: with SyncWrites an fsync per event would cap a lane
// at the disk's sync rate. It coalesces: one write at a time per lane, for
// the highest sequence number delivered so far (an ack covers every event
// before it) and every redelivery delivered since the last write.
// Concurrent writes of different lanes share Badger's group commit.
//
// At-least-once holds because an event is handed to the acker only after
// its 2xx: a crash before the write only means the event is sent again,
// with the same webhook-id. Before it records a failure (retry state, dead
// letter, pause), which the store checks against the stored cursor, the
// lane flushes the acker.
type acker struct {
	st        store.Store
	dest, job string
	failed    func(what string, err error) // logs a failed write

	mu      sync.Mutex
	pending store.Settlement // delivered, not yet written
	busy    bool             // a write is under way
	err     error            // the last write's error (nil once one succeeds)
	written chan struct{}    // closed when a write ends, then replaced

	kick chan struct{} // holds at most one "write now"
	stop chan struct{}
}

func newAcker(st store.Store, dest, job string, failed func(string, error)) *acker {
	return &acker{
		st: st, dest: dest, job: job, failed: failed,
		pending: store.Settlement{Destination: dest, Job: job},
		written: make(chan struct{}),
		kick:    make(chan struct{}, 1),
		stop:    make(chan struct{}),
	}
}

// delivered records that every event of the lane's log up to seq was
// delivered or skipped.
func (a *acker) delivered(seq uint64) {
	a.mu.Lock()
	a.pending.Ack = max(a.pending.Ack, seq)
	a.mu.Unlock()
	a.poke()
}

// redelivered records that a queued redelivery was delivered or skipped.
func (a *acker) redelivered(r store.Redelivery) {
	a.mu.Lock()
	a.pending.Redelivered = append(a.pending.Redelivered, r)
	a.mu.Unlock()
	a.poke()
}

func (a *acker) poke() {
	select {
	case a.kick <- struct{}{}:
	default: // a write is already asked for
	}
}

// run writes until close is called, then writes what is left once.
func (a *acker) run() {
	for {
		select {
		case <-a.kick:
		case <-a.stop:
			a.write()
			return
		}
		if a.write() == nil {
			continue
		}
		// The store failed: try again later, not in a tight loop.
		t := time.NewTimer(storeRetryDelay)
		select {
		case <-t.C:
			a.poke()
		case <-a.stop:
			t.Stop()
			a.write()
			return
		}
	}
}

// close makes run write what is left and return.
func (a *acker) close() { close(a.stop) }

func empty(s *store.Settlement) bool { return s.Ack == 0 && len(s.Redelivered) == 0 }

// write stores what is pending; on failure it stays pending.
func (a *acker) write() error {
	a.mu.Lock()
	s := a.pending
	if empty(&s) {
		a.mu.Unlock()
		return nil
	}
	a.pending = store.Settlement{Destination: a.dest, Job: a.job}
	a.busy = true
	a.mu.Unlock()

	err := a.st.Settle(s)

	a.mu.Lock()
	a.busy = false
	a.err = err
	if err != nil {
		a.pending.Ack = max(a.pending.Ack, s.Ack)
		a.pending.Redelivered = append(s.Redelivered, a.pending.Redelivered...)
	}
	close(a.written)
	a.written = make(chan struct{})
	a.mu.Unlock()
	if err != nil {
		// Delivered but not recorded yet: retried, and if the process
		// ends first, sent again after the restart (same webhook-id).
		a.failed("record deliveries", err)
	}
	return err
}

// flush waits until every delivery recorded so far is written, and returns
// the store's error when the last write failed.
func (a *acker) flush() error {
	for {
		a.mu.Lock()
		idle := !a.busy && empty(&a.pending)
		err, busy, written := a.err, a.busy, a.written
		a.mu.Unlock()
		switch {
		case idle:
			return nil
		case err != nil && !busy:
			return err
		}
		a.poke()
		<-written
	}
}
