package poller

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"compress/zlib"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

// encode compresses b for a Content-Encoding: "gzip", or "zlib" and
// "raw", the two bodies servers send as deflate.
func encode(t testing.TB, enc string, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	var w io.WriteCloser
	switch enc {
	// BestSpeed: a bomb of zeros still compresses 800 to 1, and
	// the race detector makes the better levels slow.
	case "gzip":
		w, _ = gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	case "zlib":
		w, _ = zlib.NewWriterLevel(&buf, zlib.BestSpeed)
	case "raw":
		w, _ = flate.NewWriter(&buf, flate.BestSpeed)
	default:
		t.Fatalf("encode: unknown %q", enc)
	}
	if _, err := w.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestPollEncoding(t *testing.T) {
	const doc = `{"orders":[{"id":1},{"id":2}]}`
	tests := []struct {
		name     string
		header   string // Content-Encoding sent
		body     []byte
		want     string // the decoded body
		wantErr  string // after "poll GET <server URL>: "
		wantWhy  Reason
		wantWrap error
	}{
		{name: "identity", body: []byte(doc), want: doc},
		{name: "gzip", header: "gzip", body: encode(t, "gzip", []byte(doc)), want: doc},
		{name: "x-gzip in capitals", header: " X-GZIP ", body: encode(t, "gzip", []byte(doc)), want: doc},
		{name: "two gzip members", header: "gzip", body: append(encode(t, "gzip", []byte(doc[:10])), encode(t, "gzip", []byte(doc[10:]))...), want: doc},
		{name: "deflate as zlib", header: "deflate", body: encode(t, "zlib", []byte(doc)), want: doc},
		{name: "deflate raw", header: "deflate", body: encode(t, "raw", []byte(doc)), want: doc},
		{name: "empty gzip body", header: "gzip", body: nil, want: ""},
		{name: "empty deflate body", header: "deflate", body: nil, want: ""},
		{name: "identity spelled out", header: "identity", body: []byte(doc), want: doc},
		{name: "unsupported", header: "br", body: []byte("\x1b\x00"), wantErr: `unsupported Content-Encoding "br" (pollhook accepts gzip and deflate)`, wantWhy: ReasonResponse},
		{name: "stacked", header: "gzip, gzip", body: []byte("x"), wantErr: `unsupported Content-Encoding "gzip, gzip" (pollhook accepts gzip and deflate)`, wantWhy: ReasonResponse},
		{name: "corrupt gzip", header: "gzip", body: []byte(doc), wantErr: "gzip: invalid header", wantWhy: ReasonTransport, wantWrap: gzip.ErrHeader},
		{name: "truncated gzip", header: "gzip", body: encode(t, "gzip", []byte(doc))[:20], wantErr: "unexpected EOF", wantWhy: ReasonTransport, wantWrap: io.ErrUnexpectedEOF},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
				if got := r.Header.Values("Accept-Encoding"); len(got) != 1 || got[0] != "gzip, deflate" {
					http.Error(w, "Accept-Encoding "+r.Header.Get("Accept-Encoding"), http.StatusBadRequest)
					return
				}
				if tt.header != "" {
					w.Header().Set("Content-Encoding", tt.header)
				}
				w.Write(tt.body)
			})
			resp, err := New(nil).Poll(t.Context(), Request{URL: srv.URL})
			if tt.wantErr != "" {
				perr, ok := errors.AsType[*Error](err)
				if !ok {
					t.Fatalf("Poll = %v, %v; want an *Error", resp, err)
				}
				if want := "poll GET " + srv.URL + ": " + tt.wantErr; perr.Error() != want || perr.Reason != tt.wantWhy {
					t.Errorf("error %q (%s), want %q (%s)", perr.Error(), perr.Reason, want, tt.wantWhy)
				}
				if tt.wantWrap != nil && !errors.Is(perr, tt.wantWrap) {
					t.Errorf("error does not wrap %v", tt.wantWrap)
				}
				return
			}
			if err != nil {
				t.Fatalf("Poll: %v", err)
			}
			if string(resp.Body) != tt.want {
				t.Errorf("Body = %q, want %q", resp.Body, tt.want)
			}
		})
	}
}

// TestPollDecodedLimit: the body limit counts decoded bytes, and a zip
// bomb is stopped after limit+1 of them, long before its compressed
// stream ends.
func TestPollDecodedLimit(t *testing.T) {
	const limit = 64 << 10
	zeros := func(n int) []byte { return make([]byte, n) }
	tests := []struct {
		name    string
		enc     string
		size    int // decoded
		wantErr bool
	}{
		{name: "gzip to the limit", enc: "gzip", size: limit},
		{name: "deflate to the limit", enc: "zlib", size: limit},
		{name: "gzip bomb", enc: "gzip", size: 16 << 20, wantErr: true},
		{name: "deflate bomb", enc: "zlib", size: 16 << 20, wantErr: true},
		{name: "raw deflate bomb", enc: "raw", size: 16 << 20, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			body := encode(t, tt.enc, zeros(tt.size))
			header := map[string]string{"gzip": "gzip", "zlib": "deflate", "raw": "deflate"}[tt.enc]
			srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Encoding", header)
				w.Write(body)
			})
			ct := &countingTransport{RoundTripper: NewTransport()}
			resp, err := New(&http.Client{Transport: ct}).Poll(t.Context(), Request{URL: srv.URL, MaxBodyBytes: limit})
			if !tt.wantErr {
				if err != nil {
					t.Fatalf("Poll: %v", err)
				}
				if !bytes.Equal(resp.Body, zeros(tt.size)) {
					t.Errorf("Body of %d bytes, want %d zeros", len(resp.Body), tt.size)
				}
				return
			}
			perr, ok := errors.AsType[*Error](err)
			want := "poll GET " + srv.URL + ": body exceeds the limit of 65536 bytes (max_body_size)"
			if !ok || perr.Error() != want || perr.Reason != ReasonTooLarge {
				t.Fatalf("Poll = %v, %v; want %q (too_large)", resp, err, want)
			}
			// Decoding limit+1 bytes of zeros takes a sliver of the stream.
			if read := ct.read.Load(); read >= int64(len(body))/2 {
				t.Errorf("poller read %d of the %d compressed bytes, want it to stop early", read, len(body))
			}
		})
	}
}

// TestPollKeepAlive: polls of one host share one connection, whatever the
// encoding and status of the answer before, an error body read only in
// part included.
func TestPollKeepAlive(t *testing.T) {
	t.Parallel()
	const doc = `{"v":1}`
	answers := []func(w http.ResponseWriter){
		func(w http.ResponseWriter) { io.WriteString(w, doc) },
		func(w http.ResponseWriter) {
			w.Header().Set("Content-Encoding", "gzip")
			w.Write(encode(t, "gzip", []byte(doc)))
		},
		func(w http.ResponseWriter) {
			w.Header().Set("Content-Encoding", "deflate")
			w.Write(encode(t, "zlib", []byte(doc)))
		},
		func(w http.ResponseWriter) { w.WriteHeader(http.StatusNotModified) },
		// An error page longer than the snippet the poller keeps.
		func(w http.ResponseWriter) {
			http.Error(w, strings.Repeat("busy ", 400), http.StatusServiceUnavailable)
		},
		func(w http.ResponseWriter) { io.WriteString(w, doc) },
	}
	var conns, served atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		answers[served.Add(1)-1](w)
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	p := New(&http.Client{Transport: NewTransportFor(2, 4)})
	for range answers {
		p.Poll(t.Context(), Request{URL: srv.URL, ETag: `"v1"`})
	}
	if n := served.Load(); n != int32(len(answers)) {
		t.Fatalf("source answered %d polls, want %d", n, len(answers))
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("polls opened %d connections, want 1", n)
	}
}

func TestNewTransportFor(t *testing.T) {
	tests := []struct {
		perHost, total         int
		wantPerHost, wantTotal int
	}{
		{0, 0, 8, 64},
		{100, 0, 100, 100},
		{2000, 2000, 2000, 2000},
		{50, 3000, 50, 3000},
		{50, 10, 50, 50},
		{-1, -1, 8, 64},
	}
	for _, tt := range tests {
		tr := NewTransportFor(tt.perHost, tt.total)
		if tr.MaxIdleConnsPerHost != tt.wantPerHost || tr.MaxIdleConns != tt.wantTotal {
			t.Errorf("NewTransportFor(%d, %d): MaxIdleConnsPerHost, MaxIdleConns = %d, %d; want %d, %d",
				tt.perHost, tt.total, tr.MaxIdleConnsPerHost, tr.MaxIdleConns, tt.wantPerHost, tt.wantTotal)
		}
		if !tr.DisableCompression || tr.Proxy != nil {
			t.Errorf("NewTransportFor(%d, %d) lets the transport decode or proxy", tt.perHost, tt.total)
		}
	}
}
