package main

import (
	"fmt"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/pollhook/pollhook/config"
	"github.com/pollhook/pollhook/poller"
	"github.com/pollhook/pollhook/scheduler"
)

// TestSourceWiring pins how a job's auth, TLS, pagination, backoff and
// health settings, and the global limits, reach the poller and the
// scheduler.
func TestSourceWiring(t *testing.T) {
	certs, err := filepath.Abs(filepath.Join("..", "..", "testdata", "config", "certs"))
	if err != nil {
		t.Fatal(err)
	}
	doc := `
limits: {max_concurrent_polls: 8, per_host: {rate: 2.5, burst: 3}}
destinations: {hook: {url: "https://h/1"}}
jobs:
  - name: bearer
    schedule: "@every 30s"
    jitter: 2s
    request: {url: "https://Legacy.example.com:8443/orders?status=open"}
    auth: {bearer: t0ken}
    tls: {ca_file: ` + certs + `/ca.pem, cert_file: ` + certs + `/client.pem, key_file: ` + certs + `/client-key.pem}
    items: data.orders
    pagination: {type: cursor, cursor_path: meta.next, param: cursor}
    backoff: {max: 10m}
    notify_source_health: true
    down_after: 5
    destinations: [hook]
  - name: basic
    schedule: "*/5 * * * *"
    request: {url: "http://legacy/prices"}
    auth: {basic: {username: u, password: pw}}
    items: $
    pagination: {type: page, param: page, size_param: per_page, size: 50, max_pages: 7}
    destinations: [hook]
  - name: header
    schedule: "@hourly"
    request: {url: "http://legacy/stock"}
    auth: {header: {name: X-Api-Key, value: k3y}}
    destinations: [hook]
  - name: oauth2
    schedule: "@hourly"
    request: {url: "http://legacy/shipments"}
    auth: {oauth2: {token_url: "https://auth/token", client_id: c, client_secret: s3cret, scopes: [a, b]}}
    destinations: [hook]
`
	cfg, err := config.Parse("c.yaml", []byte(doc), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := schedulerOptions(cfg), (scheduler.Options{MaxConcurrent: 8, HostRate: 2.5, HostBurst: 3}); !reflect.DeepEqual(got, want) {
		t.Errorf("scheduler options %+v, want %+v", got, want)
	}
	tests := []struct {
		job        string
		auth       poller.Auth
		tls        *poller.TLS
		pagination poller.Pagination
		host       string
		jitter     time.Duration
		backoff    time.Duration
		notify     bool
		downAfter  int
	}{
		{"bearer", poller.Auth{Bearer: "t0ken"},
			&poller.TLS{CAFile: certs + "/ca.pem", CertFile: certs + "/client.pem", KeyFile: certs + "/client-key.pem"},
			poller.Pagination{Type: "cursor", ItemsPath: "data.orders", CursorPath: "meta.next", Param: "cursor", MaxPages: 100},
			"Legacy.example.com", 2 * time.Second, 10 * time.Minute, true, 5},
		{"basic", poller.Auth{Basic: &poller.BasicAuth{Username: "u", Password: "pw"}}, nil,
			poller.Pagination{Type: "page", ItemsPath: "$", Param: "page", SizeParam: "per_page", Size: 50, MaxPages: 7},
			"legacy", 0, 50 * time.Minute, false, 3},
		{"header", poller.Auth{Header: &poller.HeaderAuth{Name: "X-Api-Key", Value: "k3y"}}, nil, poller.Pagination{},
			"legacy", 0, 10 * time.Hour, false, 3},
		{"oauth2", poller.Auth{OAuth2: &poller.OAuth2{TokenURL: "https://auth/token", ClientID: "c", ClientSecret: "s3cret", Scopes: []string{"a", "b"}}}, nil, poller.Pagination{},
			"legacy", 0, 10 * time.Hour, false, 3},
	}
	for _, tt := range tests {
		t.Run(tt.job, func(t *testing.T) {
			j := cfg.Job(tt.job)
			req := pollRequest(j)
			if !reflect.DeepEqual(req.Auth, tt.auth) {
				t.Errorf("auth %+v, want %+v", req.Auth, tt.auth)
			}
			if !reflect.DeepEqual(req.TLS, tt.tls) {
				t.Errorf("tls %+v, want %+v", req.TLS, tt.tls)
			}
			if !reflect.DeepEqual(req.Pagination, tt.pagination) {
				t.Errorf("pagination %+v, want %+v", req.Pagination, tt.pagination)
			}
			p := &scheduler.Pipeline{Job: j.Name, NotifySourceHealth: j.NotifySourceHealth, DownAfter: j.DownAfter}
			e := schedulerEntry(j, p)
			if e.Name != tt.job || e.Schedule != j.Schedule || e.Run != nil || e.Tick == nil ||
				e.Host != tt.host || e.Jitter != tt.jitter || e.BackoffMax != tt.backoff {
				t.Errorf("entry %+v, want host %q, jitter %s, backoff max %s and a Tick", e, tt.host, tt.jitter, tt.backoff)
			}
			if j.NotifySourceHealth != tt.notify || j.DownAfter != tt.downAfter {
				t.Errorf("notify %v down_after %d, want %v %d", j.NotifySourceHealth, j.DownAfter, tt.notify, tt.downAfter)
			}
			// The entry must be one the scheduler takes.
			if err := scheduler.New(nil, schedulerOptions(cfg)).Add(e); err != nil {
				t.Errorf("Add: %v", err)
			}
		})
	}
}

func TestSourceHost(t *testing.T) {
	tests := map[string]string{
		"http://legacy:8080/api":           "legacy",
		"https://API.example.com/x?y=1":    "API.example.com", // the scheduler ignores case
		"http://user:pw@10.0.0.1:9000/":    "10.0.0.1",
		"http://[::1]:8080/orders":         "::1",
		"https://legacy.example.com/items": "legacy.example.com",
	}
	for raw, want := range tests {
		if got := sourceHost(raw); got != want {
			t.Errorf("sourceHost(%q) = %q, want %q", raw, got, want)
		}
	}
}

// TestPollTransport sizes the kept-alive connections by the jobs of the
// busiest host and port, and by all jobs, both capped by
// max_concurrent_polls.
func TestPollTransport(t *testing.T) {
	job := func(u string) *config.Job { return &config.Job{Request: config.Request{URL: u}} }
	jobs := []*config.Job{job("http://a:1/x"), job("http://a:2/y"), job("http://A:1/z"), job("http://a:1/w"), job("http://b/")}
	for _, tt := range []struct {
		limit, perHost, total int
	}{{0, 3, 5}, {2, 2, 2}, {10, 3, 5}} {
		cfg := &config.Config{Jobs: jobs}
		cfg.Limits.MaxConcurrentPolls = tt.limit
		tr := pollTransport(cfg)
		if tr.MaxIdleConnsPerHost != tt.perHost || tr.MaxIdleConns != tt.total {
			t.Errorf("limit %d: %d per host, %d in all; want %d, %d", tt.limit, tr.MaxIdleConnsPerHost, tr.MaxIdleConns, tt.perHost, tt.total)
		}
	}
	// Many jobs: the caps hold.
	var many []*config.Job
	for i := range 2000 {
		many = append(many, job(fmt.Sprintf("http://h%d/x", i%10)))
	}
	if tr := pollTransport(&config.Config{Jobs: many}); tr.MaxIdleConnsPerHost != maxIdlePerHost || tr.MaxIdleConns != maxIdleTotal {
		t.Errorf("2,000 jobs on 10 hosts: %d per host, %d in all; want %d, %d", tr.MaxIdleConnsPerHost, tr.MaxIdleConns, maxIdlePerHost, maxIdleTotal)
	}
}
