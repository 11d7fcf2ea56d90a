package admin

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/pollhook/pollhook/store"
)

// The admin API: JSON under /api/v1/, every request authenticated with
// the bearer token of server.admin_token. Authentication comes before
// routing, so a caller without the token learns nothing, not even which
// paths exist. Errors always have the shape of ErrorResponse.

// Error codes of the admin API, the stable part of ErrorResponse.
const (
	CodeUnauthorized     = "unauthorized"       // 401: the bearer token is missing or wrong, or the API is disabled
	CodeNotFound         = "not_found"          // 404: no such endpoint, destination, job or dead letter
	CodeMethodNotAllowed = "method_not_allowed" // 405: the endpoint exists for other methods (see Allow)
	CodeBadRequest       = "bad_request"        // 400: a parameter is malformed or incomplete
	CodeConflict         = "conflict"           // 409: the request cannot apply to the current state
	CodeInternal         = "internal"           // 500: the store failed; the message says how
)

// unauthorizedMessage is the one answer to every refused request: it does
// not say whether the token was missing, wrong or not configured at all.
const unauthorizedMessage = "missing or invalid bearer token"

// ErrorResponse is the body of every admin API error.
type ErrorResponse struct {
	Error APIError `json:"error"`
}

// APIError is one admin API error: a stable code and a message for people.
type APIError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Deliveries are the operator actions on delivery; *pusher.Pusher
// implements them, acting on the store and waking the lanes concerned.
type Deliveries interface {
	Resume(dest string) (bool, error)
	RetryDeadLetter(dest, eventID string) error
	ReplayDeadLetters(dest string) (int, error)
	ReplaySince(dest, job string, since time.Time) (int, error)
}

// Destination describes a configured destination to the admin API. URL is
// redacted (pusher.RedactURL) before it is shown; secrets and header
// values are deliberately not part of it.
type Destination struct {
	Name     string
	URL      string
	Method   string
	Format   string   // json, xml or form; ignored when Template is set
	Template bool     // the body is rendered by a template
	Jobs     []string // the jobs routed to it, in display order
	// Events are the event types it takes (its events: list); empty
	// means all. A resync for one destination needs to know which others
	// would receive item.snapshot events too.
	Events []string
}

// APIConfig is what the admin API reads and acts on.
type APIConfig struct {
	// Token is the bearer token every request must carry. Empty disables
	// the API: every request is refused, as with a wrong token.
	Token        string
	Store        store.Store
	Deliveries   Deliveries
	Destinations []Destination
	// Jobs are the configured jobs, in display order, for the jobs
	// endpoints and the status page.
	Jobs []Job
	// Scheduler triggers polls and tells when jobs run next; nil answers
	// 503 to a poll request and leaves next runs out.
	Scheduler Scheduler
	// Polls holds the outcomes of the jobs' polls (Pipeline.Observe); nil
	// shows every job's health as unknown.
	Polls *Polls
	// Wake tells the pusher that a resync committed events for a job
	// (Pusher.Wake); nil leaves them to the lanes' next look at the store.
	Wake func(job string)
	// Now is the clock for ages and for the time of resync events
	// (default time.Now).
	Now func() time.Time
}

// api serves /api/v1/.
type api struct {
	srv       *Server
	tokenHash [sha256.Size]byte
	enabled   bool
	st        store.Store
	del       Deliveries
	dests     map[string]*Destination
	order     []string // destination names, in the order given
	jobs      map[string]*Job
	jobOrder  []string // job names, in the order given
	sched     Scheduler
	polls     *Polls
	wake      func(job string)
	heavySlot chan struct{} // held while a request has a whole snapshot in memory
	now       func() time.Time
	mux       *http.ServeMux
}

// MountAPI serves the admin API under /api/v1/ and the status page at /;
// call it once. Without a token it logs once that the API is disabled, and
// refuses every request.
func (s *Server) MountAPI(c APIConfig) {
	a := &api{srv: s, st: c.Store, del: c.Deliveries, now: c.Now, dests: make(map[string]*Destination, len(c.Destinations)),
		jobs: make(map[string]*Job, len(c.Jobs)), sched: c.Scheduler, polls: c.Polls, wake: c.Wake,
		heavySlot: make(chan struct{}, 1), mux: http.NewServeMux()}
	if a.now == nil {
		a.now = time.Now
	}
	if c.Token != "" {
		// Only the hash is kept: comparing fixed-length hashes takes the
		// same time whatever the length of the token offered.
		a.tokenHash, a.enabled = sha256.Sum256([]byte(c.Token)), true
	} else {
		s.logger.Warn("admin API disabled until server.admin_token (or server.admin_token_file) is set; every /api/v1 request is refused")
	}
	for i := range c.Destinations {
		d := &c.Destinations[i]
		a.dests[d.Name] = d
		a.order = append(a.order, d.Name)
	}
	for i := range c.Jobs {
		j := &c.Jobs[i]
		a.jobs[j.Name] = j
		a.jobOrder = append(a.jobOrder, j.Name)
	}
	a.mux.HandleFunc("GET /api/v1/destinations", a.listDestinations)
	a.mux.HandleFunc("GET /api/v1/destinations/{name}", a.getDestination)
	a.mux.HandleFunc("POST /api/v1/destinations/{name}/resume", a.resume)
	a.mux.HandleFunc("POST /api/v1/destinations/{name}/replay", a.replay)
	a.mux.HandleFunc("GET /api/v1/deadletters", a.listDeadLetters)
	a.mux.HandleFunc("POST /api/v1/deadletters/{destination}/{event_id}/retry", a.retry)
	a.mux.HandleFunc("GET /api/v1/jobs", a.listJobs)
	a.mux.HandleFunc("GET /api/v1/jobs/{name}", a.getJob)
	a.mux.HandleFunc("POST /api/v1/jobs/{name}/poll", a.pollJob)
	a.mux.HandleFunc("GET /api/v1/jobs/{name}/snapshot", a.getSnapshot)
	a.mux.HandleFunc("POST /api/v1/jobs/{name}/resync", a.resync)
	a.mux.HandleFunc(apiRoot, a.noRoute)
	s.mux.Handle(apiRoot, a)
	s.mux.HandleFunc("GET /{$}", a.statusPage)
}

const apiRoot = "/api/v1/"

// ServeHTTP authenticates, then routes.
func (a *api) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !a.authorized(r) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="pollhook"`)
		writeError(w, http.StatusUnauthorized, CodeUnauthorized, unauthorizedMessage)
		return
	}
	a.mux.ServeHTTP(w, r)
}

func (a *api) authorized(r *http.Request) bool {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return false
	}
	return a.tokenMatches(strings.TrimSpace(token))
}

// tokenMatches compares token with the admin token in constant time; it is
// false for every token while the API is disabled.
func (a *api) tokenMatches(token string) bool {
	if !a.enabled {
		return false
	}
	got := sha256.Sum256([]byte(token))
	return subtle.ConstantTimeCompare(got[:], a.tokenHash[:]) == 1
}

// noRoute answers what no endpoint pattern took: 405 when the path exists
// for another method, 404 otherwise. ServeMux would answer both in plain
// text; the API answers JSON.
func (a *api) noRoute(w http.ResponseWriter, r *http.Request) {
	var allowed []string
	for _, m := range []string{http.MethodGet, http.MethodPost} {
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, pattern := a.mux.Handler(probe); pattern != apiRoot {
			allowed = append(allowed, m)
		}
	}
	if len(allowed) > 0 {
		w.Header().Set("Allow", strings.Join(allowed, ", "))
		writeError(w, http.StatusMethodNotAllowed, CodeMethodNotAllowed,
			fmt.Sprintf("%s %s is not allowed; use %s", r.Method, r.URL.Path, strings.Join(allowed, " or ")))
		return
	}
	writeError(w, http.StatusNotFound, CodeNotFound, fmt.Sprintf("no endpoint %s %s", r.Method, r.URL.Path))
}

// destination returns the configured destination called name, or answers
// 404 and returns nil.
func (a *api) destination(w http.ResponseWriter, name string) *Destination {
	d, ok := a.dests[name]
	if !ok {
		notConfigured(w, name)
	}
	return d
}

func notConfigured(w http.ResponseWriter, name string) {
	writeError(w, http.StatusNotFound, CodeNotFound, fmt.Sprintf("destination %q is not configured", name))
}

// storeFailed answers 500 for an error of the store (or of the pusher
// acting on it); those name destinations, jobs and events, never secrets.
func (a *api) storeFailed(w http.ResponseWriter, r *http.Request, err error) {
	a.srv.logger.Error("admin API request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	writeError(w, http.StatusInternalServerError, CodeInternal, err.Error())
}

func writeError(w http.ResponseWriter, code int, errCode, msg string) {
	writeJSON(w, code, ErrorResponse{Error: APIError{Code: errCode, Message: msg}})
}

// DecodeError reads an admin API error body; ok is false when body is not
// one (a proxy's error page, another service on the port).
func DecodeError(body []byte) (APIError, bool) {
	var e ErrorResponse
	if json.Unmarshal(body, &e) != nil || e.Error.Code == "" {
		return APIError{}, false
	}
	return e.Error, true
}
