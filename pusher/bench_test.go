package pusher

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pollhook/pollhook/store"
)

// BenchmarkDeliver measures end-to-end delivery from a durable outbox
// (Badger on disk with SyncWrites, as in production) to a local receiver:
// read, render, sign, POST, ack. Each lane is one job of one destination;
// lanes run in parallel while each stays strictly ordered.
//
//	go test -run '^$' -bench Deliver -benchtime 20000x ./pusher/
func BenchmarkDeliver(b *testing.B) {
	cases := []struct {
		name        string
		jobs        int
		concurrency int
	}{
		{"lanes=1", 1, 0},
		{"lanes=8", 8, 8},
		{"jobs=4,dest=1", 4, 0}, // the default concurrency of 4
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) { benchDeliver(b, c.jobs, c.concurrency) })
	}
}

func benchDeliver(b *testing.B, jobs, concurrency int) {
	st, err := store.Open(b.TempDir(), store.Options{SyncWrites: true})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
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

	routes := make(map[string][]string, jobs)
	for i := range jobs {
		routes["job"+strconv.Itoa(i)] = []string{"hook"}
	}
	dest := Destination{Name: "hook", URL: srv.URL, Secrets: []string{secretA}, Concurrency: concurrency}
	p, err := New(st, []Destination{dest}, routes, discardLogger(), Options{})
	if err != nil {
		b.Fatal(err)
	}
	const data = `{"job":"orders","key":"1042","before":{"id":1042,"status":"open"},"after":{"id":1042,"status":"shipped"},"patch":[{"op":"replace","path":"/status","value":"shipped"}]}`
	for i := range jobs {
		n := b.N / jobs
		if i < b.N%jobs {
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
	// Every delivery is acked once Run has returned.
	for i := range jobs {
		job := "job" + strconv.Itoa(i)
		ls, err := st.Lane("hook", job)
		if h, _ := st.Head(job); err != nil || (h.LastSeq > 0 && ls.Cursor != h.LastSeq+1) {
			b.Fatalf("lane of %s = %+v, %v; want every event acked", job, ls, err)
		}
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "events/s")
}
