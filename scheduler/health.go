package scheduler

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/pollhook/pollhook/store"
)

// Source health events. With Pipeline.NotifySourceHealth, a job whose
// source fails DownAfter polls in a row commits one source.down event, and
// the next successful poll commits one source.recovered, both through the
// job's destinations like any other event.
//
// Exactly once per outage, across restarts: the outage is recorded in the
// job's head, in the commit that carries source.down, and cleared by the
// commit that carries source.recovered. The head has no field of its own
// for it (the Store interface is unchanged), so the record takes the place
// of the body hash, which only ever serves to be compared with the
// SHA-256 of a new body: the record is never 32 bytes long, so it never
// matches one, and the poll after an outage is parsed (or compared with
// the state kept in memory) as usual. Every commit of a successful poll
// replaces the body hash, so every such commit during an outage carries
// source.recovered: the event and the end of the outage are one
// transaction. Failures before source.down are counted in memory only: a
// restart then starts counting again.
const (
	TypeSourceDown      = "source.down"
	TypeSourceRecovered = "source.recovered"
)

// DefaultDownAfter is how many failed polls in a row mean the source is
// down, when Pipeline.DownAfter is 0.
const DefaultDownAfter = 3

// maxHealthError bounds the error text kept in a health event (and in the
// head during an outage); poller errors are shorter.
const maxHealthError = 1024

// HealthData is the "data" object of source.down and source.recovered.
type HealthData struct {
	Job      string    `json:"job"`
	Reason   string    `json:"reason"`   // why the last failed poll failed (see FailureReason)
	Error    string    `json:"error"`    // the last failed poll's error, redacted
	Failures int       `json:"failures"` // failed polls in a row (at the recovery: of the whole outage)
	Since    time.Time `json:"since"`    // when the first of them started
}

// outageMark prefixes the outage record kept in place of the body hash.
var outageMark = []byte("pollhook:source-down:")

// encodeOutage returns the head's record of an outage.
func encodeOutage(d HealthData) []byte {
	b, _ := json.Marshal(d) // a struct of strings, ints and a time: cannot fail
	return append(bytes.Clone(outageMark), b...)
}

// decodeOutage reads the outage record of a head's body hash; ok is false
// for a real hash (or nothing).
func decodeOutage(bodyHash []byte) (d HealthData, ok bool) {
	rest, found := bytes.CutPrefix(bodyHash, outageMark)
	if !found || json.Unmarshal(rest, &d) != nil {
		return HealthData{}, false
	}
	return d, true
}

// health is a pipeline's view of its source's health.
type health struct {
	loaded   bool       // read from the head once, at the first tick
	down     bool       // source.down is committed and source.recovered is not
	last     HealthData // the failures in a row so far (Failures 0: none)
	recovery bool       // a commit of this tick carried source.recovered
}

// downAfter is DownAfter or its default.
func (p *Pipeline) downAfter() int {
	if p.DownAfter > 0 {
		return p.DownAfter
	}
	return DefaultDownAfter
}

// commit commits c on head. When head records an outage, c also carries
// the source.recovered event (first, before the poll's changes) and
// clears the record, since its body hash replaces the head's.
func (p *Pipeline) commit(ctx context.Context, head store.Head, c *store.Commit) (store.Head, error) {
	outage, down := decodeOutage(head.BodyHash)
	if down && p.NotifySourceHealth {
		ev, err := p.healthEvent(TypeSourceRecovered, p.recovered(outage))
		if err != nil {
			return store.Head{}, err
		}
		c.Events = append([]store.Event{ev}, c.Events...)
		c.Destinations = p.Destinations
	}
	next, err := p.Store.Commit(ctx, p.Job, head.Version, c)
	if err == nil && down {
		p.hmu.Lock()
		p.hs.down, p.hs.recovery, p.hs.last = false, p.NotifySourceHealth, HealthData{}
		p.hmu.Unlock()
	}
	return next, err
}

// recovered is the data of the source.recovered that ends outage: the
// failures seen in memory if this process saw the outage begin, else
// those the record holds.
func (p *Pipeline) recovered(outage HealthData) HealthData {
	p.hmu.Lock()
	defer p.hmu.Unlock()
	d := outage
	d.Job = p.Job
	if p.hs.last.Failures > d.Failures {
		d.Failures, d.Reason, d.Error = p.hs.last.Failures, p.hs.last.Reason, p.hs.last.Error
	}
	return d
}

// healthEvent encodes one health event of the job.
func (p *Pipeline) healthEvent(typ string, d HealthData) (store.Event, error) {
	d.Job = p.Job
	data, err := json.Marshal(d)
	if err != nil {
		return store.Event{}, fmt.Errorf("encode %s event: %w", typ, err)
	}
	return store.Event{Type: typ, Job: p.Job, Data: data}, nil
}

// observeHealth counts the tick's outcome towards the source's health
// and commits source.down or source.recovered when it is due. start is
// when the tick began. A health commit that fails is logged and tried
// again at the next tick: the event is late, never lost nor doubled.
func (p *Pipeline) observeHealth(ctx context.Context, start time.Time, out *Outcome) {
	if !p.NotifySourceHealth {
		return
	}
	if out.Err != nil && !sourceFailure(out.Reason) {
		return // neither a success nor the source's failure
	}
	p.hmu.Lock()
	recovery := p.hs.recovery
	p.hs.recovery = false
	p.hmu.Unlock()
	if recovery {
		// The tick's commit carried it; it woke the pusher only for changes.
		out.Health = TypeSourceRecovered
		if p.Wake != nil {
			p.Wake(p.Job)
		}
	}
	if err := p.loadHealth(); err != nil {
		p.Logger.Warn("cannot read the source's health; trying again at the next poll", "err", err)
		return
	}
	p.hmu.Lock()
	if out.Err == nil {
		down := p.hs.down
		if !down {
			p.hs.last = HealthData{}
		}
		p.hmu.Unlock()
		if down { // no commit of this tick carried source.recovered (304, same body)
			p.healthCommit(ctx, out, TypeSourceRecovered, false)
		}
		return
	}
	if p.hs.last.Failures == 0 {
		p.hs.last.Since = start.UTC()
	}
	p.hs.last.Failures++
	p.hs.last.Reason = out.Reason
	p.hs.last.Error = truncate(out.Err.Error(), maxHealthError)
	due := !p.hs.down && p.hs.last.Failures >= p.downAfter()
	p.hmu.Unlock()
	if due {
		p.healthCommit(ctx, out, TypeSourceDown, true)
	}
}

// loadHealth learns, at the first tick, whether an outage is recorded.
func (p *Pipeline) loadHealth() error {
	p.hmu.Lock()
	loaded := p.hs.loaded
	p.hmu.Unlock()
	if loaded {
		return nil
	}
	head, err := p.Store.Head(p.Job)
	if err != nil {
		return fmt.Errorf("read head: %w", err)
	}
	p.hmu.Lock()
	defer p.hmu.Unlock()
	if outage, ok := decodeOutage(head.BodyHash); ok {
		p.hs.down = true
		p.hs.last = outage // counting on from where the outage stood
	}
	p.hs.loaded = true
	return nil
}

// healthCommit commits the health event typ and nothing else: the
// snapshot stays, the validators stay, and the body hash becomes the
// outage record (down) or nothing (recovered).
func (p *Pipeline) healthCommit(ctx context.Context, out *Outcome, typ string, down bool) {
	err := p.tryHealthCommit(ctx, typ, down)
	if err != nil {
		p.Logger.Warn("cannot commit "+typ+"; trying again at the next poll", "err", err)
		return
	}
	out.Health = typ
	if p.Wake != nil {
		p.Wake(p.Job)
	}
	p.hmu.Lock()
	d := p.hs.last
	p.hmu.Unlock()
	if down {
		p.Logger.Warn("source down: "+typ+" sent", "failures", d.Failures, "since", d.Since.Format(time.RFC3339), "reason", d.Reason)
	} else {
		p.Logger.Info("source recovered: " + typ + " sent")
	}
}

func (p *Pipeline) tryHealthCommit(ctx context.Context, typ string, down bool) error {
	for attempt := 0; ; attempt++ {
		head, err := p.Store.Head(p.Job)
		if err != nil {
			return fmt.Errorf("read head: %w", err)
		}
		outage, recorded := decodeOutage(head.BodyHash)
		if recorded == down {
			// Another writer got there first; nothing is left to say.
			p.setDown(down)
			return nil
		}
		p.hmu.Lock()
		d := p.hs.last
		p.hmu.Unlock()
		var hash []byte
		if down {
			hash = encodeOutage(d)
		} else {
			d = p.recovered(outage)
		}
		ev, err := p.healthEvent(typ, d)
		if err != nil {
			return err
		}
		c := &store.Commit{BodyHash: hash, ETag: head.ETag, LastModified: head.LastModified,
			Events: []store.Event{ev}, Destinations: p.Destinations}
		next, err := p.Store.Commit(ctx, p.Job, head.Version, c)
		if errors.Is(err, store.ErrStale) && attempt < maxStaleRetries {
			continue
		}
		if err != nil {
			return err
		}
		// The snapshot is the same at the new version.
		p.advance(head.Version, next.Version, nil)
		p.setDown(down)
		return nil
	}
}

// setDown records that the outage is (down) or is no longer committed;
// the failures counted end with it.
func (p *Pipeline) setDown(down bool) {
	p.hmu.Lock()
	defer p.hmu.Unlock()
	p.hs.down = down
	if !down {
		p.hs.last = HealthData{}
	}
}

// truncate cuts s to at most n bytes, on a rune boundary, marking the cut.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && s[cut]&0xc0 == 0x80 {
		cut--
	}
	return s[:cut] + "..."
}
