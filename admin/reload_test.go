package admin

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/pollhook/pollhook/pusher"
	"github.com/pollhook/pollhook/scheduler"
	"github.com/pollhook/pollhook/store"
)

func TestReloadEndpoint(t *testing.T) {
	invalid := &ReloadError{Code: CodeInvalidConfig, Message: "p.yaml: 2 errors; nothing was reloaded",
		Errors: []string{"p.yaml:3:5: jobs[0].schedule: bad", `p.yaml:9:1: destinations.hook.url: "x" is not a URL`}}
	restart := &ReloadError{Code: CodeRestartRequired, Message: "p.yaml: 1 change only a restart applies; nothing was reloaded",
		Errors: []string{`p.yaml: server.listen: changed from ":8080" to ":9090"; only a restart applies it`}}
	const unauthorized = `{"error":{"code":"unauthorized","message":"missing or invalid bearer token"}}`
	tests := []struct {
		name, token, method, auth string
		err                       error // what the reloader returns
		wantCode                  int
		wantBody                  string
		wantCalls                 int
	}{
		{"open without a token", "", "POST", "", nil, 200, `{"reloaded":true,"jobs":3,"destinations":2}`, 1},
		{"token ignored when none is configured", "", "POST", "Bearer whatever", nil, 200, `{"reloaded":true,"jobs":3,"destinations":2}`, 1},
		{"token required", "tok", "POST", "", nil, 401, unauthorized, 0},
		{"wrong token", "tok", "POST", "Bearer nope", nil, 401, unauthorized, 0},
		{"token", "tok", "POST", "Bearer tok", nil, 200, `{"reloaded":true,"jobs":3,"destinations":2}`, 1},
		{"GET refused", "tok", "GET", "Bearer tok", nil, 405, `{"error":{"code":"method_not_allowed","message":"GET /-/reload is not allowed; use POST"}}`, 0},
		{"GET needs the token first", "tok", "GET", "", nil, 401, unauthorized, 0},
		{"invalid", "", "POST", "", invalid, 400, `{"error":{"code":"invalid_config","message":"p.yaml: 2 errors; nothing was reloaded","errors":[` +
			`"p.yaml:3:5: jobs[0].schedule: bad","p.yaml:9:1: destinations.hook.url: \"x\" is not a URL"]}}`, 1},
		{"restart required", "", "POST", "", restart, 409, `{"error":{"code":"restart_required","message":"p.yaml: 1 change only a restart applies; nothing was reloaded","errors":[` +
			`"p.yaml: server.listen: changed from \":8080\" to \":9090\"; only a restart applies it"]}}`, 1},
		{"wrapped", "", "POST", "", errors.Join(errors.New("context"), invalid), 400, `{"error":{"code":"invalid_config","message":"p.yaml: 2 errors; nothing was reloaded","errors":[` +
			`"p.yaml:3:5: jobs[0].schedule: bad","p.yaml:9:1: destinations.hook.url: \"x\" is not a URL"]}}`, 1},
		{"shutting down", "", "POST", "", ErrShuttingDown, 503, `{"error":{"code":"unavailable","message":"pollhook is shutting down"}}`, 1},
		{"other failure", "", "POST", "", errors.New("store closed"), 500, `{"error":{"code":"internal","message":"store closed"}}`, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			calls := 0
			s := New(slog.New(slog.DiscardHandler), nil, nil)
			s.MountReload(tc.token, func(context.Context) (ReloadResult, error) {
				calls++
				if tc.err != nil {
					return ReloadResult{}, tc.err
				}
				return ReloadResult{Reloaded: true, Jobs: 3, Destinations: 2}, nil
			})
			srv := httptest.NewServer(s.Handler())
			defer srv.Close()
			c := &client{t: t, url: srv.URL}
			code, body, h := c.doAuth(tc.method, "/-/reload", tc.auth)
			if code != tc.wantCode || body != tc.wantBody+"\n" || calls != tc.wantCalls {
				t.Errorf("%s /-/reload = %d %s (%d reloads)\nwant %d %s (%d reloads)", tc.method, code, body, calls, tc.wantCode, tc.wantBody, tc.wantCalls)
			}
			if got, want := h.Get("WWW-Authenticate"), map[bool]string{true: `Bearer realm="pollhook"`}[code == 401]; got != want {
				t.Errorf("WWW-Authenticate = %q, want %q", got, want)
			}
			if got, want := h.Get("Allow"), map[bool]string{true: "POST"}[code == 405]; got != want {
				t.Errorf("Allow = %q, want %q", got, want)
			}
		})
	}
}

// A "GET /" page (the status page) and the reload endpoint share one mux.
func TestReloadBesideRootPage(t *testing.T) {
	s := New(slog.New(slog.DiscardHandler), nil, nil)
	s.mux.HandleFunc("GET /", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(299) })
	s.MountReload("", func(context.Context) (ReloadResult, error) { return ReloadResult{Reloaded: true}, nil })
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	c := &client{t: t, url: srv.URL}
	c.expect("POST", "/-/reload", 200, `{"reloaded":true,"jobs":0,"destinations":0}`)
	c.expect("GET", "/-/reload", 405, `{"error":{"code":"method_not_allowed","message":"GET /-/reload is not allowed; use POST"}}`)
}

func TestReloadMetrics(t *testing.T) {
	m := NewMetrics()
	names := []string{"pollhook_config_reloads_total", "pollhook_config_last_reload_success_timestamp_seconds", "pollhook_config_last_reload_successful"}
	expect := func(success, failure, stamp, ok string) {
		t.Helper()
		want := `
# HELP pollhook_config_last_reload_success_timestamp_seconds When the running configuration was loaded (at start-up or by the last successful reload), in Unix seconds.
# TYPE pollhook_config_last_reload_success_timestamp_seconds gauge
pollhook_config_last_reload_success_timestamp_seconds ` + stamp + `
# HELP pollhook_config_last_reload_successful 1 when the last attempt to load the configuration succeeded, 0 when the last reload was refused.
# TYPE pollhook_config_last_reload_successful gauge
pollhook_config_last_reload_successful ` + ok + `
# HELP pollhook_config_reloads_total Configuration reloads (SIGHUP or POST /-/reload) by result (success, failure).
# TYPE pollhook_config_reloads_total counter
pollhook_config_reloads_total{result="failure"} ` + failure + `
pollhook_config_reloads_total{result="success"} ` + success + `
`
		if err := testutil.GatherAndCompare(m.Registry, strings.NewReader(want), names...); err != nil {
			t.Error(err)
		}
	}
	expect("0", "0", "0", "0")
	m.ConfigLoaded(time.Unix(1_700_000_000, 500_000_000))
	expect("0", "0", "1.7000000005e+09", "1")
	m.ObserveReload(false, time.Unix(1_700_000_100, 0))
	m.ObserveReload(false, time.Unix(1_700_000_200, 0))
	expect("0", "2", "1.7000000005e+09", "0")
	m.ObserveReload(true, time.Unix(1_700_000_300, 0))
	expect("1", "2", "1.7000003e+09", "1")
}

// TestForget: the series of removed jobs and destinations go, the others
// stay as they were.
func TestForget(t *testing.T) {
	m := NewMetrics()
	for _, job := range []string{"orders", "stock"} {
		m.ObservePoll(scheduler.Outcome{Job: job, Result: scheduler.ResultChanged, ByType: map[string]int{"item.created": 1}})
		m.ObservePoll(scheduler.Outcome{Job: job, Result: scheduler.ResultFailed, Reason: "status", Err: errors.New("503")})
		m.ObserveSkipped(job, scheduler.SkipBackoff)
	}
	for _, d := range []string{"hook", "archive"} {
		m.ObserveDelivery(pusher.Delivery{Destination: d, Result: pusher.DeliveryDelivered, Latency: time.Second})
	}
	m.Forget([]string{"stock", "gone"}, []string{"archive"})
	want := `
# HELP pollhook_changes_total Committed change events by job and type.
# TYPE pollhook_changes_total counter
pollhook_changes_total{job="orders",type="item.created"} 1
# HELP pollhook_deliveries_total Webhook requests by destination and result (delivered, failed, paused, dead_lettered); a batch is one request.
# TYPE pollhook_deliveries_total counter
pollhook_deliveries_total{destination="hook",result="delivered"} 1
# HELP pollhook_poll_failures_total Failed polls by job and reason (status, timeout, too_large, transport, canceled, auth, response, store).
# TYPE pollhook_poll_failures_total counter
pollhook_poll_failures_total{job="orders",reason="status"} 1
# HELP pollhook_polls_total Polls by job and result (failed, not_modified, unchanged, baseline, held, no_change, changed).
# TYPE pollhook_polls_total counter
pollhook_polls_total{job="orders",result="changed"} 1
pollhook_polls_total{job="orders",result="failed"} 1
# HELP pollhook_skipped_ticks_total Scheduled polls not run, by job and reason (running, concurrency, host_rate, backoff).
# TYPE pollhook_skipped_ticks_total counter
pollhook_skipped_ticks_total{job="orders",reason="backoff"} 1
`
	if err := testutil.GatherAndCompare(m.Registry, strings.NewReader(want), "pollhook_changes_total", "pollhook_deliveries_total",
		"pollhook_poll_failures_total", "pollhook_polls_total", "pollhook_skipped_ticks_total"); err != nil {
		t.Error(err)
	}
	for name, n := range map[string]int{"poll duration": testutil.CollectAndCount(m.pollDuration), "delivery latency": testutil.CollectAndCount(m.deliveryLatency)} {
		if n != 1 {
			t.Errorf("%s series = %d, want 1", name, n)
		}
	}
}

// TestSetOutboxDestinations: after a reload the outbox gauges report the
// new destinations, read from a real store.
func TestSetOutboxDestinations(t *testing.T) {
	st, err := store.Open(t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	m := NewMetrics()
	m.WatchReloadableOutbox(st, []string{"archive", "hook"}, nil, func() time.Time { return t0 })
	expect := func(dests ...string) {
		t.Helper()
		var want strings.Builder
		want.WriteString("# HELP pollhook_destination_paused 1 while a destination is paused (its receiver answered 410 Gone), else 0.\n# TYPE pollhook_destination_paused gauge\n")
		for _, d := range dests {
			want.WriteString(`pollhook_destination_paused{destination="` + d + `"} 0` + "\n")
		}
		want.WriteString("# HELP pollhook_outbox_depth Events waiting for delivery to a destination, over all its jobs (queued redeliveries not included).\n# TYPE pollhook_outbox_depth gauge\n")
		for _, d := range dests {
			want.WriteString(`pollhook_outbox_depth{destination="` + d + `"} 0` + "\n")
		}
		if err := testutil.GatherAndCompare(m.Registry, strings.NewReader(want.String()), "pollhook_outbox_depth", "pollhook_destination_paused"); err != nil {
			t.Error(err)
		}
	}
	expect("archive", "hook")
	m.SetOutboxDestinations([]string{"hook", "search"})
	expect("hook", "search")
}
