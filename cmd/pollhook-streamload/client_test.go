package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeStream serves the schedule's events as pollhook's stream would:
// every event, in order, resuming after Last-Event-ID; the first stream
// is cut after dropAfter events with an error event (0: never).
type fakeStream struct {
	events    []sseEvent
	dropAfter int
	token     string

	mu      sync.Mutex
	resumes []string // the Last-Event-ID of each request
}

func newFakeStream(t *testing.T, s *schedule) *fakeStream {
	f := &fakeStream{token: "tok"}
	stamp := time.Now()
	n := 0
	// Step by step, job by job, as pollhook would commit them.
	for step := range s.steps {
		for j := range s.jobs {
			for k := range s.perStep[j] {
				n++
				f.events = append(f.events, fakeEvent(s, fmt.Sprintf("evt_%04d", n), j, step*s.perStep[j]+k+1, stamp))
			}
		}
	}
	if len(f.events) != s.total {
		t.Fatalf("%d events, schedule has %d", len(f.events), s.total)
	}
	return f
}

func (f *fakeStream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") != "Bearer "+f.token {
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return
	}
	last := r.Header.Get("Last-Event-ID")
	f.mu.Lock()
	f.resumes = append(f.resumes, last)
	first := len(f.resumes) == 1
	f.mu.Unlock()
	w.Header().Set("Content-Type", "text/event-stream")
	w.WriteHeader(http.StatusOK)
	fmt.Fprint(w, ": heartbeat\n\n")
	sent := 0
	for _, ev := range f.events {
		if last != "" && string(ev.ID) <= last {
			continue
		}
		if first && f.dropAfter > 0 && sent == f.dropAfter {
			fmt.Fprint(w, "event: error\ndata: {\"error\":\"slow client dropped\"}\n\n")
			return
		}
		fmt.Fprintf(w, "id: %s\nevent: %s\ndata: %s\n\n", ev.ID, ev.Type, ev.Data)
		sent++
	}
	w.(http.Flusher).Flush()
	<-r.Context().Done()
}

func TestClient(t *testing.T) {
	s, err := newSchedule(3, 6, time.Second, 4*time.Second) // 24 events
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		dropAfter int
		reconnect bool
		connects  int
		missed    int
		dropped   string
		ended     string
		resumes   []string
	}{
		{name: "every event", connects: 1, resumes: []string{""}},
		{
			name: "dropped after 5 events", dropAfter: 5, connects: 1, missed: 19,
			dropped: `{"error":"slow client dropped"}`, ended: "closed by pollhook", resumes: []string{""},
		},
		{
			name: "dropped, then resumed", dropAfter: 5, reconnect: true, connects: 2,
			dropped: `{"error":"slow client dropped"}`, ended: "closed by pollhook", resumes: []string{"", "evt_0005"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeStream(t, s)
			f.dropAfter = tt.dropAfter
			srv := httptest.NewServer(f)
			defer srv.Close()

			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			cache := newEventCache(s, func(int, int) int64 { return 0 }, &latencies{})
			cache.begin(time.Now())
			completes := 0
			h := &clientHooks{cache: cache, reconnect: tt.reconnect, complete: func() { completes++; cancel() }}
			c := &client{tally: newTally(s, &latencies{})}
			opened := 0
			target := streamTarget{url: srv.URL + "/api/v1/stream", token: "tok", client: srv.Client()}
			// It returns once complete (the hook cancels ctx), or, without
			// reconnecting, when its stream ends.
			c.run(ctx, target, h, func() { opened++ })
			if c.Err != nil {
				t.Fatal(c.Err)
			}
			if opened != 1 || c.Connects != tt.connects {
				t.Errorf("opened called %d times, %d connects; want 1, %d", opened, c.Connects, tt.connects)
			}
			if got := c.tally.Missed(); got != tt.missed {
				t.Errorf("missed %d, want %d", got, tt.missed)
			}
			if wantComplete := btoi(tt.missed == 0); completes != wantComplete {
				t.Errorf("complete called %d times, want %d", completes, wantComplete)
			}
			if c.tally.Duplicates != 0 || c.tally.OutOfOrder != 0 || c.tally.Unexpected != 0 || c.tally.Corrupt != 0 {
				t.Errorf("tally %+v", c.tally)
			}
			if c.Dropped != tt.dropped || c.Ended != tt.ended || c.Drops != btoi(tt.dropped != "") {
				t.Errorf("dropped %q (%d), ended %q; want %q, %q", c.Dropped, c.Drops, c.Ended, tt.dropped, tt.ended)
			}
			if c.Heartbeats != tt.connects {
				t.Errorf("%d heartbeats, want %d", c.Heartbeats, tt.connects)
			}
			f.mu.Lock()
			defer f.mu.Unlock()
			if strings.Join(f.resumes, ",") != strings.Join(tt.resumes, ",") {
				t.Errorf("Last-Event-IDs sent %q, want %q", f.resumes, tt.resumes)
			}
		})
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func TestClientRefused(t *testing.T) {
	s, err := newSchedule(1, 1, time.Second, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/api/v1/stream", newFakeStream(t, s))
	mux.HandleFunc("/plain", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "hello") })
	srv := httptest.NewServer(mux)
	defer srv.Close()
	tests := []struct{ path, token, err string }{
		{"/api/v1/stream?job=x", "wrong", "GET " + srv.URL + "/api/v1/stream: status 401: unauthorized"},
		{"/api/v1/missing", "tok", "GET " + srv.URL + "/api/v1/missing: status 404 (this pollhook has no stream endpoint: built before issue 8's streams?): 404 page not found"},
		{"/plain", "tok", "GET " + srv.URL + `/plain: Content-Type "text/plain; charset=utf-8", want text/event-stream`},
	}
	for _, tt := range tests {
		c := &client{tally: newTally(s, &latencies{})}
		h := &clientHooks{cache: newEventCache(s, func(int, int) int64 { return 0 }, &latencies{}), complete: func() {}}
		c.run(context.Background(), streamTarget{url: srv.URL + tt.path, token: tt.token, client: srv.Client()}, h, func() { t.Error("opened called") })
		if errString(c.Err) != tt.err {
			t.Errorf("%s: error %q, want %q", tt.path, errString(c.Err), tt.err)
		}
	}
}

// BenchmarkClientEvent is the tool's own cost of one event at one client
// (parse, look up, count): at 1,000 clients and 100 events/s it runs
// 100,000 times a second, on the machine pollhook is measured on.
func BenchmarkClientEvent(b *testing.B) {
	s, err := newSchedule(10, 100, time.Second, 60*time.Second)
	if err != nil {
		b.Fatal(err)
	}
	f := newFakeStream(&testing.T{}, s)
	var stream bytes.Buffer
	for _, ev := range f.events {
		fmt.Fprintf(&stream, "id: %s\nevent: %s\ndata: %s\n\n", ev.ID, ev.Type, ev.Data)
	}
	cache := newEventCache(s, func(int, int) int64 { return 1 }, &latencies{})
	cache.begin(time.Now())
	b.SetBytes(int64(stream.Len()))
	b.ResetTimer()
	for b.Loop() {
		b.StopTimer()
		tl := newTally(s, cache.lat)
		p := newSSEReader(bytes.NewReader(stream.Bytes()))
		b.StartTimer()
		for range len(f.events) {
			ev, err := p.next()
			if err != nil {
				b.Fatal(err)
			}
			tl.add(cache.get(ev), ev.Data, time.Now().UnixNano())
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(f.events)), "ns/event")
}
