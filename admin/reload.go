package admin

import (
	"context"
	"crypto/sha256"
	"errors"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pollhook/pollhook/store"
)

// Reloading the configuration: POST /-/reload (the path Prometheus and
// Alertmanager use for the same thing), what it answers, and the reload
// metrics. The daemon does the reloading; this file only serves it.

// Error codes of a refused reload.
const (
	// CodeInvalidConfig (400): the file could not be read or is not a
	// valid configuration; APIError.Message says so and the errors list
	// has every problem, FILE:LINE:COL: path: msg.
	CodeInvalidConfig = "invalid_config"
	// CodeRestartRequired (409): the file changes a setting that only a
	// restart applies (server.listen, store.*); nothing was applied.
	CodeRestartRequired = "restart_required"
	// CodeUnavailable (503): pollhook is shutting down.
	CodeUnavailable = "unavailable"
)

// ReloadResult is the answer of a successful POST /-/reload: the
// configuration now running.
type ReloadResult struct {
	Reloaded     bool `json:"reloaded"`
	Jobs         int  `json:"jobs"`
	Destinations int  `json:"destinations"`
}

// ReloadError is a reload refused because of the configuration file; the
// configuration that ran before keeps running.
type ReloadError struct {
	Code    string   // CodeInvalidConfig or CodeRestartRequired
	Message string   // one line for people
	Errors  []string // every problem, FILE:LINE:COL: path: msg where the position is known
}

// Error returns the message.
func (e *ReloadError) Error() string { return e.Message }

// ErrShuttingDown is returned by a Reloader once pollhook shuts down.
var ErrShuttingDown = errors.New("pollhook is shutting down")

// Reloader re-reads and applies the configuration. It returns a
// *ReloadError when the file is refused, ErrShuttingDown once shutdown has
// begun. Concurrent calls are the Reloader's to serialise.
type Reloader func(ctx context.Context) (ReloadResult, error)

// reloadErrorResponse is the body of a refused reload: the API's error
// shape, with the list of problems.
type reloadErrorResponse struct {
	Error reloadAPIError `json:"error"`
}

type reloadAPIError struct {
	APIError
	Errors []string `json:"errors,omitempty"`
}

// MountReload serves POST /-/reload, which calls reload. With a token,
// a request needs it exactly as /api/v1 does (401 otherwise); without
// one the endpoint is open: it can only make pollhook read the file its
// operator wrote, as SIGHUP does. Call it once.
func (s *Server) MountReload(token string, reload Reloader) {
	a := &api{srv: s}
	if token != "" {
		a.tokenHash, a.enabled = sha256.Sum256([]byte(token)), true
	}
	// One pattern per method, not a method-less "/-/reload": that one
	// would conflict with a "GET /" page.
	s.mux.HandleFunc("POST /-/reload", func(w http.ResponseWriter, r *http.Request) {
		if !a.mayReload(w, r) {
			return
		}
		res, err := reload(r.Context())
		var re *ReloadError
		switch {
		case err == nil:
			writeJSON(w, http.StatusOK, res)
		case errors.As(err, &re):
			code := http.StatusBadRequest
			if re.Code == CodeRestartRequired {
				code = http.StatusConflict
			}
			writeJSON(w, code, reloadErrorResponse{reloadAPIError{APIError{Code: re.Code, Message: re.Message}, re.Errors}})
		case errors.Is(err, ErrShuttingDown):
			writeError(w, http.StatusServiceUnavailable, CodeUnavailable, err.Error())
		default:
			a.storeFailed(w, r, err)
		}
	})
	s.mux.HandleFunc("GET /-/reload", func(w http.ResponseWriter, r *http.Request) {
		if a.mayReload(w, r) {
			w.Header().Set("Allow", http.MethodPost)
			writeError(w, http.StatusMethodNotAllowed, CodeMethodNotAllowed, "GET /-/reload is not allowed; use POST")
		}
	})
}

// mayReload reports whether r may reload: always without a token, else
// with it. It answers 401 when not.
func (a *api) mayReload(w http.ResponseWriter, r *http.Request) bool {
	if !a.enabled || a.authorized(r) {
		return true
	}
	w.Header().Set("WWW-Authenticate", `Bearer realm="pollhook"`)
	writeError(w, http.StatusUnauthorized, CodeUnauthorized, unauthorizedMessage)
	return false
}

// Reload results, the values of the result label of
// pollhook_config_reloads_total.
const (
	reloadSuccess = "success"
	reloadFailure = "failure"
)

// newReloadMetrics creates the reload metrics of NewMetrics.
func newReloadMetrics() (reloads *prometheus.CounterVec, lastSuccess, lastOK prometheus.Gauge) {
	reloads = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "pollhook_config_reloads_total",
		Help: "Configuration reloads (SIGHUP or POST /-/reload) by result (success, failure).",
	}, []string{"result"})
	// Both series exist from the start, so that a rate or an alert on
	// failures works before the first one.
	reloads.WithLabelValues(reloadSuccess)
	reloads.WithLabelValues(reloadFailure)
	lastSuccess = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "pollhook_config_last_reload_success_timestamp_seconds",
		Help: "When the running configuration was loaded (at start-up or by the last successful reload), in Unix seconds.",
	})
	lastOK = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "pollhook_config_last_reload_successful",
		Help: "1 when the last attempt to load the configuration succeeded, 0 when the last reload was refused.",
	})
	return reloads, lastSuccess, lastOK
}

// ConfigLoaded records the configuration loaded at start-up, which is not
// a reload: the gauges say it succeeded at, no reload is counted.
func (m *Metrics) ConfigLoaded(at time.Time) {
	m.lastReloadSuccess.Set(float64(at.UnixNano()) / 1e9)
	m.lastReloadOK.Set(1)
}

// ObserveReload counts one reload; ok says whether it was applied.
func (m *Metrics) ObserveReload(ok bool, at time.Time) {
	if !ok {
		m.reloads.WithLabelValues(reloadFailure).Inc()
		m.lastReloadOK.Set(0)
		return
	}
	m.reloads.WithLabelValues(reloadSuccess).Inc()
	m.ConfigLoaded(at)
}

// Forget deletes the series of jobs and destinations a reload removed, so
// that they do not linger at their last values as if still configured. A
// job or destination added again later starts its counters from zero,
// which Prometheus reads as a counter reset.
func (m *Metrics) Forget(jobs, destinations []string) {
	for _, job := range jobs {
		l := prometheus.Labels{"job": job}
		for _, v := range []interface{ DeletePartialMatch(prometheus.Labels) int }{
			m.polls, m.failures, m.pollDuration, m.changes, m.held, m.skipped, m.health,
		} {
			v.DeletePartialMatch(l)
		}
	}
	for _, d := range destinations {
		l := prometheus.Labels{"destination": d}
		m.deliveries.DeletePartialMatch(l)
		m.deliveryLatency.DeletePartialMatch(l)
	}
}

// WatchReloadableOutbox is WatchOutbox for a daemon whose destinations
// change while it runs: SetOutboxDestinations replaces the list, with no
// scrape in between that would miss the gauges. Call one of the two once.
func (m *Metrics) WatchReloadableOutbox(st store.Store, dests []string, logger *slog.Logger, now func() time.Time) {
	if now == nil {
		now = time.Now
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	o := &reloadableOutbox{}
	o.current.Store(&outboxCollector{st: st, dests: dests, log: logger, now: now})
	m.outbox = o
	m.Registry.MustRegister(o)
}

// SetOutboxDestinations replaces the destinations the outbox gauges always
// report (after a reload); it does nothing unless WatchReloadableOutbox
// was called.
func (m *Metrics) SetOutboxDestinations(dests []string) {
	if m.outbox == nil {
		return
	}
	c := *m.outbox.current.Load()
	c.dests = dests
	m.outbox.current.Store(&c)
}

// reloadableOutbox collects through the current outbox collector.
type reloadableOutbox struct {
	current atomic.Pointer[outboxCollector]
}

func (o *reloadableOutbox) Describe(ch chan<- *prometheus.Desc) { o.current.Load().Describe(ch) }
func (o *reloadableOutbox) Collect(ch chan<- prometheus.Metric) { o.current.Load().Collect(ch) }
