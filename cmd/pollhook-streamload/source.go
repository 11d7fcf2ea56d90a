package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// source is the fake legacy API and the webhook receiver, run in the
// tool's process: /jobs/{j} serves job j's document as the schedule has
// it at the moment of the request, and /hook counts the events pollhook
// delivers.
type source struct {
	sched   *schedule
	padding string       // in every item, to give events a realistic size
	start   atomic.Int64 // the schedule's start, Unix nanoseconds; 0: not started, documents empty

	jobs     []sourceJob
	url      string       // http://127.0.0.1:port
	webhooks atomic.Int64 // events the receiver got
	hooks    atomic.Int64 // requests the receiver got

	srv *http.Server
	wg  sync.WaitGroup
}

// sourceJob is what the source knows of one job.
type sourceJob struct {
	polls  atomic.Int64
	served []atomic.Int64 // per step: when a poll first showed it, Unix nanoseconds
	mu     sync.Mutex     // orders the updates of served and doc
	seen   int            // steps some poll has shown
	doc    atomic.Pointer[document]
}

// document is job's response with items items, rendered once.
type document struct {
	items int
	body  []byte
}

// startSource listens on 127.0.0.1.
func startSource(s *schedule, itemBytes int) (*source, error) {
	src := &source{sched: s, padding: padding(itemBytes), jobs: make([]sourceJob, s.jobs)}
	for j := range src.jobs {
		src.jobs[j].served = make([]atomic.Int64, s.steps)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /jobs/{j}", src.serveJob)
	mux.HandleFunc("POST /hook", src.serveHook)
	src.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	src.url = "http://" + ln.Addr().String()
	src.wg.Go(func() { _ = src.srv.Serve(ln) })
	return src, nil
}

// padding is the filler that makes an item about n bytes long.
func padding(n int) string {
	const overhead = len(`{"id":1000,"name":"item 1000","pad":""}`)
	b := make([]byte, max(0, n-overhead))
	for i := range b {
		b[i] = 'a' + byte(i%26)
	}
	return string(b)
}

// Close stops the server and waits for it.
func (src *source) Close() {
	_ = src.srv.Close()
	src.wg.Wait()
}

// begin starts the schedule at t: from then on the documents grow.
func (src *source) begin(t time.Time) { src.start.Store(t.UnixNano()) }

// jobURL is the URL job j polls.
func (src *source) jobURL(j int) string { return src.url + "/jobs/" + strconv.Itoa(j) }

// hookURL is the receiver's URL.
func (src *source) hookURL() string { return src.url + "/hook" }

// polled returns when a poll of job j first showed step s (Unix
// nanoseconds; 0: none did yet).
func (src *source) polled(j, s int) int64 { return src.jobs[j].served[s].Load() }

// polls is how many polls job j sent.
func (src *source) polls(j int) int64 { return src.jobs[j].polls.Load() }

// shownAll reports whether a poll of every job showed every step.
func (src *source) shownAll() bool {
	for j := range src.jobs {
		if src.jobs[j].served[src.sched.steps-1].Load() == 0 {
			return false
		}
	}
	return true
}

func (src *source) serveJob(w http.ResponseWriter, r *http.Request) {
	j, err := strconv.Atoi(r.PathValue("j"))
	if err != nil || j < 0 || j >= len(src.jobs) {
		http.NotFound(w, r)
		return
	}
	now := time.Now()
	d := src.show(j, now)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(d.body)))
	_, _ = w.Write(d.body)
}

// show counts a poll of job j at now, notes the steps it shows for the
// first time, and returns the document to answer with.
func (src *source) show(j int, now time.Time) *document {
	sj := &src.jobs[j]
	sj.polls.Add(1)
	steps := 0
	if start := src.start.Load(); start != 0 {
		steps = src.sched.stepsAt(j, now.Sub(time.Unix(0, start)))
	}
	sj.mu.Lock()
	defer sj.mu.Unlock()
	for s := sj.seen; s < steps; s++ {
		sj.served[s].Store(now.UnixNano())
	}
	sj.seen = max(sj.seen, steps)
	items := steps * src.sched.perStep[j]
	if d := sj.doc.Load(); d != nil && d.items == items {
		return d
	}
	d := &document{items: items, body: renderDocument(items, src.padding)}
	sj.doc.Store(d)
	return d
}

// renderDocument writes {"items":[{"id":1,"name":"item 1","pad":"..."},...]}.
func renderDocument(items int, pad string) []byte {
	b := make([]byte, 0, 16+items*(40+len(pad)))
	b = append(b, `{"items":[`...)
	for id := 1; id <= items; id++ {
		if id > 1 {
			b = append(b, ',')
		}
		b = append(b, `{"id":`...)
		b = strconv.AppendInt(b, int64(id), 10)
		b = append(b, `,"name":"item `...)
		b = strconv.AppendInt(b, int64(id), 10)
		b = append(b, `","pad":"`...)
		b = append(b, pad...)
		b = append(b, `"}`...)
	}
	return append(b, "]}"...)
}

// serveHook counts the events of a webhook: one, or a batch's.
func (src *source) serveHook(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return // pollhook went away; it will send again
	}
	var batch struct {
		Events []json.RawMessage `json:"events"`
	}
	n := 1
	if json.Unmarshal(body, &batch) == nil && batch.Events != nil {
		n = len(batch.Events)
	}
	src.hooks.Add(1)
	src.webhooks.Add(int64(n))
	w.WriteHeader(http.StatusNoContent)
}
