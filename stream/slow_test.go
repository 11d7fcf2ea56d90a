package stream

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/pollhook/pollhook/pusher"
)

// receiver is a webhook destination that records the webhook-id of each
// request.
type receiver struct {
	mu   sync.Mutex
	ids  []string
	seen chan struct{}
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	_, _ = io.Copy(io.Discard, req.Body)
	r.mu.Lock()
	r.ids = append(r.ids, req.Header.Get("webhook-id"))
	r.mu.Unlock()
	select {
	case r.seen <- struct{}{}:
	default:
	}
	w.WriteHeader(http.StatusNoContent)
}

// waitFor waits until the receiver has n requests and returns their ids.
func (r *receiver) waitFor(t *testing.T, n int) []string {
	t.Helper()
	deadline := time.After(waitTimeout)
	for {
		r.mu.Lock()
		got := slices.Clone(r.ids)
		r.mu.Unlock()
		if len(got) >= n {
			return got
		}
		select {
		case <-r.seen:
		case <-deadline:
			t.Fatalf("the webhook receiver got %d of %d events", len(got), n)
		}
	}
}

// smallReadClient is an HTTP client whose connections have a small
// receive buffer, so that not reading soon blocks the server.
func smallReadClient() *http.Client {
	d := &net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) { serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
		if err != nil {
			return err
		}
		return serr
	}}
	return &http.Client{Transport: &http.Transport{DialContext: d.DialContext, DisableCompression: true}}
}

// A client that stops reading is dropped once its queue is full, and told
// why when it reads again; meanwhile a fast client and a webhook
// destination receive every event, and commits never wait for it.
func TestSlowClientDropped(t *testing.T) {
	set := defaultSettings()
	set.Buffer = 4
	w := newWorld(t, worldOptions{settings: set, sndbuf: 8 << 10})

	rcv := &receiver{seen: make(chan struct{}, 1)}
	hook := newHTTPServer(t, rcv)
	p, err := pusher.New(w.streams, []pusher.Destination{{Name: "hook", URL: hook, Concurrency: 1,
		Retry: pusher.RetryPolicy{InitialInterval: time.Second, MaxInterval: time.Second, MaxAttempts: 3, MaxAge: time.Hour}}},
		map[string][]string{"orders": {"hook"}}, discard, pusher.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	pushed := make(chan error, 1)
	go func() { pushed <- p.Run(ctx) }()
	defer func() {
		cancel()
		<-pushed
	}()

	// The slow client reads nothing until the gate opens.
	gate := make(chan struct{})
	slow := w.sseWith(smallReadClient(), gate, "/api/v1/stream?job=orders", nil)
	fast := w.sse("/api/v1/stream?job=orders", nil)

	// Each commit waits for the fast client to receive its events, so that
	// the fast client is never behind; the slow one falls further behind
	// with each commit.
	pad := strings.Repeat("x", 4000)
	var want []string
	for i := range 40 {
		evs := w.commitData("orders", "item.updated", pad, keys(5, string(rune('a'+i%26))+"-")...)
		want = append(want, ids(evs)...)
		p.Wake("orders")
		if got := fast.ids(len(evs)); !slices.Equal(got, ids(evs)) {
			t.Fatalf("commit %d: the fast client got %v, want %v", i, got, ids(evs))
		}
	}
	if got := rcv.waitFor(t, len(want)); !slices.Equal(got, want) {
		t.Fatalf("the webhook receiver got %d events, not the %d committed in order", len(got), len(want))
	}
	if n := testutil.ToFloat64(w.hub.metrics.drops.WithLabelValues("sse", dropSlow)); n != 1 {
		t.Fatalf("slow consumers dropped = %v, want 1", n)
	}

	// Now the slow client reads: a prefix of the events, in order, then
	// the reason.
	close(gate)
	var got []string
	var last sseEvent
	for {
		ev, ok := slow.next()
		if !ok {
			break
		}
		if ev.event == "error" {
			last = ev
			continue
		}
		got = append(got, ev.id)
	}
	if len(got) == 0 || len(got) >= len(want) || !slices.Equal(got, want[:len(got)]) {
		t.Errorf("the slow client got %d events before its drop; want a proper prefix of the %d, in order", len(got), len(want))
	}
	var reason errorBody
	if err := json.Unmarshal([]byte(last.data), &reason); err != nil || reason.Error.Code != "slow_consumer" ||
		!strings.HasPrefix(reason.Error.Message, "slow consumer: ") || !strings.HasSuffix(reason.Error.Message, " events were still waiting to be sent when more came; reconnect from your last event id to resume") {
		t.Errorf("last message %+v, want the slow consumer reason", last)
	}

	// It resumes where it stopped, and has everything.
	again := w.sse("/api/v1/stream?job=orders", map[string]string{"Last-Event-ID": got[len(got)-1]})
	if rest := again.ids(len(want) - len(got)); !slices.Equal(rest, want[len(got):]) {
		t.Errorf("resumed with %d events, want the %d it missed", len(rest), len(want)-len(got))
	}
}

func newHTTPServer(t *testing.T, h http.Handler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	done := make(chan struct{})
	go func() { _ = srv.Serve(ln); close(done) }()
	t.Cleanup(func() {
		_ = srv.Close()
		<-done
	})
	return "http://" + ln.Addr().String() + "/hook"
}
