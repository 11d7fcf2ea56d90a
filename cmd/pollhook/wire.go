package main

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/pollhook/pollhook/admin"
	"github.com/pollhook/pollhook/config"
	"github.com/pollhook/pollhook/differ"
	"github.com/pollhook/pollhook/poller"
	"github.com/pollhook/pollhook/pusher"
	"github.com/pollhook/pollhook/scheduler"
)

// This file maps the configuration onto each package's own plain types, so
// that no package below cmd/ depends on the config schema.

func pusherDestinations(cfg *config.Config) []pusher.Destination {
	var out []pusher.Destination
	for _, name := range cfg.DestinationNames() {
		d := cfg.Destinations[name]
		var secrets []string
		for _, s := range d.SigningSecrets() {
			secrets = append(secrets, string(s))
		}
		out = append(out, pusher.Destination{
			Name:      name,
			URL:       d.URL,
			Method:    d.Method,
			Header:    d.Headers,
			Secrets:   secrets,
			Signature: d.Signature,
			Format:    d.Format,
			Timeout:   time.Duration(d.Timeout),
			Retry: pusher.RetryPolicy{
				InitialInterval: time.Duration(d.Retry.InitialInterval),
				MaxInterval:     time.Duration(d.Retry.MaxInterval),
				MaxAttempts:     d.Retry.MaxAttempts,
				MaxAge:          time.Duration(d.Retry.MaxAge),
			},
			Template:     d.Template,
			ContentType:  d.ContentType,
			Concurrency:  d.Concurrency,
			RateLimit:    d.RateLimit,
			SuccessCodes: d.SuccessCodes,
			Events:       d.Events,
			Batch: pusher.BatchPolicy{
				MaxEvents: d.Batch.MaxEvents,
				MaxWait:   time.Duration(d.Batch.MaxWait),
			},
		})
	}
	return out
}

// adminDestinations describes the destinations to the admin API: no
// secret, no header; the API redacts the URL itself.
func adminDestinations(cfg *config.Config) []admin.Destination {
	var out []admin.Destination
	for _, name := range cfg.DestinationNames() {
		d := cfg.Destinations[name]
		ad := admin.Destination{Name: name, URL: d.URL, Method: d.Method, Format: d.Format, Template: d.Template != ""}
		for _, j := range cfg.Jobs {
			if slices.Contains(j.Destinations, name) {
				ad.Jobs = append(ad.Jobs, j.Name)
			}
		}
		out = append(out, ad)
	}
	return out
}

func differSpec(j *config.Job) differ.Spec {
	return differ.Spec{
		Items:       j.Items,
		Key:         j.Key,
		Ignore:      j.Ignore,
		EmitInitial: j.EmitInitial,
		Events:      j.Events,
		Guard: differ.Guard{
			MaxDeletedRatio: j.Guard.MaxDeletedRatio,
			ConfirmPolls:    j.Guard.ConfirmPolls,
			MaxChangedRatio: j.Guard.MaxChangedRatio,
		},
		Format:    j.Response.Format,
		Transform: j.Transform,
		When:      j.When,
		Unordered: j.Unordered,
		Debounce:  j.Debounce,
	}
}

func pollRequest(j *config.Job) poller.Request {
	h := make(http.Header, len(j.Request.Headers))
	for k, v := range j.Request.Headers {
		h.Set(k, v)
	}
	var body []byte
	if j.Request.Body != "" {
		body = []byte(j.Request.Body)
	}
	req := poller.Request{
		Method:       j.Request.Method,
		URL:          j.Request.URL,
		Header:       h,
		Body:         body,
		Timeout:      time.Duration(j.Request.Timeout),
		MaxBodyBytes: int64(j.Request.MaxBodySize),
		Auth:         pollAuth(j.Auth),
	}
	if t := j.TLS; t != nil {
		req.TLS = &poller.TLS{CAFile: t.CAFile, CertFile: t.CertFile, KeyFile: t.KeyFile, InsecureSkipVerify: t.InsecureSkipVerify}
	}
	if pg := j.Pagination; pg != nil {
		req.Pagination = poller.Pagination{Type: pg.Type, ItemsPath: j.Items, CursorPath: pg.CursorPath, Param: pg.Param,
			SizeParam: pg.SizeParam, Size: pg.Size, MaxPages: pg.MaxPages}
	}
	return req
}

// pollAuth maps a job's credentials, secrets files already read by config.
func pollAuth(a *config.Auth) poller.Auth {
	var out poller.Auth
	switch {
	case a == nil:
	case a.Basic != nil:
		out.Basic = &poller.BasicAuth{Username: a.Basic.Username, Password: string(a.Basic.Password)}
	case a.Header != nil:
		out.Header = &poller.HeaderAuth{Name: a.Header.Name, Value: string(a.Header.Value)}
	case a.OAuth2 != nil:
		o := a.OAuth2
		out.OAuth2 = &poller.OAuth2{TokenURL: o.TokenURL, ClientID: o.ClientID, ClientSecret: string(o.ClientSecret), Scopes: o.Scopes}
	default:
		out.Bearer = string(a.Bearer)
	}
	return out
}

// schedulerOptions maps the global load limits.
func schedulerOptions(cfg *config.Config) scheduler.Options {
	opts := scheduler.Options{MaxConcurrent: cfg.Limits.MaxConcurrentPolls}
	if h := cfg.Limits.PerHost; h != nil {
		opts.HostRate, opts.HostBurst = h.Rate, h.Burst
	}
	return opts
}

// schedulerEntry schedules the pipeline of job j; its outcomes pace the job.
func schedulerEntry(j *config.Job, p *scheduler.Pipeline) scheduler.Entry {
	return scheduler.Entry{
		Name:       j.Name,
		Schedule:   j.Schedule,
		Jitter:     time.Duration(j.Jitter),
		Tick:       p.Tick,
		Host:       sourceHost(j.Request.URL),
		BackoffMax: time.Duration(j.Backoff.Max),
	}
}

// pollTransport is the poller's transport, with as many idle connections
// kept per source host as polls of that host may run at once (its jobs,
// at most max_concurrent_polls), so that polling every second never opens
// a new connection for a poll.
func pollTransport(cfg *config.Config) *http.Transport {
	// Idle connections are capped too: each costs about 40 KB (two
	// goroutines, buffers), and the bursts of many jobs on one host would
	// otherwise keep every connection they opened. Measured with 2,000
	// jobs @every 1s on 10 hosts: uncapped, ~1,100 stayed open and the
	// peak RSS was 192-195 MB; capped at 64 a host and 512 in all, 172 MB
	// for 13% more CPU (6,259 connections opened in 60 s); at 32 and 256,
	// 176 MB for 19% more.
	// The transport keeps connections per host and port.
	perHost := make(map[string]int)
	most := 0
	for _, j := range cfg.Jobs {
		u, err := url.Parse(j.Request.URL)
		if err != nil {
			continue // config validation refuses such a URL
		}
		h := strings.ToLower(u.Host)
		perHost[h]++
		most = max(most, perHost[h])
	}
	total := len(cfg.Jobs)
	if limit := cfg.Limits.MaxConcurrentPolls; limit > 0 {
		most, total = min(most, limit), min(total, limit)
	}
	return poller.NewTransportFor(min(most, maxIdlePerHost), min(total, maxIdleTotal))
}

// Caps of the idle connections kept to sources (see pollTransport).
const (
	maxIdlePerHost = 64
	maxIdleTotal   = 512
)

// sourceHost is the host name a job polls, without the port: the per-host
// limit protects a machine, whichever of its ports a job uses.
func sourceHost(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "" // config validation refuses such a URL
	}
	return u.Hostname()
}
