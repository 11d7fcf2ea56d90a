package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/pollhook/pollhook/config"
	"github.com/pollhook/pollhook/differ"
	"github.com/pollhook/pollhook/poller"
	"github.com/pollhook/pollhook/scheduler"
	"github.com/pollhook/pollhook/store"
)

// pollhook once polls one job and prints the events that poll would send,
// as JSON lines in the webhook envelope, changing nothing: no commit, no
// delivery, no validators stored. It compares with the stored snapshot as
// the daemon's next tick would (same request, auth, pagination, differ
// and when: filter). With --replay it compares the stored snapshot and
// the response under the current rules even when they are not the ones
// the snapshot was taken under, so that a new ignore:, when:, events: or
// key: can be tried on real data before it is deployed.

// envelopeTimestamp is the pusher's timestamp layout: RFC 3339 in UTC with
// exactly three fractional digits.
const envelopeTimestamp = "2006-01-02T15:04:05.000Z"

func onceFlags(fs *flag.FlagSet) {
	configFlag(fs)
	fs.Bool("replay", false, "compare the stored snapshot with the response under the current rules (ignore, key, events, when), even if the snapshot was taken under others")
	fs.String("store", "", "read the stored snapshot from this store `directory` (a copy of a running pollhook's) instead of store.path")
	fs.String("response", "", "read the response body from `file` instead of polling the source")
}

func cmdOnce(ctx context.Context, env *cliEnv, fs *flag.FlagSet, args []string) int {
	return runOnce(ctx, env, fs, args, time.Now)
}

// runOnce is pollhook once with the clock that stamps the events.
func runOnce(ctx context.Context, env *cliEnv, fs *flag.FlagSet, args []string, now func() time.Time) int {
	if len(args) != 1 {
		fmt.Fprintf(env.stderr, "pollhook once: expected one JOB, the name of a job of the configuration\n")
		return exitUsage
	}
	logger, err := env.logger()
	if err != nil {
		fmt.Fprintf(env.stderr, "pollhook once: %v\n", err)
		return exitUsage
	}
	path := flagString(fs, "config")
	cfg, code := loadConfig(env, path)
	if cfg == nil {
		return code
	}
	j := cfg.Job(args[0])
	if j == nil {
		names := make([]string, len(cfg.Jobs))
		for i, j := range cfg.Jobs {
			names[i] = j.Name
		}
		fmt.Fprintf(env.stderr, "pollhook once: %s has no job %q; its jobs: %s\n", path, args[0], strings.Join(names, ", "))
		return exitUsage
	}
	o := &onceRun{
		job:      j,
		spec:     differSpec(j),
		replay:   flagString(fs, "replay") == "true",
		response: flagString(fs, "response"),
		logger:   logger.With("job", j.Name),
		client:   &http.Client{Transport: pollTransport(cfg)},
	}
	if o.differ, err = differ.Compile(o.spec); err != nil {
		// The differ checks what the loader does not (an ignore path that
		// covers the key); the daemon refuses to start on it the same way.
		fmt.Fprintf(env.stderr, "pollhook once: job %q: %v\n", j.Name, err)
		return exitBadConfig
	}
	dir := flagString(fs, "store")
	if dir == "" {
		dir = cfg.Store.Path
	} else if _, err := os.Stat(dir); err != nil {
		// A copy named on the command line must be there: no store would
		// read as "no snapshot yet".
		fmt.Fprintf(env.stderr, "pollhook once: --store: %v\n", err)
		return exitUsage
	}
	st, err := openStoreIfAny(dir, logger)
	if err != nil {
		fmt.Fprintf(env.stderr, "pollhook once: %v\n", err)
		return exitFailure
	}
	if st != nil {
		defer st.Close()
		o.store = st
	}
	p, err := o.run(ctx)
	if err != nil {
		fmt.Fprintf(env.stderr, "pollhook once: job %q: %v\n", j.Name, err)
		return exitFailure
	}
	if err := p.print(env.stdout, now()); err != nil {
		fmt.Fprintf(env.stderr, "pollhook once: job %q: %v\n", j.Name, err)
		return exitFailure
	}
	fmt.Fprintf(env.stderr, "pollhook once: job %q: %s; %s\n", j.Name, p.what, p.count())
	return exitOK
}

// openStoreIfAny opens the store at dir, or returns nil when there is none
// yet (the directory is missing or empty): opening would create one, and
// once changes nothing. A store a running pollhook holds cannot be opened.
func openStoreIfAny(dir string, logger *slog.Logger) (*store.Badger, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) || err == nil && len(entries) == 0 {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read store: %w", err)
	}
	st, err := store.Open(dir, store.Options{Logger: logger.With("component", "store")})
	if errors.Is(err, store.ErrLocked) {
		return nil, fmt.Errorf("store %s is locked by a running pollhook, which holds it while it runs; stop it, or copy the directory and pass --store COPY", dir)
	}
	return st, err
}

// onceRun is one run of pollhook once.
type onceRun struct {
	job      *config.Job
	spec     differ.Spec
	differ   *differ.Differ
	store    *store.Badger // nil: no store yet
	replay   bool
	response string // file holding the response, instead of a poll
	logger   *slog.Logger
	client   *http.Client
}

// preview is what one poll would do.
type preview struct {
	what    string        // what the daemon would do with the response
	changes int           // changes found, before the when: filter
	events  []store.Event // what would be committed and sent
}

// print writes the events as JSON lines, detected at (as Commit would
// stamp them).
func (p preview) print(w io.Writer, at time.Time) error {
	for _, ev := range p.events {
		ev.Time = at
		line, err := envelope(ev)
		if err != nil {
			return err
		}
		if _, err := w.Write(line); err != nil {
			return err
		}
	}
	return nil
}

// count says how many events would be sent, and how many changes the
// when: condition drops.
func (p preview) count() string {
	var s string
	switch n := len(p.events); n {
	case 0:
		s = "no event would be sent"
	case 1:
		s = "1 event would be sent"
	default:
		s = fmt.Sprintf("%d events would be sent", n)
	}
	if dropped := p.changes - len(p.events); dropped > 0 {
		s += fmt.Sprintf(" (%d dropped by when:)", dropped)
	}
	return s
}

func (o *onceRun) run(ctx context.Context) (preview, error) {
	var head store.Head
	var prev *differ.State
	if o.store != nil {
		var err error
		if head, err = o.store.Head(o.job.Name); err != nil {
			return preview{}, fmt.Errorf("read head: %w", err)
		}
		if head.Version > 0 {
			base, deltas, err := o.store.LoadSnapshot(o.job.Name, head.Version)
			if err == nil {
				prev, err = differ.Load(base, deltas)
			}
			if err != nil {
				return preview{}, fmt.Errorf("read snapshot: %w", err)
			}
		}
	}
	body, contentType, notModified, err := o.fetch(ctx, head)
	if err != nil {
		return preview{}, err
	}
	if notModified {
		return preview{what: "the source answered 304 Not Modified"}, nil
	}
	if sum := sha256.Sum256(body); !o.replay && head.Version > 0 && bytes.Equal(sum[:], head.BodyHash) {
		return preview{what: "the response is the one the stored snapshot was taken from"}, nil
	}
	res, err := o.differ.DiffResponse(ctx, prev, body, contentType)
	if err != nil {
		return preview{}, fmt.Errorf("%s: %w", o.source(), err)
	}
	df, what := o.differ, o.outcome(res, prev)
	if o.replay && prev != nil {
		what = "compared under the current rules"
		if res.Baseline {
			what += " (the stored snapshot was taken under others: deployed, this config would record a new baseline at its next poll and send nothing)"
		}
		if res, df, err = o.rediff(ctx, prev, body, contentType); err != nil {
			return preview{}, err
		}
		if res.Held {
			what += "; the guard would hold the changes"
		}
	}
	if res.Held {
		return preview{what: what}, nil
	}
	pl := &scheduler.Pipeline{Job: o.job.Name, Differ: df, Logger: o.logger}
	events, err := pl.Preview(res.Changes)
	if err != nil {
		return preview{}, err
	}
	return preview{what: what, changes: len(res.Changes), events: events}, nil
}

// fetch returns the response: the file given with --response, or a poll
// made as the daemon makes it, conditional on the stored validators unless
// replaying (which needs the body even when the source did not change).
func (o *onceRun) fetch(ctx context.Context, head store.Head) (body []byte, contentType string, notModified bool, err error) {
	if o.response != "" {
		body, err := os.ReadFile(o.response)
		if err != nil {
			return nil, "", false, fmt.Errorf("read response: %w", err)
		}
		return body, mime.TypeByExtension(filepath.Ext(o.response)), false, nil
	}
	req := pollRequest(o.job)
	if head.Version > 0 && !o.replay {
		req.ETag, req.LastModified = head.ETag, head.LastModified
	}
	resp, err := poller.New(o.client).Poll(ctx, req)
	if err != nil {
		return nil, "", false, err
	}
	return resp.Body, resp.ContentType, resp.NotModified, nil
}

// source names where the response came from, redacted.
func (o *onceRun) source() string {
	if o.response != "" {
		return o.response
	}
	return poller.RedactURL(o.job.Request.URL)
}

// outcome says what the daemon would do with res, a diff against prev.
func (o *onceRun) outcome(res *differ.Result, prev *differ.State) string {
	switch {
	case prev == nil && o.spec.EmitInitial:
		return "no stored snapshot: the poll would record the baseline and send its items (emit_initial)"
	case prev == nil:
		return "no stored snapshot: the poll would record the baseline"
	case res.Unchanged:
		return "the response is the one the stored snapshot was taken from"
	case res.Baseline:
		return "the stored snapshot was taken under other comparison rules (items, key, ignore, unordered, response.format or transform changed): the poll would record a new baseline; --replay compares under the current rules"
	case res.Held:
		return fmt.Sprintf("the guard would hold the changes (poll %d of %d needed)", res.Next.HeldPolls(), o.spec.Guard.ConfirmPolls)
	case len(res.Changes) == 0:
		return "nothing changed that counts (ignored fields, event types left out, or changes pending under debounce)"
	}
	return fmt.Sprintf("%d change%s", len(res.Changes), plural(len(res.Changes)))
}

// rediff compares prev, the stored snapshot, with body under the current
// rules: both are read as the current ignore:, unordered: and key: see
// them, and the changes are filtered by the current events: (and, by the
// caller, when:). The stored items went through the rules of their day,
// so a field an older ignore: dropped is missing from them. transform and
// items apply to the response only: the stored snapshot holds their output
// already. Debounce is not applied (the stored state has no history under
// these rules); the guard is.
func (o *onceRun) rediff(ctx context.Context, prev *differ.State, body []byte, contentType string) (*differ.Result, *differ.Differ, error) {
	cur, err := o.differ.DiffResponse(ctx, nil, body, contentType)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", o.source(), err)
	}
	spec := o.spec
	spec.Transform, spec.Debounce, spec.EmitInitial = "", 0, false
	if spec.Format != "text" {
		spec.Format = "json"
	}
	if spec.Items != "" {
		spec.Items = "$"
	}
	df, err := differ.Compile(spec)
	if err != nil {
		return nil, nil, err
	}
	before, err := replayDocument(prev, spec)
	if err != nil {
		return nil, nil, fmt.Errorf("the stored snapshot cannot be compared under the current rules (%w)", err)
	}
	after, err := replayDocument(cur.Next, spec)
	if err != nil {
		return nil, nil, err
	}
	base, err := df.DiffResponse(ctx, nil, before, "")
	if err != nil {
		return nil, nil, fmt.Errorf("the stored snapshot does not fit the current rules: %w", err)
	}
	res, err := df.DiffResponse(ctx, base.Next, after, "")
	return res, df, err
}

// replayDocument writes a state back as a response the differ compiled
// from spec reads: the items as one array, or the document.
func replayDocument(st *differ.State, spec differ.Spec) ([]byte, error) {
	if spec.Items == "" {
		doc, err := st.Document()
		if err != nil {
			return nil, err
		}
		if spec.Format != "text" {
			return doc, nil
		}
		var text string
		if err := json.Unmarshal(doc, &text); err != nil {
			return nil, fmt.Errorf("text document: %w", err)
		}
		return []byte(text), nil
	}
	items, err := st.Items()
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	b.WriteByte('[')
	for i, it := range items {
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(it.Value)
	}
	b.WriteByte(']')
	return b.Bytes(), nil
}

// envelope is the JSON line of ev: the body the pusher sends for it to a
// destination with format json, {"type","timestamp","data"}.
func envelope(ev store.Event) ([]byte, error) {
	line, err := json.Marshal(struct {
		Type      string          `json:"type"`
		Timestamp string          `json:"timestamp"`
		Data      json.RawMessage `json:"data"`
	}{ev.Type, ev.Time.UTC().Format(envelopeTimestamp), ev.Data})
	if err != nil {
		return nil, fmt.Errorf("encode %s event: %w", ev.Type, err)
	}
	return append(line, '\n'), nil
}
