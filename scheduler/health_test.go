package scheduler

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/pollhook/pollhook/differ"
	"github.com/pollhook/pollhook/store"
)

// healthStep is one tick of a health test: the source's answer, the
// tick's time, and what must follow.
type healthStep struct {
	name       string
	status     int
	body       string
	minute     int      // the tick starts at 10:mm
	wantResult string   // the tick's Result
	wantHealth string   // the health event the tick committed, if any
	wantNew    []string // events queued by this tick, as "type key data"
}

// healthClock returns a pipeline clock set by each step, and the step's
// time as an RFC 3339 string.
func healthClock(p *Pipeline) (set func(minute int), at func(minute int) string) {
	var now time.Time
	p.Now = func() time.Time { return now }
	base := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	set = func(minute int) { now = base.Add(time.Duration(minute) * time.Minute) }
	at = func(minute int) string { return base.Add(time.Duration(minute) * time.Minute).Format(time.RFC3339) }
	return set, at
}

// runHealthSteps ticks p through steps, checking each tick's result, its
// health event and exactly the events it queued.
func runHealthSteps(t *testing.T, p *Pipeline, src *fakeSource, st store.Store, set func(int), steps []healthStep) {
	t.Helper()
	seen := len(pending(t, st))
	for _, s := range steps {
		set(s.minute)
		src.set(s.status, s.body)
		out := p.Tick(context.Background())
		if out.Result != s.wantResult || out.Health != s.wantHealth {
			t.Fatalf("%s: result %q health %q (err %v), want %q and %q", s.name, out.Result, out.Health, out.Err, s.wantResult, s.wantHealth)
		}
		all := pending(t, st)
		if got := all[seen:]; strings.Join(got, "\n") != strings.Join(s.wantNew, "\n") {
			t.Fatalf("%s: queued\n%s\nwant\n%s", s.name, strings.Join(got, "\n"), strings.Join(s.wantNew, "\n"))
		}
		seen = len(all)
	}
}

// pollError is the redacted error of a failed poll of p's source.
func pollError(p *Pipeline, detail string) string {
	return "poll GET " + strings.Replace(p.Request.URL, "token=secret", "token=REDACTED", 1) + ": " + detail
}

func healthEvent(typ string, data string) string { return typ + "  " + data }

// TestSourceHealth walks a source through two outages: one that ends
// with the same body (the recovery commits alone) and one that ends with
// a change (the recovery and the change commit together, recovery
// first), and a single failure in between that sends nothing.
func TestSourceHealth(t *testing.T) {
	st := openStore(t)
	src := &fakeSource{}
	p, woken := newPipeline(t, differ.Spec{Items: "orders", Key: []string{"id"}}, src, st)
	p.NotifySourceHealth = true
	p.DownAfter = 2
	set, at := healthClock(p)
	const (
		a = `{"orders":[{"id":1,"n":"a"}]}`
		b = `{"orders":[{"id":1,"n":"b"}]}`
	)
	e503 := pollError(p, "status 503 Service Unavailable: maintenance")
	e500 := pollError(p, "status 500 Internal Server Error: oops")
	data := func(reason, err string, failures, since int) string {
		return fmt.Sprintf(`{"job":"orders","reason":%q,"error":%q,"failures":%d,"since":%q}`, reason, err, failures, at(since))
	}
	runHealthSteps(t, p, src, st, set, []healthStep{
		{"baseline", 200, a, 0, ResultBaseline, "", nil},
		{"first failure", 503, "maintenance", 1, ResultFailed, "", nil},
		{"second failure: down", 503, "maintenance", 2, ResultFailed, TypeSourceDown, []string{
			healthEvent("source.down", data("status", e503, 2, 1)),
		}},
		{"still down: nothing more", 500, "oops", 3, ResultFailed, "", nil},
		{"same body: recovered alone", 200, a, 4, ResultUnchanged, TypeSourceRecovered, []string{
			healthEvent("source.recovered", data("status", e500, 3, 1)),
		}},
		{"a single failure", 503, "maintenance", 5, ResultFailed, "", nil},
		{"back before down_after", 200, a, 6, ResultUnchanged, "", nil},
		{"failure", 503, "maintenance", 7, ResultFailed, "", nil},
		{"down again", 503, "maintenance", 8, ResultFailed, TypeSourceDown, []string{
			healthEvent("source.down", data("status", e503, 2, 7)),
		}},
		{"changed body: recovered, then the change", 200, b, 9, ResultChanged, TypeSourceRecovered, []string{
			healthEvent("source.recovered", data("status", e503, 2, 7)),
			`item.updated 1 {"job":"orders","key":"1","before":{"id":1,"n":"a"},"after":{"id":1,"n":"b"},"patch":[{"op":"replace","path":"/n","value":"b"}],"merge_patch":{"n":"b"}}`,
		}},
		{"steady", 200, b, 10, ResultUnchanged, "", nil},
	})
	// Each health commit woke the pusher; the change's commit did as well.
	if got := strings.Join(*woken, ","); got != "orders,orders,orders,orders,orders" {
		t.Errorf("pusher woken %q, want five times", got)
	}
	head, err := st.Head("orders")
	if err != nil {
		t.Fatal(err)
	}
	if _, down := decodeOutage(head.BodyHash); down || len(head.BodyHash) != 32 {
		t.Errorf("head body hash %q after the recovery, want the body's SHA-256", head.BodyHash)
	}
}

// TestSourceHealthAcrossRestart restarts pollhook (a new store handle on
// the same directory, a new pipeline) in the middle of an outage: the
// restarted job sends no second source.down, and sends the one
// source.recovered, with the outage's start and all its failures.
func TestSourceHealthAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	open := func() *store.Badger {
		st, err := store.Open(dir, store.Options{})
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	const body = `{"orders":[{"id":1}]}`
	spec := differ.Spec{Items: "orders", Key: []string{"id"}}
	src := &fakeSource{}

	st := open()
	p, _ := newPipeline(t, spec, src, st)
	p.NotifySourceHealth, p.DownAfter = true, 2
	set, at := healthClock(p)
	down := fmt.Sprintf(`{"job":"orders","reason":"status","error":%q,"failures":2,"since":%q}`, pollError(p, "status 502 Bad Gateway"), at(1))
	runHealthSteps(t, p, src, st, set, []healthStep{
		{"baseline", 200, body, 0, ResultBaseline, "", nil},
		{"failure", 502, "", 1, ResultFailed, "", nil},
		{"down", 502, "", 2, ResultFailed, TypeSourceDown, []string{healthEvent("source.down", down)}},
	})
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	st = open()
	defer st.Close()
	p2, _ := newPipeline(t, spec, src, st)
	p2.NotifySourceHealth, p2.DownAfter = true, 2
	set2, _ := healthClock(p2)
	recovered := fmt.Sprintf(`{"job":"orders","reason":"status","error":%q,"failures":4,"since":%q}`,
		pollError(p2, "status 504 Gateway Timeout"), at(1))
	runHealthSteps(t, p2, src, st, set2, []healthStep{
		{"still down after the restart", 503, "", 3, ResultFailed, "", nil},
		{"and more", 504, "", 4, ResultFailed, "", nil},
		{"recovered once", 200, body, 5, ResultUnchanged, TypeSourceRecovered, []string{healthEvent("source.recovered", recovered)}},
		{"nothing more", 200, body, 6, ResultUnchanged, "", nil},
	})
}

// TestSourceHealthNotModified ends an outage with a 304: the recovery
// commits alone and keeps the validators, so the next poll is still
// conditional.
func TestSourceHealthNotModified(t *testing.T) {
	st := openStore(t)
	src := &fakeSource{etag: `W/"v1"`}
	p, _ := newPipeline(t, differ.Spec{}, src, st)
	p.NotifySourceHealth, p.DownAfter = true, 1
	set, at := healthClock(p)
	data := fmt.Sprintf(`{"job":"orders","reason":"status","error":%q,"failures":1,"since":%q}`, pollError(p, "status 503 Service Unavailable"), at(1))
	var steps []healthStep
	steps = append(steps, healthStep{"baseline", 200, `{"v":1}`, 0, ResultBaseline, "", nil})
	runHealthSteps(t, p, src, st, set, steps)
	src.mu.Lock()
	src.etag = "" // the outage answers without validators
	src.mu.Unlock()
	runHealthSteps(t, p, src, st, set, []healthStep{{"down", 503, "", 1, ResultFailed, TypeSourceDown, []string{healthEvent("source.down", data)}}})
	src.mu.Lock()
	src.etag = `W/"v1"`
	src.mu.Unlock()
	runHealthSteps(t, p, src, st, set, []healthStep{
		{"304 recovers", 200, `{"v":1}`, 2, ResultNotModified, TypeSourceRecovered, []string{healthEvent("source.recovered", data)}},
		{"still conditional", 200, `{"v":1}`, 3, ResultNotModified, "", nil},
	})
	if head, err := st.Head("orders"); err != nil || head.ETag != `W/"v1"` {
		t.Errorf("head %+v (%v), want the ETag kept", head, err)
	}
}

// TestSourceHealthCountsSourceFailuresOnly: a cancelled poll says nothing
// about the source, and without notify_source_health nothing is sent.
func TestSourceHealthCountsSourceFailuresOnly(t *testing.T) {
	tests := []struct {
		name      string
		notify    bool
		cancelled bool
		want      int // source.down events after three failed ticks
	}{
		{"cancelled polls", true, true, 0},
		{"notify off", false, false, 0},
		{"source failures", true, false, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := openStore(t)
			src := &fakeSource{}
			p, _ := newPipeline(t, differ.Spec{}, src, st)
			p.NotifySourceHealth, p.DownAfter = tt.notify, 1
			ctx, cancel := context.WithCancel(context.Background())
			src.set(200, `{}`)
			if out := p.Tick(ctx); out.Result != ResultBaseline {
				t.Fatalf("baseline %q %v", out.Result, out.Err)
			}
			if tt.cancelled {
				cancel()
			}
			src.set(503, "")
			for range 3 {
				if out := p.Tick(ctx); out.Result != ResultFailed {
					t.Fatalf("tick %q, want failed", out.Result)
				}
			}
			cancel()
			if got := len(pending(t, st)); got != tt.want {
				t.Errorf("%d events queued (%v), want %d", got, pending(t, st), tt.want)
			}
		})
	}
}

// TestSourceDownBeforeAnyBaseline: a source down from the very start
// records its outage on a job without a snapshot, and the first good poll
// is still a silent baseline, preceded by source.recovered.
func TestSourceDownBeforeAnyBaseline(t *testing.T) {
	st := openStore(t)
	src := &fakeSource{}
	p, _ := newPipeline(t, differ.Spec{Items: "$", Key: []string{"id"}}, src, st)
	p.NotifySourceHealth, p.DownAfter = true, 1
	set, at := healthClock(p)
	data := fmt.Sprintf(`{"job":"orders","reason":"status","error":%q,"failures":1,"since":%q}`, pollError(p, "status 500 Internal Server Error"), at(0))
	runHealthSteps(t, p, src, st, set, []healthStep{
		{"down", 500, "", 0, ResultFailed, TypeSourceDown, []string{healthEvent("source.down", data)}},
		{"first good poll", 200, `[{"id":1}]`, 1, ResultBaseline, TypeSourceRecovered, []string{healthEvent("source.recovered", data)}},
		{"a change", 200, `[{"id":1},{"id":2}]`, 2, ResultChanged, "", []string{`item.created 2 {"job":"orders","key":"2","after":{"id":2}}`}},
	})
}

func TestOutageRecord(t *testing.T) {
	d := HealthData{Job: "orders", Reason: "timeout", Error: "poll GET http://l/: timed out", Failures: 3, Since: time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)}
	rec := encodeOutage(d)
	if len(rec) == 32 {
		t.Fatalf("record is 32 bytes long, as a body hash is")
	}
	got, ok := decodeOutage(rec)
	if !ok || got != d {
		t.Errorf("decodeOutage(encodeOutage(d)) = %+v %v, want %+v", got, ok, d)
	}
	for _, hash := range [][]byte{nil, make([]byte, 32), []byte("pollhook:source-down:{"), []byte("pollhook:source-down")} {
		if _, ok := decodeOutage(hash); ok {
			t.Errorf("decodeOutage(%q) reads an outage", hash)
		}
	}
}

func TestTruncate(t *testing.T) {
	tests := []struct {
		s    string
		n    int
		want string
	}{
		{"short", 10, "short"},
		{"exactly10!", 10, "exactly10!"},
		{"longer than ten", 10, "longer tha..."},
		{"ééééé", 3, "é..."}, // never half a rune
	}
	for _, tt := range tests {
		if got := truncate(tt.s, tt.n); got != tt.want {
			t.Errorf("truncate(%q, %d) = %q, want %q", tt.s, tt.n, got, tt.want)
		}
	}
}
