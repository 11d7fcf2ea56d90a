package e2e

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// faultReceiver is a webhook destination serving two paths, one per
// destination of the suite, that fails as the test says: while a fault is
// set every request gets it (on every path), else 200.
type faultReceiver struct {
	mu      sync.Mutex
	fault   string         // "", "500", "429", "410", "hang", "reset"
	once410 map[string]int // 410 answers given per path while fault is "410"
	faulted map[string]int // requests that got the fault, per path
	got     []relRequest
	notify  chan struct{}
}

// relRequest is one request the receiver got; answered 0: no answer (a
// hang cut by the sender, or a connection reset by the receiver).
type relRequest struct {
	path, id string
	body     []byte
	answered int
	fault    string
}

func newFaultReceiver() *faultReceiver {
	return &faultReceiver{once410: map[string]int{}, faulted: map[string]int{}, notify: make(chan struct{}, 1)}
}

func (r *faultReceiver) set(fault string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.fault = fault
	clear(r.once410)
	clear(r.faulted)
}

// faultedAtLeast reports whether each path got its fault n times since
// it was set.
func (r *faultReceiver) faultedAtLeast(n int, paths ...string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, p := range paths {
		if r.faulted[p] < n {
			return false
		}
	}
	return true
}

func (r *faultReceiver) requests() []relRequest {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]relRequest(nil), r.got...)
}

func (r *faultReceiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(req.Body)
	rq := relRequest{path: req.URL.Path, id: req.Header.Get("webhook-id"), body: body}
	r.mu.Lock()
	fault := r.fault
	if fault == "410" {
		// One 410 per destination: it pauses; what comes after the
		// resumption is delivered.
		if r.once410[rq.path] > 0 {
			fault = ""
		}
		r.once410[rq.path]++
	}
	if fault != "" {
		r.faulted[rq.path]++
	}
	r.mu.Unlock()
	rq.fault = fault
	if err != nil {
		fault = "read" // the sender gave up while sending
	}
	switch fault {
	case "":
		rq.answered = http.StatusOK
	case "500":
		rq.answered = http.StatusInternalServerError
	case "429":
		rq.answered = http.StatusTooManyRequests
		w.Header().Set("Retry-After", "1")
	case "410":
		rq.answered = http.StatusGone
	case "hang":
		// Past the destination's timeout: the sender gives up.
		relHang(req)
	case "reset":
		if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
			if tc, ok := conn.(*net.TCPConn); ok {
				_ = tc.SetLinger(0) // RST, not FIN
			}
			conn.Close()
		}
	}
	r.mu.Lock()
	r.got = append(r.got, rq)
	r.mu.Unlock()
	if rq.answered != 0 {
		w.WriteHeader(rq.answered)
	}
	select {
	case r.notify <- struct{}{}:
	default:
	}
}

// relServer serves a handler on one fixed 127.0.0.1 port that can go
// down (connections refused) and come back.
type relServer struct {
	t    *testing.T
	addr string
	h    http.Handler
	srv  *http.Server
	done chan struct{}
}

func newRelServer(t *testing.T, h http.Handler) *relServer {
	s := &relServer{t: t, addr: "127.0.0.1:0", h: h}
	s.up()
	t.Cleanup(s.down)
	return s
}

func (s *relServer) up() {
	ln, err := net.Listen("tcp", s.addr)
	if err != nil {
		s.t.Fatalf("receiver back up on %s: %v", s.addr, err)
	}
	s.addr = ln.Addr().String()
	s.srv = &http.Server{Handler: s.h}
	s.done = make(chan struct{})
	go func() {
		defer close(s.done)
		_ = s.srv.Serve(ln)
	}()
}

func (s *relServer) down() {
	if s.srv == nil {
		return
	}
	_ = s.srv.Close()
	<-s.done
	s.srv = nil
}

// relDestinations is the part of GET /api/v1/destinations the suite reads.
type relDestinations struct {
	Destinations []struct {
		Name   string `json:"name"`
		Paused *struct {
			Status int    `json:"status"`
			Reason string `json:"reason"`
		} `json:"paused"`
		Lanes []struct {
			Job     string `json:"job"`
			Depth   uint64 `json:"depth"`
			Queued  int    `json:"queued"`
			LastSeq uint64 `json:"last_seq"`
		} `json:"lanes"`
	} `json:"destinations"`
}

// relDeadLetter is one entry of GET /api/v1/deadletters.
type relDeadLetter struct {
	Destination string `json:"destination"`
	EventID     string `json:"event_id"`
	Type        string `json:"type"`
	Key         string `json:"key"`
	Attempts    int    `json:"attempts"`
	LastStatus  int    `json:"last_status"`
	LastError   string `json:"last_error"`
}

func relDeadLetters(t *testing.T, in *instance) []relDeadLetter {
	t.Helper()
	var list struct {
		DeadLetters []relDeadLetter `json:"dead_letters"`
	}
	if code := relAPI(t, in, "GET", "/api/v1/deadletters", &list); code != http.StatusOK {
		t.Fatalf("GET /api/v1/deadletters: status %d", code)
	}
	return list.DeadLetters
}

// relSettled waits until every lane has delivered or dead-lettered all of
// its events, with no destination paused.
func relSettled(t *testing.T, in *instance, timeout time.Duration, wake <-chan struct{}) {
	t.Helper()
	var ds relDestinations
	settled := waitUntil(timeout, wake, func() bool {
		ds = relDestinations{}
		relAPI(t, in, "GET", "/api/v1/destinations", &ds)
		for _, d := range ds.Destinations {
			if d.Paused != nil {
				return false
			}
			for _, l := range d.Lanes {
				if l.Depth != 0 || l.Queued != 0 {
					return false
				}
			}
		}
		return len(ds.Destinations) > 0
	})
	if !settled {
		t.Fatalf("the lanes did not settle in %s: %+v", timeout, ds)
	}
}

// relReceiverFaults sends the events of real changes to two destinations
// on one receiver that answers 500, 429 with Retry-After, 410, hangs,
// resets connections and goes down: "patient" retries (nearly) forever,
// "strict" gives up after three attempts. Every event must be delivered
// to patient, and to strict delivered or dead-lettered with its reason;
// no change may arrive under two webhook-ids, and none be invented.
func relReceiverFaults(t *testing.T, mode relMode, table *relTable) {
	src := newFaultSource(relSeed(t), 20)
	rcv := newFaultReceiver()
	srv := newRelServer(t, rcv)
	dir := t.TempDir()
	in := writeInstance(t, dir, fmt.Sprintf(`server:
  listen: "127.0.0.1:0"
  admin_token: %s
store:
  path: %s/data
destinations:
  patient:
    url: http://%s/patient
    secret: ${E2E_SECRET}
    timeout: 1s
    retry: {initial_interval: 100ms, max_interval: 1s, max_attempts: 100000, max_age: 1h}
  strict:
    url: http://%s/strict
    secret: ${E2E_SECRET}
    timeout: 1s
    retry: {initial_interval: 100ms, max_interval: 200ms, max_attempts: 3, max_age: 1h}
jobs:
  - name: items
    schedule: "@every 1h"
    request:
      url: %s/api/items
    items: items
    key: id
    destinations: [patient, strict]
`, relToken, dir, srv.addr, srv.addr, serve(t, src)))
	p := in.start()
	if js := relWaitPolled(t, in, "items"); js.LastResult != "baseline" {
		t.Fatalf("first poll: %+v, want a baseline", js)
	}
	var made []relChange
	change := func() {
		t.Helper()
		made = append(made, src.change())
		if js := relPoll(t, in, "items"); js.LastResult != "changed" {
			t.Errorf("poll after a change: %s (%s), want changed", js.LastResult, js.LastError)
		}
	}
	paths := []string{"/patient", "/strict"}
	type phase struct {
		fault, name string
	}
	phases := []phase{
		{"500", "receiver: 500"},
		{"429", "receiver: 429 with Retry-After: 1"},
		{"410", "receiver: 410 Gone, then resumed"},
		{"hang", "receiver: hangs past the 1s timeout"},
		{"reset", "receiver: TCP reset (SO_LINGER 0)"},
		{"down", fmt.Sprintf("receiver: down for %s", mode.receiverDown)},
	}
	var rows []relRow
	for _, ph := range phases {
		first := len(rcv.requests())
		changesBefore := len(made)
		switch ph.fault {
		case "down":
			srv.down()
			end := time.Now().Add(mode.receiverDown)
			tick := time.NewTicker(time.Second)
			for time.Now().Before(end) {
				change()
				<-tick.C
			}
			tick.Stop()
			srv.up()
		case "410":
			rcv.set("410")
			change()
			var ds relDestinations
			if !relEventually(30*time.Second, func() bool {
				ds = relDestinations{}
				relAPI(t, in, "GET", "/api/v1/destinations", &ds)
				paused := 0
				for _, d := range ds.Destinations {
					if d.Paused != nil && d.Paused.Status == http.StatusGone {
						paused++
					}
				}
				return paused == 2
			}) {
				t.Fatalf("410: the destinations are not both paused: %+v", ds)
			}
			// While paused, changes queue and nothing is sent.
			for range mode.receiverChanges {
				change()
			}
			for _, rq := range rcv.requests()[first:] {
				if rq.fault != "410" {
					t.Errorf("410: request %s to %s while its destination was paused", rq.id, rq.path)
				}
			}
			// Resume patient with the CLI, strict with the admin API.
			cmd := exec.Command(binary, "destinations", "resume", "patient", "--addr", in.admin, "--config", in.config)
			cmd.Env = append(os.Environ(), "E2E_SECRET="+secret)
			if out, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(out), "resumed") {
				t.Errorf("pollhook destinations resume patient: %v\n%s", err, out)
			}
			if code := relAPI(t, in, "POST", "/api/v1/destinations/strict/resume", nil); code != http.StatusOK {
				t.Errorf("POST /api/v1/destinations/strict/resume: status %d", code)
			}
			rcv.set("")
		default:
			rcv.set(ph.fault)
			for range mode.receiverChanges {
				change()
			}
			// The fault lasts until both destinations retried through it.
			if !waitUntil(60*time.Second, rcv.notify, func() bool { return rcv.faultedAtLeast(4, paths...) }) {
				t.Errorf("%s: the destinations were not retried 4 times each in 60s", ph.name)
			}
			rcv.set("")
		}
		relSettled(t, in, 2*time.Minute, rcv.notify)
		faults := 0
		for _, rq := range rcv.requests()[first:] {
			if rq.fault != "" {
				faults++
			}
		}
		if ph.fault == "down" {
			faults = 1 // one outage; the requests refused are not seen
		}
		rows = append(rows, relRow{scenario: ph.name, operations: len(made) - changesBefore, faults: faults})
	}

	// Account for every event: patient got them all (its ids are the
	// events' ids), strict got each or dead-lettered it with a reason.
	seq := relJobStatus(t, in, "items").LastSeq
	if int(seq) != len(made) {
		t.Errorf("the job committed %d events for %d changes", seq, len(made))
	}
	byPath := map[string]map[string]relChange{} // path → webhook-id → change
	accepted := map[string]map[string]int{}     // path → webhook-id → 2xx answers
	falseEvts, diffIDs := 0, 0
	for _, p := range paths {
		byPath[p], accepted[p] = map[string]relChange{}, map[string]int{}
	}
	for _, rq := range rcv.requests() {
		c, err := relDecode(rq.body)
		if err != nil {
			t.Errorf("request %s to %s: %v in %s", rq.id, rq.path, err, rq.body)
			continue
		}
		if prev, ok := byPath[rq.path][rq.id]; ok && prev != c {
			t.Errorf("webhook-id %s carried %s and %s", rq.id, prev, c)
		}
		byPath[rq.path][rq.id] = c
		if rq.answered/100 == 2 {
			accepted[rq.path][rq.id]++
		}
	}
	dls := relDeadLetters(t, in)
	dead := map[string]relDeadLetter{}
	for _, dl := range dls {
		if dl.Destination != "strict" {
			t.Errorf("dead letter on %s (event %s %s %s, %d attempts: %s), want none but on strict", dl.Destination, dl.EventID, dl.Type, dl.Key, dl.Attempts, dl.LastError)
		}
		if dl.LastError == "" || dl.Attempts != 3 {
			t.Errorf("dead letter %s on %s: %d attempts, last status %d, reason %q; want 3 attempts and a reason", dl.EventID, dl.Destination, dl.Attempts, dl.LastStatus, dl.LastError)
		}
		dead[dl.EventID] = dl
	}
	lost, dups := 0, 0
	var dlReasons []string
	for i, p := range paths {
		var got []relChange
		ids := map[relChange]string{}
		for id, n := range accepted[p] {
			c := byPath[p][id]
			got = append(got, c)
			dups += n - 1
			if other, ok := ids[c]; ok {
				diffIDs++
				t.Errorf("%s: change %s delivered under two webhook-ids, %s and %s", p, c, other, id)
			}
			ids[c] = id
		}
		if i == 1 {
			// strict: add what it dead-lettered, read from patient's ids.
			for id, dl := range dead {
				c, ok := byPath["/patient"][id]
				if !ok {
					t.Errorf("dead letter %s on strict: no such event delivered to patient", id)
					continue
				}
				if c.Type != dl.Type || c.Key != dl.Key {
					t.Errorf("dead letter %s on strict is %s %s, the event is %s", id, dl.Type, dl.Key, c)
				}
				if accepted[p][id] > 0 {
					t.Errorf("event %s on strict was both delivered and dead-lettered", id)
				}
				got = append(got, c)
				if len(dlReasons) < 3 {
					dlReasons = append(dlReasons, fmt.Sprintf("%d %s", dl.LastStatus, dl.LastError))
				}
			}
		}
		l, f := relCompare(made, got)
		lost += len(l)
		falseEvts += len(f)
		if len(l) > 0 || len(f) > 0 {
			t.Errorf("%s: delivered (or dead-lettered) changes differ from those made:\nlost:%s\nfalse:%s", p, listChanges(l), listChanges(f))
		}
	}
	t.Logf("%d events, %d dead letters on strict (e.g. %q)", seq, len(dead), dlReasons)

	// A dead letter retried is delivered with its webhook-id.
	var retried []string
	for id := range dead {
		if len(retried) == 10 {
			break
		}
		if code := relAPI(t, in, "POST", "/api/v1/deadletters/strict/"+id+"/retry", nil); code/100 != 2 {
			t.Errorf("retry dead letter %s: status %d", id, code)
		}
		retried = append(retried, id)
	}
	relSettled(t, in, time.Minute, rcv.notify)
	if n := len(relDeadLetters(t, in)); n != len(dead)-len(retried) {
		t.Errorf("%d dead letters after retrying %d of %d", n, len(retried), len(dead))
	}
	delivered := map[string]bool{}
	for _, rq := range rcv.requests() {
		if rq.path == "/strict" && rq.answered/100 == 2 {
			delivered[rq.id] = true
		}
	}
	for _, id := range retried {
		if !delivered[id] {
			t.Errorf("dead letter %s retried, and not delivered under its webhook-id", id)
		}
	}
	if err := p.stop(t, syscall.SIGTERM); err != nil && !errors.Is(err, context.Canceled) {
		t.Errorf("pollhook exited with %v after SIGTERM, want status 0", err)
	}
	for _, r := range rows {
		table.add(r)
	}
	table.add(relRow{scenario: "receiver: all events, 2 destinations", operations: 2 * len(made), lost: lost, duplicated: dups,
		falseEvts: falseEvts + diffIDs, note: fmt.Sprintf("%d dead-lettered on strict (3 attempts), each with its reason", len(dead))})
}
