package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pollhook/pollhook/store"
)

// crashMode sizes one run of TestCrashSafety.
type crashMode struct {
	name     string
	changes  int // item changes the source makes; every poll while it does sees a new version
	perStep  int // average item changes per step
	minKills int
}

var (
	// crashCI fits in about a minute: the job polls every second, and
	// every restart polls at once.
	crashCI = crashMode{name: "ci", changes: 1000, perStep: 18, minKills: 5}
	// crashLong (POLLHOOK_E2E_LONG=1) runs about four minutes.
	crashLong = crashMode{name: "long", changes: 4000, perStep: 18, minKills: 20}
)

const crashJob = "items"

// TestCrashSafety SIGKILLs pollhook at random moments, start-up included,
// while a source goes through a script of more than a thousand item
// changes and two receivers (one event per request, and batches) go down
// and up. It restarts pollhook on the same store each time, and at the end
// checks, for each receiver, that the accepted webhooks deduplicated by
// webhook-id, applied in the order they arrived, chain strictly per item
// and turn the initial data into exactly the final data.
//
// POLLHOOK_E2E_SEED replays a seed (the timing is not replayed); with
// POLLHOOK_E2E_REPORT=FILE a JSON line per receiver with the figures is
// appended to FILE.
func TestCrashSafety(t *testing.T) {
	skipShort(t)
	mode := longIf("POLLHOOK_E2E_LONG", crashCI, crashLong)
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("POLLHOOK_E2E_SEED"); s != "" {
		var err error
		if seed, err = strconv.ParseUint(s, 10, 64); err != nil {
			t.Fatalf("POLLHOOK_E2E_SEED=%q: %v", s, err)
		}
	}
	t.Logf("mode %s, seed %d (POLLHOOK_E2E_SEED=%d replays the script)", mode.name, seed, seed)
	began := time.Now()

	c := startCrash(t, seed, mode.changes, mode.perStep)
	kills, startupKills := c.killUntilDone(t, mode.minKills, 4950*time.Millisecond, time.Minute)
	c.stopFlapping()
	steps, changes, _ := c.src.progress()
	streamed := time.Since(began)

	// Every receiver is up for good: wait until each has what the source has.
	final := c.src.data()
	for _, r := range c.rcvs {
		converged := c.converged(r, final)
		t.Logf("receiver %s: converged=%v %s after the stream", r.name, converged, time.Since(began)-streamed)
		if !converged {
			res := r.replay(c.initial, c.src, crashJob, true)
			t.Errorf("receiver %s: the replayed data is not the source's 90s after the last kill:%s%s",
				r.name, dataDiff(res.data, final), listProblems(res.problems))
		}
	}
	// Two more polls of the still source (whatever they detected would show
	// below, as a broken chain or an undelivered lane); then a clean stop
	// drains and closes the store.
	select {
	case <-c.src.polled: // an earlier poll
	default:
	}
	for range 2 {
		select {
		case <-c.src.polled:
		case <-time.After(20 * time.Second):
			t.Fatal("the source was not polled for 20s")
		}
	}
	drained := time.Since(began)
	head := c.stop(t)

	var ids []map[string]string
	for _, r := range c.rcvs {
		t.Run(r.name, func(t *testing.T) {
			res := r.replay(c.initial, c.src, crashJob, true)
			ids = append(ids, res.eventIDs)
			if len(res.problems) > 0 {
				t.Errorf("%d problems in the received webhooks:%s\nthe requests that carried those events:%s",
					len(res.problems), listProblems(res.problems), r.requestsOf(res.suspects))
			}
			if !maps.Equal(res.data, final) {
				t.Errorf("replaying the received events onto the initial data does not give the final data:%s", dataDiff(res.data, final))
			}
			if uint64(len(res.eventIDs)) != head.LastSeq {
				t.Errorf("received %d distinct events, pollhook committed %d", len(res.eventIDs), head.LastSeq)
			}
			report := map[string]any{
				"receiver": r.name, "mode": mode.name, "seed": seed, "kills": kills, "startup_kills": startupKills,
				"steps": steps, "source_changes": changes, "events": res.events, "requests": res.requests,
				"accepted": res.accepted, "rejected": res.rejected, "duplicates": res.duplicates,
				"stream_s": streamed.Round(100 * time.Millisecond).Seconds(), "drained_s": drained.Round(100 * time.Millisecond).Seconds(),
			}
			line, _ := json.Marshal(report)
			t.Logf("CRASH-E2E %s", line)
			if f := os.Getenv("POLLHOOK_E2E_REPORT"); f != "" {
				appendLine(t, f, line)
			}
		})
	}
	if len(ids) == 2 && !slices.Equal(slices.Sorted(maps.Keys(ids[0])), slices.Sorted(maps.Keys(ids[1]))) {
		t.Errorf("the receivers got different events: %d and %d distinct event ids", len(ids[0]), len(ids[1]))
	}
}

// newCrashInstance writes the configuration of the crash test: one job
// polling the source every second, sending to one destination per
// receiver, the second of which batches. Retries are quick and never give
// up within the test, and the guard is off since the script deletes at will.
func newCrashInstance(t *testing.T, src string, rcvs []string) (in *instance, dataDir string) {
	dir := t.TempDir()
	dataDir = filepath.Join(dir, "data")
	cfg := fmt.Sprintf(`server:
  listen: "127.0.0.1:0"
store:
  path: %s
destinations:
  single:
    url: %s/hook
    secret: ${E2E_SECRET}
    retry: {initial_interval: 100ms, max_interval: 1s, max_attempts: 100000, max_age: 1h}
  batched:
    url: %s/hook
    secret: ${E2E_SECRET}
    retry: {initial_interval: 100ms, max_interval: 1s, max_attempts: 100000, max_age: 1h}
    batch: {max_events: 10, max_wait: 200ms}
jobs:
  - name: %s
    schedule: "@every 1s"
    request:
      url: %s/api/items?token=s3cr3t-query
      timeout: 5s
    items: items
    key: id
    ignore: [updated_at]
    guard: {max_deleted_ratio: 0}
    destinations: [single, batched]
`, dataDir, rcvs[0], rcvs[1], crashJob, src)
	return writeInstance(t, dir, cfg), dataDir
}

// crashRig is the crash scenario running: the scripted source, the two
// receivers (one event per request, and batches) flapping, and pollhook
// polling the one into the others.
type crashRig struct {
	seed    uint64
	src     *crashSource
	rcvs    []*crashReceiver
	in      *instance
	dataDir string
	initial map[string]string // the source's data before the script
	p       *proc             // the pollhook process running
	// stopFlapping leaves the receivers up for good (at the end of the
	// test at the latest).
	stopFlapping func()
}

// startCrash starts the crash scenario: the source of a script of changes
// item changes, about perStep a poll, and the receivers, seeded from seed;
// pollhook on them; once its baseline is committed, the receivers flapping
// and the script running.
func startCrash(t *testing.T, seed uint64, changes, perStep int) *crashRig {
	t.Helper()
	c := &crashRig{seed: seed, src: newCrashSource(seed, changes, perStep)}
	srcURL := serve(t, c.src)
	// Slow answers limit a lane's throughput: few for the receiver of one
	// event per request, many for the one that gets a batch a second.
	c.rcvs = []*crashReceiver{newCrashReceiver("single", false, 5, seed), newCrashReceiver("batched", true, 30, seed+1)}
	urls := make([]string, len(c.rcvs))
	for i, r := range c.rcvs {
		urls[i] = serve(t, r)
	}
	c.in, c.dataDir = newCrashInstance(t, srcURL, urls)
	c.initial = c.src.data()

	c.p = c.in.start()
	baseline := `pollhook_polls_total{job="items",result="baseline"} 1`
	if !waitUntil(20*time.Second, c.src.polled, func() bool { return strings.Contains(scrape(c.in), "\n"+baseline+"\n") }) {
		t.Fatalf("no baseline in 20s: /metrics lacks %q", baseline)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for i, r := range c.rcvs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.flap(ctx, rand.New(rand.NewPCG(seed, uint64(10+i))))
		}()
	}
	c.stopFlapping = sync.OnceFunc(func() { cancel(); wg.Wait() })
	t.Cleanup(c.stopFlapping)
	c.src.start()
	return c
}

// killUntilDone is the killer: it SIGKILLs pollhook after random pauses of
// 50ms plus up to spread, one kill in four followed by another during
// start-up (store recovery, first poll), and restarts it, until it has
// killed it minKills times and the script is done. The script gets 3s a
// step plus slack. It returns the kills, and those during start-up.
func (c *crashRig) killUntilDone(t *testing.T, minKills int, spread, slack time.Duration) (kills, startupKills int) {
	t.Helper()
	rng := rand.New(rand.NewPCG(c.seed, 3))
	deadline := time.Now().Add(time.Duration(c.src.target/c.src.perStep)*3*time.Second + slack)
	for kills < minKills || !c.src.done() {
		if time.Now().After(deadline) {
			step, changes, requests := c.src.progress()
			t.Fatalf("after %d kills the source made %d of %d changes in %d steps (%d requests) by the deadline", kills, changes, c.src.target, step, requests)
		}
		crashWait(t, c.p, time.Duration(50+rng.IntN(int(spread/time.Millisecond)))*time.Millisecond)
		_ = c.p.stop(t, syscall.SIGKILL)
		kills++
		if rng.IntN(4) == 0 {
			c.p = c.in.spawn()
			crashWait(t, c.p, time.Duration(rng.IntN(400))*time.Millisecond)
			_ = c.p.stop(t, syscall.SIGKILL)
			kills++
			startupKills++
		}
		c.p = c.in.start()
	}
	return kills, startupKills
}

// converged reports whether, within 90s, the webhooks r accepted turn the
// initial data into final.
func (c *crashRig) converged(r *crashReceiver, final map[string]string) bool {
	return waitUntil(90*time.Second, r.notify, func() bool {
		return maps.Equal(r.replay(c.initial, c.src, crashJob, false).data, final)
	})
}

// stop stops pollhook with SIGTERM, which must exit 0, then checks its
// store and returns the job's head (see checkCrashStore).
func (c *crashRig) stop(t *testing.T) store.Head {
	t.Helper()
	if err := c.p.stop(t, syscall.SIGTERM); err != nil {
		t.Errorf("pollhook exited with %v after SIGTERM, want status 0", err)
	}
	return checkCrashStore(t, c.dataDir, len(c.rcvs))
}

// checkCrashStore opens the stopped pollhook's store and checks that
// nothing was dead-lettered and that every lane delivered the whole log.
// It returns the job's head.
func checkCrashStore(t *testing.T, dir string, lanes int) store.Head {
	t.Helper()
	st, err := store.Open(dir, store.Options{})
	if err != nil {
		t.Fatalf("open pollhook's store after it stopped: %v", err)
	}
	defer st.Close()
	head, err := st.Head(crashJob)
	if err != nil {
		t.Fatal(err)
	}
	dls, err := st.DeadLetters("")
	if err != nil {
		t.Fatal(err)
	}
	for _, dl := range dls {
		t.Errorf("dead letter on %s: event %s after %d attempts, last status %d: %s", dl.Destination, dl.Event.ID, dl.Attempts, dl.LastStatus, dl.LastError)
	}
	ls, err := st.Lanes()
	if err != nil {
		t.Fatal(err)
	}
	if len(ls) != lanes {
		t.Errorf("%d lanes in the store, want %d", len(ls), lanes)
	}
	for _, l := range ls {
		if l.Cursor != head.LastSeq+1 || l.Attempts != 0 {
			t.Errorf("lane %s×%s: cursor %d with %d failed attempts, want %d (the whole log delivered)", l.Destination, l.Job, l.Cursor, l.Attempts, head.LastSeq+1)
		}
	}
	return head
}

// crashWait lets pollhook run for d, failing if it exits by itself.
func crashWait(t *testing.T, p *proc, d time.Duration) {
	t.Helper()
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case err := <-p.done:
		t.Fatalf("pollhook exited by itself (%v):\n%s", err, p.stderr.String())
	case <-timer.C:
	}
}

// waitUntil reports whether cond holds before timeout, checking it at
// every signal of wake and at least every 100ms.
func waitUntil(timeout time.Duration, wake <-chan struct{}, cond func() bool) bool {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-deadline.C:
			return cond()
		case <-wake:
		case <-tick.C:
		}
	}
	return true
}

// scrape returns the running pollhook's /metrics ("" when unreachable).
func scrape(in *instance) string {
	resp, err := http.Get("http://" + in.admin + "/metrics")
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return string(body)
}

// dataDiff lists the keys whose replayed value differs from the source's.
func dataDiff(got, want map[string]string) string {
	keys := slices.Sorted(maps.Keys(want))
	for k := range got {
		if _, ok := want[k]; !ok {
			keys = append(keys, k)
		}
	}
	var b strings.Builder
	n := 0
	for _, k := range keys {
		g, gok := got[k]
		w, wok := want[k]
		if g == w && gok == wok {
			continue
		}
		n++
		if n <= 20 {
			fmt.Fprintf(&b, "\n  key %s: received %s, source has %s", k, orAbsent(g, gok), orAbsent(w, wok))
		}
	}
	if n > 20 {
		fmt.Fprintf(&b, "\n  … %d keys differ in all", n)
	}
	return b.String()
}

func orAbsent(v string, ok bool) string {
	if !ok {
		return "(absent)"
	}
	return v
}

func listProblems(ps []string) string {
	var b strings.Builder
	for i, p := range ps {
		if i == 30 {
			fmt.Fprintf(&b, "\n  … %d problems in all", len(ps))
			break
		}
		b.WriteString("\n  " + p)
	}
	return b.String()
}

func appendLine(t *testing.T, path string, line []byte) {
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		t.Errorf("POLLHOOK_E2E_REPORT: %v", err)
		return
	}
	defer f.Close()
	if _, err := f.Write(append(line, '\n')); err != nil {
		t.Errorf("POLLHOOK_E2E_REPORT: %v", err)
	}
}
