package admin

import (
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pollhook/pollhook/pusher"
	"github.com/pollhook/pollhook/store"
)

// ObserveDelivery counts one request's outcome and, for a delivered one,
// its latency from the commit of its oldest event (pusher.Options.Observe).
func (m *Metrics) ObserveDelivery(d pusher.Delivery) {
	m.deliveries.WithLabelValues(d.Destination, d.Result).Inc()
	if d.Result == pusher.DeliveryDelivered {
		m.deliveryLatency.WithLabelValues(d.Destination).Observe(d.Latency.Seconds())
	}
}

// WatchOutbox adds gauges read from st at each scrape: per destination the
// events waiting, the age of the oldest, the dead letters held and whether
// it is paused. dests are the configured destinations, so that each has
// its series (0 when nothing waits) from the start. now is the clock (nil:
// time.Now).
func (m *Metrics) WatchOutbox(st store.Store, dests []string, logger *slog.Logger, now func() time.Time) {
	if now == nil {
		now = time.Now
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	m.Registry.MustRegister(&outboxCollector{st: st, dests: dests, log: logger, now: now})
}

var (
	depthDesc = prometheus.NewDesc("pollhook_outbox_depth",
		"Events waiting for delivery to a destination, over all its jobs (queued redeliveries not included).", []string{"destination"}, nil)
	oldestDesc = prometheus.NewDesc("pollhook_outbox_oldest_pending_seconds",
		"Age of the oldest event waiting for a destination, from its detection (0 when none waits).", []string{"destination"}, nil)
	deadDesc = prometheus.NewDesc("pollhook_dead_letters",
		"Dead letters a destination holds (events out of attempts or age).", []string{"destination"}, nil)
	pausedDesc = prometheus.NewDesc("pollhook_destination_paused",
		"1 while a destination is paused (its receiver answered 410 Gone), else 0.", []string{"destination"}, nil)
)

// outboxCollector reads the outbox's state from the store at scrape time:
// the store is the truth, so the gauges cannot drift from it.
type outboxCollector struct {
	st    store.Store
	dests []string
	log   *slog.Logger
	now   func() time.Time
}

func (c *outboxCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- depthDesc
	ch <- oldestDesc
	ch <- deadDesc
	ch <- pausedDesc
}

func (c *outboxCollector) Collect(ch chan<- prometheus.Metric) {
	depth := make(map[string]float64, len(c.dests))
	oldest := make(map[string]time.Time, len(c.dests))
	dead := make(map[string]float64, len(c.dests))
	paused := make(map[string]float64, len(c.dests))
	for _, d := range c.dests {
		depth[d], dead[d], paused[d] = 0, 0, 0
	}
	// A store error leaves the gauges of what could not be read out of
	// this scrape rather than reporting made-up zeros.
	ok := c.lanes(depth, oldest)
	if dls, err := c.st.DeadLetters(""); err != nil {
		c.log.Warn("metrics: read dead letters", "err", err)
		dead = nil
	} else {
		for _, dl := range dls {
			dead[dl.Destination]++
		}
	}
	if ps, err := c.st.Paused(); err != nil {
		c.log.Warn("metrics: read paused destinations", "err", err)
		paused = nil
	} else {
		for _, p := range ps {
			paused[p.Destination] = 1
		}
	}
	now := c.now()
	if ok {
		for d, n := range depth {
			ch <- prometheus.MustNewConstMetric(depthDesc, prometheus.GaugeValue, n, d)
			age := 0.0
			if t, waiting := oldest[d]; waiting {
				age = max(now.Sub(t).Seconds(), 0)
			}
			ch <- prometheus.MustNewConstMetric(oldestDesc, prometheus.GaugeValue, age, d)
		}
	}
	for d, n := range dead {
		ch <- prometheus.MustNewConstMetric(deadDesc, prometheus.GaugeValue, n, d)
	}
	for d, v := range paused {
		ch <- prometheus.MustNewConstMetric(pausedDesc, prometheus.GaugeValue, v, d)
	}
}

// backlog is what waits on the lane dest × job whose cursor is cursor: the
// events from it to the job's last one (head), and the detection time of
// the oldest of them (zero when none waits). The API's lane view and the
// outbox gauges both read it here.
func backlog(st store.Store, dest, job string, cursor uint64, head store.Head) (uint64, time.Time, error) {
	if cursor == 0 || head.LastSeq < cursor {
		return 0, time.Time{}, nil
	}
	// One event, usually from a chunk read anyway: cheap enough.
	evs, err := st.Pending(dest, job, 1)
	if err != nil || len(evs) == 0 {
		return head.LastSeq - cursor + 1, time.Time{}, err
	}
	return head.LastSeq - cursor + 1, evs[0].Time, nil
}

// lanes fills depth and oldest from every lane's cursor and its job's last
// event; it reports false when the store could not be read.
func (c *outboxCollector) lanes(depth map[string]float64, oldest map[string]time.Time) bool {
	lanes, err := c.st.Lanes()
	if err != nil {
		c.log.Warn("metrics: read lanes", "err", err)
		return false
	}
	heads := make(map[string]store.Head)
	for _, l := range lanes {
		h, seen := heads[l.Job]
		if !seen {
			if h, err = c.st.Head(l.Job); err != nil {
				c.log.Warn("metrics: read head", "job", l.Job, "err", err)
				return false
			}
			heads[l.Job] = h
		}
		n, first, err := backlog(c.st, l.Destination, l.Job, l.Cursor, h)
		if err != nil {
			c.log.Warn("metrics: read pending event", "destination", l.Destination, "job", l.Job, "err", err)
			return false
		}
		depth[l.Destination] += float64(n)
		if t, ok := oldest[l.Destination]; n > 0 && (!ok || first.Before(t)) {
			oldest[l.Destination] = first
		}
	}
	return true
}
