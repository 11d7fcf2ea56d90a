// Package admin serves pollhook's operational HTTP endpoints: liveness,
// readiness, Prometheus metrics, the authenticated JSON admin API under
// /api/v1/ and the status page at /.
package admin

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"sort"
)

// Check reports whether one dependency is ready; a non-nil error explains why not.
type Check func() error

// Server holds the handlers of the admin listener.
type Server struct {
	logger *slog.Logger
	checks map[string]Check
	mux    *http.ServeMux
}

// New returns a Server whose /readyz runs the given named checks and whose
// /metrics serves m (no /metrics when m is nil).
func New(logger *slog.Logger, checks map[string]Check, m *Metrics) *Server {
	s := &Server{logger: logger, checks: checks, mux: http.NewServeMux()}
	s.mux.HandleFunc("GET /healthz", s.healthz)
	s.mux.HandleFunc("GET /readyz", s.readyz)
	if m != nil {
		s.mux.Handle("GET /metrics", m.Handler())
	}
	return s
}

// Handler returns the HTTP handler serving every admin endpoint.
func (s *Server) Handler() http.Handler { return s.mux }

// healthz answers as long as the process can serve HTTP at all.
func (s *Server) healthz(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

type readiness struct {
	Status string            `json:"status"`
	Checks map[string]string `json:"checks"`
}

// readyz answers 200 only when every check passes, listing each check's state
// so that an operator sees which dependency holds readiness back.
func (s *Server) readyz(w http.ResponseWriter, _ *http.Request) {
	names := make([]string, 0, len(s.checks))
	for name := range s.checks {
		names = append(names, name)
	}
	sort.Strings(names)
	res := readiness{Status: "ready", Checks: make(map[string]string, len(names))}
	code := http.StatusOK
	for _, name := range names {
		if err := s.checks[name](); err != nil {
			res.Checks[name] = err.Error()
			res.Status = "not ready"
			code = http.StatusServiceUnavailable
			continue
		}
		res.Checks[name] = "ok"
	}
	writeJSON(w, code, res)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
