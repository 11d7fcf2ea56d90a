package pusher

// retireLanes deletes the stored lanes of destination × job pairs that the
// configuration no longer routes. Their events cannot be delivered any more,
// and their cursors would keep the job's log from ever being pruned. The
// number of events dropped this way is logged, so that removing a
// destination by mistake is visible.
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
		undelivered := uint64(0)
		if head, err := p.st.Head(ls.Job); err == nil && head.LastSeq >= ls.Cursor {
			undelivered = head.LastSeq - ls.Cursor + 1
		}
		if err := p.st.DeleteLane(ls.Destination, ls.Job); err != nil {
			p.log.Error("delete lane of a destination no longer configured", "destination", ls.Destination, "job", ls.Job, "err", err)
			continue
		}
		p.log.Warn("destination no longer configured for job: its queue was dropped",
			"destination", ls.Destination, "job", ls.Job, "undelivered", undelivered)
	}
}
