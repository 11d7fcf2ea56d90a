package admin

import (
	"bytes"
	"encoding/base64"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/pollhook/pollhook/pusher"
)

const unauthorizedBody = `{"error":{"code":"unauthorized","message":"missing or invalid bearer token"}}` + "\n"

// TestAPIAuth: every /api/v1 request needs the exact bearer token, and
// every refusal reads the same, whether the token was missing, wrong or
// not configured at all; health and metrics stay open.
func TestAPIAuth(t *testing.T) {
	w := newWorld(t, []pusher.Destination{{Name: "hook", URL: "http://127.0.0.1:1/"}}, map[string][]string{"orders": {"hook"}})
	p := w.pusher()
	tests := []struct {
		name   string
		token  string // configured
		method string
		path   string
		auth   string // sent
		code   int
	}{
		{"no header", testToken, "GET", "/api/v1/destinations", "", 401},
		{"wrong token", testToken, "GET", "/api/v1/destinations", "Bearer wrong-token", 401},
		{"token prefix", testToken, "GET", "/api/v1/destinations", "Bearer " + testToken[:5], 401},
		{"token with more", testToken, "GET", "/api/v1/destinations", "Bearer " + testToken + "x", 401},
		{"other scheme", testToken, "GET", "/api/v1/destinations", "Basic " + testToken, 401},
		{"scheme alone", testToken, "GET", "/api/v1/destinations", "Bearer", 401},
		{"bare token", testToken, "GET", "/api/v1/destinations", testToken, 401},
		{"unknown path without token", testToken, "GET", "/api/v1/secret-place", "", 401},
		{"action without token", testToken, "POST", "/api/v1/destinations/hook/resume", "", 401},
		{"right token", testToken, "GET", "/api/v1/destinations", "Bearer " + testToken, 200},
		{"scheme in any case", testToken, "GET", "/api/v1/destinations", "bearer " + testToken, 200},
		{"disabled, no header", "", "GET", "/api/v1/destinations", "", 401},
		{"disabled, empty token", "", "GET", "/api/v1/destinations", "Bearer ", 401},
		{"disabled, any token", "", "GET", "/api/v1/destinations", "Bearer " + testToken, 401},
		{"healthz open", testToken, "GET", "/healthz", "", 200},
		{"metrics open", testToken, "GET", "/metrics", "", 200},
		{"healthz open when disabled", "", "GET", "/healthz", "", 200},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := New(slog.New(slog.DiscardHandler), nil, NewMetrics())
			s.MountAPI(APIConfig{Token: tc.token, Store: w.st, Deliveries: p, Destinations: w.adminDests()})
			srv := httptest.NewServer(s.Handler())
			defer srv.Close()
			c := &client{t: t, url: srv.URL}
			code, body, h := c.doAuth(tc.method, tc.path, tc.auth)
			if code != tc.code {
				t.Fatalf("%s %s with %q = %d %s, want %d", tc.method, tc.path, tc.auth, code, body, tc.code)
			}
			if code == 401 {
				if body != unauthorizedBody {
					t.Errorf("body %q, want %q", body, unauthorizedBody)
				}
				if got := h.Get("WWW-Authenticate"); got != `Bearer realm="pollhook"` {
					t.Errorf("WWW-Authenticate %q", got)
				}
			}
		})
	}
}

// TestAPIDisabledWarning: without a token the API says once, at start,
// how to enable it; with one it says nothing.
func TestAPIDisabledWarning(t *testing.T) {
	for _, token := range []string{"", testToken} {
		var buf bytes.Buffer
		logger := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{
			ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
				if a.Key == slog.TimeKey {
					return slog.Attr{}
				}
				return a
			}}))
		s := New(logger, nil, nil)
		s.MountAPI(APIConfig{Token: token})
		srv := httptest.NewServer(s.Handler())
		c := &client{t: t, url: srv.URL}
		for range 3 {
			c.doAuth("GET", "/api/v1/destinations", "Bearer x")
		}
		srv.Close()
		want := ""
		if token == "" {
			want = `level=WARN msg="admin API disabled until server.admin_token (or server.admin_token_file) is set; every /api/v1 request is refused"` + "\n"
		}
		if buf.String() != want {
			t.Errorf("token %q: log\n%s\nwant\n%s", token, buf.String(), want)
		}
	}
}

// TestAPIErrors pins every error answer: code, status and message.
func TestAPIErrors(t *testing.T) {
	w := newWorld(t, []pusher.Destination{{Name: "hook", URL: "http://127.0.0.1:1/"}}, map[string][]string{"orders": {"hook"}})
	c := w.serve(w.pusher(), testToken)
	notConfigured := `{"error":{"code":"not_found","message":"destination \"nope\" is not configured"}}`
	tests := []struct {
		method, path string
		code         int
		body         string
		allow        string
	}{
		{"GET", "/api/v1/destinations/nope", 404, notConfigured, ""},
		{"POST", "/api/v1/destinations/nope/resume", 404, notConfigured, ""},
		{"POST", "/api/v1/destinations/nope/replay", 404, notConfigured, ""},
		{"POST", "/api/v1/destinations/nope/replay?job=orders&since=2026-03-01T00:00:00Z", 404, notConfigured, ""},
		{"GET", "/api/v1/deadletters?destination=nope", 404, notConfigured, ""},
		{"POST", "/api/v1/deadletters/nope/evt_1/retry", 404, notConfigured, ""},
		{"POST", "/api/v1/deadletters/hook/evt_1/retry", 404,
			`{"error":{"code":"not_found","message":"destination \"hook\" has no dead letter of event \"evt_1\""}}`, ""},
		{"POST", "/api/v1/destinations/hook/replay?job=invoices&since=2026-03-01T00:00:00Z", 404,
			`{"error":{"code":"not_found","message":"destination \"hook\" does not receive job \"invoices\""}}`, ""},
		{"GET", "/api/v1/queues", 404, `{"error":{"code":"not_found","message":"no endpoint GET /api/v1/queues"}}`, ""},
		{"GET", "/api/v1/", 404, `{"error":{"code":"not_found","message":"no endpoint GET /api/v1/"}}`, ""},
		{"DELETE", "/api/v1/destinations", 405,
			`{"error":{"code":"method_not_allowed","message":"DELETE /api/v1/destinations is not allowed; use GET"}}`, "GET"},
		{"GET", "/api/v1/destinations/hook/resume", 405,
			`{"error":{"code":"method_not_allowed","message":"GET /api/v1/destinations/hook/resume is not allowed; use POST"}}`, "POST"},
		{"POST", "/api/v1/destinations/hook/replay?job=orders", 400,
			`{"error":{"code":"bad_request","message":"job and since go together: ?job=JOB\u0026since=TIME replays the events of a job detected since an RFC 3339 time; without both, the destination's dead letters are replayed"}}`, ""},
		{"POST", "/api/v1/destinations/hook/replay?since=2026-03-01T00:00:00Z", 400,
			`{"error":{"code":"bad_request","message":"job and since go together: ?job=JOB\u0026since=TIME replays the events of a job detected since an RFC 3339 time; without both, the destination's dead letters are replayed"}}`, ""},
		{"POST", "/api/v1/destinations/hook/replay?job=orders&since=yesterday", 400,
			`{"error":{"code":"bad_request","message":"since \"yesterday\" is not an RFC 3339 time such as 2026-03-01T12:00:00Z"}}`, ""},
	}
	for _, tc := range tests {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			code, body, h := c.do(tc.method, tc.path)
			if code != tc.code || body != tc.body+"\n" {
				t.Errorf("= %d %s\nwant %d %s", code, body, tc.code, tc.body)
			}
			if got := h.Get("Allow"); got != tc.allow {
				t.Errorf("Allow %q, want %q", got, tc.allow)
			}
			if got := h.Get("Content-Type"); got != "application/json" {
				t.Errorf("Content-Type %q", got)
			}
		})
	}
}

// TestAPISecretsNeverAnswered calls every endpoint, successes and errors,
// on a destination whose URL, secret and headers hold secrets, and checks
// that no answer holds any of them.
func TestAPISecretsNeverAnswered(t *testing.T) {
	hook := newReceiver(t, http.StatusInternalServerError, "boom")
	signing := "whsec_" + base64.StdEncoding.EncodeToString([]byte("signing-key-material-0123456789"))
	secrets := []string{"url-password", "query-secret", "url-user", signing, "signing-key-material",
		strings.TrimPrefix(signing, "whsec_"), "header-secret", testToken}
	rawURL := strings.Replace(hook.URL, "http://", "http://url-user:url-password@", 1) + "/in/path-token?token=query-secret"
	w := newWorld(t, []pusher.Destination{{Name: "hook", URL: rawURL, Secrets: []string{signing},
		Header: map[string]string{"X-Api-Key": "header-secret"}, Retry: pusher.RetryPolicy{MaxAttempts: 1}}},
		map[string][]string{"orders": {"hook"}})
	ev := w.commit("orders", t0)[0]
	p, _ := w.run()
	w.logs.wait(t, logDead)
	c := w.serve(p, testToken)

	c.answersNoSecret([]call{
		{"GET", "/api/v1/destinations"},
		{"GET", "/api/v1/destinations/hook"},
		{"GET", "/api/v1/deadletters"},
		{"GET", "/api/v1/deadletters?destination=hook&job=orders"},
		{"POST", "/api/v1/destinations/hook/resume"},
		{"POST", "/api/v1/deadletters/hook/" + ev.ID + "/retry"},
		{"POST", "/api/v1/deadletters/hook/" + ev.ID + "/retry"},
		{"POST", "/api/v1/destinations/hook/replay"},
		{"POST", "/api/v1/destinations/hook/replay?job=orders&since=2026-01-01T00:00:00Z"},
		{"GET", "/api/v1/destinations/nope"},
		{"DELETE", "/api/v1/destinations/hook"},
	}, secrets)
	// The redacted URL is there, so the check above looked at real answers.
	_, body, _ := c.do("GET", "/api/v1/destinations/hook")
	if want := `"url":"http://` + hook.Listener.Addr().String() + `/…"`; !strings.Contains(body, want) {
		t.Errorf("destination %s, want %s", body, want)
	}
}
