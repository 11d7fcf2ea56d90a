package admin

import (
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/pollhook/pollhook/poller"
	"github.com/pollhook/pollhook/scheduler"
	"github.com/pollhook/pollhook/store"
)

// Job describes a configured job to the admin API.
type Job struct {
	Name     string
	Schedule string
	// URL is the source URL; it is shown redacted (poller.RedactURL), the
	// way the poller names it in errors.
	URL string
	// Items is true in items mode, false in document mode.
	Items        bool
	Destinations []string
	// Secrets are the job's credentials (auth secrets, header values,
	// query values): masked wherever they might appear in an error shown.
	Secrets []string
}

// Scheduler is what the jobs API needs of the scheduler;
// *scheduler.Scheduler implements it.
type Scheduler interface {
	Trigger(name string) error
	Status(name string) (scheduler.JobState, bool)
}

// JobList is the answer of GET /api/v1/jobs.
type JobList struct {
	Jobs []JobStatus `json:"jobs"`
}

// Health of a job, as JobStatus.Health tells it.
const (
	HealthUp      = "up"      // the last poll succeeded
	HealthDown    = "down"    // the last poll failed
	HealthUnknown = "unknown" // no poll since pollhook started
)

// JobStatus is a job's configuration and polling state, as
// GET /api/v1/jobs/{name} answers it. The poll fields come from memory
// and start empty at each start of pollhook; Version and LastSeq are
// stored.
type JobStatus struct {
	Name         string   `json:"name"`
	Schedule     string   `json:"schedule"`
	Source       string   `json:"source"` // the source URL, query values and userinfo redacted
	Mode         string   `json:"mode"`   // items or document
	Destinations []string `json:"destinations"`
	Health       string   `json:"health"`  // up, down or unknown
	Polling      bool     `json:"polling"` // a poll is running (or waiting for its jitter, a slot or a token)
	// The last poll: when it ended, how long it took, its result, and for
	// a failed one the reason and the (redacted) error.
	LastPoll         time.Time `json:"last_poll,omitzero"`
	LastPollDuration float64   `json:"last_poll_duration_seconds,omitempty"`
	LastResult       string    `json:"last_result,omitempty"`
	LastReason       string    `json:"last_reason,omitempty"`
	LastError        string    `json:"last_error,omitempty"`
	// LastChange is when a poll last committed change events: seen since
	// the start, else the stored time of the job's last commit with events.
	LastChange time.Time `json:"last_change,omitzero"`
	// NextRun is when the job next polls on its schedule (jitter not
	// included), past any backoff; BackoffUntil is set while failures or a
	// Retry-After hold its ticks back.
	NextRun             time.Time `json:"next_run,omitzero"`
	ConsecutiveFailures int       `json:"consecutive_failures"`
	BackoffUntil        time.Time `json:"backoff_until,omitzero"`
	// Version is the stored snapshot's version (0: no successful poll yet)
	// and LastSeq the sequence number of the job's last event.
	Version uint64 `json:"version"`
	LastSeq uint64 `json:"last_seq"`
}

// PollResult is the answer of POST /api/v1/jobs/{name}/poll.
type PollResult struct {
	Job     string `json:"job"`
	Started bool   `json:"started"`
	Message string `json:"message"`
}

func (a *api) listJobs(w http.ResponseWriter, r *http.Request) {
	list := JobList{Jobs: make([]JobStatus, 0, len(a.jobOrder))}
	for _, name := range a.jobOrder {
		js, _, err := a.jobStatus(a.jobs[name])
		if err != nil {
			a.storeFailed(w, r, err)
			return
		}
		list.Jobs = append(list.Jobs, js)
	}
	writeJSON(w, http.StatusOK, list)
}

func (a *api) getJob(w http.ResponseWriter, r *http.Request) {
	j := a.job(w, r.PathValue("name"))
	if j == nil {
		return
	}
	js, _, err := a.jobStatus(j)
	if err != nil {
		a.storeFailed(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, js)
}

// jobStatus gathers the state of j from the store, the scheduler and the
// recorded polls; it also returns the job's head.
func (a *api) jobStatus(j *Job) (JobStatus, store.Head, error) {
	head, err := a.st.Head(j.Name)
	if err != nil {
		return JobStatus{}, head, err
	}
	js := JobStatus{Name: j.Name, Schedule: j.Schedule, Source: poller.RedactURL(j.URL), Mode: "document",
		Destinations: j.Destinations, Health: HealthUnknown, Version: head.Version, LastSeq: head.LastSeq,
		LastChange: head.ChangedAt}
	if js.Destinations == nil {
		js.Destinations = []string{}
	}
	if j.Items {
		js.Mode = "items"
	}
	if a.sched != nil {
		if st, ok := a.sched.Status(j.Name); ok {
			js.Polling, js.NextRun, js.BackoffUntil = st.Running, st.Next.UTC(), st.BackoffUntil.UTC()
		}
	}
	if rec, ok := a.polls.Last(j.Name); ok {
		js.LastPoll, js.LastPollDuration, js.LastResult = rec.At, rec.Duration.Seconds(), rec.Result
		js.LastReason, js.LastError = rec.Reason, maskSecrets(rec.Err, j.Secrets)
		js.ConsecutiveFailures = rec.Failures
		js.Health = HealthUp
		if rec.Failures > 0 {
			js.Health = HealthDown
		}
		if !rec.ChangedAt.IsZero() {
			js.LastChange = rec.ChangedAt
		}
	}
	return js, head, nil
}

func (a *api) pollJob(w http.ResponseWriter, r *http.Request) {
	j := a.job(w, r.PathValue("name"))
	if j == nil {
		return
	}
	if a.sched == nil {
		writeError(w, http.StatusServiceUnavailable, CodeUnavailable, schedulerDown)
		return
	}
	switch err := a.sched.Trigger(j.Name); {
	case errors.Is(err, scheduler.ErrRunning):
		writeError(w, http.StatusConflict, CodeConflict,
			fmt.Sprintf("job %q is polling already; a job never polls twice at once, so try again when this poll is done", j.Name))
		return
	case errors.Is(err, scheduler.ErrUnknownJob):
		jobNotConfigured(w, j.Name) // removed by a reload in between
		return
	case errors.Is(err, scheduler.ErrNotRunning):
		writeError(w, http.StatusServiceUnavailable, CodeUnavailable, schedulerDown)
		return
	case err != nil:
		a.storeFailed(w, r, err)
		return
	}
	a.srv.logger.Info("poll triggered", "job", j.Name)
	writeJSON(w, http.StatusAccepted, PollResult{Job: j.Name, Started: true,
		Message: fmt.Sprintf("poll of job %q started; GET /api/v1/jobs/%s shows its outcome", j.Name, j.Name)})
}

const schedulerDown = "the scheduler is not running: pollhook is starting or stopping"

// job returns the configured job called name, or answers 404 and returns
// nil.
func (a *api) job(w http.ResponseWriter, name string) *Job {
	j, ok := a.jobs[name]
	if !ok {
		jobNotConfigured(w, name)
	}
	return j
}

func jobNotConfigured(w http.ResponseWriter, name string) {
	writeError(w, http.StatusNotFound, CodeNotFound, fmt.Sprintf("job %q is not configured", name))
}

// urlInText finds URLs inside free text, as pusher's redactor does.
var urlInText = regexp.MustCompile(`[a-zA-Z][a-zA-Z0-9+.-]*://[^\s"'<>]+`)

// redactURLs rewrites every URL in s as poller.RedactURL does: userinfo
// dropped, query values replaced.
func redactURLs(s string) string {
	return urlInText.ReplaceAllStringFunc(s, func(u string) string {
		// Punctuation that ends a sentence is not part of the URL.
		trimmed := strings.TrimRight(u, ").,;:!?")
		return poller.RedactURL(trimmed) + u[len(trimmed):]
	})
}

// minSecret is the length below which a value is not masked: masking
// "1" or "on" would garble every message without protecting anything.
const minSecret = 4

// maskSecrets replaces each of secrets in s by <secret>, longest first so
// that a secret containing another is masked whole.
func maskSecrets(s string, secrets []string) string {
	if s == "" {
		return s
	}
	sorted := make([]string, 0, len(secrets))
	for _, sec := range secrets {
		if len(sec) >= minSecret {
			sorted = append(sorted, sec)
		}
	}
	slices.SortFunc(sorted, func(a, b string) int { return len(b) - len(a) })
	for _, sec := range sorted {
		s = strings.ReplaceAll(s, sec, "<secret>")
	}
	return s
}
