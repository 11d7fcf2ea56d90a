package poller

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestPollStreamMatchesPoll holds PollStream to Poll: for every source, the
// body read as it comes in is the body Poll returns, and every failure is
// Poll's, to the byte, whether it happens before the body (status, an
// announced length over the limit, an unknown encoding) or while it is
// read (over the limit, decoded or not, too slow, cut short).
func TestPollStreamMatchesPoll(t *testing.T) {
	doc := `{"orders":[{"id":1},{"id":2}]}`
	big := strings.Repeat("x", 3000)
	tests := []struct {
		name    string
		handler http.HandlerFunc
		req     Request
		length  int64 // what the reader is told
		wantErr bool
	}{
		{name: "identity", length: int64(len(doc)), handler: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, doc)
		}},
		{name: "chunked, length unknown", length: -1, handler: func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, doc[:10])
			w.(http.Flusher).Flush()
			io.WriteString(w, doc[10:])
		}},
		{name: "gzip", length: -1, handler: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Encoding", "gzip")
			w.Write(encode(t, "gzip", []byte(doc)))
		}},
		{name: "exactly the limit", req: Request{MaxBodyBytes: 3000}, length: 3000, handler: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", "3000")
			io.WriteString(w, big)
		}},
		{name: "announced over the limit", req: Request{MaxBodyBytes: 2999}, wantErr: true, handler: func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, big)
		}},
		{name: "chunked over the limit", req: Request{MaxBodyBytes: 2999}, wantErr: true, handler: func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, big[:100])
			w.(http.Flusher).Flush()
			io.WriteString(w, big[100:])
		}},
		{name: "gzip bomb", req: Request{MaxBodyBytes: 2999}, wantErr: true, handler: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Encoding", "gzip")
			w.Write(encode(t, "gzip", []byte(big)))
		}},
		{name: "unknown encoding", wantErr: true, handler: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Encoding", "br")
			io.WriteString(w, doc)
		}},
		{name: "corrupt gzip", wantErr: true, handler: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Encoding", "gzip")
			io.WriteString(w, doc)
		}},
		{name: "status 503", wantErr: true, handler: func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
		}},
		{name: "cut short", wantErr: true, handler: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", strconv.Itoa(len(doc)+10))
			io.WriteString(w, doc)
		}},
		{name: "slow body", req: Request{Timeout: 150 * time.Millisecond}, wantErr: true, handler: slowBody},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := serve(t, tt.handler)
			p := New(nil)
			req := tt.req
			req.URL = srv.URL
			want, werr := p.Poll(t.Context(), req)
			var got []byte
			var gotLength int64
			var called bool
			resp, err := p.PollStream(t.Context(), req, func(resp *Response, body io.Reader, length int64) error {
				called, gotLength = true, length
				var rerr error
				got, rerr = io.ReadAll(body)
				return rerr
			})
			if tt.wantErr {
				if werr == nil || err == nil {
					t.Fatalf("Poll: %v, PollStream: %v; want both to fail", werr, err)
				}
				// The slow body's message names the time it took.
				if w, g := errText(werr), errText(err); w != g {
					t.Fatalf("PollStream failed with\n%s\nPoll with\n%s", g, w)
				}
				if _, ok := errors.AsType[*Error](err); !ok {
					t.Fatalf("PollStream error %v (%T), want *Error", err, err)
				}
				return
			}
			if werr != nil || err != nil {
				t.Fatalf("Poll: %v, PollStream: %v", werr, err)
			}
			if !called || !bytes.Equal(got, want.Body) || gotLength != tt.length {
				t.Fatalf("read %v: %d bytes %.40q (length %d), want %d bytes %.40q (length %d)", called, len(got), got, gotLength, len(want.Body), want.Body, tt.length)
			}
			if resp.Body != nil || resp.Status != want.Status || resp.ContentType != want.ContentType || resp.ETag != want.ETag {
				t.Fatalf("response %+v, Poll's %+v", resp, want)
			}
		})
	}
}

// errText is an error's message without the durations it names.
func errText(err error) string {
	s := err.Error()
	if i := strings.Index(s, " after "); i >= 0 {
		return s[:i]
	}
	return s
}

// TestPollStreamNotModified: a 304 is a success with nothing to read.
func TestPollStreamNotModified(t *testing.T) {
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("If-None-Match") == `"v1"` {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		w.Header().Set("ETag", `"v1"`)
		io.WriteString(w, "[]")
	})
	resp, err := New(nil).PollStream(t.Context(), Request{URL: srv.URL, ETag: `"v1"`}, func(*Response, io.Reader, int64) error {
		t.Error("read called for a 304")
		return nil
	})
	if err != nil || !resp.NotModified || resp.Body != nil {
		t.Fatalf("PollStream = %+v, %v; want a 304", resp, err)
	}
}

// TestPollStreamReadError: what read returns is what PollStream returns.
func TestPollStreamReadError(t *testing.T) {
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "[1,2,3]") })
	boom := errors.New("parse response: not what we want")
	_, err := New(nil).PollStream(t.Context(), Request{URL: srv.URL}, func(*Response, io.Reader, int64) error { return boom })
	if err != boom {
		t.Fatalf("PollStream error %v, want %v", err, boom)
	}
	if _, err := New(nil).PollStream(t.Context(), Request{URL: srv.URL}, nil); err == nil {
		t.Fatal("PollStream without a reader: no error")
	}
}

// TestPollStreamPaginated: the pages of a paginated poll are read as Poll
// reads them and handed over merged.
func TestPollStreamPaginated(t *testing.T) {
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		page, _ := strconv.Atoi(r.URL.Query().Get("page"))
		switch page {
		case 1:
			io.WriteString(w, `[{"id":1},{"id":2}]`)
		case 2:
			io.WriteString(w, `[{"id":3}]`)
		default:
			io.WriteString(w, `[]`)
		}
	})
	req := Request{URL: srv.URL, Pagination: Pagination{Type: "page", Param: "page", Size: 2}}
	var got string
	var length int64
	_, err := New(nil).PollStream(t.Context(), req, func(_ *Response, body io.Reader, n int64) error {
		b, err := io.ReadAll(body)
		got, length = string(b), n
		return err
	})
	want, werr := New(nil).Poll(t.Context(), req)
	if err != nil || werr != nil {
		t.Fatalf("PollStream: %v, Poll: %v", err, werr)
	}
	if got != string(want.Body) || length != int64(len(want.Body)) || got != `[{"id":1},{"id":2},{"id":3}]` {
		t.Fatalf("read %q (length %d), Poll's body %q", got, length, want.Body)
	}
}
