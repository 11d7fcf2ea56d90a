package main

import (
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/pollhook/pollhook/config"
	"github.com/pollhook/pollhook/pusher"
	"github.com/pollhook/pollhook/store"
)

// TestPusherDestinations pins the mapping of every destination field onto
// pusher.Destination, for a destination with all delivery options written
// out and for one left to its defaults.
func TestPusherDestinations(t *testing.T) {
	const doc = `
destinations:
  full:
    url: https://hooks.example.com/full
    method: put
    secret: whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw
    headers: {X-Source: pollhook}
    timeout: 3s
    retry: {initial_interval: 1s, max_interval: 1m, max_attempts: 5, max_age: 24h}
    template: '{"text": {{json .Type}}}'
    content_type: text/plain
    concurrency: 2
    rate_limit: 0.5
    success_codes: [409]
    events: [item.created, source.down]
    batch: {max_events: 50, max_wait: 2s}
  plain:
    url: https://hooks.example.com/plain
jobs:
  - {name: j, schedule: "@hourly", request: {url: "http://l/1"}, items: $, destinations: [full, plain]}
`
	cfg, err := config.Parse("c.yaml", []byte(doc), nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []pusher.Destination{{
		Name:      "full",
		URL:       "https://hooks.example.com/full",
		Method:    "PUT",
		Header:    map[string]string{"X-Source": "pollhook"},
		Secrets:   []string{"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"},
		Signature: "standard",
		Timeout:   3 * time.Second,
		Retry: pusher.RetryPolicy{
			InitialInterval: time.Second, MaxInterval: time.Minute, MaxAttempts: 5, MaxAge: 24 * time.Hour,
		},
		Template:     `{"text": {{json .Type}}}`,
		ContentType:  "text/plain",
		Concurrency:  2,
		RateLimit:    0.5,
		SuccessCodes: []int{409},
		Events:       []string{"item.created", "source.down"},
		Batch:        pusher.BatchPolicy{MaxEvents: 50, MaxWait: 2 * time.Second},
	}, {
		Name:      "plain",
		URL:       "https://hooks.example.com/plain",
		Method:    "POST",
		Signature: "none",
		Format:    "json",
		Timeout:   10 * time.Second,
		Retry: pusher.RetryPolicy{
			InitialInterval: 5 * time.Second, MaxInterval: time.Hour, MaxAttempts: 15, MaxAge: 72 * time.Hour,
		},
		Concurrency: 4,
		Batch:       pusher.BatchPolicy{MaxEvents: 1, MaxWait: time.Second},
	}}
	if got := pusherDestinations(cfg); !reflect.DeepEqual(got, want) {
		t.Errorf("pusherDestinations:\n got %+v\nwant %+v", got, want)
	}
}

// TestPusherAcceptsValidConfigs hands the destinations of every valid test
// configuration, and of the example, to pusher.New: whatever config
// accepts, the pusher must accept too, or pollhook would pass `validate`
// and then fail to start.
func TestPusherAcceptsValidConfigs(t *testing.T) {
	files, err := filepath.Glob("../../testdata/config/valid-*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no valid files: %v", err)
	}
	files = append(files, "../../config.example.yaml")
	env := map[string]string{
		"ADMIN_TOKEN":        "admin-token-value",
		"ORDERS_HOOK_SECRET": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
		"HOOK_API_KEY":       "hook-api-key-value",
		"GITHUB_SECRET":      "github-secret-value",
		"LEGACY_TOKEN":       "legacy-token-value",
		"HOOK_URL":           "https://hooks.example.com/env",
	}
	lookup := func(name string) (string, bool) { v, ok := env[name]; return v, ok }
	st, err := store.Open("", store.Options{InMemory: true, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := st.Close(); err != nil {
			t.Error(err)
		}
	})
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			cfg, err := config.Parse(f, data, lookup)
			if err != nil {
				t.Fatal(err)
			}
			routes := map[string][]string{}
			for _, j := range cfg.Jobs {
				routes[j.Name] = j.Destinations
			}
			if _, err := pusher.New(st, pusherDestinations(cfg), routes, slog.New(slog.DiscardHandler), pusher.Options{}); err != nil {
				t.Errorf("pusher.New rejects what config accepts: %v", err)
			}
		})
	}
}
