package main

import (
	"reflect"
	"slices"
	"testing"

	"github.com/pollhook/pollhook/admin"
	"github.com/pollhook/pollhook/config"
	"github.com/pollhook/pollhook/scheduler"
)

// TestJobsAPI pins what the admin API is told of the jobs (with every kind
// of credential a job can carry, for masking) and of the destinations'
// event types, and that the rest of the API's configuration is kept.
func TestJobsAPI(t *testing.T) {
	const doc = `
destinations:
  hook: {url: "https://hooks.example.com/in"}
  audit: {url: "https://audit.example.com/in", events: [item.created, source.down]}
jobs:
  - name: orders
    schedule: "@every 30s"
    request:
      url: "https://user:url-password@legacy.example.com/orders?status=open&key=query-key"
      headers: {X-Tenant: tenant-7, Accept: application/json}
    auth: {bearer: bearer-token}
    items: data.orders
    key: id
    destinations: [hook, audit]
  - name: basic
    schedule: "0 * * * *"
    request: {url: "http://legacy/config"}
    auth: {basic: {username: u, password: basic-password}}
    destinations: [hook]
  - name: header
    schedule: "@hourly"
    request: {url: "http://legacy/a"}
    auth: {header: {name: X-Api-Key, value: header-key}}
    destinations: [hook]
  - name: oauth
    schedule: "@hourly"
    request: {url: "http://legacy/b"}
    auth: {oauth2: {token_url: "http://auth/token", client_id: id, client_secret: client-secret}}
    destinations: [hook]
`
	cfg, err := config.Parse("c.yaml", []byte(doc), nil)
	if err != nil {
		t.Fatal(err)
	}
	sched := scheduler.New(nil, scheduler.Options{})
	polls := admin.NewPolls(nil)
	woken := ""
	base := admin.APIConfig{Token: "t", Destinations: adminDestinations(cfg)}
	c := jobsAPI(base, cfg, sched, polls, func(job string) { woken = job })

	want := []admin.Job{
		{Name: "orders", Schedule: "@every 30s", URL: "https://user:url-password@legacy.example.com/orders?status=open&key=query-key",
			Items: true, Destinations: []string{"hook", "audit"}},
		{Name: "basic", Schedule: "0 * * * *", URL: "http://legacy/config", Destinations: []string{"hook"},
			Secrets: []string{"basic-password"}},
		{Name: "header", Schedule: "@hourly", URL: "http://legacy/a", Destinations: []string{"hook"}, Secrets: []string{"header-key"}},
		{Name: "oauth", Schedule: "@hourly", URL: "http://legacy/b", Destinations: []string{"hook"}, Secrets: []string{"client-secret"}},
	}
	// The URL's query values come in no set order.
	orders := c.Jobs[0].Secrets
	slices.Sort(orders)
	if w := []string{"bearer-token", "open", "query-key", "tenant-7", "url-password"}; !reflect.DeepEqual(orders, w) {
		t.Errorf("secrets of orders %q, want %q", orders, w)
	}
	c.Jobs[0].Secrets = nil
	if !reflect.DeepEqual(c.Jobs, want) {
		t.Errorf("jobs\n got %+v\nwant %+v", c.Jobs, want)
	}
	events := map[string][]string{}
	for _, d := range c.Destinations {
		events[d.Name] = d.Events
	}
	if w := map[string][]string{"audit": {"item.created", "source.down"}, "hook": nil}; !reflect.DeepEqual(events, w) {
		t.Errorf("destination events %v, want %v", events, w)
	}
	if base.Destinations[0].Events != nil || base.Destinations[1].Events != nil {
		t.Errorf("jobsAPI changed the destinations it was given")
	}
	if c.Token != "t" || c.Scheduler != sched || c.Polls != polls || len(c.Destinations) != 2 {
		t.Errorf("jobsAPI lost a field: %+v", c)
	}
	c.Wake("orders")
	if woken != "orders" {
		t.Errorf("Wake reached %q", woken)
	}
}
