package stream

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/pollhook/pollhook/store"
)

// countingWriter counts the Write and Flush calls an SSE handler makes on
// its response.
type countingWriter struct {
	http.ResponseWriter
	writes, flushes *atomic.Int64
}

func (c countingWriter) Write(p []byte) (int, error) {
	c.writes.Add(1)
	return c.ResponseWriter.Write(p)
}

func (c countingWriter) Flush() {
	c.flushes.Add(1)
	c.ResponseWriter.(http.Flusher).Flush()
}

// Unwrap lets http.ResponseController reach the response (write deadlines).
func (c countingWriter) Unwrap() http.ResponseWriter { return c.ResponseWriter }

// A burst of events committed at once reaches an SSE client intact and in
// order, gathered into writes of up to sseWriteMax bytes and a single
// flush, rather than one write per event; a message larger than the
// sink's buffer goes out whole among them.
func TestSSEBurstIntactInOrder(t *testing.T) {
	const n = 1000
	var writes, flushes atomic.Int64
	w := newWorld(t, worldOptions{wrap: func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
			h.ServeHTTP(countingWriter{rw, &writes, &flushes}, r)
		})
	}})
	c := w.sse("/api/v1/stream?job=orders", nil)
	if got := flushes.Load(); got != 1 {
		t.Fatalf("flushes before the burst = %d, want 1 (the subscription's headers)", got)
	}
	writes.Store(0)

	// One commit of n events of varied sizes, one of them larger than
	// what the sink gathers before writing.
	head, err := w.streams.Head("orders")
	if err != nil {
		t.Fatal(err)
	}
	commit := &store.Commit{Destinations: []string{"hook"}}
	for i := range n {
		pad := strings.Repeat(string(rune('a'+i%26)), (i*37)%300)
		if i == n/2 {
			pad = strings.Repeat("L", sseWriteMax+1000)
		}
		// Characters JSON escapes, to check the data is carried as is.
		data := fmt.Sprintf(`{"job":"orders","key":"k%d","after":{"id":%d,"note":"<\u00e9\"%s\">"}}`, i, i, pad)
		commit.Events = append(commit.Events, store.Event{Type: []string{"item.created", "item.updated", "item.deleted"}[i%3], Key: fmt.Sprintf("k%d", i), Data: json.RawMessage(data)})
	}
	if _, err := w.streams.Commit(context.Background(), "orders", head.Version, commit); err != nil {
		t.Fatal(err)
	}

	total := 0
	for i, ev := range commit.Events {
		got, ok := c.next()
		if !ok {
			t.Fatalf("stream ended after %d of %d events", i, n)
		}
		var data bytes.Buffer
		if err := json.Compact(&data, ev.Data); err != nil {
			t.Fatal(err)
		}
		want := sseEvent{id: ev.ID, event: ev.Type,
			data: `{"type":"` + ev.Type + `","timestamp":"` + ev.Time.UTC().Format(timestampLayout) + `","data":` + data.String() + `}`}
		if got != want {
			t.Fatalf("event %d:\n got %.200v\nwant %.200v", i, got, want)
		}
		total += len("id: \nevent: \ndata: \n\n") + len(want.id) + len(want.event) + len(want.data)
	}
	// Only the subscription's and the burst's flushes: one wake-up.
	if got := flushes.Load(); got != 2 {
		t.Errorf("flushes = %d, want 2: the burst was not sent in one wake-up", got)
	}
	// Full buffers of sseWriteMax, the large message in three writes, the rest.
	if got, most := writes.Load(), int64(2*total/sseWriteMax+4); got > most {
		t.Errorf("%d events (%d bytes) took %d writes, want at most %d", n, total, got, most)
	}
	t.Logf("%d events, %d bytes: %d writes, %d flushes", n, total, writes.Load(), flushes.Load())
}
