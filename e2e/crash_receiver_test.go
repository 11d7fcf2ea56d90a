package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	jsonpatch "github.com/evanphx/json-patch/v5"
)

// crashReceiver is a webhook destination that comes and goes: up, it
// answers 200 (slowly, up to 300ms, to slow percent of the requests, so
// that a kill often finds a request answered but not yet recorded); down, it answers 503 (with or without Retry-After), 500 or 429,
// or cuts the connection without an answer. It records every request and
// checks every signature as the request arrives, when its timestamp is
// fresh.
type crashReceiver struct {
	name    string
	batched bool // requests carry {"events":[…]}
	slow    int  // percentage of requests answered slowly when up

	mu     sync.Mutex
	rng    *rand.Rand
	up     bool
	got    []delivery // answered 0: the connection was cut
	badSig []string
	notify chan struct{} // signalled (without blocking) after each request
}

func newCrashReceiver(name string, batched bool, slow int, seed uint64) *crashReceiver {
	return &crashReceiver{name: name, batched: batched, slow: slow, rng: rand.New(rand.NewPCG(seed, 2)), up: true, notify: make(chan struct{}, 1)}
}

func (r *crashReceiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(req.Body)
	d := delivery{id: req.Header.Get("webhook-id"), timestamp: req.Header.Get("webhook-timestamp"),
		signature: req.Header.Get("webhook-signature"), body: body}
	if err != nil {
		// The sender died while sending: nobody reads an answer.
		r.record(d, "")
		return
	}
	var problem string
	if ts, err := strconv.ParseInt(d.timestamp, 10, 64); err != nil || time.Since(time.Unix(ts, 0)).Abs() > time.Minute {
		problem = fmt.Sprintf("request %s: webhook-timestamp %q is not the time of the attempt", d.id, d.timestamp)
	} else if want := sign(d); d.signature != want {
		problem = fmt.Sprintf("request %s: webhook-signature %q, want %q", d.id, d.signature, want)
	}

	r.mu.Lock()
	up := r.up
	n := r.rng.IntN(100)
	delay := time.Duration(r.rng.IntN(300)) * time.Millisecond
	r.mu.Unlock()
	if up && n < r.slow {
		select {
		case <-time.After(delay):
		case <-req.Context().Done():
		}
	}
	switch {
	case up || problem != "":
		d.answered = http.StatusOK
		if problem != "" {
			d.answered = http.StatusBadRequest // a receiver rejects what it cannot verify
		}
	case n < 35:
		d.answered = http.StatusServiceUnavailable
		w.Header().Set("Retry-After", "1")
	case n < 55:
		d.answered = http.StatusServiceUnavailable
	case n < 70:
		d.answered = http.StatusInternalServerError
	case n < 80:
		d.answered = http.StatusTooManyRequests
	default:
		d.answered = 0 // connection cut
	}
	r.record(d, problem)
	if d.answered == 0 {
		if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
			conn.Close()
		}
	} else {
		w.WriteHeader(d.answered)
	}
}

// record adds a request to the log before it is answered: a kill may
// come before pollhook reads the answer, and the receiver has then
// accepted the request all the same.
func (r *crashReceiver) record(d delivery, problem string) {
	r.mu.Lock()
	r.got = append(r.got, d)
	if problem != "" {
		r.badSig = append(r.badSig, problem)
	}
	r.mu.Unlock()
	select {
	case r.notify <- struct{}{}:
	default:
	}
}

// flap turns the receiver down and up at random until ctx ends, and
// leaves it up.
func (r *crashReceiver) flap(ctx context.Context, rng *rand.Rand) {
	defer r.setUp(true)
	up := true
	for {
		d := time.Duration(500+rng.IntN(2500)) * time.Millisecond
		if !up {
			d = time.Duration(300+rng.IntN(2700)) * time.Millisecond
		}
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		up = !up
		r.setUp(up)
	}
}

func (r *crashReceiver) setUp(up bool) {
	r.mu.Lock()
	r.up = up
	r.mu.Unlock()
}

// crashEvent is one event of a webhook body.
type crashEvent struct {
	ID        string `json:"id"` // batches only: the webhook-id names the batch
	Type      string `json:"type"`
	Timestamp string `json:"timestamp"`
	Data      struct {
		Job        string          `json:"job"`
		Key        string          `json:"key"`
		Before     json.RawMessage `json:"before"`
		After      json.RawMessage `json:"after"`
		Patch      json.RawMessage `json:"patch"`
		MergePatch json.RawMessage `json:"merge_patch"`
	} `json:"data"`
}

// events decodes a request body: one envelope, or {"events":[…]} for a
// batching destination, every request of which has the batch shape.
func (r *crashReceiver) events(d delivery) ([]crashEvent, error) {
	dec := json.NewDecoder(bytes.NewReader(d.body))
	dec.DisallowUnknownFields()
	if r.batched {
		var b struct{ Events []crashEvent }
		if err := dec.Decode(&b); err != nil {
			return nil, err
		}
		if len(b.Events) == 0 {
			return nil, fmt.Errorf("batch without events")
		}
		return b.Events, nil
	}
	var e crashEvent
	if err := dec.Decode(&e); err != nil {
		return nil, err
	}
	e.ID = d.id
	return []crashEvent{e}, nil
}

// replayResult is what the receiver's 2xx-answered requests, deduplicated
// by webhook-id, give when applied in order to the initial data.
type replayResult struct {
	data       map[string]string
	eventIDs   map[string]string // events applied → the webhook-id that carried them first
	events     int               // events applied
	requests   int               // requests received
	accepted   int               // requests answered 2xx
	rejected   int               // requests answered otherwise or cut
	duplicates int               // 2xx requests whose webhook-id was accepted before
	problems   []string
	suspects   map[string]bool // ids of the events the problems are about
}

// replay applies every accepted webhook, once per webhook-id, to initial.
// It checks the chain of each item strictly: a created item did not exist,
// an updated or deleted item's before is exactly the value the previous
// event left, and an update's patch and merge patch turn before into after.
// A transition that arrives under a second webhook-id would be applied
// twice by a receiver that dedupes on webhook-id, so it is a problem; so is
// a value the source never had. When full is false only the data is
// computed (the patches are not checked), for the wait for convergence.
func (r *crashReceiver) replay(initial map[string]string, src *crashSource, job string, full bool) replayResult {
	r.mu.Lock()
	got := append([]delivery(nil), r.got...)
	res := replayResult{data: make(map[string]string, len(initial)), eventIDs: map[string]string{}, suspects: map[string]bool{}, requests: len(got)}
	res.problems = append(res.problems, r.badSig...)
	r.mu.Unlock()
	for k, v := range initial {
		res.data[k] = v
	}
	report := func(format string, args ...any) {
		res.problems = append(res.problems, fmt.Sprintf(format, args...))
	}
	accepted := map[string]bool{}      // webhook-ids
	transitions := map[string]string{} // type, key, before, after → webhook-id
	for _, d := range got {
		if d.answered/100 != 2 {
			res.rejected++
			continue
		}
		res.accepted++
		if accepted[d.id] {
			res.duplicates++
			continue
		}
		accepted[d.id] = true
		evs, err := r.events(d)
		if err != nil {
			report("request %s: body %s: %v", d.id, d.body, err)
			continue
		}
		for _, e := range evs {
			// problem reports a problem with this event.
			problem := func(format string, args ...any) {
				res.suspects[e.ID] = true
				report("request %s, event %s %s key %q: %s", d.id, e.ID, e.Type, e.Data.Key, fmt.Sprintf(format, args...))
			}
			if first, ok := res.eventIDs[e.ID]; ok {
				problem("event delivered before under another webhook-id, %s", first)
				continue
			}
			res.eventIDs[e.ID] = d.id
			t := e.Type + "\x00" + e.Data.Key + "\x00" + string(e.Data.Before) + "\x00" + string(e.Data.After)
			if first, ok := transitions[t]; ok {
				problem("duplicated with different ids: the same change came in %s", first)
				continue
			}
			transitions[t] = d.id
			res.events++
			res.apply(e, src, job, full, problem)
		}
	}
	return res
}

// apply applies one event to res.data, reporting every inconsistency.
func (res *replayResult) apply(e crashEvent, src *crashSource, job string, full bool, problem func(string, ...any)) {
	key, before, after := e.Data.Key, string(e.Data.Before), string(e.Data.After)
	cur, exists := res.data[key]
	if e.Data.Job != job {
		problem("job %q, want %q", e.Data.Job, job)
	}
	switch e.Type {
	case "item.created":
		if exists {
			problem("created, but the item exists with %s (a deletion was lost, or order broken)", cur)
		}
		if before != "" || e.Data.Patch != nil {
			problem("a creation carries before or patch")
		}
	case "item.updated", "item.deleted":
		switch {
		case !exists:
			problem("before %s, but the item does not exist (its creation was lost, or order broken)", before)
		case before != cur:
			problem("before %s, but the last event left %s (an event was lost, or order broken)", before, cur)
		}
		if e.Type == "item.deleted" && (after != "" || e.Data.Patch != nil) {
			problem("a deletion carries after or patch")
		}
	default:
		problem("unexpected event type")
		return
	}
	if full {
		for _, v := range []string{before, after} {
			if v != "" && !src.had(key, v) {
				problem("value %s that the source never had", v)
			}
		}
		if e.Type == "item.updated" {
			checkPatches(e, problem)
		}
	}
	if e.Type == "item.deleted" {
		delete(res.data, key)
	} else {
		res.data[key] = after
	}
}

// checkPatches checks that an update's RFC 6902 patch and RFC 7386 merge
// patch both turn its before into its after.
func checkPatches(e crashEvent, problem func(string, ...any)) {
	if e.Data.Before == nil || e.Data.After == nil || string(e.Data.Before) == string(e.Data.After) {
		problem("an update needs a before and a different after")
		return
	}
	p, err := jsonpatch.DecodePatch(e.Data.Patch)
	if err != nil {
		problem("patch %s: %v", e.Data.Patch, err)
		return
	}
	patched, err := p.Apply(e.Data.Before)
	if err != nil || !jsonpatch.Equal(patched, e.Data.After) {
		problem("patch %s turns before into %s (%v), want after", e.Data.Patch, patched, err)
	}
	merged, err := jsonpatch.MergePatch(e.Data.Before, e.Data.MergePatch)
	if err != nil || !jsonpatch.Equal(merged, e.Data.After) {
		problem("merge_patch %s turns before into %s (%v), want after", e.Data.MergePatch, merged, err)
	}
}

// requestsOf lists, in the order they came, the requests that carried any
// of the events ids, with their answers: the story of a problem.
func (r *crashReceiver) requestsOf(ids map[string]bool) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var b strings.Builder
	for i, d := range r.got {
		evs, _ := r.events(d)
		var carried []string
		hit := false
		for _, e := range evs {
			carried = append(carried, e.ID)
			hit = hit || ids[e.ID]
		}
		if hit {
			fmt.Fprintf(&b, "\n  #%d %s answered %d, events %s", i, d.id, d.answered, strings.Join(carried, " "))
		}
	}
	return b.String()
}
