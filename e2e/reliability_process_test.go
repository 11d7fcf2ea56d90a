package e2e

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// relKills is TestCrashSafety's scenario at the suite's size: SIGKILLs at
// random moments (a quarter of them during start-up) while a source makes
// item changes and two receivers (single events, batches) flap. The
// receivers' accepted webhooks, deduplicated by webhook-id and replayed
// in order, must give exactly the source's final data.
func relKills(t *testing.T, mode relMode, table *relTable) {
	c := startCrash(t, relSeed(t), mode.killChanges, 18)
	kills, _ := c.killUntilDone(t, mode.kills, 2950*time.Millisecond, 2*time.Minute)
	c.stopFlapping()
	_, changes, _ := c.src.progress()
	final := c.src.data()
	for _, r := range c.rcvs {
		if !c.converged(r, final) {
			t.Errorf("receiver %s: the replayed data is not the source's 90s after the last kill", r.name)
		}
	}
	head := c.stop(t)
	for _, r := range c.rcvs {
		res := r.replay(c.initial, c.src, crashJob, true)
		lost := 0
		for k, v := range final {
			if res.data[k] != v {
				lost++
			}
		}
		for k := range res.data {
			if _, ok := final[k]; !ok {
				lost++
			}
		}
		if len(res.problems) > 0 || lost > 0 {
			t.Errorf("receiver %s: %d keys differ from the source, %d problems:%s%s", r.name, lost, len(res.problems),
				dataDiff(res.data, final), listProblems(res.problems))
		}
		if uint64(len(res.eventIDs)) != head.LastSeq {
			t.Errorf("receiver %s: %d distinct events, pollhook committed %d", r.name, len(res.eventIDs), head.LastSeq)
		}
		table.add(relRow{scenario: "process: SIGKILL, receiver " + r.name, operations: changes, faults: kills, lost: lost,
			duplicated: res.duplicates, falseEvts: len(res.problems),
			note: fmt.Sprintf("%d events in %d requests; false = broken chains, invented values, ids reused", res.events, res.requests)})
	}
}

// relRestart starts pollhook again and requires its first poll to find
// the data as it was; when says when that is, for the message.
func relRestart(t *testing.T, in *instance, when string) *proc {
	t.Helper()
	p := in.start()
	if js := relWaitPolled(t, in, "items"); js.LastResult != "unchanged" && js.LastResult != "no_change" {
		t.Errorf("first poll %s: %s (%s), want unchanged", when, js.LastResult, js.LastError)
	}
	return p
}

// relSkipRow adds a row saying the scenario was skipped, when it was.
func relSkipRow(t *testing.T, table *relTable, scenario string) {
	if t.Skipped() {
		table.add(relRow{scenario: scenario, note: "SKIPPED: no tmpfs could be mounted (needs root)"})
	}
}

// relMount mounts a tmpfs with opts on a new directory, or skips: the
// scenarios that need one run as root (as here and in CI).
func relMount(t *testing.T, opts string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "mnt")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", opts, "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("SKIPPED: cannot mount a tmpfs on %s (%v: %s); this scenario needs root and mount(8)", dir, err, strings.TrimSpace(string(out)))
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	return dir
}

func relRemount(t *testing.T, dir, opts string) {
	t.Helper()
	if out, err := exec.Command("mount", "-o", "remount,"+opts, dir).CombinedOutput(); err != nil {
		t.Fatalf("mount -o remount,%s %s: %v: %s", opts, dir, err, out)
	}
}

// relItemsConfig is the configuration of one job polling src every hour
// (the test polls it through the admin API) into one receiver, with its
// store at storePath.
func relItemsConfig(storePath, rcv, src string) string {
	return fmt.Sprintf(`server:
  listen: "127.0.0.1:0"
  admin_token: %s
store:
  path: %s
destinations:
  receiver:
    url: %s/hook
    secret: ${E2E_SECRET}
    retry: {initial_interval: 100ms, max_interval: 400ms, max_attempts: 100000, max_age: 1h}
jobs:
  - name: items
    schedule: "@every 1h"
    request:
      url: %s/api/items
    items: items
    key: id
    destinations: [receiver]
`, relToken, storePath, rcv, src)
}

// relNetChanges is what a poll must report when the data went from
// before to after: one event per key that differs.
func relNetChanges(before, after map[string]string) []relChange {
	var out []relChange
	for _, k := range slices.Sorted(maps.Keys(after)) {
		switch b, ok := before[k]; {
		case !ok:
			out = append(out, relChange{"item.created", k, "", after[k]})
		case b != after[k]:
			out = append(out, relChange{"item.updated", k, b, after[k]})
		}
	}
	for _, k := range slices.Sorted(maps.Keys(before)) {
		if _, ok := after[k]; !ok {
			out = append(out, relChange{"item.deleted", k, before[k], ""})
		}
	}
	return out
}

// relFill writes a file on dir's file system until it is full.
func relFill(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "filler")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := make([]byte, 1<<20)
	for {
		if _, err := f.Write(chunk); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("fill %s: %v, want ENOSPC", dir, err)
			}
			break
		}
	}
	// The last pages too.
	for _, n := range []int{64 << 10, 4 << 10, 1} {
		for {
			if _, err := f.Write(chunk[:n]); err != nil {
				break
			}
		}
	}
	return path
}

// relDiskFull fills the file system of the store (a tmpfs) while the
// source changes, frees it, and checks that pollhook said clearly what
// happened, lost nothing committed before, and delivers exactly the
// changes once there is room again (restarting it if it stopped).
func relDiskFull(t *testing.T, mode relMode, table *relTable) {
	defer relSkipRow(t, table, "process: store's file system full (tmpfs)")
	mnt := relMount(t, "size=64m")
	storePath := filepath.Join(mnt, "data")
	src := newFaultSource(relSeed(t), 20)
	rcv := newReceiver()
	in := writeInstance(t, t.TempDir(), relItemsConfig(storePath, serve(t, rcv), serve(t, src)))
	p := in.start()
	if js := relWaitPolled(t, in, "items"); js.LastResult != "baseline" {
		t.Fatalf("first poll: %+v, want a baseline", js)
	}
	committed := src.data()
	var made []relChange
	row := relRow{scenario: "process: store's file system full (tmpfs)"}
	var notes []string
	defer func() {
		// Added even when the scenario stops early, with what it saw.
		row.note = "pollhook " + strings.Join(slicesCompact(notes), ", then ")
		table.add(row)
	}()
	for round := range mode.diskRounds {
		// A change committed and delivered before the disk fills.
		made = append(made, src.change())
		if js := relPoll(t, in, "items"); js.LastResult != "changed" {
			t.Fatalf("round %d: poll before the disk fills: %s (%s)", round, js.LastResult, js.LastError)
		}
		row.operations++
		committed = src.data()
		filler := relFill(t, mnt)
		row.faults++
		// Changes while full: each poll fails clearly, or pollhook stops.
		exited := false
		for range 3 {
			c := src.change()
			row.operations++
			if exited = relExited(p); exited {
				break
			}
			js, ok := relTryPoll(t, in, p, "items")
			if !ok {
				exited = true
				break
			}
			switch js.LastResult {
			case "failed":
				if !strings.Contains(js.LastError, "no space left on device") {
					t.Errorf("round %d: poll on a full disk failed with %q, want it to say \"no space left on device\"", round, js.LastError)
				}
			case "changed":
				// The commit fitted in space the store had taken before.
				made = append(made, c)
				committed = src.data()
			default:
				t.Errorf("round %d: poll on a full disk: %s (%s), want failed or changed", round, js.LastResult, js.LastError)
			}
		}
		if exited {
			err := <-p.done
			log := p.stderr.String()
			t.Logf("round %d: pollhook stopped on the full disk: %v", round, err)
			notes = append(notes, "exited")
			if err == nil {
				t.Errorf("round %d: pollhook stopped with status 0 on a full disk", round)
			}
			if !relClearENOSPC(log, storePath) {
				t.Errorf("round %d: pollhook's last words do not name the store (%s) and \"no space left on device\":\n%s", round, storePath, lastLines(log, 15))
			}
			if strings.Contains(log, "panic:") || strings.Contains(log, "goroutine ") || strings.Contains(log, "SIGBUS") {
				notes[len(notes)-1] = "crashed (Go runtime fault dump, no clear message)"
				t.Errorf("round %d: pollhook crashed on the full disk instead of stopping clearly:\n%s", round, lastLines(log, 40))
			}
		} else if !relClearENOSPC(p.stderr.String(), storePath) {
			t.Errorf("round %d: no log line names the store (%s) and \"no space left on device\":\n%s", round, storePath, lastLines(p.stderr.String(), 15))
		} else {
			notes = append(notes, "polls failed")
		}
		if err := os.Remove(filler); err != nil {
			t.Fatal(err)
		}
		if exited {
			p = in.start()
			relWaitPolled(t, in, "items")
		}
		// Room again: the next poll sends what changed since the last
		// commit, exactly.
		want := relNetChanges(committed, src.data())
		if js := relPoll(t, in, "items"); js.LastResult != "changed" && len(want) > 0 && !exited {
			t.Errorf("round %d: poll once space returned: %s (%s), want changed", round, js.LastResult, js.LastError)
		}
		made = append(made, want...)
		committed = src.data()
		row.operations++
	}
	seq := relJobStatus(t, in, "items").LastSeq
	got := relWaitReceived(t, rcv, int(seq))
	lost, falseEvts := relCompare(made, got)
	if len(lost) > 0 || len(falseEvts) > 0 {
		t.Errorf("the receiver's events differ from the changes:\nlost:%s\nfalse:%s", listChanges(lost), listChanges(falseEvts))
	}
	relCheckSnapshot(t, in, src, "")
	// A clean restart finds everything in place.
	if err := p.stop(t, syscall.SIGTERM); err != nil {
		t.Errorf("pollhook exited with %v after SIGTERM, want status 0", err)
	}
	p = relRestart(t, in, "after the restart")
	relCheckSnapshot(t, in, src, "after the restart ")
	_ = p.stop(t, syscall.SIGTERM)
	row.lost, row.falseEvts = len(lost), len(falseEvts)
	row.duplicated = len(rcv.all()) - len(rcv.delivered())
}

func slicesCompact(s []string) []string {
	var out []string
	for _, v := range s {
		if len(out) == 0 || out[len(out)-1] != v {
			out = append(out, v)
		}
	}
	return out
}

// relClearENOSPC reports whether one line of log names the store and
// says "no space left on device".
func relClearENOSPC(log, storePath string) bool {
	for _, l := range strings.Split(log, "\n") {
		if strings.Contains(l, "no space left on device") && strings.Contains(l, storePath) {
			return true
		}
	}
	return false
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

func relExited(p *proc) bool {
	select {
	case err := <-p.done:
		p.done <- err // leave it for the reader
		return true
	default:
		return false
	}
}

// relTryPoll is relPoll for a process that may stop meanwhile: ok is
// false when it did.
func relTryPoll(t *testing.T, in *instance, p *proc, job string) (relJob, bool) {
	t.Helper()
	js, err := relTriggerPoll(in, job, func() bool { return relExited(p) })
	if err != nil {
		// A connection cut by the process dying comes before its exit
		// status does.
		select {
		case e := <-p.done:
			p.done <- e
		case <-time.After(5 * time.Second):
			t.Fatal(err)
		}
	}
	return js, !relExited(p)
}

// relReadOnly starts pollhook on a store directory that cannot be
// written (a read-only tmpfs: chmod does not stop root), fresh and
// holding a store: each must exit non-zero at start-up with a message that
// names the store and the cause; made writable again, the store holds
// what it held.
func relReadOnly(t *testing.T, table *relTable) {
	defer relSkipRow(t, table, "process: read-only store directory")
	mnt := relMount(t, "size=32m")
	src := newFaultSource(1, 20)
	srcURL := serve(t, src)
	rcv := newReceiver()
	rcvURL := serve(t, rcv)
	row := relRow{scenario: "process: read-only store directory"}

	// An existing store, with a change committed.
	storePath := filepath.Join(mnt, "data")
	in := writeInstance(t, t.TempDir(), relItemsConfig(storePath, rcvURL, srcURL))
	p := in.start()
	relWaitPolled(t, in, "items")
	made := []relChange{src.change()}
	if js := relPoll(t, in, "items"); js.LastResult != "changed" {
		t.Fatalf("poll after a change: %s (%s)", js.LastResult, js.LastError)
	}
	relWaitReceived(t, rcv, 1)
	if err := p.stop(t, syscall.SIGTERM); err != nil {
		t.Errorf("pollhook exited with %v after SIGTERM, want status 0", err)
	}
	relRemount(t, mnt, "ro")
	// A fresh store on the same read-only file system.
	fresh := writeInstance(t, t.TempDir(), relItemsConfig(filepath.Join(mnt, "fresh"), rcvURL, srcURL))
	for _, c := range []struct {
		name string
		in   *instance
		path string
	}{{"existing store", in, storePath}, {"new store", fresh, filepath.Join(mnt, "fresh")}} {
		row.operations++
		row.faults++
		p := c.in.spawn()
		var err error
		select {
		case err = <-p.done:
		case <-time.After(30 * time.Second):
			t.Errorf("%s: pollhook still runs 30s after starting on a read-only store", c.name)
			_ = p.stop(t, syscall.SIGKILL)
			continue
		}
		log := p.stderr.String()
		if err == nil {
			t.Errorf("%s: pollhook exited with status 0 on a read-only store", c.name)
		}
		clear := false
		for _, l := range strings.Split(log, "\n") {
			clear = clear || (strings.Contains(l, c.path) && strings.Contains(l, "read-only file system"))
		}
		if !clear || strings.Contains(log, "panic:") || strings.Contains(log, "goroutine ") {
			t.Errorf("%s: pollhook's message does not name the store (%s) and \"read-only file system\" on one line, or panicked:\n%s", c.name, c.path, lastLines(log, 15))
		}
		t.Logf("%s: exit %v: %s", c.name, err, lastLines(log, 1))
	}
	relRemount(t, mnt, "rw")
	p = relRestart(t, in, "once writable again")
	relCheckSnapshot(t, in, src, "")
	_ = p.stop(t, syscall.SIGTERM)
	got := relWaitReceived(t, rcv, 1)
	lost, falseEvts := relCompare(made, got)
	row.lost, row.falseEvts = len(lost), len(falseEvts)
	row.note = "exit non-zero at start-up, message names the store and the cause"
	table.add(row)
}
