package poller

import (
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// serve starts one source for one test case.
func serve(t *testing.T, h http.HandlerFunc) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

// seenRequest is what the source received.
type seenRequest struct {
	Method string
	URI    string
	Host   string
	Header http.Header
	Body   string
}

func TestPollSendsRequest(t *testing.T) {
	tests := []struct {
		name string
		req  Request // URL is a path, appended to the server's URL
		want seenRequest
	}{
		{
			name: "GET by default",
			req:  Request{URL: "/api/orders?status=open"},
			want: seenRequest{
				Method: "GET",
				URI:    "/api/orders?status=open",
				Header: http.Header{"User-Agent": {"pollhook"}, "Accept-Encoding": {"gzip, deflate"}},
			},
		},
		{
			name: "POST with headers and body",
			req: Request{
				Method: "POST",
				URL:    "/api/search",
				Header: http.Header{"Authorization": {"Bearer t0ken"}, "X-Api-Key": {"k1", "k2"}, "Content-Type": {"application/x-www-form-urlencoded"}},
				Body:   []byte("status=open&page=1"),
			},
			want: seenRequest{
				Method: "POST",
				URI:    "/api/search",
				Header: http.Header{
					"User-Agent":      {"pollhook"},
					"Accept-Encoding": {"gzip, deflate"},
					"Authorization":   {"Bearer t0ken"},
					"X-Api-Key":       {"k1", "k2"},
					"Content-Type":    {"application/x-www-form-urlencoded"},
					"Content-Length":  {"18"},
				},
				Body: "status=open&page=1",
			},
		},
		{
			name: "POST body defaults to JSON",
			req:  Request{Method: "post", URL: "/q", Body: []byte(`{"a":1}`)},
			want: seenRequest{
				Method: "POST",
				URI:    "/q",
				Header: http.Header{
					"User-Agent":      {"pollhook"},
					"Accept-Encoding": {"gzip, deflate"},
					"Content-Type":    {"application/json"},
					"Content-Length":  {"7"},
				},
				Body: `{"a":1}`,
			},
		},
		{
			name: "conditional headers",
			req:  Request{URL: "/c", ETag: `"v42"`, LastModified: "Wed, 21 Oct 2015 07:28:00 GMT"},
			want: seenRequest{
				Method: "GET",
				URI:    "/c",
				Header: http.Header{
					"User-Agent":        {"pollhook"},
					"Accept-Encoding":   {"gzip, deflate"},
					"If-None-Match":     {`"v42"`},
					"If-Modified-Since": {"Wed, 21 Oct 2015 07:28:00 GMT"},
				},
			},
		},
		{
			name: "own User-Agent and Host kept, own Accept-Encoding replaced",
			req:  Request{URL: "/h", Header: http.Header{"User-Agent": {"legacy-client/1.0"}, "Host": {"legacy.internal"}, "Accept-Encoding": {"br"}}},
			want: seenRequest{
				Method: "GET",
				URI:    "/h",
				Host:   "legacy.internal",
				Header: http.Header{"User-Agent": {"legacy-client/1.0"}, "Accept-Encoding": {"gzip, deflate"}},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			seen := make(chan seenRequest, 1)
			srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
				body, _ := io.ReadAll(r.Body)
				seen <- seenRequest{Method: r.Method, URI: r.RequestURI, Host: r.Host, Header: r.Header, Body: string(body)}
				w.Header().Set("Content-Type", "application/json")
				w.Header().Set("ETag", `"v43"`)
				w.Header().Set("Last-Modified", "Thu, 22 Oct 2015 07:28:00 GMT")
				io.WriteString(w, `{"orders":[]}`)
			})
			req := tt.req
			req.URL = srv.URL + req.URL
			resp, err := New(nil).Poll(t.Context(), req)
			if err != nil {
				t.Fatalf("Poll: %v", err)
			}
			got := <-seen
			want := tt.want
			if want.Host == "" {
				want.Host = strings.TrimPrefix(srv.URL, "http://")
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("source saw\n%+v\nwant\n%+v", got, want)
			}
			if resp.Duration <= 0 {
				t.Errorf("Duration = %v, want > 0", resp.Duration)
			}
			resp.Duration = 0
			wantResp := &Response{Status: 200, Body: []byte(`{"orders":[]}`), ContentType: "application/json", ETag: `"v43"`, LastModified: "Thu, 22 Oct 2015 07:28:00 GMT"}
			if !reflect.DeepEqual(resp, wantResp) {
				t.Errorf("Poll = %+v, want %+v", resp, wantResp)
			}
		})
	}
}

func TestPollNotModified(t *testing.T) {
	t.Parallel()
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("ETag", `"v1"`)
		if r.Header.Get("If-None-Match") == `"v1"` {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		io.WriteString(w, "fresh")
	})
	p := New(nil)
	first, err := p.Poll(t.Context(), Request{URL: srv.URL})
	if err != nil {
		t.Fatalf("first Poll: %v", err)
	}
	if first.NotModified || string(first.Body) != "fresh" {
		t.Fatalf("first Poll = %+v, want the fresh body", first)
	}
	second, err := p.Poll(t.Context(), Request{URL: srv.URL, ETag: first.ETag})
	if err != nil {
		t.Fatalf("conditional Poll: %v", err)
	}
	second.Duration = 0
	want := &Response{Status: 304, ETag: `"v1"`, NotModified: true}
	if !reflect.DeepEqual(second, want) {
		t.Errorf("conditional Poll = %+v, want %+v", second, want)
	}
}

// pollErr polls and returns the *Error it must fail with.
func pollErr(t *testing.T, p *Poller, ctx context.Context, req Request) *Error {
	t.Helper()
	resp, err := p.Poll(ctx, req)
	if err == nil {
		t.Fatalf("Poll = %+v, want an error", resp)
	}
	perr, ok := errors.AsType[*Error](err)
	if !ok {
		t.Fatalf("Poll error %v (%T), want *Error", err, err)
	}
	return perr
}

func TestPollStatus(t *testing.T) {
	long := strings.Repeat("x", 151) + strings.Repeat("é", 40) // 231 bytes; byte 200 is mid-rune
	tests := []struct {
		name    string
		path    string
		header  http.Header
		code    int
		body    string
		want    string // after "poll GET <server URL>"
		wantURL string // the redacted path and query
	}{
		{name: "503 without body", path: "/api/orders", code: 503, want: ": status 503 Service Unavailable"},
		{name: "500 with text", path: "/api/orders", code: 500, body: "database is down\n", want: ": status 500 Internal Server Error: database is down"},
		{name: "404 HTML flattened", path: "/nope", code: 404, body: "<html>\n\t<h1>Not\x00Found</h1>\r\n</html>", want: ": status 404 Not Found: <html> <h1>Not Found</h1> </html>"},
		{name: "long body cut at a rune", path: "/", code: 502, body: long, want: ": status 502 Bad Gateway: " + long[:199] + "..."},
		{name: "unknown status", path: "/", code: 599, body: "odd", want: ": status 599: odd"},
		{
			name:    "secrets echoed by the source are scrubbed",
			path:    "/api/orders?token=s3cr3t-query&status=open",
			header:  http.Header{"Authorization": {"Bearer s3cr3t-bearer"}, "Accept": {"application/json"}},
			code:    401,
			body:    "token s3cr3t-query or bearer s3cr3t-bearer rejected; want application/json",
			want:    ": status 401 Unauthorized: token REDACTED or bearer REDACTED rejected; want application/json",
			wantURL: "/api/orders?token=REDACTED&status=REDACTED",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(tt.code)
				io.WriteString(w, tt.body)
			})
			perr := pollErr(t, New(nil), t.Context(), Request{URL: srv.URL + tt.path, Header: tt.header})
			wantURL := tt.wantURL
			if wantURL == "" {
				wantURL = tt.path
			}
			if want := "poll GET " + srv.URL + wantURL + tt.want; perr.Error() != want {
				t.Errorf("error\n%q\nwant\n%q", perr.Error(), want)
			}
			if perr.Reason != ReasonStatus || perr.Status != tt.code {
				t.Errorf("Reason, Status = %q, %d; want %q, %d", perr.Reason, perr.Status, ReasonStatus, tt.code)
			}
		})
	}
}

// countingTransport counts the body bytes the poller reads, as they come
// from the wire.
type countingTransport struct {
	http.RoundTripper
	read atomic.Int64
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := c.RoundTripper.RoundTrip(r)
	if err == nil {
		resp.Body = countingBody{resp.Body, &c.read}
	}
	return resp, err
}

type countingBody struct {
	io.ReadCloser
	n *atomic.Int64
}

func (b countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n.Add(int64(n))
	return n, err
}

func TestPollBodyLimit(t *testing.T) {
	const limit = 1024
	tests := []struct {
		name     string
		size     int  // bytes the source sends
		chunked  bool // no Content-Length, so the limit is found by reading
		wantErr  bool
		wantRead int64 // most body bytes the poller may read
	}{
		{name: "exactly the limit", size: limit, wantRead: limit},
		{name: "limit+1 announced", size: limit + 1, wantErr: true, wantRead: 0},
		{name: "limit+1 chunked", size: limit + 1, chunked: true, wantErr: true, wantRead: limit + 1},
		{name: "1 MiB chunked", size: 1 << 20, chunked: true, wantErr: true, wantRead: limit + 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
				body := bytes.Repeat([]byte("a"), tt.size)
				if tt.chunked {
					w.(http.Flusher).Flush()
				}
				w.Write(body)
			})
			ct := &countingTransport{RoundTripper: NewTransport()}
			p := New(&http.Client{Transport: ct})
			resp, err := p.Poll(t.Context(), Request{URL: srv.URL, MaxBodyBytes: limit})
			if read := ct.read.Load(); read > tt.wantRead {
				t.Errorf("poller read %d body bytes, want at most %d", read, tt.wantRead)
			}
			if !tt.wantErr {
				if err != nil {
					t.Fatalf("Poll: %v", err)
				}
				if len(resp.Body) != tt.size {
					t.Errorf("len(Body) = %d, want %d", len(resp.Body), tt.size)
				}
				return
			}
			perr, ok := errors.AsType[*Error](err)
			if !ok {
				t.Fatalf("Poll = %v, %v; want a too_large *Error", resp, err)
			}
			want := "poll GET " + srv.URL + ": body exceeds the limit of 1024 bytes (max_body_size)"
			if perr.Reason != ReasonTooLarge || perr.Error() != want {
				t.Errorf("error %q (%s), want %q (too_large)", perr.Error(), perr.Reason, want)
			}
		})
	}
}

func TestPollDefaultBodyLimit(t *testing.T) {
	t.Parallel()
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "10485761")
	})
	perr := pollErr(t, New(nil), t.Context(), Request{URL: srv.URL})
	if want := "poll GET " + srv.URL + ": body exceeds the limit of 10485760 bytes (max_body_size)"; perr.Error() != want {
		t.Errorf("error %q, want %q", perr.Error(), want)
	}
}

// slowHeaders never answers; it returns when the poller hangs up.
func slowHeaders(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }

// slowBody answers at once, then sends one byte every 10ms for as long as
// the poller listens: each read succeeds, so only a bound on the whole
// request stops it.
func slowBody(w http.ResponseWriter, r *http.Request) {
	w.WriteHeader(http.StatusOK)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		w.Write([]byte("a"))
		w.(http.Flusher).Flush()
		select {
		case <-r.Context().Done():
			return
		case <-tick.C:
		}
	}
}

func TestPollTimeout(t *testing.T) {
	tests := []struct {
		name     string
		handler  http.HandlerFunc
		timeout  time.Duration
		deadline time.Duration // the caller's own deadline, if any
		want     string        // after "poll GET <server URL>"
	}{
		{name: "slow headers", handler: slowHeaders, timeout: 100 * time.Millisecond, want: ": timed out after 100ms waiting for the response"},
		{name: "slow-loris body", handler: slowBody, timeout: 100 * time.Millisecond, want: ": timed out after 100ms reading the body"},
		{name: "caller deadline first", handler: slowHeaders, timeout: time.Minute, deadline: 100 * time.Millisecond, want: ": deadline exceeded waiting for the response"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := serve(t, tt.handler)
			ctx := t.Context()
			if tt.deadline > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tt.deadline)
				defer cancel()
			}
			perr := pollErr(t, New(nil), ctx, Request{URL: srv.URL, Timeout: tt.timeout})
			if want := "poll GET " + srv.URL + tt.want; perr.Error() != want {
				t.Errorf("error %q, want %q", perr.Error(), want)
			}
			if perr.Reason != ReasonTimeout || !errors.Is(perr, context.DeadlineExceeded) {
				t.Errorf("Reason = %q, errors.Is DeadlineExceeded = %v; want timeout, true", perr.Reason, errors.Is(perr, context.DeadlineExceeded))
			}
		})
	}
}

func TestPollCanceled(t *testing.T) {
	t.Parallel()
	arrived := make(chan struct{})
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		close(arrived)
		<-r.Context().Done()
	})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go func() {
		<-arrived
		cancel()
	}()
	perr := pollErr(t, New(nil), ctx, Request{URL: srv.URL + "/x?token=abc"})
	if want := "poll GET " + srv.URL + "/x?token=REDACTED: canceled waiting for the response"; perr.Error() != want {
		t.Errorf("error %q, want %q", perr.Error(), want)
	}
	if perr.Reason != ReasonCanceled || !errors.Is(perr, context.Canceled) {
		t.Errorf("Reason = %q, errors.Is Canceled = %v; want canceled, true", perr.Reason, errors.Is(perr, context.Canceled))
	}
}

func TestPollTransportErrorRedacted(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.NotFoundHandler())
	host := strings.TrimPrefix(srv.URL, "http://")
	srv.Close() // nothing listens there any more
	perr := pollErr(t, New(nil), t.Context(), Request{URL: "http://admin:hunter22@" + host + "/api?key=hunter33#frag"})
	want := "poll GET http://" + host + "/api?key=REDACTED: dial tcp " + host + ": connect: connection refused"
	if perr.Error() != want {
		t.Errorf("error %q, want %q", perr.Error(), want)
	}
	if perr.Reason != ReasonTransport {
		t.Errorf("Reason = %q, want transport", perr.Reason)
	}
	for err := error(perr); err != nil; err = errors.Unwrap(err) {
		if msg := err.Error(); strings.Contains(msg, "hunter") {
			t.Errorf("error chain leaks a secret: %q", msg)
		}
	}
}

func TestPollInvalidRequest(t *testing.T) {
	tests := []struct {
		name string
		req  Request
		want string
	}{
		{name: "method", req: Request{Method: "PUT", URL: "http://u:pw@h/x?k=pw"}, want: `poll http://h/x?k=REDACTED: method "PUT" is not GET or POST`},
		{name: "relative URL", req: Request{URL: "/api?k=pw"}, want: "poll GET /api?k=REDACTED: URL must be absolute http:// or https://"},
		{name: "scheme", req: Request{URL: "ftp://h/x"}, want: "poll GET ftp://h/x: URL must be absolute http:// or https://"},
		{name: "unparsable", req: Request{URL: "http://u:p w@h:port/"}, want: "poll GET [invalid URL]: URL must be absolute http:// or https://"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(nil).Poll(t.Context(), tt.req)
			if err == nil || err.Error() != tt.want {
				t.Fatalf("Poll error = %v, want %q", err, tt.want)
			}
			if _, ok := errors.AsType[*Error](err); ok {
				t.Errorf("an invalid request is not a failed poll, got *Error")
			}
		})
	}
}

// expressSource serves a document the way an Express app does: a weak
// ETag computed from the body (W/"<length>-<hash>"), a Last-Modified, and
// a 304 decided by the fresh package's rules: any If-None-Match entry
// equal to the ETag once W/ is dropped from both, or else an
// If-Modified-Since not before Last-Modified. It records the validators
// each request carried.
type expressSource struct {
	*httptest.Server
	ignoreValidators bool // answer 200 whatever the request says

	mu       sync.Mutex
	body     string
	modified time.Time
	seen     [][2]string // If-None-Match and If-Modified-Since of each request
}

func newExpressSource(t *testing.T, body string) *expressSource {
	s := &expressSource{body: body, modified: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	s.Server = serve(t, s.serve)
	return s
}

func expressETag(body string) string {
	sum := sha1.Sum([]byte(body))
	return fmt.Sprintf(`W/"%x-%s"`, len(body), base64.StdEncoding.EncodeToString(sum[:])[:27])
}

func (s *expressSource) set(body string, modified time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.body, s.modified = body, modified
}

func (s *expressSource) requests() [][2]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.seen)
}

func (s *expressSource) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	body, modified := s.body, s.modified
	inm, ims := r.Header.Get("If-None-Match"), r.Header.Get("If-Modified-Since")
	s.seen = append(s.seen, [2]string{inm, ims})
	s.mu.Unlock()
	etag := expressETag(body)
	w.Header().Set("ETag", etag)
	w.Header().Set("Last-Modified", modified.Format(http.TimeFormat))
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	if !s.ignoreValidators && fresh(inm, ims, etag, modified) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	io.WriteString(w, body)
}

// fresh is the fresh package's decision (jshttp/fresh), which Express's
// req.fresh uses.
func fresh(inm, ims, etag string, modified time.Time) bool {
	if inm != "" {
		for tag := range strings.SplitSeq(inm, ",") {
			tag = strings.TrimSpace(tag)
			if tag == "*" || strings.TrimPrefix(tag, "W/") == strings.TrimPrefix(etag, "W/") {
				return true
			}
		}
		return false
	}
	since, err := http.ParseTime(ims)
	return err == nil && !modified.After(since)
}

// TestPollConditional: the validators of the last answer are sent back
// byte for byte, a weak ETag with its W/ included, and a 304 is a
// successful poll without a body; a source that ignores them answers in
// full.
func TestPollConditional(t *testing.T) {
	const v1, v2 = `{"orders":[{"id":1}]}`, `{"orders":[{"id":1},{"id":2}]}`
	t1 := "Fri, 02 Jan 2026 03:04:05 GMT"
	t2 := time.Date(2026, 1, 3, 0, 0, 0, 0, time.UTC)
	type poll struct {
		etag, lastModified string // the validators the poll sends
		change             bool   // the source's document becomes v2 before the poll
		want               Response
	}
	tests := []struct {
		name   string
		ignore bool
		polls  []poll
	}{
		{
			name: "weak ETag",
			polls: []poll{
				{want: Response{Status: 200, Body: []byte(v1), ETag: expressETag(v1), LastModified: t1}},
				{etag: expressETag(v1), want: Response{Status: 304, ETag: expressETag(v1), LastModified: t1, NotModified: true}},
				{etag: expressETag(v1), lastModified: t1, want: Response{Status: 304, ETag: expressETag(v1), LastModified: t1, NotModified: true}},
				{etag: expressETag(v1), lastModified: t1, change: true, want: Response{Status: 200, Body: []byte(v2), ETag: expressETag(v2), LastModified: t2.Format(http.TimeFormat)}},
			},
		},
		{
			name: "Last-Modified alone",
			polls: []poll{
				{lastModified: t1, want: Response{Status: 304, ETag: expressETag(v1), LastModified: t1, NotModified: true}},
				{lastModified: t1, change: true, want: Response{Status: 200, Body: []byte(v2), ETag: expressETag(v2), LastModified: t2.Format(http.TimeFormat)}},
			},
		},
		{
			name:   "source ignores validators",
			ignore: true,
			polls: []poll{
				{etag: expressETag(v1), lastModified: t1, want: Response{Status: 200, Body: []byte(v1), ETag: expressETag(v1), LastModified: t1}},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			src := newExpressSource(t, v1)
			src.ignoreValidators = tt.ignore
			p := New(nil)
			var wantSeen [][2]string
			for i, pl := range tt.polls {
				if pl.change {
					src.set(v2, t2)
				}
				resp, err := p.Poll(t.Context(), Request{URL: src.URL, ETag: pl.etag, LastModified: pl.lastModified})
				if err != nil {
					t.Fatalf("poll %d: %v", i, err)
				}
				resp.Duration = 0
				want := pl.want
				if !want.NotModified {
					// A 304 carries no Content-Type (Go's server drops it, as Express does).
					want.ContentType = "application/json; charset=utf-8"
				}
				if !reflect.DeepEqual(*resp, want) {
					t.Errorf("poll %d = %+v, want %+v", i, *resp, want)
				}
				wantSeen = append(wantSeen, [2]string{pl.etag, pl.lastModified})
			}
			if got := src.requests(); !reflect.DeepEqual(got, wantSeen) {
				t.Errorf("source saw If-None-Match, If-Modified-Since\n%q\nwant\n%q", got, wantSeen)
			}
		})
	}
}
