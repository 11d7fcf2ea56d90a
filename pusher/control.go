package pusher

import (
	"fmt"
	"time"

	"github.com/pollhook/pollhook/store"
)

// Operator actions on a running Pusher: resuming a paused destination and
// sending events again. Each changes the store and then tells the lanes
// concerned, which a running Pusher needs: a lane reads its queue of
// redeliveries only when told, and waits on a pause until told. Calling the
// store directly is for when no Pusher runs (the next Run reads both).

// Resume lifts the pause of a destination, in the store and in its lanes,
// which deliver again at once, starting with the event that was answered
// 410. It reports whether the destination was paused; a destination that is
// neither configured nor paused is an error.
func (p *Pusher) Resume(dest string) (bool, error) {
	was, err := p.st.ResumeDestination(dest)
	if err != nil {
		return false, fmt.Errorf("pusher: resume destination %q: %w", dest, err)
	}
	g, ok := p.gates[dest]
	if !ok {
		if !was {
			return false, fmt.Errorf("pusher: no destination %q", dest)
		}
		return true, nil // paused under an earlier configuration
	}
	if g.pausedCh() != nil {
		was = true
	}
	g.resume()
	if was {
		p.log.Info("destination resumed", "destination", dest)
	}
	return was, nil
}

// RetryDeadLetter moves the dead letter of event eventID on dest back to
// its lane, which sends it before its next event of the log, with its
// webhook-id.
func (p *Pusher) RetryDeadLetter(dest, eventID string) error {
	r, err := p.st.RetryDeadLetter(dest, eventID)
	if err != nil {
		return fmt.Errorf("pusher: retry dead letter: %w", err)
	}
	p.queued(dest, r.Event.Job)
	return nil
}

// ReplayDeadLetters moves every dead letter of dest back to its lanes and
// returns how many it moved (see store.Badger.ReplayDeadLetters for those
// of jobs dest no longer receives).
func (p *Pusher) ReplayDeadLetters(dest string) (int, error) {
	n, err := p.st.ReplayDeadLetters(dest)
	p.queued(dest, "")
	if err != nil {
		return n, fmt.Errorf("pusher: replay dead letters: %w", err)
	}
	return n, nil
}

// ReplaySince sends again to dest every event of job detected at or after
// since that dest already had and that the job's log still holds, and
// returns how many it queued. The log holds an event until every lane of
// the job has passed it, so a replay reaches back only as far as the job's
// slowest other destination; dead letters are replayed with
// ReplayDeadLetters.
func (p *Pusher) ReplaySince(dest, job string, since time.Time) (int, error) {
	// The store queues only what the stored cursor passed: make it
	// include what the lane delivered but has not acked yet.
	for _, l := range p.byJob[job] {
		if a := l.acks.Load(); l.dest.Name == dest && a != nil {
			if err := a.flush(); err != nil {
				return 0, fmt.Errorf("pusher: replay: %w", err)
			}
		}
	}
	n, err := p.st.ReplaySince(dest, job, since)
	if err != nil {
		return n, fmt.Errorf("pusher: replay: %w", err)
	}
	p.queued(dest, job)
	return n, nil
}

// queued tells the lanes of dest (of job only, unless job is "") that
// their queues have redeliveries.
func (p *Pusher) queued(dest, job string) {
	for _, l := range p.lanes {
		if l.dest.Name == dest && (job == "" || l.job == job) {
			l.queued.Store(true)
			select {
			case l.wake <- struct{}{}:
			default:
			}
		}
	}
}

// loadPauses pauses the configured destinations that the store says are
// paused, before any lane starts.
func (p *Pusher) loadPauses() {
	paused, err := p.st.Paused()
	if err != nil {
		// A destination that is gone answers 410 again at its first
		// request and is paused again: one request per lane, not a loss.
		p.log.Error("store error", "op", "list paused destinations", "err", err)
		return
	}
	for _, ps := range paused {
		if g, ok := p.gates[ps.Destination]; ok {
			g.pause()
			p.log.Warn("destination paused since its receiver answered 410 Gone; resume it to deliver again",
				"destination", ps.Destination, "since", ps.At.Format(time.RFC3339), "job", ps.Job, "event_id", ps.EventID)
		}
	}
}

// Paused lists the destinations paused in the store (see store.Pause).
func (p *Pusher) Paused() ([]store.Pause, error) { return p.st.Paused() }
