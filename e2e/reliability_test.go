package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// relMode sizes one run of TestReliability.
type relMode struct {
	name string
	// sourceRounds: how often every source fault is injected.
	sourceRounds int
	// receiverChanges: changes made while each receiver fault lasts.
	receiverChanges int
	// receiverDown: how long the receiver refuses connections.
	receiverDown time.Duration
	// kills: the least number of SIGKILLs, while the source makes
	// killChanges item changes.
	kills       int
	killChanges int
	// diskRounds: how often the store's file system fills up and frees.
	diskRounds int
}

var (
	// relShort runs inside CI's go test -race ./... in under a minute.
	relShort = relMode{name: "short", sourceRounds: 2, receiverChanges: 3, receiverDown: 5 * time.Second,
		kills: 5, killChanges: 200, diskRounds: 1}
	// relLong (POLLHOOK_RELIABILITY_LONG=1) runs for about seven minutes.
	relLong = relMode{name: "long", sourceRounds: 20, receiverChanges: 20, receiverDown: 4 * time.Minute,
		kills: 25, killChanges: 2500, diskRounds: 5}
)

// relRow is one line of the reliability table. Lost counts changes the
// receivers never got (nor, where a destination gives up, find among the
// dead letters); duplicated counts requests a receiver accepted twice
// under one webhook-id (allowed: at-least-once); false counts events for
// no real change, and changes delivered under two different ids.
type relRow struct {
	scenario   string
	operations int // polls, changes or runs, as the scenario counts them
	faults     int
	lost       int
	duplicated int
	falseEvts  int
	note       string
}

// relTable gathers the rows of every scenario.
type relTable struct {
	mu   sync.Mutex
	rows []relRow
}

func (tb *relTable) add(r relRow) {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	tb.rows = append(tb.rows, r)
}

// String renders the table in Markdown, with a total line.
func (tb *relTable) String() string {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	var b strings.Builder
	b.WriteString("| scenario | operations | faults injected | lost | duplicated | false events | notes |\n")
	b.WriteString("|---|---:|---:|---:|---:|---:|---|\n")
	var sum relRow
	for _, r := range tb.rows {
		fmt.Fprintf(&b, "| %s | %d | %d | %d | %d | %d | %s |\n", r.scenario, r.operations, r.faults, r.lost, r.duplicated, r.falseEvts, r.note)
		sum.operations += r.operations
		sum.faults += r.faults
		sum.lost += r.lost
		sum.duplicated += r.duplicated
		sum.falseEvts += r.falseEvts
	}
	fmt.Fprintf(&b, "| **total** | %d | %d | %d | %d | %d | |\n", sum.operations, sum.faults, sum.lost, sum.duplicated, sum.falseEvts)
	return b.String()
}

// TestReliability runs the real binary against sources, receivers, a
// process and a file system that fail in every way issue 7 lists, and
// prints what held as one table (scenario, operations, faults injected,
// lost, duplicated, false events). It fails on any loss or false event.
// POLLHOOK_RELIABILITY_LONG=1 runs the long mode; scripts/reliability
// runs either.
func TestReliability(t *testing.T) {
	skipShort(t)
	mode := longIf("POLLHOOK_RELIABILITY_LONG", relShort, relLong)
	began := time.Now()
	table := &relTable{}
	defer func() {
		t.Logf("reliability, %s mode, %s:\n\nRELIABILITY-TABLE-BEGIN\n%sRELIABILITY-TABLE-END",
			mode.name, time.Since(began).Round(time.Second), table)
	}()
	t.Run("source", func(t *testing.T) { relSourceFaults(t, mode, table) })
	t.Run("receiver", func(t *testing.T) { relReceiverFaults(t, mode, table) })
	t.Run("sigkill", func(t *testing.T) { relKills(t, mode, table) })
	t.Run("disk-full", func(t *testing.T) { relDiskFull(t, mode, table) })
	t.Run("read-only-store", func(t *testing.T) { relReadOnly(t, table) })
	t.Run("bad-config", func(t *testing.T) { relBadConfigs(t, table) })
}

// relToken is the admin API token of the suite's instances.
const relToken = "rel-admin-token-5f0c1d"

// relSeed returns a seed for a scenario, from the clock, and logs it.
func relSeed(t *testing.T) uint64 {
	t.Helper()
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	return seed
}

// relHang holds a request unanswered until its client gives up, or 30s.
func relHang(r *http.Request) {
	select {
	case <-r.Context().Done():
	case <-time.After(30 * time.Second):
	}
}

var relClient = &http.Client{Timeout: 30 * time.Second}

// relAPI calls the admin API of the running instance, decodes a 2xx
// answer into out (when not nil) and returns the status.
func relAPI(t *testing.T, in *instance, method, path string, out any) int {
	t.Helper()
	code, err := relCall(in, method, path, out)
	if err != nil {
		t.Fatal(err)
	}
	return code
}

// relCall is relAPI for a process that may be gone.
func relCall(in *instance, method, path string, out any) (int, error) {
	req, err := http.NewRequest(method, "http://"+in.admin+path, nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+relToken)
	resp, err := relClient.Do(req)
	if err != nil {
		return 0, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, fmt.Errorf("%s %s: read the answer: %w", method, path, err)
	}
	if out != nil && resp.StatusCode/100 == 2 {
		if err := json.Unmarshal(body, out); err != nil {
			return 0, fmt.Errorf("%s %s: %w in %s", method, path, err, body)
		}
	}
	return resp.StatusCode, nil
}

// relJob is the part of GET /api/v1/jobs/{name} the suite reads.
type relJob struct {
	Polling    bool      `json:"polling"`
	LastPoll   time.Time `json:"last_poll"`
	LastResult string    `json:"last_result"`
	LastReason string    `json:"last_reason"`
	LastError  string    `json:"last_error"`
	Version    uint64    `json:"version"`
	LastSeq    uint64    `json:"last_seq"`
}

func relJobStatus(t *testing.T, in *instance, job string) relJob {
	t.Helper()
	var js relJob
	if code := relAPI(t, in, "GET", "/api/v1/jobs/"+job, &js); code != http.StatusOK {
		t.Fatalf("GET /api/v1/jobs/%s: status %d", job, code)
	}
	return js
}

// relWaitPolled waits until the job has finished a poll (the one the
// daemon starts with, say) and returns its status.
func relWaitPolled(t *testing.T, in *instance, job string) relJob {
	t.Helper()
	var js relJob
	if !relEventually(30*time.Second, func() bool {
		js = relJobStatus(t, in, job)
		return !js.LastPoll.IsZero() && !js.Polling
	}) {
		t.Fatalf("job %s: no poll ended in 30s (%+v)", job, js)
	}
	return js
}

// relPoll polls the job now through the admin API and waits for that poll
// to end; it returns the job's status after it.
func relPoll(t *testing.T, in *instance, job string) relJob {
	t.Helper()
	js, err := relTriggerPoll(in, job, func() bool { return false })
	if err != nil {
		t.Fatal(err)
	}
	return js
}

// relTriggerPoll is relPoll, giving up when gone says the process is.
func relTriggerPoll(in *instance, job string, gone func() bool) (relJob, error) {
	var before, js relJob
	if _, err := relCall(in, "GET", "/api/v1/jobs/"+job, &before); err != nil {
		return js, err
	}
	var code int
	var err error
	if !relEventually(30*time.Second, func() bool {
		code, err = relCall(in, "POST", "/api/v1/jobs/"+job+"/poll", nil)
		return err != nil || code != http.StatusConflict || gone() // 409: a poll still running
	}) || err != nil || code != http.StatusAccepted {
		return js, fmt.Errorf("POST /api/v1/jobs/%s/poll: status %d, %v", job, code, err)
	}
	if !relEventually(60*time.Second, func() bool {
		js = relJob{}
		_, err = relCall(in, "GET", "/api/v1/jobs/"+job, &js)
		return err != nil || gone() || (!js.Polling && !js.LastPoll.Equal(before.LastPoll))
	}) {
		return js, fmt.Errorf("job %s: the poll triggered did not end in 60s (%+v)", job, js)
	}
	return js, err
}

// relEventually reports whether cond holds before timeout, checking it
// every 20ms.
func relEventually(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		<-tick.C
	}
	return true
}

// relWaitReceived waits until the receiver accepted n distinct events and
// returns their changes, checking each signature.
func relWaitReceived(t *testing.T, rcv *receiver, n int) []relChange {
	t.Helper()
	deadline := time.After(60 * time.Second)
	for len(rcv.delivered()) < n {
		select {
		case <-rcv.notify:
		case <-deadline:
			t.Fatalf("the receiver got %d of %d events in 60s", len(rcv.delivered()), n)
		}
	}
	var got []relChange
	for _, d := range rcv.delivered() {
		verifySignature(t, d)
		c, err := relDecode(d.body)
		if err != nil {
			t.Fatalf("webhook %s: %v in %s", d.id, err, d.body)
		}
		got = append(got, c)
	}
	return got
}

// relChange is one item change as a webhook carries it: its type, key,
// and the item's canonical JSON before and after ("" when absent).
type relChange struct{ Type, Key, Before, After string }

func (c relChange) String() string {
	return fmt.Sprintf("%s %s %s→%s", c.Type, c.Key, orNone(c.Before), orNone(c.After))
}

func orNone(s string) string {
	if s == "" {
		return "∅"
	}
	return s
}

// relDecode reads the change one single-event webhook body carries.
func relDecode(body []byte) (relChange, error) {
	var e crashEvent
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil {
		return relChange{}, err
	}
	return relChange{e.Type, e.Data.Key, string(e.Data.Before), string(e.Data.After)}, nil
}

// relCompare compares the changes received with those made, as
// multisets: it returns the changes made and not received (lost) and
// those received and never made (false).
func relCompare(made, got []relChange) (lost, falseEvts []relChange) {
	count := map[relChange]int{}
	for _, c := range made {
		count[c]++
	}
	for _, c := range got {
		if count[c] > 0 {
			count[c]--
		} else {
			falseEvts = append(falseEvts, c)
		}
	}
	for _, c := range made {
		if count[c] > 0 {
			count[c]--
			lost = append(lost, c)
		}
	}
	return lost, falseEvts
}

func listChanges(cs []relChange) string {
	var b strings.Builder
	for i, c := range cs {
		if i == 20 {
			fmt.Fprintf(&b, "\n  … %d in all", len(cs))
			break
		}
		b.WriteString("\n  " + c.String())
	}
	return b.String()
}

// relSnapshot returns the job's snapshot from the admin API as key →
// canonical item.
func relSnapshot(t *testing.T, in *instance, job string) map[string]string {
	t.Helper()
	var snap struct {
		Items []struct {
			Key   string          `json:"key"`
			Value json.RawMessage `json:"value"`
		} `json:"items"`
	}
	if code := relAPI(t, in, "GET", "/api/v1/jobs/"+job+"/snapshot", &snap); code != http.StatusOK {
		t.Fatalf("GET /api/v1/jobs/%s/snapshot: status %d", job, code)
	}
	out := map[string]string{}
	for _, it := range snap.Items {
		var b bytes.Buffer
		if err := json.Compact(&b, it.Value); err != nil {
			t.Fatal(err)
		}
		out[it.Key] = b.String()
	}
	return out
}

// relCheckSnapshot checks that the items job's snapshot is the source's
// data; prefix starts the message.
func relCheckSnapshot(t *testing.T, in *instance, src *faultSource, prefix string) {
	t.Helper()
	if snap := relSnapshot(t, in, "items"); !maps.Equal(snap, src.data()) {
		t.Errorf("%sthe snapshot is not the source's data:%s", prefix, dataDiff(snap, src.data()))
	}
}
