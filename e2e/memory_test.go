package e2e

import (
	"bufio"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// idleJobs and idleWait are the measurement: RSS with 10 jobs,
// some 20 s after start, when every job has polled once and waits for its
// next tick.
const (
	idleJobs = 10
	idleWait = 20 * time.Second
	// idleRSSGoal is the goal (40 MB); idleRSSLimit fails the test, at twice
	// the goal so that a slow or busy machine does not.
	idleRSSGoal  = 40 << 20
	idleRSSLimit = 80 << 20 // bytes, as MiB
)

// TestIdleMemory runs the real binary with 10 jobs polling a local source
// @every 30s and logs its resident memory (VmRSS, and the peak VmHWM) about
// 20 s after it started. docs/BENCHMARKS.md ("Memory (RSS)") records the figure.
func TestIdleMemory(t *testing.T) {
	skipShort(t)
	if _, err := os.Stat("/proc/self/status"); err != nil {
		t.Skip("needs /proc/PID/status (Linux) to read the resident memory")
	}
	var polls atomic.Int64
	polled := make(chan struct{}, idleJobs*4)
	src := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// 100 items of a few fields per job: a small legacy API's page.
		var b strings.Builder
		b.WriteString(`{"data":{"orders":[`)
		for i := range 100 {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, `{"id":%d,"job":%q,"status":"open","total":%d.50}`, i, r.URL.Path, i*7)
		}
		b.WriteString(`]}}`)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(b.String()))
		polls.Add(1)
		select {
		case polled <- struct{}{}:
		default: // the test only needs to be woken
		}
	}))
	rcv := serve(t, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))

	dir := t.TempDir()
	var cfg strings.Builder
	fmt.Fprintf(&cfg, "server:\n  listen: \"127.0.0.1:0\"\nstore:\n  path: %s\ndestinations:\n  hook:\n    url: %s/hook\njobs:\n",
		filepath.Join(dir, "data"), rcv)
	for i := range idleJobs {
		fmt.Fprintf(&cfg, "  - name: job%d\n    schedule: \"@every 30s\"\n    request: {url: \"%s/job%d\"}\n    items: data.orders\n    key: id\n    destinations: [hook]\n",
			i, src, i)
	}
	in := writeInstance(t, dir, cfg.String())
	started := time.Now()
	p := in.start()

	// Every job polls once at start-up.
	if !waitUntil(15*time.Second, polled, func() bool { return polls.Load() >= idleJobs }) {
		t.Fatalf("the source saw %d polls in 15s, want %d (one per job)", polls.Load(), idleJobs)
	}
	crashWait(t, p, idleWait-time.Since(started))
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	rss, hwm := procKB(t, status, "VmRSS"), procKB(t, status, "VmHWM")
	t.Logf("%d jobs, %s after start, %d polls: VmRSS %.1f MiB, VmHWM %.1f MiB (goal %d MiB)",
		idleJobs, time.Since(started).Round(time.Second), polls.Load(), float64(rss)/(1<<20), float64(hwm)/(1<<20), idleRSSGoal>>20)
	if rss > idleRSSLimit {
		t.Errorf("idle RSS %.1f MiB, over %d MiB", float64(rss)/(1<<20), idleRSSLimit>>20)
	}
	if got := polls.Load(); got != idleJobs {
		t.Errorf("the source saw %d polls, want %d: the process was not idle", got, idleJobs)
	}
}

// procKB returns the field of /proc/PID/status in bytes ("VmRSS:  1234 kB").
func procKB(t *testing.T, status []byte, field string) int64 {
	t.Helper()
	sc := bufio.NewScanner(strings.NewReader(string(status)))
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), ":")
		if !ok || name != field {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(value), " kB"), 10, 64)
		if err != nil {
			t.Fatalf("%s: %v", field, err)
		}
		return kb << 10
	}
	t.Fatalf("no %s in /proc/PID/status", field)
	return 0
}
