package admin

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pollhook/pollhook/differ"
	"github.com/pollhook/pollhook/poller"
	"github.com/pollhook/pollhook/pusher"
	"github.com/pollhook/pollhook/scheduler"
)

// The jobs API tests poll real sources through real pipelines into a real
// Badger store, under a real scheduler whose clock is fixed at t0.

// source is an HTTP source serving, per path, a status and a body that a
// test sets; a path can be held, its requests answered only once released.
type source struct {
	*httptest.Server
	mu      sync.Mutex
	answers map[string]answer
	hold    map[string]chan struct{}
	hits    chan string // receives the path of each request
}

type answer struct {
	status int
	body   string
}

func newSource(t *testing.T) *source {
	t.Helper()
	s := &source{answers: map[string]answer{}, hold: map[string]chan struct{}{}, hits: make(chan string, 100)}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		a, ok := s.answers[r.URL.Path]
		hold := s.hold[r.URL.Path]
		s.mu.Unlock()
		s.hits <- r.URL.Path
		if hold != nil {
			select {
			case <-hold:
			case <-r.Context().Done():
				return
			}
		}
		if !ok {
			a = answer{http.StatusNotFound, "no such path"}
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(a.status)
		fmt.Fprint(w, a.body)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *source) set(path string, status int, body string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.answers[path] = answer{status, body}
}

// holdPath makes requests to path wait until the returned release is
// called (at the latest when the test ends).
func (s *source) holdPath(t *testing.T, path string) (release func()) {
	ch := make(chan struct{})
	s.mu.Lock()
	s.hold[path] = ch
	s.mu.Unlock()
	release = sync.OnceFunc(func() { close(ch) })
	t.Cleanup(release)
	return release
}

// testJob is a job of a jobs world: its admin description and its spec.
type testJob struct {
	Job
	spec differ.Spec
}

// jobsWorld is a world with jobs polling a source.
type jobsWorld struct {
	*world
	src   *source
	polls *Polls
	sched *scheduler.Scheduler
	pipes map[string]*scheduler.Pipeline
	jobs  []Job
}

// newJobsWorld sets up the jobs (their URLs are paths on the world's
// source, which the source answers 404 until set) and a started scheduler
// running them. Polls are run with poll, synchronously.
func newJobsWorld(t *testing.T, dests []pusher.Destination, jobs ...testJob) *jobsWorld {
	t.Helper()
	routes := map[string][]string{}
	for _, j := range jobs {
		if len(j.Destinations) > 0 {
			routes[j.Name] = j.Destinations
		}
	}
	jw := &jobsWorld{world: newWorld(t, dests, routes), src: newSource(t), polls: NewPolls(func() time.Time { return t0 }),
		pipes: map[string]*scheduler.Pipeline{}}
	clock := func() time.Time { return t0 }
	jw.sched = scheduler.New(slog.New(slog.DiscardHandler), scheduler.Options{Now: clock, Location: time.UTC})
	for _, j := range jobs {
		j.URL = jw.src.URL + j.URL
		df, err := differ.Compile(j.spec)
		if err != nil {
			t.Fatal(err)
		}
		p := &scheduler.Pipeline{Job: j.Name, Request: poller.Request{URL: j.URL}, Poller: poller.New(jw.src.Client()),
			Differ: df, Store: jw.st, Destinations: j.Destinations, Logger: slog.New(slog.DiscardHandler), Now: clock,
			Observe: jw.polls.ObservePoll}
		if err := jw.sched.Add(scheduler.Entry{Name: j.Name, Schedule: j.Schedule, Tick: p.Tick}); err != nil {
			t.Fatal(err)
		}
		jw.pipes[j.Name] = p
		jw.jobs = append(jw.jobs, j.Job)
	}
	jw.sched.Start(context.Background())
	t.Cleanup(func() {
		if err := jw.sched.Stop(waitLimit); err != nil {
			t.Errorf("stop scheduler: %v", err)
		}
	})
	return jw
}

// poll runs one tick of job and returns its outcome.
func (jw *jobsWorld) poll(job string) scheduler.Outcome {
	jw.t.Helper()
	return jw.pipes[job].Tick(context.Background())
}

// serveJobs starts an admin server over the world; wake, when not nil,
// is the pusher's wake.
func (jw *jobsWorld) serveJobs(p *pusher.Pusher, wake func(string)) *client {
	jw.t.Helper()
	return jw.serveConfig(APIConfig{Token: testToken, Store: jw.st, Deliveries: p, Destinations: jw.adminDests(),
		Jobs: jw.jobs, Scheduler: jw.sched, Polls: jw.polls, Wake: wake, Now: func() time.Time { return t0 }})
}

// serveConfig starts an admin server with c.
func (jw *jobsWorld) serveConfig(c APIConfig) *client {
	jw.t.Helper()
	s := New(slog.New(slog.DiscardHandler), nil, nil)
	s.MountAPI(c)
	srv := httptest.NewServer(s.Handler())
	jw.t.Cleanup(srv.Close)
	return &client{t: jw.t, url: srv.URL, token: c.Token}
}

// host is the source's host and port, as redacted URLs show it.
func (jw *jobsWorld) host() string { return strings.TrimPrefix(jw.src.URL, "http://") }

// receive returns the next value of ch, failing the test after waitLimit.
func receive[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(waitLimit):
		t.Fatalf("no %s within %s", what, waitLimit)
		panic("unreachable")
	}
}
