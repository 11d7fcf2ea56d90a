package scheduler

import (
	"github.com/pollhook/pollhook/differ"
	"github.com/pollhook/pollhook/store"
)

// Preview returns the events a tick would commit for changes: those that
// meet the job's when: condition (a condition failing on some of them is
// logged, as Tick logs it), encoded exactly as Tick encodes them. ID, Seq
// and Time are left for Commit to assign. It uses Job, Differ and Logger
// only, and writes nothing: pollhook once prints what a poll would send
// with it.
func (p *Pipeline) Preview(changes []differ.Change) ([]store.Event, error) {
	return p.events(p.filter(changes))
}
