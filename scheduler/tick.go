package scheduler

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"strings"
	"sync"
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

// streamFrom is the body length from which a body is compared as it is
// read rather than read whole first: below it, holding the body costs
// little, and an unchanged body costs only its hash.
const streamFrom = 1 << 20

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// collectAfter is the body size from which a tick runs the collector
// once it is done.
const collectAfter = 8 << 20

// maxStaleRetries bounds how often a tick re-diffs after another writer
// committed the same job in between.
const maxStaleRetries = 3

// Pipeline is everything one job's tick needs: poll → diff → commit → wake.
//
// It keeps the differ's state of the job in memory between ticks, with the
// head version it belongs to, so that a poll compares with it without
// reading the snapshot back from the store. It reloads the state only when
// the head moved under it (another writer, or the first tick after a
// start).
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
	// NotifySourceHealth commits source.down after DownAfter failed polls
	// in a row (0: DefaultDownAfter) and source.recovered at the next
	// successful one; see health.go.
	NotifySourceHealth bool
	DownAfter          int

	hmu sync.Mutex
	hs  health

	mu      sync.Mutex
	state   *differ.State // the job's state at head version stateAt; nil: none kept
	stateAt uint64
}

// Outcome describes what one tick did.
type Outcome struct {
	Job      string
	Result   string
	Events   int
	ByType   map[string]int // committed events per type
	Reason   string         // why a failed poll failed (see FailureReason)
	Duration time.Duration
	Err      error
	Health   string // TypeSourceDown or TypeSourceRecovered when the tick committed one
	Bytes    int64  // body bytes fetched (decoded, all pages), also by a poll that then failed
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
	if out.Err != nil {
		out.Reason = FailureReason(out.Err)
	}
	switch {
	case out.Err != nil:
		p.Logger.Warn("poll failed", "reason", out.Reason, "duration_ms", out.Duration.Milliseconds(), "err", out.Err)
	case out.Result == ResultHeld:
		p.Logger.Warn("suspicious change held by guard; it is applied only once confirmed by further polls", "duration_ms", out.Duration.Milliseconds())
	default:
		p.Logger.Debug("poll done", "result", out.Result, "events", out.Events, "duration_ms", out.Duration.Milliseconds())
	}
	p.observeHealth(ctx, start, &out)
	if p.Observe != nil {
		p.Observe(out)
	}
	return out
}

func (p *Pipeline) tick(ctx context.Context) Outcome {
	for attempt := 0; ; attempt++ {
		out, err := p.once(ctx)
		if out.Bytes >= collectAfter {
			// A tick of a large body leaves garbage in proportion to
			// it (the old state's tables, the walker's records, the
			// events), and the live heap the collector last saw during
			// the tick set the next heap goal at twice that: without a
			// collection now, the heap would grow to that goal before
			// the next tick's garbage is taken, and the process's peak
			// memory with it. It costs the tick a few milliseconds (22
			// MB body: peak RSS from about 100 MB to 70 MB, see
			// docs/BENCHMARKS.md).
			runtime.GC()
		}
		if errors.Is(err, store.ErrStale) && attempt < maxStaleRetries {
			continue
		}
		if err != nil {
			return Outcome{Result: ResultFailed, Err: err, Bytes: out.Bytes}
		}
		return out
	}
}

// once polls, diffs against the head it read and commits conditionally on
// that head, so a concurrent writer makes it fail with store.ErrStale.
func (p *Pipeline) once(ctx context.Context) (out Outcome, err error) {
	head, err := p.Store.Head(p.Job)
	if err != nil {
		return Outcome{}, fmt.Errorf("read head: %w", err)
	}
	req := p.Request
	if head.Version > 0 {
		req.ETag, req.LastModified = head.ETag, head.LastModified
	}
	// With the state of the last tick at hand, a large JSON body is
	// compared as it is read, and never held whole (differ.DiffStream).
	// Any other body is read whole; then the differ tells an unchanged
	// body itself and hashes a changed one while it parses it.
	prev := p.kept(head.Version)
	var res *differ.Result
	var body []byte
	var fetched int64
	defer func() { out.Bytes = fetched }()
	resp, err := p.Poller.PollStream(ctx, req, func(resp *poller.Response, r io.Reader, length int64) (err error) {
		if prev == nil || (length >= 0 && length < streamFrom) || !p.Differ.CanStream(prev, resp.ContentType) {
			body, err = poller.ReadAll(r, length)
			fetched = int64(len(body))
			return err
		}
		counted := &countingReader{r: r}
		res, err = p.Differ.DiffStream(prev, counted, length)
		fetched = counted.n
		if _, failed := errors.AsType[*poller.Error](err); err != nil && !failed {
			err = fmt.Errorf("%s: %w", poller.RedactURL(req.URL), err)
		}
		return err
	})
	if err != nil {
		return Outcome{}, err
	}
	if resp.NotModified {
		return Outcome{Result: ResultNotModified}, nil
	}
	// Without the state of the last tick, the hash decides first whether
	// the snapshot is read at all. Only the differ refers to the body
	// from here on, and it lets it go once it has read it, so that the
	// collector may take a large body while the changes, the new state and
	// the events are built (the reader above keeps body, this does not).
	whole := body
	body = nil
	switch {
	case res != nil:
	case prev != nil:
		res, err = p.Differ.DiffResponse(ctx, prev, whole, resp.ContentType)
	default:
		sum := sha256.Sum256(whole)
		if head.Version > 0 && bytes.Equal(sum[:], head.BodyHash) {
			return p.unchanged(ctx, head, resp, sum)
		}
		if prev, err = p.load(head.Version); err != nil {
			return Outcome{}, err
		}
		res, err = p.Differ.DiffResponse(ctx, prev, whole, resp.ContentType)
	}
	if err != nil {
		return Outcome{}, fmt.Errorf("%s: %w", poller.RedactURL(req.URL), err)
	}
	if res.Unchanged && res.Snapshot == nil && res.SnapshotTo == nil && res.Delta == nil {
		return p.unchanged(ctx, head, resp, res.Sum)
	}
	events, err := p.events(p.filter(res.Changes))
	if err != nil {
		return Outcome{}, err
	}
	c := &store.Commit{
		Snapshot:       res.Snapshot,
		SnapshotWriter: res.SnapshotTo,
		SnapshotDelta:  res.Delta,
		BodyHash:       res.Sum[:],
		ETag:           resp.ETag,
		LastModified:   resp.LastModified,
		Events:         events,
		Destinations:   p.Destinations,
	}
	if res.Held {
		// A held body must be parsed again next time, so that identical
		// responses count towards the guard's confirmation.
		c.BodyHash, c.ETag, c.LastModified = nil, "", ""
	}
	next, err := p.commit(ctx, head, c)
	if err != nil {
		return Outcome{}, fmt.Errorf("commit: %w", err)
	}
	p.advance(head.Version, next.Version, res.Next)
	if len(events) > 0 && p.Wake != nil {
		p.Wake(p.Job)
	}
	out = Outcome{Events: len(events)}
	if len(events) > 0 {
		out.ByType = make(map[string]int)
		for _, ev := range events {
			out.ByType[ev.Type]++
		}
	}
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

// unchanged ends a tick whose body is the one the head's snapshot came
// from: only new validators are committed.
func (p *Pipeline) unchanged(ctx context.Context, head store.Head, resp *poller.Response, sum [32]byte) (Outcome, error) {
	if resp.ETag != head.ETag || resp.LastModified != head.LastModified {
		c := &store.Commit{BodyHash: sum[:], ETag: resp.ETag, LastModified: resp.LastModified}
		next, err := p.commit(ctx, head, c)
		if err != nil {
			return Outcome{}, fmt.Errorf("commit validators: %w", err)
		}
		// The snapshot is the same at the new version.
		p.advance(head.Version, next.Version, nil)
	}
	return Outcome{Result: ResultUnchanged}, nil
}

// kept returns the differ's state kept from the last tick when it belongs
// to the head version, else nil.
func (p *Pipeline) kept(version uint64) *differ.State {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stateAt != version {
		return nil
	}
	return p.state
}

// load reads the differ's state at the head version from the store (nil
// when the job has none yet) and keeps it.
func (p *Pipeline) load(version uint64) (*differ.State, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	// Let an outdated state go before the new one is read.
	p.state, p.stateAt = nil, 0
	if version == 0 {
		return nil, nil
	}
	base, deltas, err := p.Store.LoadSnapshot(p.Job, version)
	if err != nil {
		return nil, fmt.Errorf("read snapshot: %w", err)
	}
	st, err := differ.Load(base, deltas)
	if err != nil {
		return nil, fmt.Errorf("read snapshot: %w", err)
	}
	st = st.Lean(p.chunks(version))
	p.state, p.stateAt = st, version
	return st, nil
}

// chunks reads the job's snapshot as the store holds it at version.
func (p *Pipeline) chunks(version uint64) differ.ChunkReader {
	return chunkReader{st: p.Store, job: p.Job, version: version}
}

// chunkReader is the differ's view of a job's stored snapshot.
type chunkReader struct {
	st      store.Store
	job     string
	version uint64
}

func (r chunkReader) ReadChunk(chunk int, b []byte, off int64) error {
	return r.st.ReadSnapshot(r.job, r.version, chunk, b, off)
}

// advance records that the commit of version on base succeeded, with the
// state it stored (nil: the state at base, unchanged).
func (p *Pipeline) advance(base, version uint64, next *differ.State) {
	p.mu.Lock()
	defer p.mu.Unlock()
	// The state kept reads what the store holds at the new version: only
	// the keys of its items stay in memory (see differ.State.Lean).
	switch {
	case next != nil:
		p.state, p.stateAt = next.Lean(p.chunks(version)), version
	case p.stateAt == base && p.state != nil:
		p.state, p.stateAt = p.state.Lean(p.chunks(version)), version
	}
}

// filter keeps the changes that meet the job's when: condition. A
// condition that fails on some changes (a field of a missing before, say)
// drops them and is logged once per poll, with the first failure.
func (p *Pipeline) filter(changes []differ.Change) []differ.Change {
	kept := changes[:0:0]
	failed := 0
	var first error
	for _, ch := range changes {
		ok, err := p.Differ.Keep(p.Job, ch)
		if err != nil {
			if failed++; first == nil {
				first = err
			}
		}
		if ok {
			kept = append(kept, ch)
		}
	}
	if failed > 0 {
		p.Logger.Warn("when: condition failed on some changes; they are not sent", "changes", failed, "err", first)
	}
	return kept
}

// EventData is the "data" object of a webhook envelope.
type EventData struct {
	Job        string          `json:"job"`
	Key        *string         `json:"key,omitempty"` // absent in document mode
	Before     json.RawMessage `json:"before,omitempty"`
	After      json.RawMessage `json:"after,omitempty"`
	Patch      json.RawMessage `json:"patch,omitempty"`
	MergePatch json.RawMessage `json:"merge_patch,omitempty"`
	Diff       string          `json:"diff,omitempty"` // unified diff, in text mode
}

func (p *Pipeline) events(changes []differ.Change) ([]store.Event, error) {
	events := make([]store.Event, 0, len(changes))
	job, err := json.Marshal(p.Job)
	if err != nil {
		return nil, fmt.Errorf("encode job name: %w", err)
	}
	// One buffer for all events: a 100,000-item poll can carry thousands.
	var buf []byte
	for _, ch := range changes {
		start := len(buf)
		if buf, err = appendEventData(buf, job, ch); err != nil {
			return nil, fmt.Errorf("encode %s event: %w", ch.Type, err)
		}
		events = append(events, store.Event{Type: ch.Type, Job: p.Job, Key: ch.Key, Data: buf[start:len(buf):len(buf)]})
	}
	return events, nil
}

// appendEventData appends the EventData of ch, byte for byte what
// json.Marshal writes for it, without json.Marshal's validation and
// compaction of Before, After and Patch: they are the differ's canonical
// JSON, valid and compact already, which only needs encoding/json's HTML
// escaping. job is the job name as a JSON string.
func appendEventData(dst, job []byte, ch differ.Change) ([]byte, error) {
	dst = append(dst, `{"job":`...)
	dst = append(dst, job...)
	if ch.Type != differ.TypeDocumentChanged {
		dst = append(dst, `,"key":`...)
		key, err := json.Marshal(ch.Key)
		if err != nil {
			return nil, err
		}
		dst = append(dst, key...)
	}
	for _, f := range []struct {
		name string
		raw  json.RawMessage
	}{{`,"before":`, ch.Before}, {`,"after":`, ch.After}, {`,"patch":`, ch.Patch}, {`,"merge_patch":`, ch.MergePatch}} {
		if len(f.raw) > 0 {
			dst = append(dst, f.name...)
			dst = appendHTMLSafe(dst, f.raw)
		}
	}
	if ch.Diff != "" {
		diff, err := json.Marshal(ch.Diff)
		if err != nil {
			return nil, err
		}
		dst = append(dst, `,"diff":`...)
		dst = append(dst, diff...)
	}
	return append(dst, '}'), nil
}

// appendHTMLSafe appends compact JSON with the escapes encoding/json
// applies to it: <, > and & as \u003c, \u003e and \u0026, U+2028 and
// U+2029 as \u2028 and \u2029.
func appendHTMLSafe(dst, raw []byte) []byte {
	for {
		// U+2028 and U+2029 are the bytes e2 80 a8 and e2 80 a9.
		i := bytes.IndexAny(raw, "<>&")
		if j := bytes.IndexByte(raw, 0xe2); j >= 0 && (i < 0 || j < i) {
			i = j
		}
		if i < 0 {
			return append(dst, raw...)
		}
		dst = append(dst, raw[:i]...)
		switch c := raw[i]; {
		case c != 0xe2:
			dst = append(dst, `\u00`...)
			dst = append(dst, hexDigits[c>>4], hexDigits[c&0xf])
			raw = raw[i+1:]
		case i+2 < len(raw) && raw[i+1] == 0x80 && raw[i+2]&^1 == 0xa8:
			dst = append(dst, `\u202`...)
			dst = append(dst, hexDigits[raw[i+2]&0xf])
			raw = raw[i+3:]
		default:
			dst = append(dst, c)
			raw = raw[i+1:]
		}
	}
}

const hexDigits = "0123456789abcdef"

// FailureReason classifies a failed poll for logs and metrics: the poller's reason
// (status, timeout, too_large, transport, canceled, auth when the OAuth2
// token endpoint gave no token, response when a page could not be read or
// merged) when the request failed, "response" when the body could not be
// read as the job says, and "store" when the commit failed.
func FailureReason(err error) string {
	var perr *poller.Error
	switch {
	case errors.As(err, &perr):
		return string(perr.Reason)
	case errors.Is(err, store.ErrStale), errors.Is(err, store.ErrClosed):
		return "store"
	case strings.HasPrefix(err.Error(), "commit") || strings.HasPrefix(err.Error(), "read "):
		return "store"
	}
	return "response"
}
