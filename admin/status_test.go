package admin

import (
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pollhook/pollhook/differ"
	"github.com/pollhook/pollhook/pusher"
	"github.com/pollhook/pollhook/scheduler"
)

// statusWorld is a running pollhook in miniature for the status page: an
// items job that polled fine and was resynced (its events held by a
// failing destination whose receiver answers with markup), a document job
// whose source answers with a script, and a job never polled.
func statusWorld(t *testing.T) (*jobsWorld, *client) {
	t.Helper()
	hook := newReceiver(t, http.StatusInternalServerError, `<img src=x onerror=alert(1)>`)
	slow := pusher.RetryPolicy{InitialInterval: time.Hour, MaxInterval: time.Hour}
	orders := testJob{Job: Job{Name: "orders", Schedule: "0 * * * *", URL: "/orders?token=src-secret", Items: true,
		Destinations: []string{"hook"}}, spec: differ.Spec{Items: "orders", Key: []string{"id"}}}
	jw := newJobsWorld(t, []pusher.Destination{{Name: "hook", URL: hook.URL + "/in?sig=dest-secret", Retry: slow}},
		orders, configJob, idleJob)
	jw.src.set("/orders", 200, ordersBody)
	jw.src.set("/config", 500, `<script>alert("pwned")</script>`)
	if out := jw.poll("orders"); out.Result != scheduler.ResultBaseline {
		t.Fatalf("orders: %s %v", out.Result, out.Err)
	}
	jw.poll("config")

	p, stop := jw.run()
	jw.serveJobs(p, p.Wake).expect("POST", "/api/v1/jobs/orders/resync", 200, compact(t, `{"job":"orders","events":2,
		"destinations":["hook"],"version":2,"message":"2 item.snapshot events of job \"orders\" queued for delivery to \"hook\""}`))
	jw.logs.wait(t, "delivery failed")
	stop() // so that the lane's retry state is stored before the page reads it
	return jw, jw.serveJobs(jw.pusher(), nil)
}

// TestStatusPage pins what the page shows of jobs, destinations and
// events, and that markup in errors is shown as text.
func TestStatusPage(t *testing.T) {
	jw, c := statusWorld(t)
	code, page, h := c.doAuth("GET", "/?token="+testToken, "")
	if code != 200 {
		t.Fatalf("GET / = %d\n%s", code, page)
	}
	for name, want := range map[string]string{
		"Content-Type":            "text/html; charset=utf-8",
		"Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
		"Referrer-Policy":         "no-referrer",
		"Cache-Control":           "no-store",
	} {
		if got := h.Get(name); got != want {
			t.Errorf("%s: %q, want %q", name, got, want)
		}
	}
	src := jw.host()
	rows := []string{
		`<tr id="job-orders">
<td>orders<div class="small">items &middot; http://` + src + `/orders?token=REDACTED</div></td>
<td><span class="badge up">up</span></td>
<td>0 * * * *</td>
<td>2026-03-01 12:00:00Z<div class="small">baseline now</div></td>`,
		`<tr id="job-config">
<td>config<div class="small">document &middot; http://` + src + `/config</div></td>
<td><span class="badge down">down</span><div class="small">1 failed in a row</div></td>
<td>0 * * * *</td>
<td>2026-03-01 12:00:00Z<div class="small">failed now</div></td>
<td>-<div class="small"></div></td>
<td>2026-03-01 13:00:00Z</td>
<td><span class="err">status: poll GET http://` + src + `/config: status 500 Internal Server Error: &lt;script&gt;alert(&#34;pwned&#34;)&lt;/script&gt;</span></td>
</tr>`,
		`<tr id="job-idle">
<td>idle<div class="small">document &middot; http://` + src + `/idle</div></td>
<td><span class="badge unknown">unknown</span></td>`,
		`<td><span class="badge failing">failing</span></td>
<td class="num">2</td>
<td class="num">0</td>`,
		`<span class="err">orders: 500 Internal Server Error: &lt;img src=x onerror=alert(1)&gt;</span>`,
		`<p class="meta">3 jobs, 1 destinations &middot; as of 2026-03-01 12:00:00Z &middot; reloads every 10 s</p>`,
		`<meta http-equiv="refresh" content="10">`,
	}
	for _, want := range rows {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks\n%s\n--- page:\n%s", want, page)
		}
	}
	events := regexp.MustCompile(`<tr><td>2026-03-01 12:00:00Z</td><td>orders</td><td>item.snapshot</td><td>([12])</td><td class="num">([12])</td><td class="small">evt_[0-9A-Z]{26}</td></tr>`).
		FindAllStringSubmatch(page, -1)
	if len(events) != 2 || events[0][1] != "2" || events[1][1] != "1" {
		t.Errorf("event rows %q, want the two resync events, the last first", events)
	}
	for _, leak := range []string{"<script", "<img", "src-secret", "dest-secret", testToken} {
		if strings.Contains(page, leak) {
			t.Errorf("page contains %q", leak)
		}
	}
}

// TestStatusPageAuth: the page needs the token, as a query parameter or
// a bearer header, and every refusal reads the same.
func TestStatusPageAuth(t *testing.T) {
	jw := newJobsWorld(t, nil, idleJob)
	enabled := jw.serveJobs(jw.pusher(), nil)
	disabled := jw.serveConfig(APIConfig{Store: jw.st, Jobs: jw.jobs})
	tests := []struct {
		name string
		c    *client
		path string
		auth string
		code int
	}{
		{"no token", enabled, "/", "", 401},
		{"wrong query token", enabled, "/?token=wrong", "", 401},
		{"empty query token", enabled, "/?token=", "", 401},
		{"wrong bearer", enabled, "/", "Bearer wrong", 401},
		{"query token", enabled, "/?token=" + testToken, "", 200},
		{"bearer", enabled, "/", "Bearer " + testToken, 200},
		{"disabled, no token", disabled, "/", "", 401},
		{"disabled, empty query token", disabled, "/?token=", "", 401},
		{"disabled, empty bearer", disabled, "/", "Bearer ", 401},
		{"other path", enabled, "/favicon.ico?token=" + testToken, "", 404},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, body, h := tc.c.doAuth("GET", tc.path, tc.auth)
			if code != tc.code {
				t.Fatalf("= %d, want %d\n%s", code, tc.code, body)
			}
			if code == 401 && (body != statusUnauthorized || h.Get("WWW-Authenticate") != `Bearer realm="pollhook"`) {
				t.Errorf("401 body %q, WWW-Authenticate %q", body, h.Get("WWW-Authenticate"))
			}
			if code == 200 && !strings.Contains(body, `<tr id="job-idle">`) {
				t.Errorf("page without the job:\n%s", body)
			}
		})
	}
}

// TestAgo pins the relative times of the page.
func TestAgo(t *testing.T) {
	for _, tc := range []struct {
		t    time.Time
		want string
	}{
		{time.Time{}, ""},
		{t0, "now"},
		{t0.Add(-90*time.Second - 400*time.Millisecond), "1m30s ago"},
		{t0.Add(25 * time.Second), "in 25s"},
	} {
		if got := ago(t0, tc.t); got != tc.want {
			t.Errorf("ago(%v) = %q, want %q", tc.t, got, tc.want)
		}
	}
	if got := fmt.Sprint(when(time.Time{}), " ", when(t0.In(time.FixedZone("X", 3600)))); got != "- 2026-03-01 12:00:00Z" {
		t.Errorf("when = %q", got)
	}
}
