package main

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// fleet is the HTTP side of the load, run in the tool's process so that its
// CPU is not pollhook's: the sources the jobs poll (each serving
// /jobs/{i} for its share of the jobs) and the receiver of the webhooks.
type fleet struct {
	start       time.Time
	changeEvery time.Duration // 0: documents never change
	items       int
	etag        bool // send ETags and answer If-None-Match with 304

	jobs         []jobSource
	sourceURLs   []string       // one per source server, "http://127.0.0.1:port"
	receiverURLs []string       // one per destination, each its own server
	polls        atomic.Int64   // requests the sources answered, every job's
	webhooks     atomic.Int64   // requests the receivers answered, all of them
	perReceiver  []atomic.Int64 // the same, by receiver
	// latency times each webhook from the change of the source it reports.
	latency     latencyLog
	notModified atomic.Int64 // 304s the sources sent
	// Connections pollhook opened to the sources and to the receiver,
	// and how many are open now: a pool too small for the jobs shows as
	// connections opened at every burst of polls.
	sourceConns, receiverConns conns

	servers []*http.Server
	wg      sync.WaitGroup // one per server's Serve
}

// jobSource is what the sources know about one job's polls.
type jobSource struct {
	polls  atomic.Int64
	last   atomic.Int64 // when the last poll came, Unix nanoseconds; 0: none yet
	maxGap atomic.Int64 // the longest time between two polls, nanoseconds
	doc    atomic.Pointer[document]
}

// document is one version of a job's response, rendered once.
type document struct {
	version int64
	body    []byte
	etag    string
}

// startFleet listens on 127.0.0.1 with sources servers for jobs jobs and
// receivers receivers. Close stops them.
func startFleet(jobs, sources, items int, changeEvery time.Duration, etag bool, receivers int) (*fleet, error) {
	f := &fleet{start: time.Now(), changeEvery: changeEvery, items: items, etag: etag, jobs: make([]jobSource, jobs),
		perReceiver: make([]atomic.Int64, receivers)}
	src := http.NewServeMux()
	src.HandleFunc("GET /jobs/{i}", f.serveJob)
	for range sources {
		url, err := f.listen(src, &f.sourceConns)
		if err != nil {
			f.Close()
			return nil, err
		}
		f.sourceURLs = append(f.sourceURLs, url)
	}
	for r := range receivers {
		rcv := http.NewServeMux()
		rcv.HandleFunc("/hook", func(w http.ResponseWriter, req *http.Request) { f.serveWebhook(w, req, r) })
		url, err := f.listen(rcv, &f.receiverConns)
		if err != nil {
			f.Close()
			return nil, err
		}
		f.receiverURLs = append(f.receiverURLs, url+"/hook")
	}
	return f, nil
}

// conns counts a group of servers' connections.
type conns struct {
	opened, open atomic.Int64
}

func (c *conns) track(_ net.Conn, s http.ConnState) {
	switch s {
	case http.StateNew:
		c.opened.Add(1)
		c.open.Add(1)
	case http.StateClosed, http.StateHijacked:
		c.open.Add(-1)
	}
}

// listen serves h on a new port of 127.0.0.1, counting its connections in
// c, and returns its base URL.
func (f *fleet) listen(h http.Handler, c *conns) (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("listen: %w", err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ConnState: c.track}
	f.servers = append(f.servers, srv)
	f.wg.Go(func() { _ = srv.Serve(ln) })
	return "http://" + ln.Addr().String(), nil
}

// Close stops every server at once (pollhook is gone by then) and waits
// for them.
func (f *fleet) Close() {
	for _, s := range f.servers {
		_ = s.Close()
	}
	f.wg.Wait()
}

// jobURL is the URL job i polls; jobs are dealt round-robin to the sources.
func (f *fleet) jobURL(i int) string {
	return f.sourceURLs[i%len(f.sourceURLs)] + "/jobs/" + strconv.Itoa(i)
}

func (f *fleet) serveJob(w http.ResponseWriter, r *http.Request) {
	i, err := strconv.Atoi(r.PathValue("i"))
	if err != nil || i < 0 || i >= len(f.jobs) {
		http.NotFound(w, r)
		return
	}
	now := time.Now()
	f.polls.Add(1)
	f.jobs[i].record(now)
	d := f.document(i, now)
	if f.etag {
		w.Header().Set("ETag", d.etag)
		if inm := r.Header.Get("If-None-Match"); inm == d.etag || "W/"+inm == d.etag {
			f.notModified.Add(1)
			w.WriteHeader(http.StatusNotModified)
			return
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(d.body)))
	_, _ = w.Write(d.body)
}

// record counts a poll at now. A job never polls itself twice at once,
// but the gap is kept with a compare-and-swap anyway: a poll cut off by
// pollhook's timeout may still be in the source when the next one comes.
func (j *jobSource) record(now time.Time) {
	j.polls.Add(1)
	t := now.UnixNano()
	prev := j.last.Swap(t)
	if prev == 0 {
		return
	}
	gap := t - prev
	for {
		m := j.maxGap.Load()
		if gap <= m || j.maxGap.CompareAndSwap(m, gap) {
			return
		}
	}
}

// document returns job i's response at now, rendering it when its
// version moved on.
func (f *fleet) document(i int, now time.Time) *document {
	v := docVersion(i, len(f.jobs), now.Sub(f.start), f.changeEvery)
	j := &f.jobs[i]
	if d := j.doc.Load(); d != nil && d.version == v {
		return d
	}
	d := &document{version: v, body: renderDocument(v, f.items), etag: `W/"v` + strconv.FormatInt(v, 10) + `"`}
	j.doc.Store(d)
	return d
}

// docVersion is the version of job i (of n) at elapsed: it moves on every
// changeEvery, the jobs' changes spread evenly over that period so that
// commits come at a steady rate rather than all in one second.
func docVersion(i, n int, elapsed, changeEvery time.Duration) int64 {
	if changeEvery <= 0 {
		return 0
	}
	phase := time.Duration(int64(changeEvery) * int64(i) / int64(n))
	return int64((elapsed + phase) / changeEvery)
}

// renderDocument writes {"items":[{"id":1,"name":"item 1","v":..},...]}
// for a version: each version changes the v of exactly one item from the
// version before (item k, 0-based, has v = (version+items-1-k)/items), so
// a change is one item.updated event.
func renderDocument(version int64, items int) []byte {
	b := make([]byte, 0, 16+items*40)
	b = append(b, `{"items":[`...)
	for k := range items {
		if k > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"id":`...)
		b = strconv.AppendInt(b, int64(k+1), 10)
		b = append(b, `,"name":"item `...)
		b = strconv.AppendInt(b, int64(k+1), 10)
		b = append(b, `","v":`...)
		b = strconv.AppendInt(b, (version+int64(items-1-k))/int64(items), 10)
		b = append(b, '}')
	}
	return append(b, "]}"...)
}

// maxWebhook bounds what the receiver reads of a webhook: pollhook-load's
// events are a few hundred bytes.
const maxWebhook = 1 << 20

// serveWebhook answers receiver r's webhooks with 204 and times each from
// the change it reports.
func (f *fleet) serveWebhook(w http.ResponseWriter, r *http.Request, receiver int) {
	at := time.Now()
	body, err := io.ReadAll(io.LimitReader(r.Body, maxWebhook))
	if err != nil && !errors.Is(err, io.EOF) {
		return // the sender went away; it will send again
	}
	f.webhooks.Add(1)
	f.perReceiver[receiver].Add(1)
	if changed, ok := f.changeTime(body); ok {
		f.latency.add(at, at.Sub(changed))
	} else {
		f.latency.unknown.Add(1)
	}
	w.WriteHeader(http.StatusNoContent)
}

// sourceCounts is what the sources saw of each job until now.
type sourceCounts struct {
	Polls  []int64
	MaxGap []time.Duration
}

// snapshot reads every job's counters. With reset, the longest gaps start
// over, so that those of a window do not include the start-up's.
func (f *fleet) snapshot(reset bool) sourceCounts {
	c := sourceCounts{Polls: make([]int64, len(f.jobs)), MaxGap: make([]time.Duration, len(f.jobs))}
	for i := range f.jobs {
		j := &f.jobs[i]
		c.Polls[i] = j.polls.Load()
		if reset {
			c.MaxGap[i] = time.Duration(j.maxGap.Swap(0))
		} else {
			c.MaxGap[i] = time.Duration(j.maxGap.Load())
		}
	}
	return c
}
