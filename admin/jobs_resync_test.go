package admin

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/pollhook/pollhook/differ"
	"github.com/pollhook/pollhook/pusher"
	"github.com/pollhook/pollhook/scheduler"
	"github.com/pollhook/pollhook/store"
)

// Jobs of the resync tests: orders goes to hook, which takes every event,
// and to audit, which takes item.created only; mirror goes to hook and
// hook2, which both take everything.
var (
	resyncOrders = testJob{Job: Job{Name: "orders", Schedule: "0 * * * *", URL: "/orders", Items: true,
		Destinations: []string{"hook", "audit"}}, spec: differ.Spec{Items: "orders", Key: []string{"id"}}}
	resyncConfig = testJob{Job: Job{Name: "config", Schedule: "0 * * * *", URL: "/config", Destinations: []string{"hook"}}}
	resyncMirror = testJob{Job: Job{Name: "mirror", Schedule: "0 * * * *", URL: "/orders", Items: true,
		Destinations: []string{"hook", "hook2"}}, spec: differ.Spec{Items: "orders", Key: []string{"id"}}}
	resyncLonely = testJob{Job: Job{Name: "lonely", Schedule: "0 * * * *", URL: "/orders", Items: true},
		spec: differ.Spec{Items: "orders", Key: []string{"id"}}}
)

// storedEvent is what a test pins of a committed event: all but its id.
type storedEvent struct {
	Seq  uint64
	Type string
	Key  string
	Time time.Time
	Data string
}

// logOf returns the job's log as stored, ids left out.
func logOf(t *testing.T, st store.Store, job string) []storedEvent {
	t.Helper()
	evs, err := st.Events(job, 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	out := []storedEvent{}
	for _, ev := range evs {
		out = append(out, storedEvent{ev.Seq, ev.Type, ev.Key, ev.Time, string(ev.Data)})
	}
	return out
}

func sameEvents(t *testing.T, what string, got, want []storedEvent) {
	t.Helper()
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("%s: log\n%v\nwant\n%v", what, got, want)
	}
}

// TestAPIResync: a resync commits one item.snapshot event per current
// item, delivered to the destinations that take them, and changes neither
// the snapshot nor what the next poll compares with.
func TestAPIResync(t *testing.T) {
	hook := newReceiver(t, http.StatusOK, "")
	audit := newReceiver(t, http.StatusOK, "")
	jw := newJobsWorld(t, []pusher.Destination{{Name: "hook", URL: hook.URL}, {Name: "audit", URL: audit.URL, Events: []string{"item.created"}}},
		resyncOrders, resyncConfig)
	jw.src.set("/orders", 200, ordersBody)
	jw.src.set("/config", 200, `{"mode":"fast"}`)
	for _, job := range []string{"orders", "config"} {
		if out := jw.poll(job); out.Result != scheduler.ResultBaseline {
			t.Fatalf("%s: first poll %s %v, want a baseline", job, out.Result, out.Err)
		}
	}
	before, err := jw.st.Head("orders")
	if err != nil {
		t.Fatal(err)
	}
	p, stop := jw.run()
	c := jw.serveJobs(p, p.Wake)

	c.expect("POST", "/api/v1/jobs/orders/resync", 200, compact(t, `{"job":"orders","events":2,"destinations":["hook"],"version":2,
		"message":"2 item.snapshot events of job \"orders\" queued for delivery to \"hook\""}`))
	sameEvents(t, "orders", logOf(t, jw.st, "orders"), []storedEvent{
		{1, "item.snapshot", "1", t0, `{"job":"orders","key":"1","after":{"id":1,"status":"open"}}`},
		{2, "item.snapshot", "2", t0, `{"job":"orders","key":"2","after":{"id":2,"status":"shipped"}}`},
	})
	evs, err := jw.st.Events("orders", 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range evs {
		if got := hook.next(t); got != ev.ID {
			t.Errorf("hook got %s, want %s", got, ev.ID)
		}
	}
	after, err := jw.st.Head("orders")
	if err != nil {
		t.Fatal(err)
	}
	if after.Version != before.Version+1 || !bytes.Equal(after.BodyHash, before.BodyHash) || after.ETag != before.ETag ||
		after.LastModified != before.LastModified {
		t.Errorf("head after the resync %+v, want %+v one version on", after, before)
	}
	c.expect("GET", "/api/v1/jobs/orders/snapshot", 200, compact(t, `{"job":"orders","version":2,"mode":"items","count":2,"items":[
		{"key":"1","value":{"id":1,"status":"open"}},{"key":"2","value":{"id":2,"status":"shipped"}}]}`))
	if out := jw.poll("orders"); out.Result != scheduler.ResultUnchanged {
		t.Errorf("poll after the resync: %s %v, want unchanged", out.Result, out.Err)
	}

	// One destination; the other one takes no item.snapshot events.
	c.expect("POST", "/api/v1/jobs/orders/resync?destination=hook", 200, compact(t, `{"job":"orders","destination":"hook","events":2,
		"destinations":["hook"],"version":3,"message":"2 item.snapshot events of job \"orders\" queued for delivery to \"hook\""}`))
	hook.next(t)
	hook.next(t)

	// A document job: one event with the document.
	c.expect("POST", "/api/v1/jobs/config/resync", 200, compact(t, `{"job":"config","events":1,"destinations":["hook"],"version":2,
		"message":"1 item.snapshot event of job \"config\" queued for delivery to \"hook\""}`))
	sameEvents(t, "config", logOf(t, jw.st, "config"), []storedEvent{
		{1, "item.snapshot", "", t0, `{"job":"config","after":{"mode":"fast"}}`},
	})
	hook.next(t)
	stop()
	select {
	case id := <-audit.delivered:
		t.Errorf("audit, which takes item.created only, was sent %s", id)
	default:
	}
}

// TestAPIResyncRefused pins every refusal of a resync.
func TestAPIResyncRefused(t *testing.T) {
	jw := newJobsWorld(t, []pusher.Destination{{Name: "hook", URL: "http://127.0.0.1:1/"}, {Name: "hook2", URL: "http://127.0.0.1:1/"},
		{Name: "audit", URL: "http://127.0.0.1:1/", Events: []string{"item.created"}}}, resyncOrders, resyncMirror, resyncLonely, resyncConfig)
	jw.src.set("/orders", 200, ordersBody)
	jw.poll("orders")
	jw.poll("mirror")
	c := jw.serveJobs(jw.pusher(), nil)
	tests := []struct {
		path string
		code int
		body string
	}{
		{"/api/v1/jobs/nope/resync", 404, `{"error":{"code":"not_found","message":"job \"nope\" is not configured"}}`},
		{"/api/v1/jobs/config/resync", 409,
			`{"error":{"code":"conflict","message":"job \"config\" has no snapshot yet: its first successful poll records one"}}`},
		{"/api/v1/jobs/lonely/resync", 409, `{"error":{"code":"conflict","message":"job \"lonely\" has no destinations to resync"}}`},
		{"/api/v1/jobs/orders/resync?destination=nope", 404,
			`{"error":{"code":"not_found","message":"destination \"nope\" is not configured"}}`},
		{"/api/v1/jobs/orders/resync?destination=hook2", 404,
			`{"error":{"code":"not_found","message":"job \"orders\" does not send to destination \"hook2\""}}`},
		{"/api/v1/jobs/orders/resync?destination=audit", 409,
			`{"error":{"code":"conflict","message":"destination \"audit\" does not take item.snapshot events (its events: list leaves them out)"}}`},
		{"/api/v1/jobs/mirror/resync?destination=hook", 409,
			`{"error":{"code":"conflict","message":"item.snapshot events of job \"mirror\" go to every destination of the job that takes them: \"hook2\" would receive them too; resync the whole job, or leave item.snapshot out of the events: list of the others"}}`},
	}
	for _, tc := range tests {
		c.expect("POST", tc.path, tc.code, tc.body)
	}
	for _, job := range []string{"orders", "mirror", "config"} {
		sameEvents(t, job+" after refusals", logOf(t, jw.st, job), []storedEvent{})
	}

	// Nobody takes them.
	onlyAudit := testJob{Job: Job{Name: "audited", Schedule: "0 * * * *", URL: "/orders", Items: true,
		Destinations: []string{"audit"}}, spec: differ.Spec{Items: "orders", Key: []string{"id"}}}
	jw2 := newJobsWorld(t, []pusher.Destination{{Name: "audit", URL: "http://127.0.0.1:1/", Events: []string{"item.created"}}}, onlyAudit)
	jw2.src.set("/orders", 200, ordersBody)
	jw2.poll("audited")
	jw2.serveJobs(jw2.pusher(), nil).expect("POST", "/api/v1/jobs/audited/resync", 409,
		`{"error":{"code":"conflict","message":"no destination of job \"audited\" takes item.snapshot events (their events: lists leave them out)"}}`)
}

// racingStore commits new validators for a job right before the first
// Commit it is asked for, as a poll finishing at that moment would.
type racingStore struct {
	*store.Badger
	t    *testing.T
	once sync.Once
}

func (r *racingStore) Commit(ctx context.Context, job string, base uint64, c *store.Commit) (store.Head, error) {
	r.once.Do(func() {
		head, err := r.Badger.Head(job)
		if err == nil {
			_, err = r.Badger.Commit(ctx, job, base, &store.Commit{BodyHash: head.BodyHash, ETag: `"v2"`})
		}
		if err != nil {
			r.t.Errorf("racing commit: %v", err)
		}
	})
	return r.Badger.Commit(ctx, job, base, c)
}

// TestAPIResyncStale: a poll committing while the resync reads the
// snapshot makes it read again and commit on the new head, once.
func TestAPIResyncStale(t *testing.T) {
	jw := newJobsWorld(t, []pusher.Destination{{Name: "hook", URL: "http://127.0.0.1:1/"}}, ordersJob)
	jw.src.set("/orders", 200, ordersBody)
	jw.poll("orders") // emits its two items: seq 1 and 2
	racing := &racingStore{Badger: jw.st, t: t}
	c := jw.serveConfig(APIConfig{Token: testToken, Store: racing, Destinations: jw.adminDests(), Jobs: jw.jobs,
		Now: func() time.Time { return t0.Add(time.Minute) }})
	c.expect("POST", "/api/v1/jobs/orders/resync", 200, compact(t, `{"job":"orders","events":2,"destinations":["hook"],"version":3,
		"message":"2 item.snapshot events of job \"orders\" queued for delivery to \"hook\""}`))
	log := logOf(t, jw.st, "orders")
	if len(log) != 4 {
		t.Fatalf("log %v, want the poll's 2 events and the resync's 2", log)
	}
	at := t0.Add(time.Minute)
	sameEvents(t, "orders", log[2:], []storedEvent{
		{3, "item.snapshot", "1", at, `{"job":"orders","key":"1","after":{"id":1,"status":"open"}}`},
		{4, "item.snapshot", "2", at, `{"job":"orders","key":"2","after":{"id":2,"status":"shipped"}}`},
	})
	head, err := jw.st.Head("orders")
	if err != nil {
		t.Fatal(err)
	}
	if head.ETag != `"v2"` {
		t.Errorf("ETag %q after the resync, want the racing commit's \"v2\": the resync did not read the head again", head.ETag)
	}
}
