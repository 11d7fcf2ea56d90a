package stream

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the streams' Prometheus metrics. Its methods do nothing on
// a nil *Metrics.
type Metrics struct {
	clients *prometheus.GaugeVec
	events  *prometheus.CounterVec
	drops   *prometheus.CounterVec
	refusal *prometheus.CounterVec
}

// NewMetrics creates the metrics and registers them with reg (the admin
// Metrics' registry).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		clients: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "pollhook_stream_clients",
			Help: "Stream clients receiving live events, by transport (sse, ws).",
		}, []string{"transport"}),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pollhook_stream_events_sent_total",
			Help: "Events written to stream clients, by transport.",
		}, []string{"transport"}),
		drops: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pollhook_stream_clients_dropped_total",
			Help: "Stream clients disconnected by pollhook, by transport and reason (slow_consumer, revoked, shutdown).",
		}, []string{"transport", "reason"}),
		refusal: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pollhook_stream_clients_refused_total",
			Help: "Stream connections refused because max_clients were connected.",
		}, []string{"transport"}),
	}
	reg.MustRegister(m.clients, m.events, m.drops, m.refusal)
	return m
}

func (m *Metrics) connected(transport string, delta float64) {
	if m != nil {
		m.clients.WithLabelValues(transport).Add(delta)
	}
}

func (m *Metrics) sent(transport string, n int) {
	if m != nil {
		m.events.WithLabelValues(transport).Add(float64(n))
	}
}

func (m *Metrics) dropped(transport, reason string) {
	if m != nil {
		m.drops.WithLabelValues(transport, reason).Inc()
	}
}

func (m *Metrics) refused(transport string) {
	if m != nil {
		m.refusal.WithLabelValues(transport).Inc()
	}
}
