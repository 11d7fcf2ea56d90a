package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pollhook/pollhook/config"
	"github.com/pollhook/pollhook/differ"
	"github.com/pollhook/pollhook/poller"
	"github.com/pollhook/pollhook/pusher"
	"github.com/pollhook/pollhook/scheduler"
	"github.com/pollhook/pollhook/store"
)

// onceNow is the clock of pollhook once in these tests.
var onceNow = time.Date(2026, 11, 27, 20, 0, 0, 0, time.UTC)

// runOnceCLI runs pollhook once with args through the real flag parsing,
// its events stamped onceNow.
func runOnceCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	c, ok := findCommand(commands, "once")
	if !ok {
		t.Fatal("pollhook once is not registered")
	}
	c.run = func(ctx context.Context, env *cliEnv, fs *flag.FlagSet, args []string) int {
		return runOnce(ctx, env, fs, args, func() time.Time { return onceNow })
	}
	var out, errOut bytes.Buffer
	code = runCommand(context.Background(), "pollhook once", c, args, &out, &errOut)
	return code, out.String(), errOut.String()
}

// onceSource is a legacy API answering the body the test sets, with an ETag
// (the body's length and first bytes) it honours in If-None-Match.
type onceSource struct {
	*httptest.Server
	mu     sync.Mutex
	body   string
	status int
	etag   bool
}

func newOnceSource(t *testing.T, body string) *onceSource {
	s := &onceSource{body: body, status: http.StatusOK}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		body, status, etag := s.body, s.status, s.etag
		s.mu.Unlock()
		if etag {
			tag := fmt.Sprintf(`"%d"`, len(body))
			if r.Header.Get("If-None-Match") == tag {
				w.WriteHeader(http.StatusNotModified)
				return
			}
			w.Header().Set("ETag", tag)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		io.WriteString(w, body)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *onceSource) set(body string, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.body, s.status = body, status
}

// onceConfig writes a configuration with one job "orders" polling url,
// its store in dir; job holds more of the job's fields (YAML, indented by
// four spaces).
func onceConfig(t *testing.T, dir, url, job string) string {
	t.Helper()
	path := filepath.Join(dir, "pollhook.yaml")
	yml := fmt.Sprintf(`store: {path: %q}
destinations:
  hook: {url: "http://127.0.0.1:1/never-called"}
jobs:
  - name: orders
    schedule: "@hourly"
    request: {url: %q}
    destinations: [hook]
%s`, filepath.Join(dir, "data"), url, job)
	if err := os.WriteFile(path, []byte(yml), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// onceTick runs one tick of job "orders" as the daemon does, committing to the
// configuration's store.
func onceTick(t *testing.T, configPath string) scheduler.Outcome {
	t.Helper()
	cfg, err := config.Load(configPath)
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(cfg.Store.Path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	j := cfg.Job("orders")
	df, err := differ.Compile(differSpec(j))
	if err != nil {
		t.Fatal(err)
	}
	p := &scheduler.Pipeline{Job: j.Name, Request: pollRequest(j), Poller: poller.New(nil), Differ: df, Store: st,
		Destinations: j.Destinations, Logger: slog.New(slog.DiscardHandler)}
	out := p.Tick(context.Background())
	if out.Err != nil {
		t.Fatal(out.Err)
	}
	return out
}

// onceHead reads the job's head from the store at dir.
func onceHead(t *testing.T, dir string) store.Head {
	t.Helper()
	st, err := store.Open(dir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	h, err := st.Head("orders")
	if err != nil {
		t.Fatal(err)
	}
	return h
}

const (
	ordersV1 = `[{"id":1,"status":"open","qty":1,"updated_at":"t1"},{"id":2,"status":"open","qty":1,"updated_at":"t1"}]`
	// id 1 shipped, id 2 gone, id 3 new, and every updated_at moved.
	ordersV2 = `[{"id":1,"status":"shipped","qty":1,"updated_at":"t2"},{"id":3,"status":"open","qty":5,"updated_at":"t2"}]`
	// Only the timestamps moved.
	ordersV1Touched = `[{"id":1,"status":"open","qty":1,"updated_at":"t9"},{"id":2,"status":"open","qty":1,"updated_at":"t9"}]`
	// id 1 shipped, id 2's quantity changed.
	ordersV3 = `[{"id":1,"status":"shipped","qty":1,"updated_at":"t3"},{"id":2,"status":"open","qty":2,"updated_at":"t3"}]`
)

// Event lines, stamped onceNow.
const (
	lineCreated1  = `{"type":"item.created","timestamp":"2026-11-27T20:00:00.000Z","data":{"job":"orders","key":"1","after":{"id":1,"qty":1,"status":"open"}}}` + "\n"
	lineCreated2  = `{"type":"item.created","timestamp":"2026-11-27T20:00:00.000Z","data":{"job":"orders","key":"2","after":{"id":2,"qty":1,"status":"open"}}}` + "\n"
	lineShipped1  = `{"type":"item.updated","timestamp":"2026-11-27T20:00:00.000Z","data":{"job":"orders","key":"1","before":{"id":1,"qty":1,"status":"open"},"after":{"id":1,"qty":1,"status":"shipped"},"patch":[{"op":"replace","path":"/status","value":"shipped"}],"merge_patch":{"status":"shipped"}}}` + "\n"
	lineCreated3  = `{"type":"item.created","timestamp":"2026-11-27T20:00:00.000Z","data":{"job":"orders","key":"3","after":{"id":3,"qty":5,"status":"open"}}}` + "\n"
	lineDeleted2  = `{"type":"item.deleted","timestamp":"2026-11-27T20:00:00.000Z","data":{"job":"orders","key":"2","before":{"id":2,"qty":1,"status":"open"}}}` + "\n"
	lineQty2      = `{"type":"item.updated","timestamp":"2026-11-27T20:00:00.000Z","data":{"job":"orders","key":"2","before":{"id":2,"qty":1,"status":"open"},"after":{"id":2,"qty":2,"status":"open"},"patch":[{"op":"replace","path":"/qty","value":2}],"merge_patch":{"qty":2}}}` + "\n"
	lineQty2NoSts = `{"type":"item.updated","timestamp":"2026-11-27T20:00:00.000Z","data":{"job":"orders","key":"2","before":{"id":2,"qty":1},"after":{"id":2,"qty":2},"patch":[{"op":"replace","path":"/qty","value":2}],"merge_patch":{"qty":2}}}` + "\n"
)

// lineText is the change of a text document from "a\nb\n" to "a\nc\n".
const lineText = `{"type":"document.changed","timestamp":"2026-11-27T20:00:00.000Z","data":{"job":"orders","before":"a\nb\n","after":"a\nc\n","diff":"--- before\n+++ after\n@@ -1,2 +1,2 @@\n a\n-b\n+c\n"}}` + "\n"

const jobOrders = "    items: $\n    key: id\n    ignore: [updated_at]\n"

// TestOnce pins what pollhook once prints for each thing the daemon's
// next poll could do, and that it changes nothing in the store.
func TestOnce(t *testing.T) {
	tests := []struct {
		name     string
		job      string // the job's fields when the stored snapshot was taken
		stored   string // the body of that poll; "" stores nothing
		etag     bool
		now      string // the job's fields for once; "" is job
		body     string // what the source answers then
		status   int    // its status; 0 is 200
		args     []string
		code     int
		stdout   string
		stderr   string
		storeDir bool // the store exists (it does when stored is set)
	}{
		{name: "no snapshot", job: jobOrders, body: ordersV1,
			stderr: `no stored snapshot: the poll would record the baseline; no event would be sent`},
		{name: "no snapshot, emit_initial", job: jobOrders + "    emit_initial: true\n", body: ordersV1,
			stdout: lineCreated1 + lineCreated2,
			stderr: `no stored snapshot: the poll would record the baseline and send its items (emit_initial); 2 events would be sent`},
		{name: "changes", job: jobOrders, stored: ordersV1, body: ordersV2,
			stdout: lineShipped1 + lineCreated3 + lineDeleted2,
			stderr: `3 changes; 3 events would be sent`},
		{name: "when", job: jobOrders, stored: ordersV1, now: jobOrders + "    when: type != \"item.deleted\"\n", body: ordersV2,
			stdout: lineShipped1 + lineCreated3,
			stderr: `3 changes; 2 events would be sent (1 dropped by when:)`},
		{name: "events", job: jobOrders, stored: ordersV1, now: jobOrders + "    events: [deleted]\n", body: ordersV2,
			stdout: lineDeleted2,
			stderr: `1 change; 1 event would be sent`},
		{name: "same body", job: jobOrders, stored: ordersV1, body: ordersV1,
			stderr: `the response is the one the stored snapshot was taken from; no event would be sent`},
		{name: "ignored fields only", job: jobOrders, stored: ordersV1, body: ordersV1Touched,
			stderr: `nothing changed that counts (ignored fields, event types left out, or changes pending under debounce); no event would be sent`},
		{name: "not modified", job: jobOrders, stored: ordersV1, etag: true, body: ordersV1,
			stderr: `the source answered 304 Not Modified; no event would be sent`},
		{name: "guard", job: jobOrders + "    guard: {max_deleted_ratio: 0.4, confirm_polls: 2}\n", stored: ordersV1, body: `[]`,
			stderr: `the guard would hold the changes (poll 1 of 2 needed); no event would be sent`},
		{name: "rules changed", job: jobOrders, stored: ordersV1, now: "    items: $\n    key: id\n    ignore: [updated_at, status]\n", body: ordersV3,
			stderr: `the stored snapshot was taken under other comparison rules (items, key, ignore, unordered, response.format or transform changed): the poll would record a new baseline; --replay compares under the current rules; no event would be sent`},
		{name: "replay, rules changed", job: jobOrders, stored: ordersV1, now: "    items: $\n    key: id\n    ignore: [updated_at, status]\n", body: ordersV3,
			args: []string{"--replay"}, stdout: lineQty2NoSts,
			stderr: `compared under the current rules (the stored snapshot was taken under others: deployed, this config would record a new baseline at its next poll and send nothing); 1 event would be sent`},
		{name: "replay, same rules", job: jobOrders, stored: ordersV1, body: ordersV3,
			args: []string{"--replay"}, stdout: lineShipped1 + lineQty2,
			stderr: `compared under the current rules; 2 events would be sent`},
		{name: "replay, new when", job: jobOrders, stored: ordersV1, now: jobOrders + "    when: after.qty > before.qty\n", body: ordersV3,
			args: []string{"--replay"}, stdout: lineQty2,
			stderr: `compared under the current rules; 1 event would be sent (1 dropped by when:)`},
		{name: "replay, source unchanged", job: jobOrders, stored: ordersV1, etag: true, body: ordersV1,
			args:   []string{"--replay"},
			stderr: `compared under the current rules; no event would be sent`},
		{name: "replay, guard", job: jobOrders, stored: ordersV1, body: `[]`, args: []string{"--replay"},
			stderr: `compared under the current rules; the guard would hold the changes; no event would be sent`},
		{name: "text", job: "    response: {format: text}\n", stored: "a\nb\n", body: "a\nc\n",
			stdout: lineText, stderr: `1 change; 1 event would be sent`},
		{name: "replay, text", job: "    response: {format: text}\n", stored: "a\nb\n", body: "a\nc\n", args: []string{"--replay"},
			stdout: lineText, stderr: `compared under the current rules; 1 event would be sent`},
		{name: "replay, no snapshot", job: jobOrders, body: ordersV1, args: []string{"--replay"},
			stderr: `no stored snapshot: the poll would record the baseline; no event would be sent`},
		{name: "replay, mode changed", job: "", stored: `{"v":1}`, now: jobOrders, body: ordersV1, args: []string{"--replay"},
			code: exitFailure, stderr: `the stored snapshot cannot be compared under the current rules (snapshot: holds a document, not items)`},
		{name: "replay, key missing from the stored items", job: jobOrders, stored: ordersV1, now: "    items: $\n    key: sku\n", body: `[{"sku":"a"}]`,
			args: []string{"--replay"}, code: exitFailure,
			stderr: `the stored snapshot does not fit the current rules: item 0: key field "sku" is missing`},
		{name: "poll fails", job: jobOrders, stored: ordersV1, body: `down`, status: http.StatusServiceUnavailable,
			code: exitFailure, stderr: `poll GET %URL%?token=REDACTED: status 503 Service Unavailable: down`},
		{name: "body unreadable", job: jobOrders, stored: ordersV1, body: `{"id":`,
			code: exitFailure, stderr: `%URL%?token=REDACTED: parse response: unexpected end of JSON input at offset 6`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			src := newOnceSource(t, tc.stored)
			src.etag = tc.etag
			url := src.URL + "/orders?token=s3cret"
			cfg := onceConfig(t, dir, url, tc.job)
			var before store.Head
			if tc.stored != "" {
				onceTick(t, cfg)
				before = onceHead(t, filepath.Join(dir, "data"))
			}
			if tc.now != "" {
				cfg = onceConfig(t, dir, url, tc.now)
			}
			src.set(tc.body, max(tc.status, http.StatusOK))
			code, stdout, stderr := runOnceCLI(t, append(tc.args, "--config", cfg, "orders")...)
			wantErr := `pollhook once: job "orders": ` + strings.ReplaceAll(tc.stderr, "%URL%", src.URL+"/orders") + "\n"
			if code != tc.code || stdout != tc.stdout || stderr != wantErr {
				t.Errorf("exit %d, want %d\nstdout:\n%s\nwant:\n%s\nstderr:\n%s\nwant:\n%s", code, tc.code, stdout, tc.stdout, stderr, wantErr)
			}
			if strings.Contains(stderr, "s3cret") {
				t.Errorf("stderr shows the URL's secret: %s", stderr)
			}
			// Nothing changed: no store where there was none, the same head
			// (version, events, validators) where there was one.
			data := filepath.Join(dir, "data")
			if tc.stored == "" {
				if _, err := os.Stat(data); !os.IsNotExist(err) {
					t.Errorf("once created the store: %v", err)
				}
				return
			}
			after := onceHead(t, data)
			if after.Version != before.Version || after.LastSeq != before.LastSeq || after.ETag != before.ETag || !bytes.Equal(after.BodyHash, before.BodyHash) {
				t.Errorf("head moved from %+v to %+v", before, after)
			}
		})
	}
}

// TestOnceResponseFile pins --response: the body is read from a file
// (its format from its extension) instead of polling the source, which is
// never asked.
func TestOnceResponseFile(t *testing.T) {
	dir := t.TempDir()
	src := newOnceSource(t, ordersV1)
	cfg := onceConfig(t, dir, src.URL, jobOrders)
	onceTick(t, cfg)
	src.set("not asked", http.StatusInternalServerError)
	files := map[string]string{
		"v2.json": ordersV2,
		"v2.csv":  "id,status,qty,updated_at\n1,shipped,1,t2\n3,open,5,t2\n",
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		file, stdout, stderr string
	}{
		{"v2.json", lineShipped1 + lineCreated3 + lineDeleted2, `3 changes; 3 events would be sent`},
		// The extension gives the format, as a Content-Type would: CSV
		// fields are strings, so the stored items read as updated.
		{"v2.csv", `{"type":"item.updated","timestamp":"2026-11-27T20:00:00.000Z","data":{"job":"orders","key":"1","before":{"id":1,"qty":1,"status":"open"},"after":{"id":"1","qty":"1","status":"shipped"},"patch":[{"op":"replace","path":"/id","value":"1"},{"op":"replace","path":"/qty","value":"1"},{"op":"replace","path":"/status","value":"shipped"}],"merge_patch":{"id":"1","qty":"1","status":"shipped"}}}` + "\n" +
			`{"type":"item.created","timestamp":"2026-11-27T20:00:00.000Z","data":{"job":"orders","key":"3","after":{"id":"3","qty":"5","status":"open"}}}` + "\n" +
			lineDeleted2, `3 changes; 3 events would be sent`},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			code, stdout, stderr := runOnceCLI(t, "--config", cfg, "--response", filepath.Join(dir, tc.file), "orders")
			want := `pollhook once: job "orders": ` + tc.stderr + "\n"
			if code != exitOK || stdout != tc.stdout || stderr != want {
				t.Errorf("exit %d\nstdout:\n%s\nwant:\n%s\nstderr:\n%s\nwant:\n%s", code, stdout, tc.stdout, stderr, want)
			}
		})
	}
}

// TestOnceUsage pins the exit codes and messages of bad invocations.
func TestOnceUsage(t *testing.T) {
	dir := t.TempDir()
	src := newOnceSource(t, ordersV1)
	cfg := onceConfig(t, dir, src.URL, jobOrders)
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("jobs: []\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		args   []string
		code   int
		stderr string
	}{
		{"no job", []string{"--config", cfg}, exitUsage, "pollhook once: expected one JOB, the name of a job of the configuration\n"},
		{"two jobs", []string{"--config", cfg, "a", "b"}, exitUsage, "pollhook once: expected one JOB, the name of a job of the configuration\n"},
		{"unknown job", []string{"--config", cfg, "order"}, exitUsage, "pollhook once: " + cfg + " has no job \"order\"; its jobs: orders\n"},
		{"bad config", []string{"--config", bad, "orders"}, exitBadConfig, bad + ":1:1: jobs: no jobs defined; expected at least one job with name, schedule, request.url and destinations\n" + bad + ": 1 error\n"},
		{"bad flag", []string{"--replay=maybe", "--config", cfg, "orders"}, exitUsage, "invalid boolean value \"maybe\" for -replay: parse error\n"},
		{"store copy missing", []string{"--config", cfg, "--store", filepath.Join(dir, "copy"), "orders"}, exitUsage,
			"pollhook once: --store: stat " + filepath.Join(dir, "copy") + ": no such file or directory\n"},
		{"response file missing", []string{"--config", cfg, "--response", filepath.Join(dir, "none.json"), "orders"}, exitFailure,
			"pollhook once: job \"orders\": read response: open " + filepath.Join(dir, "none.json") + ": no such file or directory\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runOnceCLI(t, tc.args...)
			// A flag error is followed by the usage.
			stderr, _, _ = strings.Cut(stderr, "Usage: pollhook once")
			if code != tc.code || stdout != "" || stderr != tc.stderr {
				t.Errorf("exit %d, want %d\nstdout: %q\nstderr: %q\nwant:   %q", code, tc.code, stdout, stderr, tc.stderr)
			}
		})
	}
}

// TestOnceStoreLocked pins that once refuses, and says what to do, when a
// running pollhook holds the store, and that --store reads a copy.
func TestOnceStoreLocked(t *testing.T) {
	dir := t.TempDir()
	src := newOnceSource(t, ordersV1)
	cfg := onceConfig(t, dir, src.URL, jobOrders)
	onceTick(t, cfg)
	data := filepath.Join(dir, "data")
	if err := os.CopyFS(filepath.Join(dir, "copy"), os.DirFS(data)); err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(data, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	src.set(ordersV2, http.StatusOK)

	code, stdout, stderr := runOnceCLI(t, "--config", cfg, "orders")
	want := "pollhook once: store " + data + " is locked by a running pollhook, which holds it while it runs; stop it, or copy the directory and pass --store COPY\n"
	if code != exitFailure || stdout != "" || stderr != want {
		t.Errorf("exit %d\nstdout: %q\nstderr: %q\nwant:   %q", code, stdout, stderr, want)
	}
	code, stdout, stderr = runOnceCLI(t, "--config", cfg, "--store", filepath.Join(dir, "copy"), "orders")
	if code != exitOK || stdout != lineShipped1+lineCreated3+lineDeleted2 || stderr != "pollhook once: job \"orders\": 3 changes; 3 events would be sent\n" {
		t.Errorf("with --store: exit %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
}

// TestOnceEnvelope checks that once prints each event as the pusher sends
// it to a destination with format json: the real pusher delivers events a
// real tick committed, and each body must be envelope's line for the event.
func TestOnceEnvelope(t *testing.T) {
	dir := t.TempDir()
	src := newOnceSource(t, `[{"id":1,"note":"<b>&amp; \u2028 é"},{"id":2,"n":1.50}]`)
	bodies := make(chan []byte, 2)
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		bodies <- b
		w.WriteHeader(http.StatusNoContent)
	}))
	defer rcv.Close()
	cfgPath := onceConfig(t, dir, src.URL, "    items: $\n    key: id\n    emit_initial: true\n")
	cfgData, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfgPath, bytes.Replace(cfgData, []byte("http://127.0.0.1:1/never-called"), []byte(rcv.URL), 1), 0o600); err != nil {
		t.Fatal(err)
	}
	if out := onceTick(t, cfgPath); out.Events != 2 {
		t.Fatalf("tick committed %d events, want 2", out.Events)
	}
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(cfg.Store.Path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	events, err := st.Events("orders", 1, 10)
	if err != nil {
		t.Fatal(err)
	}
	p, err := pusher.New(st, pusherDestinations(cfg), map[string][]string{"orders": {"hook"}}, slog.New(slog.DiscardHandler), pusher.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	var got [][]byte
	for range events {
		select {
		case b := <-bodies:
			got = append(got, b)
		case <-time.After(10 * time.Second):
			t.Fatal("the pusher delivered nothing within 10s")
		}
	}
	cancel()
	if err := <-done; err != nil && err != context.Canceled {
		t.Fatal(err)
	}
	for i, ev := range events {
		line, err := envelope(ev)
		if err != nil {
			t.Fatal(err)
		}
		if want := string(got[i]) + "\n"; string(line) != want {
			t.Errorf("event %d: once prints\n%s\nthe pusher sends\n%s", i, line, want)
		}
	}
}
