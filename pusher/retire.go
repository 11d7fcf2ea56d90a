package pusher

import (
	"time"

	"github.com/pollhook/pollhook/store"
)

// retiredReason is the dead-letter reason of events whose destination was
// removed from their job's configuration.
const retiredReason = "destination no longer configured for this job"

// retireLanes ends the stored lanes of destination × job pairs that the
// configuration no longer routes. Their undelivered events move to the dead
// letters, where they can be inspected and replayed (a destination renamed
// by mistake loses nothing), and the lane is deleted so that its cursor no
// longer keeps the job's log from being pruned.
func (p *Pusher) retireLanes() {
	stored, err := p.st.Lanes()
	if err != nil {
		p.log.Error("list stored lanes", "err", err)
		return
	}
	routed := make(map[[2]string]bool, len(p.lanes))
	for _, l := range p.lanes {
		routed[[2]string{l.dest.Name, l.job}] = true
	}
	for _, ls := range stored {
		if routed[[2]string{ls.Destination, ls.Job}] {
			continue
		}
		n, err := p.deadLetterLane(ls)
		if err == nil {
			err = p.st.DeleteLane(ls.Destination, ls.Job)
		}
		if err != nil {
			p.log.Error("retire lane of a destination no longer configured", "destination", ls.Destination, "job", ls.Job, "err", err)
			continue
		}
		p.log.Warn("destination no longer configured for job: its undelivered events were dead-lettered",
			"destination", ls.Destination, "job", ls.Job, "dead_lettered", n)
	}
}

// deadLetterLane moves every queued redelivery and every pending event of a
// retired lane to the dead letters, in order, and returns how many it moved.
func (p *Pusher) deadLetterLane(ls store.LaneState) (int, error) {
	n := 0
	for {
		rs, err := p.st.Redeliveries(ls.Destination, ls.Job, p.opts.BatchSize)
		if err != nil || len(rs) == 0 {
			if err != nil {
				return n, err
			}
			break
		}
		s := store.Settlement{Destination: ls.Destination, Job: ls.Job, Redelivered: rs}
		for _, r := range rs {
			s.Dead = append(s.Dead, store.DeadLetter{Destination: ls.Destination, Event: r.Event, Attempts: r.Attempts,
				LastStatus: r.LastStatus, LastError: retiredReason, DeadAt: time.Now()})
		}
		if err := p.st.Settle(s); err != nil {
			return n, err
		}
		n += len(rs)
	}
	for {
		evs, err := p.st.Pending(ls.Destination, ls.Job, p.opts.BatchSize)
		if err != nil || len(evs) == 0 {
			return n, err
		}
		for _, ev := range evs {
			dl := store.DeadLetter{Destination: ls.Destination, Event: ev, LastError: retiredReason, DeadAt: time.Now()}
			if n == 0 {
				// The head event keeps the record of its failed attempts.
				dl.Attempts, dl.LastStatus = ls.Attempts, ls.LastStatus
			}
			if err := p.st.DeadLetter(dl); err != nil {
				return n, err
			}
			n++
		}
	}
}
