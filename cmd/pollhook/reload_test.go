package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/pollhook/pollhook/config"
)

// The reload tests run the daemon in-process on a configuration file that
// they rewrite, with a real store, httptest sources and receivers, and
// reload it through POST /-/reload or the SIGHUP channel.

// waitFor bounds every wait of these tests; it only matters when
// something is broken.
const reloadWait = 20 * time.Second

// source serves a JSON array of items that the test changes; every request
// it answers is counted and signalled on polled.
type source struct {
	*httptest.Server
	mu     sync.Mutex
	items  string
	polls  atomic.Int64
	polled chan struct{}
}

func newSource(t *testing.T, items string) *source {
	t.Helper()
	s := &source{items: items, polled: make(chan struct{}, 1000)}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		s.mu.Lock()
		body := s.items
		s.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, body)
		s.polls.Add(1)
		s.polled <- struct{}{}
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *source) set(items string) {
	s.mu.Lock()
	s.items = items
	s.mu.Unlock()
}

// waitPolls waits for n more requests. A job never overlaps itself, so
// once a request made after a change is answered, the poll before it has
// committed.
func (s *source) waitPolls(t *testing.T, n int) {
	t.Helper()
	for range len(s.polled) {
		<-s.polled
	}
	deadline := time.After(reloadWait)
	for i := range n {
		select {
		case <-s.polled:
		case <-deadline:
			t.Fatalf("source %s saw %d of %d polls in %s", s.URL, i, n, reloadWait)
		}
	}
}

// waitTotal waits until the source has seen at least n requests in all,
// those made before the call included (a start-up poll may be done by the
// time the daemon is ready).
func (s *source) waitTotal(t *testing.T, n int64) {
	t.Helper()
	deadline := time.After(reloadWait)
	for s.polls.Load() < n {
		select {
		case <-s.polled:
		case <-deadline:
			t.Fatalf("source %s saw %d of %d polls in %s", s.URL, s.polls.Load(), n, reloadWait)
		}
	}
}

// hook is one webhook a receiver got.
type hook struct {
	ID, Type, Data string
}

// receiver answers status (changeable) and sends every webhook answered
// 2xx on got, every other one on failed.
type receiver struct {
	*httptest.Server
	status atomic.Int64
	got    chan hook
	failed chan hook
}

func newReceiver(t *testing.T) *receiver {
	t.Helper()
	r := &receiver{got: make(chan hook, 100), failed: make(chan hook, 1000)}
	r.status.Store(http.StatusNoContent)
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		var env struct {
			Type string          `json:"type"`
			Data json.RawMessage `json:"data"`
		}
		body, _ := io.ReadAll(req.Body)
		if err := json.Unmarshal(body, &env); err != nil {
			t.Errorf("webhook body %q: %v", body, err)
		}
		h := hook{ID: req.Header.Get("webhook-id"), Type: env.Type, Data: string(env.Data)}
		code := int(r.status.Load())
		if code/100 == 2 {
			r.got <- h
		} else {
			r.failed <- h
		}
		w.WriteHeader(code)
	}))
	t.Cleanup(r.Close)
	return r
}

// next returns the next webhook answered 2xx.
func (r *receiver) next(t *testing.T) hook {
	t.Helper()
	select {
	case h := <-r.got:
		return h
	case <-time.After(reloadWait):
		t.Fatalf("receiver %s got no webhook in %s", r.URL, reloadWait)
		return hook{}
	}
}

// nextFailed returns the next webhook answered otherwise than 2xx.
func (r *receiver) nextFailed(t *testing.T) hook {
	t.Helper()
	select {
	case h := <-r.failed:
		return h
	case <-time.After(reloadWait):
		t.Fatalf("receiver %s refused no webhook in %s", r.URL, reloadWait)
		return hook{}
	}
}

// logRecorder keeps the daemon's log as text lines without times, and
// signals each write, so that a test can wait for a line and pin it.
type logRecorder struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	wrote chan struct{}
}

func newLogRecorder() *logRecorder { return &logRecorder{wrote: make(chan struct{}, 1)} }

func (l *logRecorder) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	select {
	case l.wrote <- struct{}{}:
	default:
	}
	return l.buf.Write(p)
}

func (l *logRecorder) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
		if len(groups) == 0 && a.Key == slog.TimeKey {
			return slog.Attr{}
		}
		return a
	}}))
}

// lines returns the lines logged so far that contain sub.
func (l *logRecorder) lines(sub string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for line := range strings.Lines(l.buf.String()) {
		if strings.Contains(line, sub) {
			out = append(out, strings.TrimSuffix(line, "\n"))
		}
	}
	return out
}

// waitLines waits until n lines contain sub and returns them.
func (l *logRecorder) waitLines(t *testing.T, sub string, n int) []string {
	t.Helper()
	deadline := time.After(reloadWait)
	for {
		if got := l.lines(sub); len(got) >= n {
			return got
		}
		select {
		case <-l.wrote:
		case <-deadline:
			t.Fatalf("%d log lines with %q in %s, want %d:\n%s", len(l.lines(sub)), sub, reloadWait, n, l.buf.String())
		}
	}
}

// instance is a daemon run in-process on a configuration file.
type instance struct {
	t    *testing.T
	path string // the configuration file
	addr string // the admin listener
	hup  chan os.Signal
	logs *logRecorder
	stop func() error
}

// startInstance writes yml to a configuration file and runs the daemon on
// it, reloadable.
func startInstance(t *testing.T, yml string) *instance {
	t.Helper()
	in := &instance{t: t, path: filepath.Join(t.TempDir(), "pollhook.yaml"), hup: make(chan os.Signal, 1), logs: newLogRecorder()}
	in.write(yml)
	cfg, code := loadConfig(&cliEnv{stderr: io.Discard}, in.path)
	if cfg == nil {
		t.Fatalf("test configuration refused (exit %d):\n%s", code, yml)
	}
	in.addr, in.stop = startDaemonWith(t, cfg, in.logs.logger(), serveOptions{configPath: in.path, reload: in.hup})
	return in
}

func (in *instance) write(yml string) {
	in.t.Helper()
	if err := os.WriteFile(in.path, []byte(yml), 0o600); err != nil {
		in.t.Fatal(err)
	}
}

// do sends method path with the bearer token (none when ""), and returns
// the status and the body.
func (in *instance) do(method, path, token string) (int, string) {
	in.t.Helper()
	req, err := http.NewRequest(method, "http://"+in.addr+path, nil)
	if err != nil {
		in.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		in.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		in.t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// reload writes yml and POSTs /-/reload, expecting code and body (a
// newline added; the configuration file's path written as FILE).
func (in *instance) reload(yml, token string, code int, body string) {
	in.t.Helper()
	in.write(yml)
	gotCode, got := in.do(http.MethodPost, "/-/reload", token)
	if want := strings.ReplaceAll(body, "FILE", in.path) + "\n"; gotCode != code || got != want {
		in.t.Fatalf("POST /-/reload = %d %s\nwant %d %s", gotCode, got, code, want)
	}
}

const reloaded = `{"reloaded":true,"jobs":%d,"destinations":%d}`

// metrics returns the lines of /metrics that start with one of prefixes.
func (in *instance) metrics(prefixes ...string) []string {
	in.t.Helper()
	code, body := in.do(http.MethodGet, "/metrics", "")
	if code != http.StatusOK {
		in.t.Fatalf("GET /metrics = %d", code)
	}
	var out []string
	for line := range strings.Lines(body) {
		for _, p := range prefixes {
			if strings.HasPrefix(line, p) {
				out = append(out, strings.TrimSuffix(line, "\n"))
			}
		}
	}
	return out
}

// cfgYAML is a configuration with the given destinations (name: url) and
// job lines (flow mappings), stored in dir.
func cfgYAML(dir, server string, dests [][2]string, jobs ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "server: {listen: \"127.0.0.1:0\"%s}\nstore: {path: %q}\ndestinations:\n", server, dir)
	for _, d := range dests {
		fmt.Fprintf(&b, "  %s: {url: %q, retry: {initial_interval: 50ms, max_interval: 100ms, max_attempts: 1000}}\n", d[0], d[1])
	}
	b.WriteString("jobs:\n")
	for _, j := range jobs {
		fmt.Fprintf(&b, "  - %s\n", j)
	}
	return b.String()
}

// job is a job line: name polling src every second (or on schedule) into
// dests.
func job(name, src, schedule string, extra string, dests ...string) string {
	return fmt.Sprintf("{name: %s, schedule: %q, request: {url: %q}, items: $, key: id, destinations: [%s]%s}",
		name, schedule, src, strings.Join(dests, ", "), extra)
}

func created(job, key, after string) hook {
	return hook{Type: "item.created", Data: fmt.Sprintf(`{"job":%q,"key":%q,"after":%s}`, job, key, after)}
}

// noID drops the webhook-id, which tests compare separately.
func noID(h hook) hook { h.ID = ""; return h }

// TestReloadAddJob: an added job polls at once, its events arrive, and the
// admin API lists it under its destination; the job that stays is not
// polled again by the reload.
func TestReloadAddJob(t *testing.T) {
	t.Setenv(tokenEnv, "")
	rcv := newReceiver(t)
	a, b := newSource(t, `[{"id":1}]`), newSource(t, `[{"id":7}]`)
	dir := t.TempDir()
	dests := [][2]string{{"hook", rcv.URL}}
	const token = ", admin_token: tok"
	in := startInstance(t, cfgYAML(dir, token, dests, job("a", a.URL, "@hourly", "", "hook")))
	a.waitTotal(t, 1) // the start-up poll; @hourly makes no other

	in.reload(cfgYAML(dir, token, dests, job("a", a.URL, "@hourly", "", "hook"), job("b", b.URL, "@hourly", ", emit_initial: true", "hook")),
		"tok", 200, fmt.Sprintf(reloaded, 2, 1))
	if got, want := noID(rcv.next(t)), created("b", "7", `{"id":7}`); got != want {
		t.Fatalf("after the reload the receiver got %+v, want %+v", got, want)
	}
	if n := a.polls.Load(); n != 1 {
		t.Errorf("job a was polled %d times, want 1: an unchanged job is not polled by a reload", n)
	}
	_, body := in.do(http.MethodGet, "/api/v1/destinations", "tok")
	if !strings.Contains(body, `"lanes":[{"job":"a",`) || !strings.Contains(body, `{"job":"b",`) {
		t.Errorf("the admin API does not list the added job under its destination:\n%s", body)
	}
	want := []string{`level=INFO msg="configuration reloaded" trigger="POST /-/reload" jobs=2 destinations=1 duration_ms=`, ` jobs_added=[b]`}
	if got := in.logs.lines("configuration reloaded"); len(got) != 1 || !strings.HasPrefix(got[0], want[0]) || !strings.HasSuffix(got[0], want[1]) {
		t.Errorf("reload logged %q, want one line %q...%q", got, want[0], want[1])
	}
}

// TestReloadRemoveJob: a removed job is polled no more, its series leave
// /metrics, and the job that stays keeps polling on its schedule.
func TestReloadRemoveJob(t *testing.T) {
	rcv := newReceiver(t)
	a, b := newSource(t, `[{"id":1}]`), newSource(t, `[{"id":2}]`)
	dir := t.TempDir()
	dests := [][2]string{{"hook", rcv.URL}}
	in := startInstance(t, cfgYAML(dir, "", dests, job("a", a.URL, "@every 1s", "", "hook"), job("b", b.URL, "@every 1s", "", "hook")))
	b.waitPolls(t, 2) // the first poll has been counted
	if got := in.metrics(`pollhook_polls_total{job="b"`); len(got) == 0 {
		t.Fatal("no pollhook_polls_total series of job b before the reload")
	}

	in.reload(cfgYAML(dir, "", dests, job("a", a.URL, "@every 1s", "", "hook")), "", 200, fmt.Sprintf(reloaded, 1, 1))
	// Stopping the old scheduler waited for b's poll in progress: from
	// here b gets none, while a keeps polling on its schedule.
	polls := b.polls.Load()
	a.waitPolls(t, 3)
	if n := b.polls.Load(); n != polls {
		t.Errorf("removed job b polled %d more times after the reload", n-polls)
	}
	if got := in.metrics(`pollhook_polls_total{job="b"`); len(got) != 0 {
		t.Errorf("series of the removed job still exported: %q", got)
	}
}

// TestReloadDestinationURL: once the reload answers, deliveries go to the
// destination's new URL.
func TestReloadDestinationURL(t *testing.T) {
	old, moved := newReceiver(t), newReceiver(t)
	src := newSource(t, `[{"id":1}]`)
	dir := t.TempDir()
	j := job("a", src.URL, "@every 1s", "", "hook")
	in := startInstance(t, cfgYAML(dir, "", [][2]string{{"hook", old.URL}}, j))
	src.waitPolls(t, 1)
	src.set(`[{"id":1},{"id":2}]`)
	if got, want := noID(old.next(t)), created("a", "2", `{"id":2}`); got != want {
		t.Fatalf("before the reload: %+v, want %+v", got, want)
	}

	in.reload(cfgYAML(dir, "", [][2]string{{"hook", moved.URL + "/v2"}}, j), "", 200, fmt.Sprintf(reloaded, 1, 1))
	src.set(`[{"id":1},{"id":2},{"id":3}]`)
	if got, want := noID(moved.next(t)), created("a", "3", `{"id":3}`); got != want {
		t.Fatalf("after the reload: %+v, want %+v", got, want)
	}
	select {
	case h := <-old.got:
		t.Errorf("the old URL still got %+v", h)
	default:
	}
}

// TestReloadKeepsQueuedDeliveries: events queued for a destination that
// stays, their head already attempted, are delivered after the reload in
// order, under the webhook-ids they were first sent with.
func TestReloadKeepsQueuedDeliveries(t *testing.T) {
	rcv := newReceiver(t)
	rcv.status.Store(http.StatusServiceUnavailable)
	a, b := newSource(t, `[{"id":1}]`), newSource(t, `[]`)
	dir := t.TempDir()
	dests := [][2]string{{"hook", rcv.URL}}
	ja := job("a", a.URL, "@every 1s", "", "hook")
	in := startInstance(t, cfgYAML(dir, "", dests, ja))
	a.waitPolls(t, 1)
	a.set(`[{"id":1},{"id":2}]`)
	first := rcv.nextFailed(t) // the head event was attempted and refused
	a.set(`[{"id":1},{"id":2},{"id":3}]`)
	a.waitPolls(t, 2) // the second event is committed behind it

	// The destination stays (its retry policy and a new job change).
	in.reload(strings.Replace(cfgYAML(dir, "", dests, ja, job("b", b.URL, "@hourly", "", "hook")), "max_attempts: 1000", "max_attempts: 999", 1),
		"", 200, fmt.Sprintf(reloaded, 2, 1))
	rcv.status.Store(http.StatusOK)
	got := []hook{rcv.next(t), rcv.next(t)}
	if got[0].ID != first.ID {
		t.Errorf("the queued head arrived as %s, want its first webhook-id %s", got[0].ID, first.ID)
	}
	want := []hook{created("a", "2", `{"id":2}`), created("a", "3", `{"id":3}`)}
	if g := []hook{noID(got[0]), noID(got[1])}; !slices.Equal(g, want) {
		t.Errorf("after the reload the receiver got %+v, want %+v", g, want)
	}
}

// TestReloadRefused: a configuration that cannot run is refused whole, its
// problems answered and logged exactly, the old one keeps running, and the
// reload metrics say so; a good file reloaded by SIGHUP then applies.
func TestReloadRefused(t *testing.T) {
	rcv := newReceiver(t)
	src := newSource(t, `[{"id":1}]`)
	dir := t.TempDir()
	dests := [][2]string{{"hook", rcv.URL}}
	good := cfgYAML(dir, "", dests, job("a", src.URL, "@every 1s", "", "hook"))
	in := startInstance(t, good)
	src.waitPolls(t, 1)

	tests := []struct {
		name      string
		yml       string
		code      int
		body, log string
	}{
		{
			name: "invalid",
			yml:  strings.Replace(good, `"@every 1s"`, `"every second"`, 1) + "  - {name: a, schedule: \"@hourly\", request: {url: \"http://x\"}, destinations: [nowhere]}\n",
			code: 400,
			body: `{"error":{"code":"invalid_config","message":"FILE: 3 errors; nothing was reloaded","errors":[` +
				`"FILE:6:15: jobs[0].schedule: \"every second\" is not a cron expression or @every duration (expected 5 to 6 fields, found 2: [every second])",` +
				`"FILE:7:6: jobs[1].name: \"a\" is already the name of jobs[0] (line 6); job names must be unique",` +
				`"FILE:7:79: jobs[1].destinations[0]: \"nowhere\" is not a defined destination; expected one of: hook"]}}`,
			log: `level=ERROR msg="config reload: invalid configuration" err="FILE:6:15: jobs[0].schedule: \"every second\" is not a cron expression or @every duration (expected 5 to 6 fields, found 2: [every second])"
level=ERROR msg="config reload: invalid configuration" err="FILE:7:6: jobs[1].name: \"a\" is already the name of jobs[0] (line 6); job names must be unique"
level=ERROR msg="config reload: invalid configuration" err="FILE:7:79: jobs[1].destinations[0]: \"nowhere\" is not a defined destination; expected one of: hook"
level=ERROR msg="config reload failed; the running configuration is kept" trigger="POST /-/reload" reason="FILE: 3 errors; nothing was reloaded"`,
		},
		{
			name: "malformed YAML",
			yml:  good + "  - {name: [\n",
			code: 400,
			body: `{"error":{"code":"invalid_config","message":"FILE: 1 error; nothing was reloaded","errors":["FILE:8: malformed YAML: did not find expected node content"]}}`,
			log: `level=ERROR msg="config reload: invalid configuration" err="FILE:8: malformed YAML: did not find expected node content"
level=ERROR msg="config reload failed; the running configuration is kept" trigger="POST /-/reload" reason="FILE: 1 error; nothing was reloaded"`,
		},
		{
			name: "restart required",
			yml: strings.Replace(strings.Replace(good, `"127.0.0.1:0"`, `"127.0.0.1:1"`, 1),
				fmt.Sprintf("store: {path: %q}", dir), fmt.Sprintf("store: {path: %q, sync_writes: false}", dir+"/other"), 1),
			code: 409,
			body: `{"error":{"code":"restart_required","message":"FILE: 3 changes only a restart applies; nothing was reloaded","errors":[` +
				`"FILE: server.listen: changed from \"127.0.0.1:0\" to \"127.0.0.1:1\"; only a restart applies it",` +
				`"FILE: store.path: changed from \"` + dir + `\" to \"` + dir + `/other\"; only a restart applies it",` +
				`"FILE: store.sync_writes: changed from true to false; only a restart applies it"]}}`,
			log: `level=ERROR msg="config reload: a change needs a restart" err="FILE: server.listen: changed from \"127.0.0.1:0\" to \"127.0.0.1:1\"; only a restart applies it"
level=ERROR msg="config reload: a change needs a restart" err="FILE: store.path: changed from \"` + dir + `\" to \"` + dir + `/other\"; only a restart applies it"
level=ERROR msg="config reload: a change needs a restart" err="FILE: store.sync_writes: changed from true to false; only a restart applies it"
level=ERROR msg="config reload failed; the running configuration is kept" trigger="POST /-/reload" reason="FILE: 3 changes only a restart applies; nothing was reloaded"`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := len(in.logs.lines("level=ERROR"))
			sub := *in
			sub.t = t
			sub.reload(tc.yml, "", tc.code, tc.body)
			got := strings.Join(in.logs.lines("level=ERROR")[before:], "\n")
			if want := strings.ReplaceAll(tc.log, "FILE", in.path); got != want {
				t.Errorf("logged\n%s\nwant\n%s", got, want)
			}
		})
	}
	// The old configuration still runs: a change still arrives.
	src.set(`[{"id":1},{"id":2}]`)
	if got, want := noID(rcv.next(t)), created("a", "2", `{"id":2}`); got != want {
		t.Fatalf("after the refused reloads: %+v, want %+v", got, want)
	}
	want := []string{
		`pollhook_config_last_reload_successful 0`,
		`pollhook_config_reloads_total{result="failure"} 3`,
		`pollhook_config_reloads_total{result="success"} 0`,
	}
	if got := in.metrics("pollhook_config_reloads_total", "pollhook_config_last_reload_successful"); !slices.Equal(got, want) {
		t.Errorf("metrics\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	stamp := in.metrics("pollhook_config_last_reload_success_timestamp_seconds ")

	// SIGHUP with a good file applies it.
	in.write(strings.Replace(good, `"@every 1s"`, `"@every 2s"`, 1))
	in.hup <- syscall.SIGHUP
	line := in.logs.waitLines(t, "configuration reloaded", 1)[0]
	if !regexp.MustCompile(`^level=INFO msg="configuration reloaded" trigger=SIGHUP jobs=1 destinations=1 duration_ms=\d+ jobs_changed=\[a\]$`).MatchString(line) {
		t.Errorf("SIGHUP reload logged %q", line)
	}
	want = []string{
		`pollhook_config_last_reload_successful 1`,
		`pollhook_config_reloads_total{result="failure"} 3`,
		`pollhook_config_reloads_total{result="success"} 1`,
	}
	if got := in.metrics("pollhook_config_reloads_total", "pollhook_config_last_reload_successful"); !slices.Equal(got, want) {
		t.Errorf("metrics\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if got := in.metrics("pollhook_config_last_reload_success_timestamp_seconds "); slices.Equal(got, stamp) {
		t.Errorf("last reload success timestamp did not move: %q", got)
	}
}

// TestReloadToken: the reload endpoint needs the admin token when one is
// configured, and a reload applies a new token to it and to the API.
func TestReloadToken(t *testing.T) {
	rcv := newReceiver(t)
	src := newSource(t, `[]`)
	dir := t.TempDir()
	dests := [][2]string{{"hook", rcv.URL}}
	j := job("a", src.URL, "@hourly", "", "hook")
	in := startInstance(t, cfgYAML(dir, "", dests, j))
	const unauthorized = `{"error":{"code":"unauthorized","message":"missing or invalid bearer token"}}` + "\n"

	// Without a token the endpoint is open, the API closed.
	in.reload(cfgYAML(dir, ", admin_token: first", dests, j), "", 200, fmt.Sprintf(reloaded, 1, 1))
	in.reload(cfgYAML(dir, ", admin_token: second", dests, j), "", 401, strings.TrimSuffix(unauthorized, "\n"))
	in.reload(cfgYAML(dir, ", admin_token: second", dests, j), "first", 200, fmt.Sprintf(reloaded, 1, 1))
	for _, tc := range []struct {
		method, path, token string
		code                int
	}{
		{http.MethodGet, "/api/v1/destinations", "first", 401},
		{http.MethodPost, "/-/reload", "first", 401},
		{http.MethodGet, "/api/v1/destinations", "second", 200},
		{http.MethodGet, "/-/reload", "second", 405},
	} {
		if code, body := in.do(tc.method, tc.path, tc.token); code != tc.code || (code == 401 && body != unauthorized) {
			t.Errorf("%s %s with token %q = %d %s, want %d", tc.method, tc.path, tc.token, code, body, tc.code)
		}
	}
}

// TestReloadSerialized: reloads asked for at once run one after the
// other, each answered.
func TestReloadSerialized(t *testing.T) {
	rcv := newReceiver(t)
	src := newSource(t, `[]`)
	dir := t.TempDir()
	dests := [][2]string{{"hook", rcv.URL}}
	in := startInstance(t, cfgYAML(dir, "", dests, job("a", src.URL, "@hourly", "", "hook")))
	in.write(cfgYAML(dir, "", dests, job("a", src.URL, "@hourly", "", "hook"), job("b", src.URL, "@hourly", "", "hook")))
	var wg sync.WaitGroup
	codes := make([]int, 4)
	for i := range codes {
		wg.Go(func() { codes[i], _ = in.do(http.MethodPost, "/-/reload", "") })
	}
	in.hup <- syscall.SIGHUP
	wg.Wait()
	if !slices.Equal(codes, []int{200, 200, 200, 200}) {
		t.Errorf("concurrent reloads answered %v", codes)
	}
	// Exactly one of the five applied the file; the others found it
	// already running and restarted nothing.
	lines := in.logs.waitLines(t, "configuration reloaded", 5)
	var applied, unchanged int
	for _, l := range lines {
		switch {
		case strings.HasSuffix(l, " jobs_added=[b]") && !strings.Contains(l, "unchanged"):
			applied++
		case strings.HasSuffix(l, " unchanged=true"):
			unchanged++
		}
	}
	if applied != 1 || unchanged != 4 {
		t.Errorf("%d reloads applied the file and %d found it unchanged, want 1 and 4:\n%s", applied, unchanged, strings.Join(lines, "\n"))
	}
}

// TestReloadRebaseline: a job whose comparison rules change takes a silent
// new baseline at its first poll after the reload, so that receivers are
// not flooded; changes after it are sent as usual.
func TestReloadRebaseline(t *testing.T) {
	rcv := newReceiver(t)
	src := newSource(t, `[{"id":1,"n":1}]`)
	dir := t.TempDir()
	dests := [][2]string{{"hook", rcv.URL}}
	in := startInstance(t, cfgYAML(dir, "", dests, job("a", src.URL, "@every 1s", "", "hook")))
	src.waitPolls(t, 1)
	src.set(`[{"id":1,"n":2},{"id":2,"n":1}]`)
	in.reload(cfgYAML(dir, "", dests, job("a", src.URL, "@every 1s", ", ignore: [n]", "hook")), "", 200, fmt.Sprintf(reloaded, 1, 1))
	src.waitPolls(t, 2) // the new baseline is committed
	src.set(`[{"id":1,"n":3},{"id":2,"n":1},{"id":3,"n":1}]`)
	if got, want := noID(rcv.next(t)), created("a", "3", `{"id":3}`); got != want {
		t.Fatalf("first webhook after the reload: %+v, want %+v (the rebaseline sends nothing)", got, want)
	}
}

// TestReloadStop: a daemon stops cleanly after a reload, with nothing
// logged as an error.
func TestReloadStop(t *testing.T) {
	rcv := newReceiver(t)
	src := newSource(t, `[]`)
	dir := t.TempDir()
	dests := [][2]string{{"hook", rcv.URL}}
	in := startInstance(t, cfgYAML(dir, "", dests, job("a", src.URL, "@every 1s", "", "hook")))
	in.reload(cfgYAML(dir, "", dests, job("a", src.URL, "@every 2s", "", "hook")), "", 200, fmt.Sprintf(reloaded, 1, 1))
	if err := in.stop(); err != nil {
		t.Fatalf("serve returned %v after reloads, want nil", err)
	}
	if strings.Contains(in.logs.buf.String(), "level=ERROR") {
		t.Errorf("errors logged:\n%s", in.logs.buf.String())
	}
}

// BenchmarkReload100Jobs measures a reload that changes one job of 100:
// build the next generation, stop the running one, start the next.
func BenchmarkReload100Jobs(b *testing.B) {
	src := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, `[{"id":1}]`) }))
	defer src.Close()
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(204) }))
	defer rcv.Close()
	dir := b.TempDir()
	files := [2]string{}
	for v := range files {
		jobs := make([]string, 100)
		for i := range jobs {
			schedule := "@hourly"
			if i == 0 && v == 1 {
				schedule = "@every 30m"
			}
			jobs[i] = job(fmt.Sprintf("job%03d", i), src.URL+fmt.Sprintf("/%d", i), schedule, "", "hook")
		}
		files[v] = cfgYAML(dir, "", [][2]string{{"hook", rcv.URL}}, jobs...)
	}
	path := filepath.Join(b.TempDir(), "pollhook.yaml")
	if err := os.WriteFile(path, []byte(files[0]), 0o600); err != nil {
		b.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	addrs := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- serveWith(ctx, cfg, slog.New(slog.DiscardHandler), serveOptions{configPath: path, ready: func(a string) { addrs <- a }})
	}()
	url := "http://" + <-addrs + "/-/reload"
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		if err := os.WriteFile(path, []byte(files[(i+1)%2]), 0o600); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		resp, err := http.Post(url, "", nil)
		if err != nil {
			b.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			b.Fatalf("reload: %d %s", resp.StatusCode, body)
		}
	}
	b.StopTimer()
	cancel()
	if err := <-done; err != nil {
		b.Fatal(err)
	}
}
