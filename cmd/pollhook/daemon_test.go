package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/pollhook/pollhook/config"
)

// daemonConfig is a one-job configuration against a source answering one
// item and a receiver answering 204; server holds the server section's
// fields (flow style).
func daemonConfig(t *testing.T, server string) *config.Config {
	t.Helper()
	src := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprint(w, `[{"id":1}]`)
	}))
	t.Cleanup(src.Close)
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(204) }))
	t.Cleanup(rcv.Close)
	yml := fmt.Sprintf(`
server: {listen: "127.0.0.1:0"%s}
store: {path: %q}
destinations:
  hook: {url: %q}
jobs:
  - {name: j, schedule: "@hourly", request: {url: %q}, items: $, key: id, destinations: [hook]}
`, server, t.TempDir(), rcv.URL, src.URL)
	cfg, err := config.Parse("t.yaml", []byte(yml), nil)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// startDaemon runs serve with cfg in-process and returns the admin
// listener's address once it is ready, and stop, which cancels serve and
// returns what it returned.
func startDaemon(t *testing.T, cfg *config.Config) (addr string, stop func() error) {
	t.Helper()
	return startDaemonWith(t, cfg, slog.New(slog.DiscardHandler), serveOptions{})
}

// startDaemonWith is startDaemon with a logger and serveWith's options
// (opts.ready is set here).
func startDaemonWith(t *testing.T, cfg *config.Config, logger *slog.Logger, opts serveOptions) (addr string, stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	addrs := make(chan string, 1)
	done := make(chan error, 1)
	opts.ready = func(a string) { addrs <- a }
	go func() { done <- serveWith(ctx, cfg, logger, opts) }()
	var stopped bool
	var result error
	stop = func() error {
		if !stopped {
			stopped = true
			cancel()
			select {
			case result = <-done:
			case <-time.After(15 * time.Second):
				t.Fatal("serve did not stop within 15s of cancel")
			}
		}
		return result
	}
	t.Cleanup(func() { _ = stop() })
	select {
	case addr = <-addrs:
	case err := <-done:
		t.Fatalf("serve returned before it was ready: %v", err)
	case <-time.After(20 * time.Second):
		t.Fatal("serve not ready in 20s")
	}
	return addr, stop
}

// TestServeReadiness runs the daemon in-process and checks that /readyz
// reports the real store, config and scheduler checks, and that a
// cancelled context shuts everything down cleanly.
func TestServeReadiness(t *testing.T) {
	addr, stop := startDaemon(t, daemonConfig(t, ""))
	resp, err := http.Get("http://" + addr + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	code, body := resp.StatusCode, string(b)
	if want := `{"status":"ready","checks":{"config":"ok","scheduler":"ok","store":"ok"}}` + "\n"; code != 200 || body != want {
		t.Fatalf("readyz = %d %s, want 200 %s", code, body, want)
	}

	if err := stop(); err != nil {
		t.Fatalf("serve returned %v after cancel, want nil", err)
	}
	if _, err := http.Get("http://" + addr + "/readyz"); err == nil {
		t.Error("admin listener still answers after shutdown")
	}
}

// TestServeAdminAPI: the daemon serves the admin API with its
// configuration's token and destinations, and the admin commands reach it.
func TestServeAdminAPI(t *testing.T) {
	t.Setenv(tokenEnv, "")
	cfg := daemonConfig(t, ", admin_token: daemon-token")
	addr, _ := startDaemon(t, cfg)
	cli := writeConfig(t, "server: {admin_token: daemon-token}\n")
	expectCLI(t, exitOK, `DESTINATION  STATE   JOB  DEPTH  QUEUED  ATTEMPTS  NEXT ATTEMPT  OLDEST  LAST ERROR
hook         active  j    0      0       0         -             -       -
`, "", "destinations", "list", "--config", cli, "--addr", addr)
	expectCLI(t, exitOK, "no dead letters\n", "", "deliveries", "list", "--config", cli, "--addr", addr)

	// Without a token the daemon refuses every admin request.
	addr, _ = startDaemon(t, daemonConfig(t, ""))
	expectCLI(t, exitFailure, "", "pollhook destinations list: missing or invalid bearer token: the daemon's server.admin_token must be set, "+
		"and the token given here (POLLHOOK_ADMIN_TOKEN, else --config) must match it\n",
		"destinations", "list", "--config", cli, "--addr", addr)
}

func TestSchedulerReady(t *testing.T) {
	for _, tc := range []struct {
		name               string
		running, reloading bool
		want               string
	}{
		{"before start", false, false, "not running"},
		{"no scheduler", true, false, "not running"},
		{"stopping during a reload", false, true, "not running"},
		{"reloading", true, true, ""},
	} {
		d := &daemon{}
		d.running.Store(tc.running)
		d.reloading.Store(tc.reloading)
		err := d.schedulerReady()
		if got := fmt.Sprint(err); (err == nil) != (tc.want == "") || (err != nil && got != tc.want) {
			t.Errorf("%s: schedulerReady = %v, want %q", tc.name, err, tc.want)
		}
	}
}
