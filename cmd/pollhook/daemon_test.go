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

// TestServeReadiness runs the daemon in-process and checks that /readyz
// reports the real store, config and scheduler checks, and that a
// cancelled context shuts everything down cleanly.
func TestServeReadiness(t *testing.T) {
	src := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprint(w, `[{"id":1}]`)
	}))
	defer src.Close()
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(204) }))
	defer rcv.Close()
	yml := fmt.Sprintf(`
server: {listen: "127.0.0.1:0"}
store: {path: %q}
destinations:
  hook: {url: %q}
jobs:
  - {name: j, schedule: "@hourly", request: {url: %q}, items: $, key: id, destinations: [hook]}
`, t.TempDir(), rcv.URL, src.URL)
	cfg, err := config.Parse("t.yaml", []byte(yml), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	addrs := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- serve(ctx, cfg, slog.New(slog.DiscardHandler), func(a string) { addrs <- a }) }()
	var addr string
	select {
	case addr = <-addrs:
	case err := <-done:
		t.Fatalf("serve returned before it was ready: %v", err)
	case <-time.After(20 * time.Second):
		t.Fatal("serve not ready in 20s")
	}

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

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve returned %v after cancel, want nil", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("serve did not stop within 15s of cancel")
	}
	if _, err := http.Get("http://" + addr + "/readyz"); err == nil {
		t.Error("admin listener still answers after shutdown")
	}
}

func TestSchedulerReadyNeedsRunning(t *testing.T) {
	d := &daemon{}
	if err := d.schedulerReady(); err == nil || err.Error() != "not running" {
		t.Errorf("schedulerReady before start = %v, want \"not running\"", err)
	}
}
