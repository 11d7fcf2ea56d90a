package pusher

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkDeliver measures end-to-end delivery from the store's outbox to
// a local receiver: render, sign, POST, ack. Each lane is one job; lanes run
// in parallel while each stays strictly ordered.
func BenchmarkDeliver(b *testing.B) {
	for _, lanes := range []int{1, 8} {
		b.Run(fmt.Sprintf("lanes=%d", lanes), func(b *testing.B) { benchDeliver(b, lanes) })
	}
}

func benchDeliver(b *testing.B, lanes int) {
	st := openStore(b, "")
	var got atomic.Int64
	all := make(chan struct{})
	want := int64(b.N)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		if got.Add(1) == want {
			close(all)
		}
	}))
	defer srv.Close()

	routes := make(map[string][]string, lanes)
	for i := range lanes {
		routes["job"+strconv.Itoa(i)] = []string{"hook"}
	}
	p, err := New(st, []Destination{{Name: "hook", URL: srv.URL, Secrets: []string{secretA}}}, routes, discardLogger(), Options{})
	if err != nil {
		b.Fatal(err)
	}
	const data = `{"job":"orders","key":"1042","before":{"id":1042,"status":"open"},"after":{"id":1042,"status":"shipped"},"patch":[{"op":"replace","path":"/status","value":"shipped"}]}`
	for i := range lanes {
		n := b.N / lanes
		if i < b.N%lanes {
			n++
		}
		docs := make([]string, n)
		for j := range docs {
			docs[j] = data
		}
		if n > 0 {
			commit(b, st, "job"+strconv.Itoa(i), []string{"hook"}, docs...)
		}
	}

	b.ResetTimer()
	begin := time.Now()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	select {
	case <-all:
	case <-time.After(5 * time.Minute):
		b.Fatalf("delivered %d of %d events", got.Load(), b.N)
	}
	elapsed := time.Since(begin)
	b.StopTimer()
	cancel()
	if err := <-done; err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "events/s")
}
