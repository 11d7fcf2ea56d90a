package poller

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
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
				Header: http.Header{"User-Agent": {"pollhook"}, "Accept-Encoding": {"gzip"}},
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
					"Accept-Encoding": {"gzip"},
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
					"Accept-Encoding": {"gzip"},
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
					"Accept-Encoding":   {"gzip"},
					"If-None-Match":     {`"v42"`},
					"If-Modified-Since": {"Wed, 21 Oct 2015 07:28:00 GMT"},
				},
			},
		},
		{
			name: "own User-Agent and Host kept, own Accept-Encoding dropped",
			req:  Request{URL: "/h", Header: http.Header{"User-Agent": {"legacy-client/1.0"}, "Host": {"legacy.internal"}, "Accept-Encoding": {"br"}}},
			want: seenRequest{
				Method: "GET",
				URI:    "/h",
				Host:   "legacy.internal",
				Header: http.Header{"User-Agent": {"legacy-client/1.0"}, "Accept-Encoding": {"gzip"}},
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

func TestPollGzip(t *testing.T) {
	t.Parallel()
	const doc = `{"orders":[{"id":1},{"id":2}]}`
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Accept-Encoding") != "gzip" {
			http.Error(w, "gzip expected", http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Encoding", "gzip")
		zw := gzip.NewWriter(w)
		io.WriteString(zw, doc)
		zw.Close()
	})
	resp, err := New(nil).Poll(t.Context(), Request{URL: srv.URL})
	if err != nil {
		t.Fatalf("Poll: %v", err)
	}
	if string(resp.Body) != doc {
		t.Errorf("Body = %q, want the decoded %q", resp.Body, doc)
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

// countingTransport counts the body bytes the poller reads, after the
// transport decoded them.
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
	gzipped := func(n int) []byte {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		zw.Write(bytes.Repeat([]byte("a"), n))
		zw.Close()
		return buf.Bytes()
	}
	tests := []struct {
		name     string
		size     int  // bytes the source sends
		chunked  bool // no Content-Length, so the limit is found by reading
		gzip     bool
		wantErr  bool
		wantRead int64 // most body bytes the poller may read
	}{
		{name: "exactly the limit", size: limit, wantRead: limit},
		{name: "limit+1 announced", size: limit + 1, wantErr: true, wantRead: 0},
		{name: "limit+1 chunked", size: limit + 1, chunked: true, wantErr: true, wantRead: limit + 1},
		{name: "1 MiB chunked", size: 1 << 20, chunked: true, wantErr: true, wantRead: limit + 1},
		{name: "gzip decoding to limit", size: limit, gzip: true, wantRead: limit},
		{name: "gzip decoding past limit", size: 1 << 20, gzip: true, wantErr: true, wantRead: limit + 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
				body := bytes.Repeat([]byte("a"), tt.size)
				if tt.gzip {
					body = gzipped(tt.size)
					w.Header().Set("Content-Encoding", "gzip")
				}
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
