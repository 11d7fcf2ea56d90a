package scheduler

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/pollhook/pollhook/differ"
	"github.com/pollhook/pollhook/poller"
	"github.com/pollhook/pollhook/store"
)

// fakeSource answers with whatever body and status the test sets.
type fakeSource struct {
	mu     sync.Mutex
	status int
	body   string
	etag   string
	hang   bool // answer only once the client gives up
	hits   atomic.Int32
}

func (s *fakeSource) set(status int, body string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.status, s.body = status, body
}

func (s *fakeSource) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.hits.Add(1)
	s.mu.Lock()
	hang := s.hang
	s.mu.Unlock()
	if hang {
		<-r.Context().Done()
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.etag != "" {
		if r.Header.Get("If-None-Match") == s.etag {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		w.Header().Set("ETag", s.etag)
	}
	w.WriteHeader(s.status)
	fmt.Fprint(w, s.body)
}

func newPipeline(t *testing.T, spec differ.Spec, src *fakeSource, st store.Store) (*Pipeline, *[]string) {
	t.Helper()
	srv := httptest.NewServer(src)
	t.Cleanup(srv.Close)
	df, err := differ.Compile(spec)
	if err != nil {
		t.Fatal(err)
	}
	var woken []string
	return &Pipeline{
		Job:          "orders",
		Request:      poller.Request{URL: srv.URL + "/orders?token=secret"},
		Poller:       poller.New(srv.Client()),
		Differ:       df,
		Store:        st,
		Destinations: []string{"hook"},
		Wake:         func(job string) { woken = append(woken, job) },
		Logger:       slog.New(slog.DiscardHandler),
	}, &woken
}

func openStore(t *testing.T) *store.Badger {
	t.Helper()
	st, err := store.Open(t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// pending returns "type key data" of every event queued for the hook lane.
func pending(t *testing.T, st store.Store) []string {
	t.Helper()
	evs, err := st.Pending("hook", "orders", 100)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range evs {
		out = append(out, fmt.Sprintf("%s %s %s", e.Type, e.Key, e.Data))
	}
	return out
}

func TestTick(t *testing.T) {
	st := openStore(t)
	src := &fakeSource{}
	p, woken := newPipeline(t, differ.Spec{Items: "orders", Key: []string{"id"}, Ignore: []string{"seen"}}, src, st)
	ctx := context.Background()

	steps := []struct {
		name       string
		status     int
		body       string
		wantResult string
		wantEvents []string // events queued after this step (cumulative)
		wantErr    string
	}{
		{"baseline", 200, `{"orders":[{"id":1,"n":"a","seen":1},{"id":2,"n":"b"}]}`, ResultBaseline, nil, ""},
		{"same body is not parsed", 200, `{"orders":[{"id":1,"n":"a","seen":1},{"id":2,"n":"b"}]}`, ResultUnchanged, nil, ""},
		{"only ignored and spelling changes", 200, `{"orders":[{"n":"a","id":1.0,"seen":2},{"id":2,"n":"b"}]}`, ResultNoChange, nil, ""},
		{"server error is a failed poll", 503, `maintenance`, ResultFailed, nil, "status 503"},
		{"html page is a failed poll", 200, `<html>down</html>`, ResultFailed, nil, "parse response"},
		{"update and create", 200, `{"orders":[{"id":1,"n":"A"},{"id":2,"n":"b"},{"id":3,"n":"c"}]}`, ResultChanged, []string{
			`item.updated 1 {"job":"orders","key":"1","before":{"id":1,"n":"a"},"after":{"id":1,"n":"A"},"patch":[{"op":"replace","path":"/n","value":"A"}],"merge_patch":{"n":"A"}}`,
			`item.created 3 {"job":"orders","key":"3","after":{"id":3,"n":"c"}}`,
		}, ""},
	}
	for _, s := range steps {
		src.set(s.status, s.body)
		out := p.Tick(ctx)
		if out.Result != s.wantResult {
			t.Fatalf("%s: result %q (err %v), want %q", s.name, out.Result, out.Err, s.wantResult)
		}
		if s.wantErr == "" && out.Err != nil || s.wantErr != "" && (out.Err == nil || !strings.Contains(out.Err.Error(), s.wantErr)) {
			t.Fatalf("%s: err %v, want %q", s.name, out.Err, s.wantErr)
		}
		if out.Err != nil && strings.Contains(out.Err.Error(), "secret") {
			t.Errorf("%s: error leaks the query secret: %v", s.name, out.Err)
		}
		got := pending(t, st)
		if strings.Join(got, "\n") != strings.Join(s.wantEvents, "\n") {
			t.Fatalf("%s: pending events\n%s\nwant\n%s", s.name, strings.Join(got, "\n"), strings.Join(s.wantEvents, "\n"))
		}
	}
	if strings.Join(*woken, ",") != "orders" {
		t.Errorf("pusher woken for %q, want once for orders", *woken)
	}
}

func TestTickNotModifiedAndFailedPollKeepSnapshot(t *testing.T) {
	st := openStore(t)
	src := &fakeSource{etag: `W/"v1"`}
	p, _ := newPipeline(t, differ.Spec{Items: "$", Key: []string{"id"}}, src, st)
	ctx := context.Background()
	src.set(200, `[{"id":1}]`)
	if out := p.Tick(ctx); out.Result != ResultBaseline {
		t.Fatalf("first tick %q %v", out.Result, out.Err)
	}
	head, err := st.Head("orders")
	if err != nil || head.ETag != `W/"v1"` {
		t.Fatalf("head %+v %v, want the ETag stored", head, err)
	}
	if out := p.Tick(ctx); out.Result != ResultNotModified {
		t.Fatalf("conditional tick %q %v, want not_modified", out.Result, out.Err)
	}
	// A broken source answering an empty 500 changes nothing stored.
	src.etag = ""
	src.set(500, ``)
	if out := p.Tick(ctx); out.Result != ResultFailed {
		t.Fatalf("tick on 500: %q", out.Result)
	}
	after, err := st.Head("orders")
	if err != nil || after.Version != head.Version {
		t.Fatalf("failed poll moved the head from %d to %d (%v)", head.Version, after.Version, err)
	}
}

// TestTickBytes: every tick reports the body bytes it fetched, also one
// whose body then fails to parse, and none for a 304.
func TestTickBytes(t *testing.T) {
	st := openStore(t)
	src := &fakeSource{etag: `"v1"`}
	p, _ := newPipeline(t, differ.Spec{Items: "$", Key: []string{"id"}}, src, st)
	ctx := context.Background()
	src.set(200, `[{"id":1},{"id":2}]`)
	for _, want := range []struct {
		result string
		bytes  int64
	}{{ResultBaseline, 19}, {ResultNotModified, 0}} {
		if out := p.Tick(ctx); out.Result != want.result || out.Bytes != want.bytes {
			t.Errorf("tick: %q, %d bytes, %v; want %q, %d", out.Result, out.Bytes, out.Err, want.result, want.bytes)
		}
	}
	src.etag = ""
	src.set(200, `<html>maintenance</html>`)
	if out := p.Tick(ctx); out.Result != ResultFailed || out.Bytes != 24 {
		t.Errorf("tick on an HTML page: %q, %d bytes; want failed, 24", out.Result, out.Bytes)
	}
}

// TestTickStaleRetries shows that a commit racing another writer re-diffs
// against the new head instead of emitting against a stale snapshot.
func TestTickStaleRetries(t *testing.T) {
	st := openStore(t)
	src := &fakeSource{}
	p, _ := newPipeline(t, differ.Spec{Items: "$", Key: []string{"id"}}, src, st)
	ctx := context.Background()
	src.set(200, `[{"id":1,"v":1}]`)
	p.Tick(ctx)
	racer := &racingStore{Store: st}
	racer.race = func() {
		// Another writer commits the same new state first.
		p2, _ := newPipeline(t, differ.Spec{Items: "$", Key: []string{"id"}}, src, st)
		if out := p2.Tick(ctx); out.Result != ResultChanged {
			t.Errorf("racing tick %q %v", out.Result, out.Err)
		}
	}
	p.Store = racer
	src.set(200, `[{"id":1,"v":2}]`)
	out := p.Tick(ctx)
	if out.Result != ResultUnchanged || out.Err != nil {
		t.Fatalf("tick after a racing commit: %q %v, want unchanged (the racer already committed it)", out.Result, out.Err)
	}
	if got := pending(t, st); len(got) != 1 {
		t.Fatalf("pending %v, want exactly the racer's one event", got)
	}
}

// racingStore runs race once, just before the first Commit, to simulate a
// concurrent writer; everything else is the real store.
type racingStore struct {
	store.Store
	race func()
	done bool
}

func (r *racingStore) Commit(ctx context.Context, job string, base uint64, c *store.Commit) (store.Head, error) {
	if !r.done {
		r.done = true
		r.race()
	}
	return r.Store.Commit(ctx, job, base, c)
}

// countingStore counts snapshot reads and can fail the next Commit; the
// rest is the real store.
type countingStore struct {
	store.Store
	loads    int
	failNext error
}

func (c *countingStore) LoadSnapshot(job string, version uint64) ([]byte, [][]byte, error) {
	c.loads++
	return c.Store.LoadSnapshot(job, version)
}

func (c *countingStore) Commit(ctx context.Context, job string, base uint64, commit *store.Commit) (store.Head, error) {
	if err := c.failNext; err != nil {
		c.failNext = nil
		return store.Head{}, err
	}
	return c.Store.Commit(ctx, job, base, commit)
}

// TestTickKeepsState checks that a pipeline compares each poll with the
// state it kept from its last commit, reading the store only when the
// head moved under it, that changed polls store deltas, and that a
// pipeline started afresh on the same store (a restart) carries on from
// the snapshot and deltas.
func TestTickKeepsState(t *testing.T) {
	st := openStore(t)
	counting := &countingStore{Store: st}
	src := &fakeSource{}
	spec := differ.Spec{Items: "$", Key: []string{"id"}}
	p, _ := newPipeline(t, spec, src, counting)
	ctx := context.Background()
	items := func(vals ...int) string {
		var parts []string
		for id, v := range vals {
			parts = append(parts, fmt.Sprintf(`{"id":%d,"v":%d,"pad":"%s"}`, id+1, v, strings.Repeat("p", 200)))
		}
		return "[" + strings.Join(parts, ",") + "]"
	}
	steps := []struct {
		body   string
		result string
		events int
	}{
		{items(1, 1, 1, 1, 1, 1, 1, 1), ResultBaseline, 0},
		{items(2, 1, 1, 1, 1, 1, 1, 1), ResultChanged, 1},
		{items(2, 2, 1, 1, 1, 1, 1, 1), ResultChanged, 1},
		{items(2, 2, 2, 1, 1, 1, 1, 1), ResultChanged, 1},
	}
	for i, s := range steps {
		src.set(200, s.body)
		if out := p.Tick(ctx); out.Result != s.result || out.Events != s.events || out.Err != nil {
			t.Fatalf("step %d: %q, %d events, %v; want %q, %d", i, out.Result, out.Events, out.Err, s.result, s.events)
		}
	}
	if counting.loads != 0 {
		t.Errorf("the snapshot was read %d times, want never: the pipeline keeps the state", counting.loads)
	}
	head, err := st.Head("orders")
	if err != nil {
		t.Fatal(err)
	}
	base, deltas, err := st.LoadSnapshot("orders", head.Version)
	if err != nil || len(deltas) != 3 || len(base) == 0 {
		t.Fatalf("stored a %d-byte snapshot and %d deltas (%v), want the baseline and 3 deltas", len(base), len(deltas), err)
	}

	// Another writer moves the head: the state is read back once.
	other, _ := newPipeline(t, spec, src, st)
	src.set(200, items(2, 2, 2, 3, 1, 1, 1, 1))
	if out := other.Tick(ctx); out.Result != ResultChanged || out.Events != 1 {
		t.Fatalf("other writer: %q, %d events, %v", out.Result, out.Events, out.Err)
	}
	src.set(200, items(2, 2, 2, 3, 3, 1, 1, 1))
	if out := p.Tick(ctx); out.Result != ResultChanged || out.Events != 1 || counting.loads != 1 {
		t.Fatalf("after another writer: %q, %d events, %v, %d snapshot reads; want one event and one read", out.Result, out.Events, out.Err, counting.loads)
	}

	// A failed commit keeps the state before it: the same poll again
	// yields the same change.
	counting.failNext = errors.New("disk full")
	src.set(200, items(2, 2, 2, 3, 3, 3, 1, 1))
	if out := p.Tick(ctx); out.Result != ResultFailed || !strings.Contains(fmt.Sprint(out.Err), "disk full") {
		t.Fatalf("failing commit: %q, %v", out.Result, out.Err)
	}
	if out := p.Tick(ctx); out.Result != ResultChanged || out.Events != 1 || counting.loads != 1 {
		t.Fatalf("after the failed commit: %q, %d events, %v, %d snapshot reads", out.Result, out.Events, out.Err, counting.loads)
	}

	// A restart: a fresh pipeline on the same store.
	restarted, _ := newPipeline(t, spec, src, st)
	src.set(200, items(2, 2, 2, 3, 3, 3, 4, 1))
	if out := restarted.Tick(ctx); out.Result != ResultChanged || out.Events != 1 {
		t.Fatalf("after a restart: %q, %d events, %v", out.Result, out.Events, out.Err)
	}
	got := pending(t, st)
	last := got[len(got)-1]
	if want := `item.updated 7 {"job":"orders","key":"7","before":{"id":7,"pad":"` + strings.Repeat("p", 200) + `","v":1},"after":{"id":7,"pad":"` + strings.Repeat("p", 200) + `","v":4},"patch":[{"op":"replace","path":"/v","value":4}],"merge_patch":{"v":4}}`; last != want {
		t.Errorf("last event\n%s\nwant\n%s", last, want)
	}
	if len(got) != 7 {
		t.Errorf("%d events queued, want 7: one per changed tick", len(got))
	}
}

// writeOrders writes a response of orders of about 220 bytes each to
// path, shaped like a legacy order API (with a volatile updated_at), and
// streams it so that generating 22 MB costs the benchmark no memory.
// changed is the next poll: 0.5% of the orders deleted, 0.5% created and
// 1% updated.
func writeOrders(tb testing.TB, path string, n int, changed bool) {
	tb.Helper()
	f, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	w := bufio.NewWriter(f)
	w.WriteString(`{"data":{"orders":[`)
	first := true
	order := func(id int) {
		tier := "gold"
		if changed && id%100 == 3 {
			tier = "silver"
		}
		if !first {
			w.WriteString(",\n")
		}
		first = false
		fmt.Fprintf(w, `{"id":%d,"status":"open","customer":{"id":%d,"name":"Customer %d","tier":%q},`+
			`"total":%d.%02d,"currency":"EUR","lines":[{"sku":"SKU-%05d","qty":%d}],`+
			`"updated_at":"2026-11-27T20:%02d:00Z","note":"handle with care"}`,
			id, id%977, id%977, tier, id%500, id%100, id%10000, 1+id%7, id%60)
	}
	for id := 1; id <= n; id++ {
		if !changed || id%200 != 7 {
			order(id)
		}
		if changed && id%200 == 11 {
			order(n + id)
		}
	}
	w.WriteString(`]}}`)
	if err := w.Flush(); err != nil {
		tb.Fatal(err)
	}
	if err := f.Close(); err != nil {
		tb.Fatal(err)
	}
}

// BenchmarkPollToCommit measures whole changed ticks of an items job: the
// poll of an httptest source (serving the body from a file), the diff
// against the state kept from the previous tick, and the commit to a real
// Badger store with SyncWrites on. The source alternates between two
// responses, so every tick updates 1% of the items, creates 0.5% and
// deletes 0.5%. Delivery is simulated outside the timed part by acking
// the events, so that the event log stays as short as a running pusher
// keeps it. tick-peak-rss-MB is the process's peak resident set (VmHWM)
// during the changed ticks, warm-up-peak-rss-MB the peak before them (the
// process start, the baseline and the first change); both are meaningful
// when one size runs alone.
func BenchmarkPollToCommit(b *testing.B) {
	for _, n := range []int{1000, 10000, 100000} {
		b.Run(fmt.Sprintf("items=%d", n), func(b *testing.B) {
			tick, deliver := changingSource(b, n)
			// The baseline (a full parse and a full snapshot) is not a
			// changed tick: its peak is reported on its own.
			warmPeak := peakRSS(b)
			// What the warm-up freed goes back to the OS first, as the
			// runtime's scavenger does within minutes anyway: otherwise
			// the changed ticks' peak could not be told from the RSS the
			// warm-up left behind.
			debug.FreeOSMemory()
			resetPeakRSS(b)
			b.ReportAllocs()
			cpu := cpuTime(b)
			for i := 0; b.Loop(); i++ {
				tick(i)
				b.StopTimer()
				deliver()
				b.StartTimer()
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/op")
			b.ReportMetric(float64(cpuTime(b)-cpu)/float64(b.N), "cpu-ns/op")
			b.ReportMetric(peakRSS(b), "tick-peak-rss-MB")
			b.ReportMetric(warmPeak, "warm-up-peak-rss-MB")
		})
	}
}

// changingSource sets up a pipeline of an items job of n orders on a real
// store (SyncWrites on) and an httptest source serving the body from a
// file, alternating between two responses, and runs the baseline and a
// first change. tick(i) runs a tick that must commit a change;
// deliver acks every event, as a running pusher would.
func changingSource(tb testing.TB, n int) (tick func(i int), deliver func()) {
	dir := tb.TempDir()
	bodies := []string{filepath.Join(dir, "a.json"), filepath.Join(dir, "b.json")}
	writeOrders(tb, bodies[0], n, false)
	writeOrders(tb, bodies[1], n, true)
	var serving atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f, err := os.Open(bodies[serving.Load()])
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		defer f.Close()
		fi, err := f.Stat()
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", strconv.FormatInt(fi.Size(), 10))
		_, _ = io.Copy(w, f) // sendfile: the body never enters this process's memory
	}))
	tb.Cleanup(srv.Close)
	st, err := store.Open(filepath.Join(dir, "store"), store.Options{SyncWrites: true})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	df, err := differ.Compile(differ.Spec{Items: "data.orders", Key: []string{"id"}, Ignore: []string{"updated_at"}})
	if err != nil {
		tb.Fatal(err)
	}
	p := &Pipeline{
		Job:          "orders",
		Request:      poller.Request{URL: srv.URL, MaxBodyBytes: 64 << 20},
		Poller:       poller.New(srv.Client()),
		Differ:       df,
		Store:        st,
		Destinations: []string{"hook"},
		Logger:       slog.New(slog.DiscardHandler),
	}
	deliver = func() {
		head, err := st.Head("orders")
		if err == nil && head.LastSeq > 0 {
			err = st.Ack("hook", "orders", head.LastSeq)
		}
		if err != nil {
			tb.Fatal(err)
		}
	}
	run := func(i int, want string, events int) {
		serving.Store(int32(i % 2))
		if out := p.Tick(context.Background()); out.Result != want || out.Events != events {
			tb.Fatalf("tick %d: %q, %d events, %v; want %q, %d", i, out.Result, out.Events, out.Err, want, events)
		}
	}
	// The baseline and one change warm the state up.
	run(0, ResultBaseline, 0)
	run(1, ResultChanged, n/100*2)
	deliver()
	return func(i int) { run(i, ResultChanged, n/100*2) }, deliver
}

// cpuTime is the CPU time this process has used.
func cpuTime(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// resetPeakRSS resets the process's peak resident set size to its
// current one (Linux clear_refs), so that peakRSS reports what follows.
func resetPeakRSS(tb testing.TB) {
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		tb.Skip("cannot reset the peak RSS:", err)
	}
}

// peakRSS is the process's peak resident set size in MB (VmHWM).
func peakRSS(tb testing.TB) float64 {
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		tb.Skip("no /proc/self/status:", err)
	}
	for _, line := range strings.Split(string(status), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")))
			if err != nil {
				tb.Fatal(err)
			}
			return float64(kb) / 1024
		}
	}
	tb.Fatal("no VmHWM in /proc/self/status")
	return 0
}

// TestAppendEventData holds the hand-written event encoding to what
// json.Marshal writes for EventData.
func TestAppendEventData(t *testing.T) {
	// A field added to EventData must be added to appendEventData too.
	var fields []string
	for f := range reflect.TypeFor[EventData]().Fields() {
		fields = append(fields, f.Name)
	}
	if got := strings.Join(fields, " "); got != "Job Key Before After Patch MergePatch Diff" {
		t.Fatalf("EventData has fields %s: appendEventData writes Job Key Before After Patch MergePatch Diff", got)
	}
	changes := []differ.Change{
		{Type: differ.TypeItemCreated, Key: "1042", After: []byte(`{"id":1042,"n":"a"}`)},
		{Type: differ.TypeItemUpdated, Key: `a"b\c<d>&` + "\u2028\x01\xff", Before: []byte("{\"s\":\"<b>&amp;\u2028x\u2029\"}"),
			After: []byte("{\"s\":\"\u2027\u2030€\xe2\"}"), Patch: []byte("[{\"op\":\"replace\",\"path\":\"/s\",\"value\":\"\u2027\u2030€\"}]"),
			MergePatch: []byte("{\"s\":\"<\u2028\"}")},
		{Type: differ.TypeItemDeleted, Key: "", Before: []byte("\"é\u2029\"")},
		{Type: differ.TypeDocumentChanged, Before: []byte(`{"a":1}`), After: []byte(`[1,2]`), Patch: []byte(`[{"op":"add","path":"","value":[1,2]}]`)},
		{Type: differ.TypeDocumentChanged, After: []byte(`"\u003c"`)},
		{Type: differ.TypeDocumentChanged, Before: []byte(`"a\n"`), After: []byte(`"<b>\n"`), Diff: "--- before\n+++ after\n@@ -1 +1 @@\n-a\n+<b>\n"},
	}
	for _, job := range []string{"orders", "a<b>&\u2028"} {
		quoted, err := json.Marshal(job)
		if err != nil {
			t.Fatal(err)
		}
		for _, ch := range changes {
			d := EventData{Job: job, Before: ch.Before, After: ch.After, Patch: ch.Patch, MergePatch: ch.MergePatch, Diff: ch.Diff}
			if ch.Type != differ.TypeDocumentChanged {
				d.Key = &ch.Key
			}
			want, err := json.Marshal(d)
			if err != nil {
				t.Fatal(err)
			}
			got, err := appendEventData([]byte("prefix"), quoted, ch)
			if err != nil || string(got) != "prefix"+string(want) {
				t.Errorf("appendEventData(%s %q) = %s, %v\nwant %s", ch.Type, ch.Key, got, err, want)
			}
		}
	}
}

// TestTickWhen shows the job's when: condition deciding which changes are
// sent, and a condition failing on a change dropping it with one warning.
func TestTickWhen(t *testing.T) {
	st := openStore(t)
	src := &fakeSource{}
	p, _ := newPipeline(t, differ.Spec{Items: "$", Key: []string{"sku"}, When: `after.stock < 5 && before.stock >= 5`}, src, st)
	var logs strings.Builder
	p.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
		if a.Key == slog.TimeKey {
			return slog.Attr{}
		}
		return a
	}}))
	ctx := context.Background()
	src.set(200, `[{"sku":"A","stock":9},{"sku":"B","stock":9}]`)
	p.Tick(ctx)
	src.set(200, `[{"sku":"A","stock":4},{"sku":"B","stock":8},{"sku":"C","stock":1}]`)
	if out := p.Tick(ctx); out.Result != ResultChanged || out.Events != 1 {
		t.Fatalf("tick = %q with %d events (%v), want changed with 1", out.Result, out.Events, out.Err)
	}
	want := []string{`item.updated A {"job":"orders","key":"A","before":{"sku":"A","stock":9},"after":{"sku":"A","stock":4},"patch":[{"op":"replace","path":"/stock","value":4}],"merge_patch":{"stock":4}}`}
	if got := pending(t, st); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("pending\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	wantLog := `level=WARN msg="when: condition failed on some changes; they are not sent" changes=1 err="when: item.created \"C\": cannot fetch stock from <nil> (1:27)"` + "\n"
	if !strings.HasSuffix(logs.String(), wantLog) {
		t.Errorf("log:\n%s\nwant it to end with\n%s", logs.String(), wantLog)
	}
}

// TestFailedPollsKeepState feeds a baseline, then one broken response of
// each kind: every one must fail the poll with its reason, leave the head
// and the queue untouched, and the next good response must yield only the
// real change (no false deletions from the broken one).
func TestFailedPollsKeepState(t *testing.T) {
	tests := []struct {
		name       string
		status     int
		body       string
		hang       bool
		wantReason string
		wantErr    string
	}{
		{"server error", 503, "maintenance", false, "status", "status 503 Service Unavailable: maintenance"},
		{"html page with 200", 200, "<html>down</html>", false, "response", "parse response: invalid character '<' looking for beginning of value at offset 0"},
		{"truncated json", 200, `{"orders":[{"id":1}`, false, "response", "parse response: unexpected end of JSON input"},
		{"items path missing", 200, `{"error":"db down"}`, false, "response", `items "orders": no field "orders"`},
		{"duplicate key", 200, `{"orders":[{"id":1},{"id":1}]}`, false, "response", `items 0 and 1 have the same key "1"`},
		{"key missing", 200, `{"orders":[{"id":1},{"name":"x"}]}`, false, "response", `item 1: key field "id" is missing`},
		{"too large", 200, `{"orders":[{"id":1,"pad":"` + strings.Repeat("x", 300) + `"}]}`, false, "too_large", "body exceeds the limit of 256 bytes (max_body_size)"},
		{"timeout", 200, "", true, "timeout", "timed out after 300ms waiting for the response"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st := openStore(t)
			src := &fakeSource{}
			p, _ := newPipeline(t, differ.Spec{Items: "orders", Key: []string{"id"}}, src, st)
			p.Request.MaxBodyBytes = 256
			p.Request.Timeout = 300 * time.Millisecond
			ctx := context.Background()
			src.set(200, `{"orders":[{"id":1},{"id":2}]}`)
			if out := p.Tick(ctx); out.Result != ResultBaseline {
				t.Fatalf("baseline tick %q %v", out.Result, out.Err)
			}
			head, err := st.Head("orders")
			if err != nil {
				t.Fatal(err)
			}
			src.set(tc.status, tc.body)
			src.mu.Lock()
			src.hang = tc.hang
			src.mu.Unlock()
			out := p.Tick(ctx)
			if out.Result != ResultFailed || out.Err == nil || !strings.Contains(out.Err.Error(), tc.wantErr) {
				t.Fatalf("broken tick = %q %v, want failed with %q", out.Result, out.Err, tc.wantErr)
			}
			if r := out.Reason; r != tc.wantReason {
				t.Errorf("reason %q, want %q", r, tc.wantReason)
			}
			if after, err := st.Head("orders"); err != nil || after.Version != head.Version {
				t.Fatalf("failed poll moved the head from %d to %d (%v)", head.Version, after.Version, err)
			}
			if got := pending(t, st); len(got) != 0 {
				t.Fatalf("failed poll queued %v", got)
			}
			src.mu.Lock()
			src.hang = false
			src.mu.Unlock()
			src.set(200, `{"orders":[{"id":2},{"id":3}]}`)
			if out := p.Tick(ctx); out.Result != ResultChanged {
				t.Fatalf("good tick after the broken one: %q %v", out.Result, out.Err)
			}
			want := []string{
				`item.created 3 {"job":"orders","key":"3","after":{"id":3}}`,
				`item.deleted 1 {"job":"orders","key":"1","before":{"id":1}}`,
			}
			if got := pending(t, st); strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("events after recovery\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
		})
	}
}
