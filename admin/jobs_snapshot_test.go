package admin

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/pollhook/pollhook/pusher"
	"github.com/pollhook/pollhook/scheduler"
)

// TestAPISnapshot pins the snapshot of an items job (as first polled, then
// with a delta on it), of a document job, and the refusals.
func TestAPISnapshot(t *testing.T) {
	jw := newJobsWorld(t, []pusher.Destination{{Name: "hook", URL: "http://127.0.0.1:1/"}}, ordersJob, configJob, idleJob)
	jw.src.set("/orders", 200, ordersBody)
	jw.src.set("/config", 200, `{"retries":3,"mode":"fast","tags":["a","b"]}`)
	jw.poll("orders")
	jw.poll("config")
	c := jw.serveJobs(jw.pusher(), nil)

	c.expect("GET", "/api/v1/jobs/orders/snapshot", 200, compact(t, `{"job":"orders","version":1,"mode":"items","count":2,"items":[
		{"key":"1","value":{"id":1,"status":"open"}},{"key":"2","value":{"id":2,"status":"shipped"}}]}`))
	c.expect("GET", "/api/v1/jobs/config/snapshot", 200,
		`{"job":"config","version":1,"mode":"document","count":1,"document":{"mode":"fast","retries":3,"tags":["a","b"]}}`)

	// Item 1 goes, 2 changes, 3 comes: the store now holds a delta on
	// the first snapshot (or a new one); the answer is the items now.
	jw.src.set("/orders", 200, `{"orders":[{"id":3,"status":"new","note":"<b>&"},{"id":2,"status":"delivered"}]}`)
	if out := jw.poll("orders"); out.Result != scheduler.ResultChanged {
		t.Fatalf("second poll: %s %v", out.Result, out.Err)
	}
	c.expect("GET", "/api/v1/jobs/orders/snapshot", 200, compact(t, `{"job":"orders","version":2,"mode":"items","count":2,"items":[
		{"key":"3","value":{"id":3,"note":"<b>&","status":"new"}},{"key":"2","value":{"id":2,"status":"delivered"}}]}`))
	_, _, h := c.do("GET", "/api/v1/jobs/orders/snapshot")
	if got := h.Get("Content-Type"); got != "application/json" {
		t.Errorf("Content-Type %q", got)
	}

	c.expect("GET", "/api/v1/jobs/idle/snapshot", 409,
		`{"error":{"code":"conflict","message":"job \"idle\" has no snapshot yet: its first successful poll records one"}}`)
	c.expect("GET", "/api/v1/jobs/nope/snapshot", 404, `{"error":{"code":"not_found","message":"job \"nope\" is not configured"}}`)
}

// TestAPISnapshotLarge: a snapshot of many items streams as valid JSON,
// every item in order.
func TestAPISnapshotLarge(t *testing.T) {
	const n = 5000
	jw := newJobsWorld(t, []pusher.Destination{{Name: "hook", URL: "http://127.0.0.1:1/"}}, ordersJob)
	var b strings.Builder
	b.WriteString(`{"orders":[`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"id":%d,"name":"item %d"}`, i, i)
	}
	b.WriteString(`]}`)
	jw.src.set("/orders", 200, b.String())
	if out := jw.poll("orders"); out.Err != nil {
		t.Fatal(out.Err)
	}
	c := jw.serveJobs(jw.pusher(), nil)
	code, body, _ := c.do("GET", "/api/v1/jobs/orders/snapshot")
	var s Snapshot
	if err := json.Unmarshal([]byte(body), &s); code != 200 || err != nil {
		t.Fatalf("= %d, %v", code, err)
	}
	if s.Count != n || len(s.Items) != n || s.Mode != "items" || s.Version != 1 {
		t.Fatalf("count %d, %d items, mode %s, version %d; want %d items, version 1", s.Count, len(s.Items), s.Mode, s.Version, n)
	}
	for i, it := range s.Items {
		if want := fmt.Sprintf(`{"id":%d,"name":"item %d"}`, i, i); it.Key != fmt.Sprint(i) || string(it.Value) != want {
			t.Fatalf("item %d = %s %s, want %d %s", i, it.Key, it.Value, i, want)
		}
	}
}
