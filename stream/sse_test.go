package stream

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// A client that disconnects and resumes from the last id it received gets
// every event committed meanwhile, in order, once, whether they are still
// in the hub's ring or only in the store, and after a restart too.
func TestSSEResumeNoGapsNoDuplicates(t *testing.T) {
	dir := t.TempDir()
	w := newWorld(t, worldOptions{dir: dir, ring: 8})
	var want []string

	c := w.sse("/api/v1/stream?job=orders", nil)
	first := w.commit("orders", "item.created", keys(5, "a")...)
	w.commit("users", "item.created", "u0") // filtered out
	got := c.ids(5)
	if !slices.Equal(got, ids(first)) {
		t.Fatalf("live events %v, want %v", got, ids(first))
	}
	want = append(want, ids(first)...)
	c.close()

	// 20 events: more than the ring holds, so the first ones come from the store.
	var missed []string
	for i := range 4 {
		missed = append(missed, ids(w.commit("orders", "item.updated", keys(5, string(rune('b'+i)))...))...)
		w.commit("users", "item.updated", "u1")
	}
	c = w.sse("/api/v1/stream?job=orders", map[string]string{"Last-Event-ID": got[4]})
	if got := c.ids(20); !slices.Equal(got, missed) {
		t.Fatalf("resumed with %v\nwant %v", got, missed)
	}
	want = append(want, missed...)
	live := w.commit("orders", "item.deleted", "a0", "a1")
	if got := c.ids(2); !slices.Equal(got, ids(live)) {
		t.Fatalf("live after the resume: %v, want %v", got, ids(live))
	}
	want = append(want, ids(live)...)
	c.close()

	// From the ring alone, with the id in the query, as a client that
	// cannot set headers does.
	c = w.sse("/api/v1/stream?job=orders&last_event_id="+want[len(want)-4], nil)
	if got := c.ids(3); !slices.Equal(got, want[len(want)-3:]) {
		t.Fatalf("resumed from the ring: %v, want %v", got, want[len(want)-3:])
	}
	c.close()

	// After a restart the ring is empty: everything comes from the store.
	w.close()
	w = newWorld(t, worldOptions{dir: dir, ring: 8})
	c = w.sse("/api/v1/stream?job=orders", map[string]string{"Last-Event-ID": want[0]})
	after := w.commit("orders", "item.created", "z")
	if got := c.ids(len(want)); !slices.Equal(got, append(want[1:], ids(after)...)) {
		t.Fatalf("resumed after a restart: %v\nwant %v", got, append(want[1:], ids(after)...))
	}
}

// Each message carries the event id, the type and the webhook's envelope.
func TestSSEMessagesAndFilters(t *testing.T) {
	w := newWorld(t, worldOptions{})
	all := w.sse("/api/v1/stream", nil)
	created := w.sse("/api/v1/stream?job=orders&types=item.created,item.deleted", nil)
	users := w.sse("/api/v1/stream?job=users&job=orders&types=item.updated", nil)

	a := w.commit("orders", "item.created", "1")
	b := w.commit("orders", "item.updated", "1")
	c := w.commit("users", "item.updated", "7")
	d := w.commit("orders", "item.deleted", "1")

	ev, _ := all.next()
	wantData := `{"type":"item.created","timestamp":"` + a[0].Time.Format("2006-01-02T15:04:05.000Z") +
		`","data":{"after":{"id":"1","pad":""},"job":"orders","key":"1"}}`
	if ev.id != a[0].ID || ev.event != "item.created" || ev.data != wantData {
		t.Errorf("message %+v\nwant id %s, event item.created, data %s", ev, a[0].ID, wantData)
	}
	if got, want := all.ids(3), []string{b[0].ID, c[0].ID, d[0].ID}; !slices.Equal(got, want) {
		t.Errorf("unfiltered: %v, want %v", got, want)
	}
	if got, want := created.ids(2), []string{a[0].ID, d[0].ID}; !slices.Equal(got, want) {
		t.Errorf("orders, created and deleted: %v, want %v", got, want)
	}
	if got, want := users.ids(2), []string{b[0].ID, c[0].ID}; !slices.Equal(got, want) {
		t.Errorf("users and orders, updated: %v, want %v", got, want)
	}
	if n := testutil.ToFloat64(w.hub.metrics.events.WithLabelValues("sse")); n != 4+2+2 {
		t.Errorf("events sent = %v, want 8", n)
	}
	if n := testutil.ToFloat64(w.hub.metrics.clients.WithLabelValues("sse")); n != 3 {
		t.Errorf("clients = %v, want 3", n)
	}
}

func TestSSEAuth(t *testing.T) {
	w := newWorld(t, worldOptions{})
	unauthorized := `{"error":{"code":"unauthorized","message":"missing or invalid bearer token"}}` + "\n"
	for _, tc := range []struct {
		name   string
		path   string
		header map[string]string
		status int
		body   string
	}{
		{"no token", "/api/v1/stream", nil, 401, unauthorized},
		{"wrong token", "/api/v1/stream", map[string]string{"Authorization": "Bearer nope"}, 401, unauthorized},
		{"wrong token in the query", "/api/v1/stream?access_token=nope", nil, 401, unauthorized},
		{"basic auth", "/api/v1/stream", map[string]string{"Authorization": "Basic " + adminToken}, 401, unauthorized},
		{"stream token, another job", "/api/v1/stream?job=users", map[string]string{"Authorization": "Bearer " + dashToken}, 403,
			`{"error":{"code":"forbidden","message":"this token may not read job \"users\"; it reads orders"}}` + "\n"},
		{"stream token, its job and another", "/api/v1/stream?job=orders,users&access_token=" + dashToken, nil, 403,
			`{"error":{"code":"forbidden","message":"this token may not read job \"users\"; it reads orders"}}` + "\n"},
		{"admin token, unknown job", "/api/v1/stream?job=nope", map[string]string{"Authorization": "Bearer " + adminToken}, 400,
			`{"error":{"code":"bad_request","message":"job \"nope\" is not configured"}}` + "\n"},
		{"bad last event id", "/api/v1/stream?last_event_id=42", map[string]string{"Authorization": "Bearer " + adminToken}, 400,
			`{"error":{"code":"bad_request","message":"last event id is not an event id (evt_ and 26 base32 characters)"}}` + "\n"},
		{"ws: no token", "/api/v1/ws", nil, 401, unauthorized},
		{"ws: stream token, another job", "/api/v1/ws?job=users&access_token=" + dashToken, nil, 403,
			`{"error":{"code":"forbidden","message":"this token may not read job \"users\"; it reads orders"}}` + "\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body := w.refused(tc.path, tc.header)
			if status != tc.status || body != tc.body {
				t.Errorf("%d %s\nwant %d %s", status, body, tc.status, tc.body)
			}
		})
	}

	// The admin token reads every job; a stream token its own, with or
	// without a job filter, in the header or in the query.
	admin := w.sse("/api/v1/stream", nil)
	dash := w.sse("/api/v1/stream", map[string]string{"Authorization": "Bearer " + dashToken})
	dashQuery := w.sse("/api/v1/stream?job=orders&access_token="+url.QueryEscape(dashToken), nil)
	u := w.commit("users", "item.created", "1")
	o := w.commit("orders", "item.created", "1")
	if got := admin.ids(2); !slices.Equal(got, []string{u[0].ID, o[0].ID}) {
		t.Errorf("admin token: %v, want both jobs' events", got)
	}
	if got := dash.ids(1); !slices.Equal(got, ids(o)) {
		t.Errorf("stream token: %v, want orders' only %v", got, ids(o))
	}
	if got := dashQuery.ids(1); !slices.Equal(got, ids(o)) {
		t.Errorf("stream token in the query: %v, want %v", got, ids(o))
	}

	// A reload that takes the token's job away disconnects its client,
	// saying why; the admin client stays.
	set := defaultSettings()
	set.Tokens[0].Jobs = []string{"users"}
	w.hub.Configure(set)
	ev, _ := dash.next()
	want := `{"error":{"code":"revoked","message":"access revoked: the configuration no longer lets this token read job orders"}}`
	if ev.event != "error" || ev.data != want || ev.id != "" {
		t.Errorf("revoked client got %+v, want event error with %s", ev, want)
	}
	if _, ok := dash.next(); ok {
		t.Error("the revoked client's stream did not end")
	}
	o2 := w.commit("orders", "item.updated", "1")
	if got := admin.ids(1); !slices.Equal(got, ids(o2)) {
		t.Errorf("admin after the reload: %v, want %v", got, ids(o2))
	}
}

func TestSSEMaxClients(t *testing.T) {
	set := defaultSettings()
	set.MaxClients = 2
	w := newWorld(t, worldOptions{settings: set})
	a := w.sse("/api/v1/stream", nil)
	w.sse("/api/v1/stream?job=orders", map[string]string{"Authorization": "Bearer " + dashToken})
	status, body := w.refused("/api/v1/stream", map[string]string{"Authorization": "Bearer " + adminToken})
	want := `{"error":{"code":"unavailable","message":"too many stream clients are connected (streams.max_clients); try again later"}}` + "\n"
	if status != http.StatusServiceUnavailable || body != want {
		t.Errorf("third client: %d %s, want 503 %s", status, body, want)
	}
	if n := testutil.ToFloat64(w.hub.metrics.refusal.WithLabelValues("sse")); n != 1 {
		t.Errorf("refused = %v, want 1", n)
	}
	// The clients admitted are served as before.
	o := w.commit("orders", "item.created", "1")
	if got := a.ids(1); !slices.Equal(got, ids(o)) {
		t.Errorf("admitted client: %v, want %v", got, ids(o))
	}
}

// Heartbeats are comment lines, at the configured interval.
func TestSSEHeartbeat(t *testing.T) {
	set := defaultSettings()
	set.Heartbeat = 20 * time.Millisecond
	w := newWorld(t, worldOptions{settings: set})
	c := w.sse("/api/v1/stream", nil)
	for range 3 {
		if ev, ok := c.next(); !ok || ev != (sseEvent{comment: ": heartbeat"}) {
			t.Fatalf("got %+v (open %v), want a heartbeat comment", ev, ok)
		}
	}
	o := w.commit("orders", "item.created", "1")
	for {
		ev, ok := c.next()
		if !ok {
			t.Fatal("stream ended")
		}
		if ev.comment == "" {
			if ev.id != o[0].ID {
				t.Errorf("event %s, want %s", ev.id, o[0].ID)
			}
			break
		}
	}
}

// Shutting down ends every stream at once, each with its reason.
func TestSSEShutdown(t *testing.T) {
	w := newWorld(t, worldOptions{})
	c := w.sse("/api/v1/stream", nil)
	began := time.Now()
	if err := w.hub.Close(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	ev, _ := c.next()
	want := `{"error":{"code":"shutdown","message":"pollhook is shutting down; reconnect with your last event id to resume"}}`
	if ev.event != "error" || ev.data != want {
		t.Errorf("got %+v, want event error with %s", ev, want)
	}
	if _, ok := c.next(); ok {
		t.Error("stream did not end")
	}
	t.Logf("closed in %v", time.Since(began))
	status, body := w.refused("/api/v1/stream", map[string]string{"Authorization": "Bearer " + adminToken})
	if status != http.StatusServiceUnavailable || !strings.Contains(body, "shutting down") {
		t.Errorf("after Close: %d %s, want 503 shutting down", status, body)
	}
}
