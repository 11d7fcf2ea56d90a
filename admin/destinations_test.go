package admin

import (
	"fmt"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/pollhook/pollhook/pusher"
)

// TestAPIPauseAndResume: a receiver answering 410 pauses its destination;
// the API shows the pause and the held event, and resuming through the API
// delivers it.
func TestAPIPauseAndResume(t *testing.T) {
	hook := newReceiver(t, http.StatusGone, "unsubscribed")
	w := newWorld(t, []pusher.Destination{{Name: "hook", URL: hook.URL + "/in"}}, map[string][]string{"orders": {"hook"}})
	ev := w.commit("orders", t0.Add(-2*time.Hour))[0]

	_, stop := w.run()
	w.logs.wait(t, logPaused)
	stop() // so that the lane's retry state is written before it is read

	p, _ := w.run()
	c := w.serve(p, testToken)
	host := hook.Listener.Addr().String()
	c.expect("GET", "/api/v1/destinations", 200, compact(t, fmt.Sprintf(`{"destinations":[{
		"name":"hook","url":"http://%s/…","method":"POST","format":"json",
		"paused":{"since":"2026-03-01T12:00:00Z","job":"orders","event_id":%q,"status":410,"reason":"410 Gone: unsubscribed"},
		"lanes":[{"job":"orders","cursor":1,"last_seq":1,"depth":1,"queued":0,
			"attempts":1,"first_attempt":"2026-03-01T12:00:00Z","last_status":410,"last_error":"410 Gone: unsubscribed",
			"oldest_pending":"2026-03-01T10:00:00Z","oldest_pending_age_seconds":7200}]}]}`, host, ev.ID)))

	hook.status.Store(http.StatusNoContent)
	c.expect("POST", "/api/v1/destinations/hook/resume", 200,
		`{"destination":"hook","was_paused":true,"message":"destination \"hook\" resumed: it delivers again, starting with the event answered 410"}`)
	if got := hook.next(t); got != ev.ID {
		t.Errorf("delivered %s after resume, want %s", got, ev.ID)
	}
	c.expect("POST", "/api/v1/destinations/hook/resume", 200,
		`{"destination":"hook","was_paused":false,"message":"destination \"hook\" was not paused"}`)
}

// TestAPIReplayDeadLetters: replaying a destination sends its dead letters
// again, in order, and keeps those of a job that no longer routes to it.
func TestAPIReplayDeadLetters(t *testing.T) {
	hook := newReceiver(t, http.StatusInternalServerError, "boom")
	once := pusher.RetryPolicy{MaxAttempts: 1}
	w := newWorld(t, []pusher.Destination{{Name: "hook", URL: hook.URL, Retry: once}},
		map[string][]string{"orders": {"hook"}, "legacy": {"hook"}})
	evs := w.commit("orders", t0.Add(-time.Hour), t0.Add(-time.Hour))
	w.commit("legacy", t0.Add(-time.Hour))
	delete(w.routes, "legacy") // the next pusher retires that lane into the dead letters

	p, _ := w.run()
	w.logs.wait(t, "destination no longer configured for job: its undelivered events were dead-lettered")
	w.logs.wait(t, logDead)
	w.logs.wait(t, logDead)
	c := w.serve(p, testToken)

	hook.status.Store(http.StatusOK)
	c.expect("POST", "/api/v1/destinations/hook/replay", 200,
		`{"destination":"hook","replayed":2,"kept":1,"message":"2 dead letters of destination \"hook\" queued for delivery again; 1 dead letter kept: their jobs no longer route to it"}`)
	for _, ev := range evs {
		if got := hook.next(t); got != ev.ID {
			t.Errorf("delivered %s, want %s", got, ev.ID)
		}
	}
	c.expect("POST", "/api/v1/destinations/hook/replay", 200,
		`{"destination":"hook","replayed":0,"kept":1,"message":"0 dead letters of destination \"hook\" queued for delivery again; 1 dead letter kept: their jobs no longer route to it"}`)
}

// TestAPIReplaySince: a job's events since a time are sent again as far as
// the log holds them, and the answer says how far that is.
func TestAPIReplaySince(t *testing.T) {
	hook := newReceiver(t, http.StatusOK, "")
	// held keeps the log of orders from being pruned: its lane never
	// passes the first event.
	held := newReceiver(t, http.StatusServiceUnavailable, "")
	slow := pusher.RetryPolicy{InitialInterval: time.Hour, MaxInterval: time.Hour}
	w := newWorld(t, []pusher.Destination{{Name: "held", URL: held.URL, Retry: slow}, {Name: "hook", URL: hook.URL}},
		map[string][]string{"orders": {"held", "hook"}, "solo": {"hook"}})
	evs := w.commit("orders", t0.Add(-3*time.Hour), t0.Add(-2*time.Hour), t0.Add(-time.Hour))
	solo := w.commit("solo", t0.Add(-time.Hour))[0]

	_, stop := w.run()
	got := map[string]bool{}
	for range 4 {
		got[hook.next(t)] = true
	}
	if !got[evs[0].ID] || !got[evs[1].ID] || !got[evs[2].ID] || !got[solo.ID] {
		t.Fatalf("first deliveries %v, want every event", got)
	}
	stop() // every delivery recorded, so every event is behind hook's cursor

	p, _ := w.run()
	c := w.serve(p, testToken)
	since := url.QueryEscape(t0.Add(-2 * time.Hour).Format(time.RFC3339))
	c.expect("POST", "/api/v1/destinations/hook/replay?job=orders&since="+since, 200, compact(t, `{
		"destination":"hook","job":"orders","since":"2026-03-01T10:00:00Z","replayed":2,"log_start":"2026-03-01T09:00:00Z",
		"message":"2 events of job \"orders\" detected since 2026-03-01T10:00:00Z queued for delivery to \"hook\" again"}`))
	for _, ev := range evs[1:] {
		if got := hook.next(t); got != ev.ID {
			t.Errorf("replayed %s, want %s", got, ev.ID)
		}
	}

	c.expect("POST", "/api/v1/destinations/hook/replay?job=orders&since=2026-03-01T00:00:00%2B01:00", 200, compact(t, `{
		"destination":"hook","job":"orders","since":"2026-02-28T23:00:00Z","replayed":3,"log_start":"2026-03-01T09:00:00Z",
		"message":"3 events of job \"orders\" detected since 2026-02-28T23:00:00Z queued for delivery to \"hook\" again; the log of job \"orders\" holds events detected since 2026-03-01T09:00:00Z: older ones, if any, were delivered to every destination and dropped"}`))
	for _, ev := range evs {
		if got := hook.next(t); got != ev.ID {
			t.Errorf("replayed %s, want %s", got, ev.ID)
		}
	}

	c.expect("POST", "/api/v1/destinations/hook/replay?job=solo&since=2026-03-01T00:00:00Z", 200, compact(t, `{
		"destination":"hook","job":"solo","since":"2026-03-01T00:00:00Z","replayed":0,
		"message":"0 events of job \"solo\" detected since 2026-03-01T00:00:00Z queued for delivery to \"hook\" again; the log of job \"solo\" is empty (every destination has every event), so no older event can be replayed"}`))
}
