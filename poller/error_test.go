package poller

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestSnippetText(t *testing.T) {
	secret := "sk_live_0123456789"
	tests := []struct {
		name    string
		raw     string
		more    bool
		secrets []string
		want    string
	}{
		{name: "empty", raw: "", want: ""},
		{name: "only whitespace", raw: " \n\t\r ", want: ""},
		{name: "controls and invalid UTF-8 become one space", raw: "a\x00\x1b[31mb\xff\xfe c\n", want: "a [31mb c"},
		{name: "unread rest is marked", raw: "start of a longer body", more: true, want: "start of a longer body..."},
		{name: "secret replaced", raw: "bad key " + secret + ".", secrets: []string{secret}, want: "bad key REDACTED."},
		{
			name:    "secret straddling the cut is scrubbed before cutting",
			raw:     strings.Repeat("x ", 96) + "key=" + secret + " rest",
			secrets: []string{secret},
			want:    strings.Repeat("x ", 96) + "key=REDA...",
		},
		{
			name:    "longer secret first",
			raw:     "Bearer abcd1234 / abcd1234",
			secrets: []string{"Bearer abcd1234", "abcd1234"},
			want:    "REDACTED / REDACTED",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := snippetText([]byte(tt.raw), tt.more, tt.secrets)
			if got != tt.want {
				t.Errorf("snippetText = %q, want %q", got, tt.want)
			}
			if len(strings.TrimSuffix(got, "...")) > maxSnippet {
				t.Errorf("snippet of %d bytes, want at most %d", len(got), maxSnippet)
			}
		})
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		value string
		want  time.Duration
	}{
		{"", 0},
		{"0", 0},
		{"120", 120 * time.Second},
		{" 7 ", 7 * time.Second},
		{"Sun, 01 Mar 2026 12:02:30 GMT", 150 * time.Second},
		{"Sunday, 01-Mar-26 12:00:10 GMT", 10 * time.Second},
		{"Sun Mar  1 12:00:05 2026", 5 * time.Second},
		{"Sun, 01 Mar 2026 11:00:00 GMT", 0}, // in the past
		{"-5", 0},
		{"1.5", 0},
		{"soon", 0},
		{"99999999999999999999", maxRetryAfter},
		{"9223372036", maxRetryAfter},
	}
	for _, tt := range tests {
		if got := retryAfter(tt.value, now); got != tt.want {
			t.Errorf("retryAfter(%q) = %v, want %v", tt.value, got, tt.want)
		}
	}
}

// TestPollRetryAfter: a 429 or 503 hands the source's Retry-After to the
// scheduler; other statuses do not, whatever they send.
func TestPollRetryAfter(t *testing.T) {
	tests := []struct {
		name       string
		code       int
		retryAfter string
		want       time.Duration
	}{
		{name: "429 seconds", code: 429, retryAfter: "120", want: 120 * time.Second},
		{name: "503 seconds", code: 503, retryAfter: "30", want: 30 * time.Second},
		{name: "429 without", code: 429},
		{name: "503 unparsable", code: 503, retryAfter: "later"},
		{name: "500 ignored", code: 500, retryAfter: "120"},
		{name: "301 ignored", code: 301, retryAfter: "120"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
				if tt.retryAfter != "" {
					w.Header().Set("Retry-After", tt.retryAfter)
				}
				w.WriteHeader(tt.code)
			})
			perr := pollErr(t, New(nil), t.Context(), Request{URL: srv.URL})
			if perr.RetryAfter != tt.want || perr.Status != tt.code {
				t.Errorf("RetryAfter, Status = %v, %d; want %v, %d", perr.RetryAfter, perr.Status, tt.want, tt.code)
			}
		})
	}
}

// TestPollRetryAfterDate: an HTTP date becomes the wait from the answer
// on, to the second the date is written in.
func TestPollRetryAfterDate(t *testing.T) {
	t.Parallel()
	sentc := make(chan time.Time, 1)
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		sent := time.Now().Truncate(time.Second).Add(90 * time.Second)
		sentc <- sent
		w.Header().Set("Retry-After", sent.UTC().Format(http.TimeFormat))
		w.WriteHeader(http.StatusServiceUnavailable)
	})
	perr := pollErr(t, New(nil), t.Context(), Request{URL: srv.URL})
	after, sent := time.Now(), <-sentc
	// RetryAfter was computed between the answer and now.
	if lo, hi := sent.Sub(after), 90*time.Second; perr.RetryAfter < lo || perr.RetryAfter > hi {
		t.Errorf("RetryAfter = %v, want within [%v, %v]", perr.RetryAfter, lo, hi)
	}
}

// TestPollRedirectSecrets: a source that redirects to a URL with
// credentials and echoes them in its error page does not get them logged.
func TestPollRedirectSecrets(t *testing.T) {
	t.Parallel()
	var target string
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/start" {
			http.Redirect(w, r, target, http.StatusFound)
			return
		}
		w.WriteHeader(http.StatusInternalServerError)
		fmt.Fprintf(w, "denied %s %s", r.URL.RequestURI(), r.Header.Get("Authorization"))
	})
	target = strings.Replace(srv.URL, "http://", "http://rduser:rdpass@", 1) + "/final?token=rdtoken"
	perr := pollErr(t, New(nil), t.Context(), Request{URL: srv.URL + "/start"})
	want := "poll GET " + srv.URL + "/start: status 500 Internal Server Error: denied /final?token=REDACTED Basic REDACTED"
	if perr.Error() != want {
		t.Errorf("error = %q, want %q", perr.Error(), want)
	}
}
