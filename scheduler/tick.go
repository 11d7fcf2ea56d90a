package scheduler

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/pollhook/pollhook/differ"
	"github.com/pollhook/pollhook/poller"
	"github.com/pollhook/pollhook/store"
)

// Results of one tick, as logged and counted.
const (
	ResultFailed      = "failed"       // the poll failed: nothing diffed, snapshot untouched
	ResultNotModified = "not_modified" // the source answered 304
	ResultUnchanged   = "unchanged"    // same body as last time: not even parsed
	ResultBaseline    = "baseline"     // first successful poll recorded
	ResultHeld        = "held"         // the guard held a suspicious change
	ResultNoChange    = "no_change"    // body differed but nothing that counts changed
	ResultChanged     = "changed"      // events were committed
)

// maxStaleRetries bounds how often a tick re-diffs after another writer
// committed the same job in between.
const maxStaleRetries = 3

// Pipeline is everything one job's tick needs: poll → diff → commit → wake.
type Pipeline struct {
	Job          string
	Request      poller.Request
	Poller       *poller.Poller
	Differ       *differ.Differ
	Store        store.Store
	Destinations []string         // lanes that receive this job's events
	Wake         func(job string) // tells the pusher new events are committed; may be nil
	Logger       *slog.Logger     // scoped to the job
	Now          func() time.Time // nil means time.Now
	Observe      func(Outcome)    // called after every tick; may be nil
}

// Outcome describes what one tick did.
type Outcome struct {
	Job      string
	Result   string
	Events   int
	Duration time.Duration
	Err      error
}

// Tick runs one poll of the job. A failed poll leaves the store untouched.
func (p *Pipeline) Tick(ctx context.Context) Outcome {
	now := time.Now
	if p.Now != nil {
		now = p.Now
	}
	start := now()
	out := p.tick(ctx)
	out.Job = p.Job
	out.Duration = now().Sub(start)
	switch {
	case out.Err != nil:
		p.Logger.Warn("poll failed", "result", out.Result, "duration_ms", out.Duration.Milliseconds(), "err", out.Err)
	case out.Result == ResultHeld:
		p.Logger.Warn("suspicious change held by guard; it is applied only once confirmed by further polls", "duration_ms", out.Duration.Milliseconds())
	default:
		p.Logger.Debug("poll done", "result", out.Result, "events", out.Events, "duration_ms", out.Duration.Milliseconds())
	}
	if p.Observe != nil {
		p.Observe(out)
	}
	return out
}

func (p *Pipeline) tick(ctx context.Context) Outcome {
	for attempt := 0; ; attempt++ {
		out, err := p.once(ctx)
		if errors.Is(err, store.ErrStale) && attempt < maxStaleRetries {
			continue
		}
		if err != nil {
			return Outcome{Result: ResultFailed, Err: err}
		}
		return out
	}
}

// once polls, diffs against the head it read and commits conditionally on
// that head, so a concurrent writer makes it fail with store.ErrStale.
func (p *Pipeline) once(ctx context.Context) (Outcome, error) {
	head, err := p.Store.Head(p.Job)
	if err != nil {
		return Outcome{}, fmt.Errorf("read head: %w", err)
	}
	req := p.Request
	if head.Version > 0 {
		req.ETag, req.LastModified = head.ETag, head.LastModified
	}
	resp, err := p.Poller.Poll(ctx, req)
	if err != nil {
		return Outcome{}, err
	}
	if resp.NotModified {
		return Outcome{Result: ResultNotModified}, nil
	}
	sum := sha256.Sum256(resp.Body)
	if head.Version > 0 && bytes.Equal(sum[:], head.BodyHash) {
		if resp.ETag != head.ETag || resp.LastModified != head.LastModified {
			c := &store.Commit{BodyHash: sum[:], ETag: resp.ETag, LastModified: resp.LastModified}
			if _, err := p.Store.Commit(ctx, p.Job, head.Version, c); err != nil {
				return Outcome{}, fmt.Errorf("commit validators: %w", err)
			}
		}
		return Outcome{Result: ResultUnchanged}, nil
	}
	prev, err := p.Store.Snapshot(p.Job, head.Version)
	if err != nil {
		return Outcome{}, fmt.Errorf("read snapshot: %w", err)
	}
	res, err := p.Differ.Diff(prev, resp.Body)
	if err != nil {
		return Outcome{}, fmt.Errorf("%s: %w", poller.RedactURL(req.URL), err)
	}
	events, err := p.events(res.Changes)
	if err != nil {
		return Outcome{}, err
	}
	c := &store.Commit{
		Snapshot:     res.Snapshot,
		BodyHash:     sum[:],
		ETag:         resp.ETag,
		LastModified: resp.LastModified,
		Events:       events,
		Destinations: p.Destinations,
	}
	if res.Held {
		// A held body must be parsed again next time, so that identical
		// responses count towards the guard's confirmation.
		c.BodyHash, c.ETag, c.LastModified = nil, "", ""
	}
	if _, err := p.Store.Commit(ctx, p.Job, head.Version, c); err != nil {
		return Outcome{}, fmt.Errorf("commit: %w", err)
	}
	if len(events) > 0 && p.Wake != nil {
		p.Wake(p.Job)
	}
	out := Outcome{Events: len(events)}
	switch {
	case res.Held:
		out.Result = ResultHeld
	case res.Baseline && len(events) == 0:
		out.Result = ResultBaseline
	case len(events) > 0:
		out.Result = ResultChanged
	default:
		out.Result = ResultNoChange
	}
	return out, nil
}

// EventData is the "data" object of a webhook envelope.
type EventData struct {
	Job    string          `json:"job"`
	Key    *string         `json:"key,omitempty"` // absent in document mode
	Before json.RawMessage `json:"before,omitempty"`
	After  json.RawMessage `json:"after,omitempty"`
	Patch  json.RawMessage `json:"patch,omitempty"`
}

func (p *Pipeline) events(changes []differ.Change) ([]store.Event, error) {
	events := make([]store.Event, 0, len(changes))
	for _, ch := range changes {
		d := EventData{Job: p.Job, Before: ch.Before, After: ch.After, Patch: ch.Patch}
		if ch.Type != differ.TypeDocumentChanged {
			key := ch.Key
			d.Key = &key
		}
		data, err := json.Marshal(d)
		if err != nil {
			return nil, fmt.Errorf("encode %s event: %w", ch.Type, err)
		}
		events = append(events, store.Event{Type: ch.Type, Job: p.Job, Key: ch.Key, Data: data})
	}
	return events, nil
}
