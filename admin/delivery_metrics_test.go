package admin

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/pollhook/pollhook/pusher"
	"github.com/pollhook/pollhook/store"
)

func TestObserveDelivery(t *testing.T) {
	m := NewMetrics()
	for _, d := range []pusher.Delivery{
		{Destination: "hook", Job: "orders", Result: pusher.DeliveryDelivered, Status: 200, Events: 1, Latency: 30 * time.Millisecond},
		{Destination: "hook", Job: "orders", Result: pusher.DeliveryDelivered, Status: 204, Events: 10, Latency: 2 * time.Second},
		{Destination: "hook", Job: "stock", Result: pusher.DeliveryFailed, Status: 503, Events: 1},
		{Destination: "audit", Job: "orders", Result: pusher.DeliveryPaused, Status: 410, Events: 1},
		{Destination: "audit", Job: "orders", Result: pusher.DeliveryDeadLettered, Status: 500, Events: 1},
	} {
		m.ObserveDelivery(d)
	}
	want := `
# HELP pollhook_deliveries_total Webhook requests by destination and result (delivered, failed, paused, dead_lettered); a batch is one request.
# TYPE pollhook_deliveries_total counter
pollhook_deliveries_total{destination="audit",result="dead_lettered"} 1
pollhook_deliveries_total{destination="audit",result="paused"} 1
pollhook_deliveries_total{destination="hook",result="delivered"} 2
pollhook_deliveries_total{destination="hook",result="failed"} 1
`
	if err := testutil.GatherAndCompare(m.Registry, strings.NewReader(want), "pollhook_deliveries_total"); err != nil {
		t.Error(err)
	}
	// Only delivered requests have a latency.
	if n := testutil.CollectAndCount(m.deliveryLatency); n != 1 {
		t.Errorf("latency series = %d, want one (hook)", n)
	}
}

// TestOutboxGauges reads the gauges from a real store: two jobs, three
// destinations, one of them paused and holding a dead letter, one with
// nothing routed to it yet.
func TestOutboxGauges(t *testing.T) {
	st, err := store.Open("", store.Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	detected := time.Date(2026, 11, 27, 20, 0, 0, 0, time.UTC)
	commit := func(job string, base uint64, dests []string, n int) store.Head {
		t.Helper()
		c := &store.Commit{Snapshot: []byte("{}"), Destinations: dests}
		for range n {
			c.Events = append(c.Events, store.Event{Type: "item.created", Time: detected, Data: []byte(`{}`)})
		}
		h, err := st.Commit(ctx, job, base, c)
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	commit("orders", 0, []string{"hook", "audit"}, 3)
	commit("stock", 0, []string{"hook"}, 2)
	// hook delivered the first order; audit dead-lettered it and is paused.
	if err := st.Ack("hook", "orders", 1); err != nil {
		t.Fatal(err)
	}
	evs, err := st.Pending("audit", "orders", 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.DeadLetter(store.DeadLetter{Destination: "audit", Event: evs[0], Attempts: 15, LastStatus: 500, DeadAt: detected}); err != nil {
		t.Fatal(err)
	}
	if err := st.PauseDestination(store.Pause{Destination: "audit", At: detected, Job: "orders", Status: 410}); err != nil {
		t.Fatal(err)
	}

	m := NewMetrics()
	m.WatchOutbox(st, []string{"hook", "audit", "spare"}, nil, func() time.Time { return detected.Add(90 * time.Second) })
	want := `
# HELP pollhook_dead_letters Dead letters a destination holds (events out of attempts or age).
# TYPE pollhook_dead_letters gauge
pollhook_dead_letters{destination="audit"} 1
pollhook_dead_letters{destination="hook"} 0
pollhook_dead_letters{destination="spare"} 0
# HELP pollhook_destination_paused 1 while a destination is paused (its receiver answered 410 Gone), else 0.
# TYPE pollhook_destination_paused gauge
pollhook_destination_paused{destination="audit"} 1
pollhook_destination_paused{destination="hook"} 0
pollhook_destination_paused{destination="spare"} 0
# HELP pollhook_outbox_depth Events waiting for delivery to a destination, over all its jobs (queued redeliveries not included).
# TYPE pollhook_outbox_depth gauge
pollhook_outbox_depth{destination="audit"} 2
pollhook_outbox_depth{destination="hook"} 4
pollhook_outbox_depth{destination="spare"} 0
# HELP pollhook_outbox_oldest_pending_seconds Age of the oldest event waiting for a destination, from its detection (0 when none waits).
# TYPE pollhook_outbox_oldest_pending_seconds gauge
pollhook_outbox_oldest_pending_seconds{destination="audit"} 90
pollhook_outbox_oldest_pending_seconds{destination="hook"} 90
pollhook_outbox_oldest_pending_seconds{destination="spare"} 0
`
	if err := testutil.GatherAndCompare(m.Registry, strings.NewReader(want),
		"pollhook_dead_letters", "pollhook_destination_paused", "pollhook_outbox_depth", "pollhook_outbox_oldest_pending_seconds"); err != nil {
		t.Error(err)
	}

	// Everything delivered: the depths and ages drop to 0.
	for _, a := range []struct {
		dest, job string
		seq       uint64
	}{{"hook", "orders", 3}, {"hook", "stock", 2}, {"audit", "orders", 3}} {
		if err := st.Ack(a.dest, a.job, a.seq); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := testutil.GatherAndCount(m.Registry, "pollhook_outbox_depth"); err != nil || got != 3 {
		t.Fatalf("depth series = %d, %v", got, err)
	}
	want = `
# HELP pollhook_outbox_depth Events waiting for delivery to a destination, over all its jobs (queued redeliveries not included).
# TYPE pollhook_outbox_depth gauge
pollhook_outbox_depth{destination="audit"} 0
pollhook_outbox_depth{destination="hook"} 0
pollhook_outbox_depth{destination="spare"} 0
`
	if err := testutil.GatherAndCompare(m.Registry, strings.NewReader(want), "pollhook_outbox_depth"); err != nil {
		t.Error(err)
	}
}
