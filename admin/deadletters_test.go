package admin

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/pollhook/pollhook/pusher"
)

// TestAPIDeadLetterRetry: an event out of attempts is listed as a dead
// letter, with filters, and a retry through the API delivers it.
func TestAPIDeadLetterRetry(t *testing.T) {
	hook := newReceiver(t, http.StatusInternalServerError, "boom")
	w := newWorld(t, []pusher.Destination{{Name: "hook", URL: hook.URL, Retry: pusher.RetryPolicy{MaxAttempts: 1}}},
		map[string][]string{"orders": {"hook"}})
	ev := w.commit("orders", t0.Add(-time.Minute))[0]
	p, _ := w.run()
	w.logs.wait(t, logDead)
	c := w.serve(p, testToken)

	list := compact(t, fmt.Sprintf(`{"dead_letters":[{"destination":"hook","event_id":%q,"job":"orders","seq":1,
		"type":"item.created","key":"a","detected_at":"2026-03-01T11:59:00Z","attempts":1,"last_status":500,
		"last_error":"500 Internal Server Error: boom","dead_at":"2026-03-01T12:00:00Z"}]}`, ev.ID))
	for _, q := range []string{"", "?destination=hook", "?job=orders", "?destination=hook&job=orders"} {
		c.expect("GET", "/api/v1/deadletters"+q, 200, list)
	}
	c.expect("GET", "/api/v1/deadletters?job=invoices", 200, `{"dead_letters":[]}`)

	hook.status.Store(http.StatusAccepted)
	c.expect("POST", "/api/v1/deadletters/hook/"+ev.ID+"/retry", 200, fmt.Sprintf(
		`{"destination":"hook","event_id":%q,"message":"dead letter of event %s queued for delivery to \"hook\" again"}`, ev.ID, ev.ID))
	if got := hook.next(t); got != ev.ID {
		t.Errorf("delivered %s after retry, want %s", got, ev.ID)
	}
	c.expect("GET", "/api/v1/deadletters", 200, `{"dead_letters":[]}`)
	c.expect("POST", "/api/v1/deadletters/hook/"+ev.ID+"/retry", 404, fmt.Sprintf(
		`{"error":{"code":"not_found","message":"destination \"hook\" has no dead letter of event \"%s\""}}`, ev.ID))
}
