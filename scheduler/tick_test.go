package scheduler

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

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
			`item.updated 1 {"job":"orders","key":"1","before":{"id":1,"n":"a"},"after":{"id":1,"n":"A"},"patch":[{"op":"replace","path":"/n","value":"A"}]}`,
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
