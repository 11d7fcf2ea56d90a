package pusher

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"syscall"
	"testing"
	"time"
)

// statusRanges maps every status code 100–599 to an expectation; the test
// checks that the ranges cover each code exactly once.
type statusRange[T any] struct {
	lo, hi int
	want   T
}

func forEachStatus[T any](t *testing.T, ranges []statusRange[T], check func(status int, want T)) {
	t.Helper()
	covered := make(map[int]int)
	for _, r := range ranges {
		for s := r.lo; s <= r.hi; s++ {
			covered[s]++
			check(s, r.want)
		}
	}
	for s := 100; s <= 599; s++ {
		if covered[s] != 1 {
			t.Fatalf("status %d covered %d times by the table", s, covered[s])
		}
	}
}

// transportErrors are the shapes of failure a request can end with
// without any response.
var transportErrors = []error{
	&url.Error{Op: "Post", URL: "http://127.0.0.1:1/hook", Err: &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}},
	&url.Error{Op: "Post", URL: "http://example.invalid/hook", Err: &net.DNSError{Err: "no such host", Name: "example.invalid", IsNotFound: true}},
	&url.Error{Op: "Post", URL: "http://127.0.0.1/hook", Err: context.DeadlineExceeded},
	io.ErrUnexpectedEOF,
	errors.New("tls: failed to verify certificate"),
}

func TestClassifyEveryStatus(t *testing.T) {
	forEachStatus(t, []statusRange[outcome]{
		{100, 199, retryLater}, // informational: never a final answer
		{200, 299, delivered},
		{300, 399, retryLater}, // redirects are not followed
		{400, 499, retryLater}, // a misconfigured receiver can be fixed
		{500, 599, retryLater},
	}, func(status int, want outcome) {
		if got := classify(status, nil); got != want {
			t.Errorf("classify(%d, nil) = %v, want %v", status, got, want)
		}
	})
}

func TestDecideEveryStatus(t *testing.T) {
	tests := []struct {
		name    string
		success []int
		ranges  []statusRange[outcome]
	}{
		{"2xx only", nil, []statusRange[outcome]{
			{100, 199, retryLater},
			{200, 299, delivered},
			{300, 399, retryLater},
			{400, 409, retryLater},
			{410, 410, gone}, // the receiver is gone: pause the destination
			{411, 499, retryLater},
			{500, 599, retryLater},
		}},
		{"success codes", []int{102, 302, 404, 410, 503}, []statusRange[outcome]{
			{100, 101, retryLater},
			{102, 102, delivered},
			{103, 199, retryLater},
			{200, 299, delivered},
			{300, 301, retryLater},
			{302, 302, delivered},
			{303, 399, retryLater},
			{400, 403, retryLater},
			{404, 404, delivered},
			{405, 409, retryLater},
			{410, 410, delivered}, // listed: an answer like any other
			{411, 499, retryLater},
			{500, 502, retryLater},
			{503, 503, delivered},
			{504, 599, retryLater},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			forEachStatus(t, tt.ranges, func(status int, want outcome) {
				if got := decide(status, tt.success); got != want {
					t.Errorf("decide(%d, %v) = %v, want %v", status, tt.success, got, want)
				}
			})
			// No answer at all is never a success.
			if got := decide(0, append(tt.success, 0)); got != retryLater {
				t.Errorf("decide(0) = %v, want retry", got)
			}
		})
	}
}

func TestClassifyTransportErrors(t *testing.T) {
	for _, err := range transportErrors {
		for _, status := range []int{0, 200} {
			if got := classify(status, err); got != retryLater {
				t.Errorf("classify(%d, %v) = %v, want retry", status, err, got)
			}
		}
	}
}

func TestRetryInProcessEveryStatus(t *testing.T) {
	forEachStatus(t, []statusRange[bool]{
		{100, 428, false},
		{429, 429, true},
		{430, 499, false},
		{500, 599, true},
	}, func(status int, want bool) {
		if got := retryInProcess(status, nil, 0, false, time.Second); got != want {
			t.Errorf("retryInProcess(%d) = %v, want %v", status, got, want)
		}
	})
	for _, err := range transportErrors {
		if !retryInProcess(0, err, 0, false, time.Second) {
			t.Errorf("retryInProcess(%v) = false, want true", err)
		}
	}
}

func TestRetryInProcessRetryAfter(t *testing.T) {
	tests := []struct {
		status int
		after  time.Duration
		want   bool
	}{
		{429, 0, true},
		{429, time.Second, true},
		{429, time.Second + 1, false}, // longer than the in-process cap: the store schedules it
		{503, 30 * time.Second, false},
		{503, time.Second, true},
	}
	for _, tt := range tests {
		if got := retryInProcess(tt.status, nil, tt.after, true, time.Second); got != tt.want {
			t.Errorf("retryInProcess(%d, Retry-After %s) = %v, want %v", tt.status, tt.after, got, tt.want)
		}
	}
}

func TestCheckRetry(t *testing.T) {
	now := time.Date(2026, 11, 27, 20, 0, 0, 0, time.UTC)
	check := checkRetry(time.Second, func() time.Time { return now })
	resp := func(status int, retryAfter string) *http.Response {
		h := http.Header{}
		if retryAfter != "" {
			h.Set("Retry-After", retryAfter)
		}
		return &http.Response{StatusCode: status, Header: h}
	}
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	stopping := make(chan struct{})
	close(stopping)
	stopCtx := context.WithValue(context.Background(), stoppingKey{}, (<-chan struct{})(stopping))
	running := context.WithValue(context.Background(), stoppingKey{}, (<-chan struct{})(make(chan struct{})))

	tests := []struct {
		name    string
		ctx     context.Context
		resp    *http.Response
		err     error
		want    bool
		wantErr error
	}{
		{"503", running, resp(503, ""), nil, true, nil},
		{"503 retry-after 1s", running, resp(503, "1"), nil, true, nil},
		{"503 retry-after 2s", running, resp(503, "2"), nil, false, nil},
		{"429 retry-after date 1s ahead", running, resp(429, now.Add(time.Second).Format(http.TimeFormat)), nil, true, nil},
		{"404", running, resp(404, ""), nil, false, nil},
		{"200", running, resp(200, ""), nil, false, nil},
		{"transport error", running, nil, io.ErrUnexpectedEOF, true, nil},
		{"no stopping channel", context.Background(), resp(502, ""), nil, true, nil},
		{"shutdown begun", stopCtx, resp(503, ""), nil, false, nil},
		{"context cancelled", cancelled, nil, context.Canceled, false, context.Canceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := check(tt.ctx, tt.resp, tt.err)
			if got != tt.want || !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
				t.Errorf("checkRetry = %v, %v; want %v, %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 27, 20, 0, 0, 0, time.UTC)
	tests := []struct {
		status int
		value  string
		want   time.Duration
		ok     bool
	}{
		{429, "2", 2 * time.Second, true},
		{503, "0", 0, true},
		{503, " 7 ", 7 * time.Second, true},
		{503, now.Add(30 * time.Second).Format(http.TimeFormat), 30 * time.Second, true},
		{429, "Friday, 27-Nov-26 20:01:00 GMT", time.Minute, true},  // RFC 850
		{429, "Fri Nov 27 20:00:05 2026", 5 * time.Second, true},    // ANSI C
		{503, now.Add(-time.Hour).Format(http.TimeFormat), 0, true}, // past: now
		{429, "99999999999999999", maxDuration, true},
		{429, "-1", 0, false},
		{429, "soon", 0, false},
		{429, "", 0, false},
		{500, "2", 0, false}, // only 429 and 503 carry a meaningful one
		{301, "2", 0, false},
		{200, "2", 0, false},
	}
	for _, tt := range tests {
		h := http.Header{}
		if tt.value != "" {
			h.Set("Retry-After", tt.value)
		}
		got, ok := parseRetryAfter(tt.status, h, now)
		if got != tt.want || ok != tt.ok {
			t.Errorf("parseRetryAfter(%d, %q) = %s, %v; want %s, %v", tt.status, tt.value, got, ok, tt.want, tt.ok)
		}
	}
}

func TestBackoff(t *testing.T) {
	// highest always picks the top of the jitter range, lowest the bottom;
	// half picks its middle.
	highest := func(n int64) int64 { return n - 1 }
	lowest := func(int64) int64 { return 0 }
	half := func(n int64) int64 { return n / 2 }
	tests := []struct {
		initial, max time.Duration
		attempts     int
		after        time.Duration
		hasAfter     bool
		rand         func(int64) int64
		want         time.Duration
	}{
		{10 * ms, 80 * ms, 1, 0, false, highest, 10 * ms},
		{10 * ms, 80 * ms, 2, 0, false, highest, 20 * ms},
		{10 * ms, 80 * ms, 3, 0, false, highest, 40 * ms},
		{10 * ms, 80 * ms, 4, 0, false, highest, 80 * ms},
		{10 * ms, 80 * ms, 5, 0, false, highest, 80 * ms}, // capped
		{10 * ms, 80 * ms, 1000, 0, false, highest, 80 * ms},
		{10 * ms, 80 * ms, 3, 0, false, lowest, 0}, // full jitter reaches zero
		{10 * ms, 80 * ms, 3, 0, false, half, 20 * ms},
		{10 * ms, 80 * ms, 0, 0, false, highest, 10 * ms},              // defensive: treated as the first
		{5 * time.Second, time.Hour, 15, 0, false, highest, time.Hour}, // the defaults after 15 failures
		{5 * time.Second, time.Hour, 10, 0, false, highest, 2560 * time.Second},
		{100 * ms, 70 * ms, 1, 0, false, highest, 70 * ms}, // initial above max: max wins
		{time.Hour, maxDuration, 200, 0, false, highest, maxDuration - 1},
		{10 * ms, 80 * ms, 1, 50 * ms, true, lowest, 50 * ms}, // Retry-After replaces the jitter
		{10 * ms, 80 * ms, 1, 0, true, highest, 0},
		{10 * ms, 80 * ms, 1, time.Hour, true, highest, 80 * ms}, // capped at max
	}
	for _, tt := range tests {
		name := fmt.Sprintf("%s..%s attempt %d after %s/%v", tt.initial, tt.max, tt.attempts, tt.after, tt.hasAfter)
		if got := backoff(tt.initial, tt.max, tt.attempts, tt.after, tt.hasAfter, tt.rand); got != tt.want {
			t.Errorf("%s: backoff = %s, want %s", name, got, tt.want)
		}
	}
}

func TestBackoffRandRange(t *testing.T) {
	// The jitter source is asked for [0, ceiling], inclusive of the ceiling.
	var asked []int64
	record := func(n int64) int64 { asked = append(asked, n); return 0 }
	for attempts := 1; attempts <= 5; attempts++ {
		backoff(10*time.Millisecond, 80*time.Millisecond, attempts, 0, false, record)
	}
	want := []int64{10e6 + 1, 20e6 + 1, 40e6 + 1, 80e6 + 1, 80e6 + 1}
	if fmt.Sprint(asked) != fmt.Sprint(want) {
		t.Errorf("randN asked for %v, want %v", asked, want)
	}
}

func TestRetryPolicyDefaults(t *testing.T) {
	tests := []struct {
		in, want RetryPolicy
	}{
		{RetryPolicy{}, DefaultRetry},
		{RetryPolicy{InitialInterval: time.Second, MaxAttempts: 3}, RetryPolicy{time.Second, time.Hour, 3, 72 * time.Hour}},
		{RetryPolicy{InitialInterval: 2 * time.Hour}, RetryPolicy{2 * time.Hour, 2 * time.Hour, 15, 72 * time.Hour}},
		{RetryPolicy{-1, -1, -1, -1}, DefaultRetry},
	}
	for _, tt := range tests {
		if got := tt.in.withDefaults(); got != tt.want {
			t.Errorf("%+v.withDefaults() = %+v, want %+v", tt.in, got, tt.want)
		}
	}
}
