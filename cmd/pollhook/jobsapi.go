package main

import (
	"net/http"
	"net/url"
	"slices"

	"github.com/pollhook/pollhook/admin"
	"github.com/pollhook/pollhook/config"
	"github.com/pollhook/pollhook/scheduler"
)

// jobsAPI completes c, the admin API of cfg, with what the jobs endpoints
// and the status page need: the jobs of cfg, the scheduler running them,
// the recorded poll outcomes (polls, fed by each pipeline's Observe) and
// the pusher's wake, for the events a resync commits. It also gives each
// destination its event types, which a resync for one destination checks.
func jobsAPI(c admin.APIConfig, cfg *config.Config, sched *scheduler.Scheduler, polls *admin.Polls, wake func(job string)) admin.APIConfig {
	c.Jobs = adminJobs(cfg)
	c.Scheduler = sched
	c.Polls = polls
	c.Wake = wake
	dests := make([]admin.Destination, len(c.Destinations))
	for i, d := range c.Destinations {
		if cd := cfg.Destinations[d.Name]; cd != nil {
			d.Events = cd.Events
		}
		dests[i] = d
	}
	c.Destinations = dests
	return c
}

// adminJobs describes the jobs of cfg to the admin API. The API redacts
// the URL itself; the secrets are only there to be masked in the errors
// it shows.
func adminJobs(cfg *config.Config) []admin.Job {
	out := make([]admin.Job, 0, len(cfg.Jobs))
	for _, j := range cfg.Jobs {
		out = append(out, admin.Job{Name: j.Name, Schedule: j.Schedule, URL: j.Request.URL, Items: j.Items != "",
			Destinations: j.Destinations, Secrets: jobSecrets(j)})
	}
	return out
}

// jobSecrets lists what of a job may be a credential: its auth secrets,
// its header values (but those of headers that never carry one), and the
// password and query values of its URL, as the poller scrubs them.
func jobSecrets(j *config.Job) []string {
	var out []string
	add := func(s string) {
		if s != "" {
			out = append(out, s)
		}
	}
	if a := j.Auth; a != nil {
		add(string(a.Bearer))
		if a.Basic != nil {
			add(string(a.Basic.Password))
		}
		if a.Header != nil {
			add(string(a.Header.Value))
		}
		if a.OAuth2 != nil {
			add(string(a.OAuth2.ClientSecret))
		}
	}
	for name, v := range j.Request.Headers {
		if !slices.Contains(plainHeaders, http.CanonicalHeaderKey(name)) {
			add(v)
		}
	}
	if u, err := url.Parse(j.Request.URL); err == nil {
		if p, ok := u.User.Password(); ok {
			add(p)
		}
		for _, vs := range u.Query() {
			for _, v := range vs {
				add(v)
			}
		}
	}
	return out
}

// plainHeaders never carry credentials.
var plainHeaders = []string{"Accept", "Accept-Language", "Cache-Control", "Content-Type", "User-Agent"}
