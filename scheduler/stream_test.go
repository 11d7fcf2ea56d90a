package scheduler

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pollhook/pollhook/differ"
	"github.com/pollhook/pollhook/poller"
)

// largeSource serves bodies above streamFrom, with a Content-Length or
// without one (chunked), cut short or trickled when told to.
type largeSource struct {
	mu      sync.Mutex
	body    string
	length  bool // send a Content-Length
	cut     bool // announce 100 bytes more than are sent, then hang up
	trickle bool // send the first half, then one byte every 10ms
}

func (s *largeSource) set(body string, length bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.body, s.length, s.cut, s.trickle = body, length, false, false
}

func (s *largeSource) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	body, length, cut, trickle := s.body, s.length, s.cut, s.trickle
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	switch {
	case cut:
		w.Header().Set("Content-Length", strconv.Itoa(len(body)+100))
	case length:
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	}
	if !trickle {
		fmt.Fprint(w, body)
		return
	}
	fmt.Fprint(w, body[:len(body)/2])
	for i := len(body) / 2; i < len(body); i++ {
		w.(http.Flusher).Flush()
		select {
		case <-r.Context().Done():
			return
		case <-time.After(10 * time.Millisecond):
		}
		fmt.Fprint(w, body[i:i+1])
	}
}

// largeOrders is a body of n orders of about 200 bytes: order id has v
// as its version, and the ids in skip are left out.
func largeOrders(n int, v map[int]int, skip ...int) string {
	var b strings.Builder
	b.WriteString(`{"meta":{"page":1},"orders":[`)
	first := true
	for id := 1; id <= n; id++ {
		if containsInt(skip, id) {
			continue
		}
		if !first {
			b.WriteString(",")
		}
		first = false
		fmt.Fprintf(&b, `{"id":%d,"v":%d,"note":"%s"}`, id, v[id], strings.Repeat("n", 170))
	}
	b.WriteString("]}")
	return b.String()
}

func containsInt(xs []int, x int) bool {
	for _, y := range xs {
		if x == y {
			return true
		}
	}
	return false
}

func newLargePipeline(t *testing.T, src *largeSource) *Pipeline {
	t.Helper()
	srv := httptest.NewServer(src)
	t.Cleanup(srv.Close)
	df, err := differ.Compile(differ.Spec{Items: "orders", Key: []string{"id"}})
	if err != nil {
		t.Fatal(err)
	}
	return &Pipeline{
		Job:          "orders",
		Request:      poller.Request{URL: srv.URL + "/orders", MaxBodyBytes: 4 << 20, Timeout: 2 * time.Second},
		Poller:       poller.New(srv.Client()),
		Differ:       df,
		Store:        openStore(t),
		Destinations: []string{"hook"},
		Logger:       slog.New(slog.DiscardHandler),
	}
}

// TestTickStreamsLargeBodies: with the state of the last tick at hand, a
// body above streamFrom is compared as it is read, with or without a
// Content-Length, and gives exactly the events of the change; the same
// body again is unchanged and commits nothing.
func TestTickStreamsLargeBodies(t *testing.T) {
	for _, length := range []bool{true, false} {
		t.Run(fmt.Sprintf("content-length=%v", length), func(t *testing.T) {
			src := &largeSource{}
			p := newLargePipeline(t, src)
			ctx := context.Background()
			base := largeOrders(6000, nil)
			if len(base) < streamFrom {
				t.Fatalf("body of %d bytes: below streamFrom", len(base))
			}
			src.set(base, length)
			if out := p.Tick(ctx); out.Result != ResultBaseline || out.Bytes != int64(len(base)) {
				t.Fatalf("baseline: %q, %d bytes, %v", out.Result, out.Bytes, out.Err)
			}
			changed := largeOrders(6001, map[int]int{4000: 1}, 17)
			src.set(changed, length)
			out := p.Tick(ctx)
			if out.Result != ResultChanged || out.Events != 3 || out.Bytes != int64(len(changed)) {
				t.Fatalf("change: %q, %d events, %d bytes, %v", out.Result, out.Events, out.Bytes, out.Err)
			}
			note := strings.Repeat("n", 170)
			want := []string{
				`item.updated 4000 {"job":"orders","key":"4000","before":{"id":4000,"note":"` + note + `","v":0},"after":{"id":4000,"note":"` + note + `","v":1},"patch":[{"op":"replace","path":"/v","value":1}],"merge_patch":{"v":1}}`,
				`item.created 6001 {"job":"orders","key":"6001","after":{"id":6001,"note":"` + note + `","v":0}}`,
				`item.deleted 17 {"job":"orders","key":"17","before":{"id":17,"note":"` + note + `","v":0}}`,
			}
			if got := pending(t, p.Store); strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Fatalf("events\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
			head, err := p.Store.Head("orders")
			if err != nil {
				t.Fatal(err)
			}
			if out := p.Tick(ctx); out.Result != ResultUnchanged || out.Bytes != int64(len(changed)) {
				t.Fatalf("same body again: %q, %d bytes, %v", out.Result, out.Bytes, out.Err)
			}
			if after, err := p.Store.Head("orders"); err != nil || after.Version != head.Version {
				t.Fatalf("an unchanged body moved the head from %d to %d (%v)", head.Version, after.Version, err)
			}
		})
	}
}

// TestFailedStreamedPollsKeepState: a large body that breaks while it is
// compared as it is read fails the poll with the reason and the message
// a body read whole gets, commits nothing, and leaves the state as it
// was: the next good poll gives exactly the events of its change.
func TestFailedStreamedPollsKeepState(t *testing.T) {
	base := largeOrders(6000, nil)
	tests := []struct {
		name       string
		set        func(s *largeSource)
		wantReason string
		wantErr    string
	}{
		{"html page with 200", func(s *largeSource) { s.body = "<html>" + strings.Repeat("down ", 300000) + "</html>" }, "response",
			"parse response: invalid character '<' looking for beginning of value at offset 0"},
		{"truncated json", func(s *largeSource) { s.body = base[:len(base)/2] }, "response",
			fmt.Sprintf("parse response: unexpected end of JSON input at offset %d", len(base)/2)},
		{"duplicate key", func(s *largeSource) { s.body = strings.Replace(base, `{"id":5,`, `{"id":4,`, 1) }, "response",
			`items 3 and 4 have the same key "4"`},
		{"cut short", func(s *largeSource) { s.cut = true }, "transport", "unexpected EOF"},
		{"too large", func(s *largeSource) { s.body = largeOrders(24000, nil) }, "too_large",
			"body exceeds the limit of 4194304 bytes (max_body_size)"},
		{"trickled past the timeout", func(s *largeSource) { s.trickle = true }, "timeout", "timed out after 2s reading the body"},
	}
	for _, tc := range tests {
		for _, length := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/content-length=%v", tc.name, length), func(t *testing.T) {
				src := &largeSource{}
				p := newLargePipeline(t, src)
				ctx := context.Background()
				src.set(base, length)
				if out := p.Tick(ctx); out.Result != ResultBaseline {
					t.Fatalf("baseline: %q %v", out.Result, out.Err)
				}
				head, err := p.Store.Head("orders")
				if err != nil {
					t.Fatal(err)
				}
				src.set(base, length)
				src.mu.Lock()
				tc.set(src)
				src.mu.Unlock()
				out := p.Tick(ctx)
				if out.Result != ResultFailed || out.Err == nil || !strings.Contains(out.Err.Error(), tc.wantErr) {
					t.Fatalf("broken tick = %q %v, want failed with %q", out.Result, out.Err, tc.wantErr)
				}
				if out.Reason != tc.wantReason {
					t.Errorf("reason %q, want %q (%v)", out.Reason, tc.wantReason, out.Err)
				}
				if after, err := p.Store.Head("orders"); err != nil || after.Version != head.Version {
					t.Fatalf("failed poll moved the head from %d to %d (%v)", head.Version, after.Version, err)
				}
				if got := pending(t, p.Store); len(got) != 0 {
					t.Fatalf("failed poll queued %v", got)
				}
				src.set(largeOrders(6000, map[int]int{9: 2}), length)
				if out := p.Tick(ctx); out.Result != ResultChanged || out.Events != 1 {
					t.Fatalf("good tick after the broken one: %q, %d events, %v", out.Result, out.Events, out.Err)
				}
				if got := pending(t, p.Store); len(got) != 1 || !strings.HasPrefix(got[0], "item.updated 9 ") {
					t.Errorf("events after recovery: %v, want the update of order 9", got)
				}
			})
		}
	}
}
