package admin

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/pollhook/pollhook/differ"
	"github.com/pollhook/pollhook/poller"
	"github.com/pollhook/pollhook/pusher"
	"github.com/pollhook/pollhook/scheduler"
)

// Jobs of the jobs API tests: an items job with a secret in its query, a
// document job with a secret its source echoes, and one never polled. Their schedule is hourly at minute
// 0; the clock is fixed at t0 (12:00), so the next run is 13:00.
var (
	ordersJob = testJob{Job: Job{Name: "orders", Schedule: "0 * * * *", URL: "/orders?token=src-secret", Items: true,
		Destinations: []string{"hook"}, Secrets: []string{"src-secret"}},
		spec: differ.Spec{Items: "orders", Key: []string{"id"}, EmitInitial: true}}
	configJob = testJob{Job: Job{Name: "config", Schedule: "0 * * * *", URL: "/config", Destinations: []string{"hook"},
		Secrets: []string{"cfg-secret"}}}
	idleJob = testJob{Job: Job{Name: "idle", Schedule: "0 * * * *", URL: "/idle"}}
)

const ordersBody = `{"orders":[{"id":1,"status":"open"},{"id":2,"status":"shipped"}]}`

// TestAPIJobs pins the job list and a job's answer: an items job whose
// first poll emitted its items, a document job whose source fails, and a
// job never polled.
func TestAPIJobs(t *testing.T) {
	jw := newJobsWorld(t, []pusher.Destination{{Name: "hook", URL: "http://127.0.0.1:1/"}}, ordersJob, configJob, idleJob)
	jw.src.set("/orders", 200, ordersBody)
	jw.src.set("/config", 503, "down for maintenance, token cfg-secret")
	if out := jw.poll("orders"); out.Result != scheduler.ResultChanged {
		t.Fatalf("orders: %s %v", out.Result, out.Err)
	}
	for range 2 {
		if out := jw.poll("config"); out.Result != scheduler.ResultFailed {
			t.Fatalf("config: %s", out.Result)
		}
	}
	c := jw.serveJobs(jw.pusher(), nil)

	orders := fmt.Sprintf(`{"name":"orders","schedule":"0 * * * *","source":"http://%s/orders?token=REDACTED","mode":"items",
		"destinations":["hook"],"health":"up","polling":false,"last_poll":"2026-03-01T12:00:00Z","last_result":"changed",
		"last_change":"2026-03-01T12:00:00Z","next_run":"2026-03-01T13:00:00Z","consecutive_failures":0,"version":1,"last_seq":2}`, jw.host())
	config := fmt.Sprintf(`{"name":"config","schedule":"0 * * * *","source":"http://%s/config","mode":"document",
		"destinations":["hook"],"health":"down","polling":false,"last_poll":"2026-03-01T12:00:00Z","last_result":"failed",
		"last_reason":"status","last_error":"poll GET http://%s/config: status 503 Service Unavailable: down for maintenance, token \u003csecret\u003e",
		"next_run":"2026-03-01T13:00:00Z","consecutive_failures":2,"version":0,"last_seq":0}`, jw.host(), jw.host())
	idle := fmt.Sprintf(`{"name":"idle","schedule":"0 * * * *","source":"http://%s/idle","mode":"document",
		"destinations":[],"health":"unknown","polling":false,"next_run":"2026-03-01T13:00:00Z","consecutive_failures":0,
		"version":0,"last_seq":0}`, jw.host())
	c.expect("GET", "/api/v1/jobs", 200, compact(t, `{"jobs":[`+orders+`,`+config+`,`+idle+`]}`))
	c.expect("GET", "/api/v1/jobs/orders", 200, compact(t, orders))
	c.expect("GET", "/api/v1/jobs/idle", 200, compact(t, idle))
	c.expect("GET", "/api/v1/jobs/nope", 404, `{"error":{"code":"not_found","message":"job \"nope\" is not configured"}}`)
}

// TestAPIJobPoll: POST .../poll starts a poll through the scheduler and
// answers 202; while it runs the job shows as polling and another request
// is refused with 409.
func TestAPIJobPoll(t *testing.T) {
	jw := newJobsWorld(t, []pusher.Destination{{Name: "hook", URL: "http://127.0.0.1:1/"}}, ordersJob)
	jw.src.set("/orders", 200, ordersBody)
	release := jw.src.holdPath(t, "/orders")
	c := jw.serveJobs(jw.pusher(), nil)

	c.expect("POST", "/api/v1/jobs/orders/poll", 202,
		`{"job":"orders","started":true,"message":"poll of job \"orders\" started; GET /api/v1/jobs/orders shows its outcome"}`)
	receive(t, jw.src.hits, "the triggered poll's request")
	_, body, _ := c.do("GET", "/api/v1/jobs/orders")
	if want := `"polling":true`; !strings.Contains(body, want) {
		t.Errorf("job while polling: %s\nwant %s", body, want)
	}
	c.expect("POST", "/api/v1/jobs/orders/poll", 409,
		`{"error":{"code":"conflict","message":"job \"orders\" is polling already; a job never polls twice at once, so try again when this poll is done"}}`)
	c.expect("POST", "/api/v1/jobs/nope/poll", 404, `{"error":{"code":"not_found","message":"job \"nope\" is not configured"}}`)
	c.expect("GET", "/api/v1/jobs/orders/poll", 405,
		`{"error":{"code":"method_not_allowed","message":"GET /api/v1/jobs/orders/poll is not allowed; use POST"}}`)
	release()

	// The scheduler stops: polls are refused as unavailable.
	if err := jw.sched.Stop(waitLimit); err != nil {
		t.Fatal(err)
	}
	if last, ok := jw.polls.Last("orders"); !ok || last.Result != scheduler.ResultChanged {
		t.Errorf("the triggered poll recorded %+v, %v; want a changed poll", last, ok)
	}
	unavailable := `{"error":{"code":"unavailable","message":"the scheduler is not running: pollhook is starting or stopping"}}`
	c.expect("POST", "/api/v1/jobs/orders/poll", 503, unavailable)
	noSched := jw.serveConfig(APIConfig{Token: testToken, Store: jw.st, Jobs: jw.jobs})
	noSched.expect("POST", "/api/v1/jobs/orders/poll", 503, unavailable)
}

// TestAPIJobsAuth: the jobs endpoints need the token like the rest.
func TestAPIJobsAuth(t *testing.T) {
	jw := newJobsWorld(t, nil, idleJob)
	c := jw.serveJobs(jw.pusher(), nil)
	for _, call := range []call{
		{"GET", "/api/v1/jobs"}, {"GET", "/api/v1/jobs/idle"}, {"POST", "/api/v1/jobs/idle/poll"},
		{"GET", "/api/v1/jobs/idle/snapshot"}, {"POST", "/api/v1/jobs/idle/resync"}, {"GET", "/api/v1/jobs/nope"},
	} {
		for _, auth := range []string{"", "Bearer wrong", "Basic " + testToken, "Bearer " + testToken + "x"} {
			if code, body, _ := c.doAuth(call.method, call.path, auth); code != 401 || body != unauthorizedBody {
				t.Errorf("%s %s with %q = %d %s, want 401", call.method, call.path, auth, code, body)
			}
		}
		if code, body, _ := c.do(call.method, call.path); code == 401 {
			t.Errorf("%s %s with the token = %d %s", call.method, call.path, code, body)
		}
	}
}

// TestPolls: the recorder counts failures in a row, keeps the time of the
// last change across failures, and redacts URLs in errors.
func TestPolls(t *testing.T) {
	p := NewPolls(func() time.Time { return t0 })
	failure := &poller.Error{Reason: poller.ReasonTransport, Method: "GET", URL: "http://h/x",
		Detail: "dial http://user:pw@h/x?key=k1: refused"}
	p.ObservePoll(scheduler.Outcome{Job: "j", Result: scheduler.ResultChanged, Duration: 1500 * time.Millisecond})
	p.ObservePoll(scheduler.Outcome{Job: "j", Result: scheduler.ResultFailed, Reason: "transport", Err: failure})
	p.ObservePoll(scheduler.Outcome{Job: "j", Result: scheduler.ResultFailed, Reason: "transport", Err: failure})
	want := PollRecord{At: t0, Result: scheduler.ResultFailed, Reason: "transport",
		Err: "poll GET http://h/x: dial http://h/x?key=REDACTED: refused", Failures: 2, ChangedAt: t0}
	if got, ok := p.Last("j"); !ok || got != want {
		t.Errorf("after two failures: %+v, %v\nwant %+v", got, ok, want)
	}
	p.ObservePoll(scheduler.Outcome{Job: "j", Result: scheduler.ResultUnchanged, Duration: time.Second})
	want = PollRecord{At: t0, Duration: time.Second, Result: scheduler.ResultUnchanged, ChangedAt: t0}
	if got, _ := p.Last("j"); got != want {
		t.Errorf("after a success: %+v\nwant %+v", got, want)
	}
	p.Forget("j")
	if _, ok := p.Last("j"); ok {
		t.Errorf("a forgotten job is still known")
	}
	var none *Polls
	if _, ok := none.Last("j"); ok {
		t.Errorf("a nil Polls knows a job")
	}
}

// TestMaskSecrets: secrets are masked wherever they occur, the longest
// first, and values too short to be secrets are left alone.
func TestMaskSecrets(t *testing.T) {
	tests := []struct {
		in      string
		secrets []string
		want    string
	}{
		{"token abcd-efgh refused", []string{"abcd", "abcd-efgh"}, "token <secret> refused"},
		{"answered 1 on", []string{"1", "on"}, "answered 1 on"},
		{"", []string{"abcd"}, ""},
		{"key k3y5 and k3y5 again", []string{"k3y5", ""}, "key <secret> and <secret> again"},
	}
	for _, tt := range tests {
		if got := maskSecrets(tt.in, tt.secrets); got != tt.want {
			t.Errorf("maskSecrets(%q, %q) = %q, want %q", tt.in, tt.secrets, got, tt.want)
		}
	}
	if got, want := redactURLs("see https://u:p@h/a?b=c, then ftp://h/x."), "see https://h/a?b=REDACTED, then ftp://h/x."; got != want {
		t.Errorf("redactURLs = %q, want %q", got, want)
	}
}

// TestAPIJobsSecretsNeverAnswered calls every jobs endpoint and the status
// page for a job whose URL holds credentials and whose failing source
// echoes them, and checks that no answer holds any of them.
func TestAPIJobsSecretsNeverAnswered(t *testing.T) {
	secrets := []string{"url-user", "url-password", "query-secret", "header-secret", testToken}
	leaky := testJob{Job: Job{Name: "leaky", Schedule: "0 * * * *", URL: "/leaky?token=query-secret", Items: true,
		Destinations: []string{"hook"}, Secrets: []string{"url-password", "query-secret", "header-secret"}},
		spec: differ.Spec{Items: "orders", Key: []string{"id"}}}
	jw := newJobsWorld(t, []pusher.Destination{{Name: "hook", URL: "http://127.0.0.1:1/"}}, leaky)
	jw.jobs[0].URL = strings.Replace(jw.jobs[0].URL, "http://", "http://url-user:url-password@", 1)
	jw.src.set("/leaky", 503, "refused url-password, query-secret and header-secret at http://url-user:url-password@legacy/x?k=query-secret")
	if out := jw.poll("leaky"); out.Err == nil {
		t.Fatalf("poll of the failing source: %s", out.Result)
	}
	c := jw.serveJobs(jw.pusher(), nil)
	c.answersNoSecret([]call{
		{"GET", "/api/v1/jobs"},
		{"GET", "/api/v1/jobs/leaky"},
		{"GET", "/api/v1/jobs/leaky/snapshot"},
		{"POST", "/api/v1/jobs/leaky/resync"},
		{"GET", "/?token=" + testToken},
	}, secrets)
	// The error is there, so the check above looked at a real answer: the
	// poller scrubbed the value of its query, the API what it alone knows.
	_, body, _ := c.do("GET", "/api/v1/jobs/leaky")
	if want := `refused \u003csecret\u003e, REDACTED and \u003csecret\u003e at http://legacy/x?k=REDACTED`; !strings.Contains(body, want) {
		t.Errorf("job %s\nwant %s", body, want)
	}
}
