package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// relMaxBody is the source job's max_body_size, and relSourceTimeout its
// request timeout.
const (
	relMaxBody       = 64 << 10
	relSourceTimeout = time.Second
)

// faultSource is a legacy API serving {"items":[…]} that the test edits,
// and that answers the next request with a fault when one is injected.
type faultSource struct {
	mu     sync.Mutex
	rng    *rand.Rand
	items  map[int]relItem
	nextID int
	fault  string // answers the next request, then is cleared
}

type relItem struct {
	Name string
	V    int
}

func newFaultSource(seed uint64, n int) *faultSource {
	s := &faultSource{rng: rand.New(rand.NewPCG(seed, 7)), items: map[int]relItem{}}
	for range n {
		s.nextID++
		s.items[s.nextID] = relItem{Name: fmt.Sprintf("item %d", s.nextID)}
	}
	return s
}

// canonical is an item as pollhook's events and snapshot carry it (keys
// sorted, compact, as encoding/json writes a map).
func (it relItem) canonical(id int) string {
	b, err := json.Marshal(map[string]any{"id": id, "name": it.Name, "v": it.V})
	if err != nil {
		panic(err)
	}
	return string(b)
}

// data returns the items by key, canonical.
func (s *faultSource) data() map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]string{}
	for id, it := range s.items {
		out[strconv.Itoa(id)] = it.canonical(id)
	}
	return out
}

// body renders the items in id order, plus extra ones (for the faults
// that would invent items if pollhook took them).
func (s *faultSource) body(extra map[int]relItem) []byte {
	all := maps.Clone(s.items)
	maps.Copy(all, extra)
	var b bytes.Buffer
	b.WriteString(`{"items":[`)
	for i, id := range slices.Sorted(maps.Keys(all)) {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(all[id].canonical(id))
	}
	b.WriteString(`]}`)
	return b.Bytes()
}

// change makes a real change (an update, a creation or a deletion, at
// random) and returns the event it must cause.
func (s *faultSource) change() relChange {
	s.mu.Lock()
	defer s.mu.Unlock()
	ids := slices.Sorted(maps.Keys(s.items))
	switch n := s.rng.IntN(10); {
	case n < 2 || len(ids) < 15:
		s.nextID++
		id := s.nextID
		s.items[id] = relItem{Name: fmt.Sprintf("item %d", id)}
		return relChange{"item.created", strconv.Itoa(id), "", s.items[id].canonical(id)}
	case n < 4:
		id := ids[s.rng.IntN(len(ids))]
		before := s.items[id].canonical(id)
		delete(s.items, id)
		return relChange{"item.deleted", strconv.Itoa(id), before, ""}
	default:
		id := ids[s.rng.IntN(len(ids))]
		before := s.items[id].canonical(id)
		it := s.items[id]
		it.V++
		it.Name = fmt.Sprintf("item %d rev %d", id, it.V)
		s.items[id] = it
		return relChange{"item.updated", strconv.Itoa(id), before, it.canonical(id)}
	}
}

func (s *faultSource) inject(fault string) {
	s.mu.Lock()
	s.fault = fault
	s.mu.Unlock()
}

// sourceFault is one way a source fails, and what pollhook must make of it.
type sourceFault struct {
	name   string
	result string // the poll's result
	reason string // a failed poll's reason
}

var sourceFaults = []sourceFault{
	{"status 500", "failed", "status"},
	{"timeout (no answer)", "failed", "timeout"},
	{"truncated JSON", "failed", "response"},
	{"HTML maintenance page, 200 text/html", "failed", "response"},
	{"HTML maintenance page, 200 application/json", "failed", "response"},
	{"error object without items, 200", "failed", "response"},
	{"empty array, 200 (guard)", "held", ""},
	{"body 10× max_body_size", "failed", "too_large"},
	{"slow-loris body", "failed", "timeout"},
	{"invalid UTF-8 outside strings", "failed", "response"},
	{"invalid UTF-8 inside a string", "failed", "response"},
}

// relPadding is 10× relMaxBody of made-up items, each after a comma,
// closing the document: appended to a body without its "]}", pollhook
// would see them as creations if it read the body.
var relPadding = sync.OnceValue(func() []byte {
	var b bytes.Buffer
	for id := 1_000_000; b.Len() <= 10*relMaxBody; id++ {
		b.WriteByte(',')
		b.WriteString(relItem{Name: strings.Repeat("x", 100)}.canonical(id))
	}
	b.WriteString("]}")
	return b.Bytes()
})

const relMaintenance = "<!DOCTYPE html>\n<html><head><title>Down for maintenance</title></head>" +
	"<body><h1>We'll be back soon</h1><p>The orders service is under maintenance.</p></body></html>\n"

func (s *faultSource) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	fault := s.fault
	s.fault = ""
	body := s.body(nil)
	var extra []byte // a body with items that do not exist, over 10× the limit
	switch fault {
	case "body 10× max_body_size", "slow-loris body":
		extra = append(body[:len(body)-2:len(body)-2], relPadding()...)
	}
	s.mu.Unlock()
	json := func() { w.Header().Set("Content-Type", "application/json") }
	switch fault {
	case "":
		json()
		_, _ = w.Write(body)
	case "status 500":
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = w.Write([]byte("internal error\n"))
	case "timeout (no answer)":
		relHang(r)
	case "truncated JSON":
		json()
		_, _ = w.Write(body[:len(body)*2/3])
	case "HTML maintenance page, 200 text/html":
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write([]byte(relMaintenance))
	case "HTML maintenance page, 200 application/json":
		json()
		_, _ = w.Write([]byte(relMaintenance))
	case "error object without items, 200":
		json()
		_, _ = w.Write([]byte(`{"error":{"code":"maintenance","message":"back soon"}}`))
	case "empty array, 200 (guard)":
		json()
		_, _ = w.Write([]byte(`{"items":[]}`))
	case "body 10× max_body_size":
		json()
		_, _ = w.Write(extra)
	case "slow-loris body":
		// A valid body, a few bytes every 50ms: it would take minutes.
		json()
		w.WriteHeader(http.StatusOK)
		rc := http.NewResponseController(w)
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for i := 0; i < len(extra); i += 8 {
			if _, err := w.Write(extra[i:min(i+8, len(extra))]); err != nil {
				return
			}
			if rc.Flush() != nil {
				return
			}
			select {
			case <-r.Context().Done():
				return
			case <-tick.C:
			}
		}
	case "invalid UTF-8 outside strings":
		json()
		_, _ = w.Write(append([]byte{0xff, 0xfe}, body...))
	case "invalid UTF-8 inside a string":
		// The same items, one name's bytes cut in the middle of a
		// multi-byte character (as a Latin-1 or truncating legacy
		// server does): not JSON (RFC 8259 8.1), not the item's value.
		json()
		i := bytes.Index(body, []byte(`"name":"item `))
		bad := append([]byte(nil), body[:i+len(`"name":"item `)]...)
		bad = append(bad, 0xc3) // the first byte of "é" without its second
		bad = append(bad, body[i+len(`"name":"item `):]...)
		_, _ = w.Write(bad)
	default:
		panic("unknown fault " + fault)
	}
}

// relSourceFaults injects every source fault between normal polls, with
// real changes made around them, and requires that the faults cause no
// event, that the real changes cause exactly their events, and that the
// snapshot is the source's data at the end.
func relSourceFaults(t *testing.T, mode relMode, table *relTable) {
	src := newFaultSource(relSeed(t), 20)
	rcv := newReceiver()
	dir := t.TempDir()
	in := writeInstance(t, dir, fmt.Sprintf(`server:
  listen: "127.0.0.1:0"
  admin_token: %s
store:
  path: %s/data
destinations:
  receiver:
    url: %s/hook
    secret: ${E2E_SECRET}
    retry: {initial_interval: 100ms, max_interval: 400ms, max_attempts: 1000, max_age: 1h}
jobs:
  - name: items
    schedule: "@every 1h"
    request:
      url: %s/api/items?token=s3cr3t-query
      timeout: %s
      max_body_size: %dKiB
    items: items
    key: id
    destinations: [receiver]
`, relToken, dir, serve(t, rcv), serve(t, src), relSourceTimeout, relMaxBody>>10))
	p := in.start()
	if js := relWaitPolled(t, in, "items"); js.LastResult != "baseline" || js.LastSeq != 0 {
		t.Fatalf("first poll: %+v, want a baseline without events", js)
	}

	rows := make([]relRow, len(sourceFaults))
	var made []relChange
	changePolls := 0
	change := func() {
		t.Helper()
		seq := relJobStatus(t, in, "items").LastSeq
		c := src.change()
		js := relPoll(t, in, "items")
		changePolls++
		if js.LastResult != "changed" || js.LastSeq != seq+1 {
			t.Errorf("poll after the change %s: result %s (%s), %d events, want changed with 1 event", c, js.LastResult, js.LastError, js.LastSeq-seq)
		}
		made = append(made, c)
	}
	for range mode.sourceRounds {
		for i, f := range sourceFaults {
			change()
			row := &rows[i]
			row.scenario = "source: " + f.name
			seq := relJobStatus(t, in, "items").LastSeq
			src.inject(f.name)
			js := relPoll(t, in, "items")
			row.operations++
			row.faults++
			if js.LastResult != f.result || js.LastReason != f.reason {
				t.Errorf("%s: poll result %q reason %q (%s), want %q %q", f.name, js.LastResult, js.LastReason, js.LastError, f.result, f.reason)
			}
			if js.LastSeq != seq {
				row.falseEvts += int(js.LastSeq - seq)
				t.Errorf("%s: the faulty poll committed %d events", f.name, js.LastSeq-seq)
				seq = js.LastSeq
			}
			// The next normal poll sees what the source had before the
			// fault: nothing to send.
			js = relPoll(t, in, "items")
			row.operations++
			if js.LastResult != "unchanged" && js.LastResult != "no_change" {
				t.Errorf("%s: the normal poll after it: result %q (%s), want unchanged or no_change", f.name, js.LastResult, js.LastError)
			}
			if js.LastSeq != seq {
				row.falseEvts += int(js.LastSeq - seq)
				t.Errorf("%s: the normal poll after the fault committed %d events", f.name, js.LastSeq-seq)
			}
		}
	}
	change() // a real change after the last fault

	// Every event committed reaches the receiver; they must be the real
	// changes, exactly.
	seq := relJobStatus(t, in, "items").LastSeq
	got := relWaitReceived(t, rcv, int(seq))
	lost, falseEvts := relCompare(made, got)
	if len(lost) > 0 || len(falseEvts) > 0 {
		t.Errorf("the receiver's events differ from the changes made:\nlost:%s\nfalse:%s", listChanges(lost), listChanges(falseEvts))
	}
	dups := 0
	for _, d := range rcv.all() {
		if d.answered/100 == 2 {
			dups++
		}
	}
	dups -= len(rcv.delivered())
	relCheckSnapshot(t, in, src, "")
	if err := p.stop(t, syscall.SIGTERM); err != nil {
		t.Errorf("pollhook exited with %v after SIGTERM, want status 0", err)
	}
	counted := 0
	for _, r := range rows {
		table.add(r)
		counted += r.falseEvts
	}
	table.add(relRow{scenario: "source: real changes around the faults", operations: changePolls, lost: len(lost),
		duplicated: dups, falseEvts: max(0, len(falseEvts)-counted),
		note: "events received = changes made; snapshot = source data; false events of the rows above not counted again"})
}
