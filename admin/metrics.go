package admin

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/pollhook/pollhook/scheduler"
)

// Metrics holds pollhook's Prometheus metrics in a registry of its own, so
// that tests and several daemons in one process never share counters.
type Metrics struct {
	Registry     *prometheus.Registry
	polls        *prometheus.CounterVec
	failures     *prometheus.CounterVec
	pollDuration *prometheus.HistogramVec
	changes      *prometheus.CounterVec
	held         *prometheus.CounterVec

	deliveries      *prometheus.CounterVec
	deliveryLatency *prometheus.HistogramVec
	skipped         *prometheus.CounterVec
	health          *prometheus.CounterVec
	fetched         *prometheus.CounterVec

	// Configuration reloads (reload.go).
	reloads           *prometheus.CounterVec
	lastReloadSuccess prometheus.Gauge
	lastReloadOK      prometheus.Gauge
	outbox            *reloadableOutbox // nil unless WatchReloadableOutbox
}

// NewMetrics creates the metrics and registers them, with the Go runtime
// and process collectors, in a new registry.
func NewMetrics() *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		polls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pollhook_polls_total",
			Help: "Polls by job and result (failed, not_modified, unchanged, baseline, held, no_change, changed).",
		}, []string{"job", "result"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pollhook_poll_failures_total",
			Help: "Failed polls by job and reason (status, timeout, too_large, transport, canceled, auth, response, store).",
		}, []string{"job", "reason"}),
		pollDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "pollhook_poll_duration_seconds",
			Help:    "Time of one poll, from request to commit.",
			Buckets: []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30},
		}, []string{"job"}),
		changes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pollhook_changes_total",
			Help: "Committed change events by job and type.",
		}, []string{"job", "type"}),
		held: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pollhook_held_polls_total",
			Help: "Polls whose changes the guard held as suspicious (mass deletion or change).",
		}, []string{"job"}),
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pollhook_deliveries_total",
			Help: "Webhook requests by destination and result (delivered, failed, paused, dead_lettered); a batch is one request.",
		}, []string{"destination", "result"}),
		deliveryLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "pollhook_delivery_latency_seconds",
			Help:    "Time from the commit of a change to the receiver's 2xx (for a batch, of its oldest event).",
			Buckets: []float64{0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800, 3600},
		}, []string{"destination"}),
		skipped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pollhook_skipped_ticks_total",
			Help: "Scheduled polls not run, by job and reason (running, concurrency, host_rate, backoff).",
		}, []string{"job", "reason"}),
		fetched: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pollhook_fetched_bytes_total",
			Help: "Response body bytes fetched from sources, decoded, by job.",
		}, []string{"job"}),
		health: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pollhook_source_health_events_total",
			Help: "source.down and source.recovered events committed, by job and type.",
		}, []string{"job", "type"}),
	}
	m.reloads, m.lastReloadSuccess, m.lastReloadOK = newReloadMetrics()
	m.Registry.MustRegister(m.polls, m.failures, m.pollDuration, m.changes, m.held, m.deliveries, m.deliveryLatency,
		m.skipped, m.health, m.fetched, m.reloads, m.lastReloadSuccess, m.lastReloadOK,
		prometheus.NewGoCollector(), prometheus.NewProcessCollector(prometheus.ProcessCollectorOpts{}))
	return m
}

// ObservePoll counts one tick's outcome.
func (m *Metrics) ObservePoll(o scheduler.Outcome) {
	m.polls.WithLabelValues(o.Job, o.Result).Inc()
	m.pollDuration.WithLabelValues(o.Job).Observe(o.Duration.Seconds())
	if o.Err != nil {
		m.failures.WithLabelValues(o.Job, o.Reason).Inc()
	}
	if o.Result == scheduler.ResultHeld {
		m.held.WithLabelValues(o.Job).Inc()
	}
	for typ, n := range o.ByType {
		m.changes.WithLabelValues(o.Job, typ).Add(float64(n))
	}
	if o.Health != "" {
		m.health.WithLabelValues(o.Job, o.Health).Inc()
	}
	if o.Bytes > 0 {
		m.fetched.WithLabelValues(o.Job).Add(float64(o.Bytes))
	}
}

// ObserveSkipped counts a scheduled poll that did not run
// (scheduler.Options.Skipped).
func (m *Metrics) ObserveSkipped(job, reason string) {
	m.skipped.WithLabelValues(job, reason).Inc()
}

// Handler serves the registry in the Prometheus exposition format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{})
}
