package admin

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/pollhook/pollhook/pusher"
	"github.com/pollhook/pollhook/store"
)

// DestinationList is the answer of GET /api/v1/destinations.
type DestinationList struct {
	Destinations []DestinationStatus `json:"destinations"`
}

// DestinationStatus is a destination's shape and delivery state, as
// GET /api/v1/destinations/{name} answers it.
type DestinationStatus struct {
	Name   string       `json:"name"`
	URL    string       `json:"url"` // scheme and host only: the rest may hold credentials
	Method string       `json:"method"`
	Format string       `json:"format"` // json, xml, form, or template
	Paused *PauseStatus `json:"paused"` // null while the destination delivers
	Lanes  []LaneStatus `json:"lanes"`  // one per job routed to it
}

// PauseStatus says why and since when a destination is paused.
type PauseStatus struct {
	Since   time.Time `json:"since"`
	Job     string    `json:"job"`      // the lane whose delivery was answered 410 Gone
	EventID string    `json:"event_id"` // the event (or batch) that was answered 410
	Status  int       `json:"status"`
	Reason  string    `json:"reason"`
}

// LaneStatus is the state of one destination × job lane. Cursor and the
// retry fields are those stored: a delivery is stored shortly after its
// answer, so Depth may count an event that arrived a moment ago.
type LaneStatus struct {
	Job string `json:"job"`
	// Cursor is the sequence number of the next event of the job's log to
	// deliver; 0 when the job has committed no event for this destination
	// yet. LastSeq is the job's last event.
	Cursor  uint64 `json:"cursor"`
	LastSeq uint64 `json:"last_seq"`
	// Depth is how many events of the log are still to deliver, the one
	// at the cursor included. Queued counts the redeliveries (retried dead
	// letters, replayed events) waiting ahead of them.
	Depth  uint64 `json:"depth"`
	Queued int    `json:"queued"`
	// The retry state of the event at the cursor.
	Attempts     int       `json:"attempts"`
	FirstAttempt time.Time `json:"first_attempt,omitzero"`
	NextAttempt  time.Time `json:"next_attempt,omitzero"`
	LastStatus   int       `json:"last_status,omitempty"` // 0 with a LastError: no HTTP answer
	LastError    string    `json:"last_error,omitempty"`
	// OldestPending is when the event at the cursor was detected, and
	// OldestPendingAge how long ago that is, in seconds.
	OldestPending    time.Time `json:"oldest_pending,omitzero"`
	OldestPendingAge float64   `json:"oldest_pending_age_seconds,omitempty"`
	// Redelivery is the first queued redelivery, which the lane sends
	// before anything else, with its own retry state.
	Redelivery *RedeliveryStatus `json:"redelivery,omitempty"`
}

// RedeliveryStatus is the state of one queued redelivery.
type RedeliveryStatus struct {
	EventID     string    `json:"event_id"`
	Queued      time.Time `json:"queued"`
	Attempts    int       `json:"attempts"`
	NextAttempt time.Time `json:"next_attempt,omitzero"`
	LastStatus  int       `json:"last_status,omitempty"`
	LastError   string    `json:"last_error,omitempty"`
}

// ResumeResult is the answer of POST /api/v1/destinations/{name}/resume.
type ResumeResult struct {
	Destination string `json:"destination"`
	WasPaused   bool   `json:"was_paused"`
	Message     string `json:"message"`
}

// ReplayResult is the answer of POST /api/v1/destinations/{name}/replay.
type ReplayResult struct {
	Destination string `json:"destination"`
	// Job and Since are set for a replay of a job's events since a time.
	Job   string    `json:"job,omitempty"`
	Since time.Time `json:"since,omitzero"`
	// Replayed is how many events were queued for delivery again. Kept
	// counts the dead letters left in place because their job no longer
	// routes to the destination.
	Replayed int `json:"replayed"`
	Kept     int `json:"kept,omitempty"`
	// LogStart is when the oldest event the job's log still holds was
	// detected (zero: the log is empty). Nothing older can be replayed.
	LogStart time.Time `json:"log_start,omitzero"`
	Message  string    `json:"message"`
}

func (a *api) listDestinations(w http.ResponseWriter, r *http.Request) {
	paused, err := a.pauses()
	if err != nil {
		a.storeFailed(w, r, err)
		return
	}
	heads := map[string]store.Head{}
	list := DestinationList{Destinations: make([]DestinationStatus, 0, len(a.order))}
	for _, name := range a.order {
		ds, err := a.status(a.dests[name], paused, heads)
		if err != nil {
			a.storeFailed(w, r, err)
			return
		}
		list.Destinations = append(list.Destinations, ds)
	}
	writeJSON(w, http.StatusOK, list)
}

func (a *api) getDestination(w http.ResponseWriter, r *http.Request) {
	d := a.destination(w, r.PathValue("name"))
	if d == nil {
		return
	}
	paused, err := a.pauses()
	var ds DestinationStatus
	if err == nil {
		ds, err = a.status(d, paused, map[string]store.Head{})
	}
	if err != nil {
		a.storeFailed(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, ds)
}

// pauses returns the stored pauses by destination name.
func (a *api) pauses() (map[string]store.Pause, error) {
	ps, err := a.st.Paused()
	if err != nil {
		return nil, err
	}
	out := make(map[string]store.Pause, len(ps))
	for _, p := range ps {
		out[p.Destination] = p
	}
	return out, nil
}

// status reads the state of d's lanes; heads caches the jobs' heads across
// destinations.
func (a *api) status(d *Destination, paused map[string]store.Pause, heads map[string]store.Head) (DestinationStatus, error) {
	ds := DestinationStatus{Name: d.Name, URL: pusher.RedactURL(d.URL), Method: d.Method, Format: d.Format,
		Lanes: make([]LaneStatus, 0, len(d.Jobs))}
	if d.Template {
		ds.Format = "template"
	}
	if p, ok := paused[d.Name]; ok {
		ds.Paused = &PauseStatus{Since: p.At, Job: p.Job, EventID: p.EventID, Status: p.Status, Reason: p.Reason}
	}
	for _, job := range d.Jobs {
		head, ok := heads[job]
		if !ok {
			var err error
			if head, err = a.st.Head(job); err != nil {
				return ds, err
			}
			heads[job] = head
		}
		ls, err := a.lane(d.Name, job, head)
		if err != nil {
			return ds, err
		}
		ds.Lanes = append(ds.Lanes, ls)
	}
	return ds, nil
}

func (a *api) lane(dest, job string, head store.Head) (LaneStatus, error) {
	st, err := a.st.Lane(dest, job)
	if err != nil {
		return LaneStatus{}, err
	}
	ls := LaneStatus{Job: job, Cursor: st.Cursor, LastSeq: head.LastSeq, Attempts: st.Attempts,
		FirstAttempt: st.FirstAttempt, NextAttempt: st.NextAttempt, LastStatus: st.LastStatus, LastError: st.LastError}
	depth, oldest, err := backlog(a.st, dest, job, st.Cursor, head)
	if err != nil {
		return ls, err
	}
	ls.Depth = depth
	if !oldest.IsZero() {
		ls.OldestPending = oldest
		ls.OldestPendingAge = max(a.now().Sub(oldest), 0).Seconds()
	}
	rs, err := a.st.Redeliveries(dest, job, 0)
	if err != nil {
		return ls, err
	}
	ls.Queued = len(rs)
	if len(rs) > 0 {
		r := rs[0]
		ls.Redelivery = &RedeliveryStatus{EventID: r.Event.ID, Queued: r.Queued, Attempts: r.Attempts,
			NextAttempt: r.NextAttempt, LastStatus: r.LastStatus, LastError: r.LastError}
	}
	return ls, nil
}

func (a *api) resume(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if _, ok := a.dests[name]; !ok {
		// A destination paused under an earlier configuration can still
		// have its pause lifted; any other unknown name is a typo.
		paused, err := a.pauses()
		if err != nil {
			a.storeFailed(w, r, err)
			return
		}
		if _, ok := paused[name]; !ok {
			notConfigured(w, name)
			return
		}
	}
	was, err := a.del.Resume(name)
	if err != nil {
		a.storeFailed(w, r, err)
		return
	}
	res := ResumeResult{Destination: name, WasPaused: was,
		Message: fmt.Sprintf("destination %q resumed: it delivers again, starting with the event answered 410", name)}
	if !was {
		res.Message = fmt.Sprintf("destination %q was not paused", name)
	}
	writeJSON(w, http.StatusOK, res)
}

func (a *api) replay(w http.ResponseWriter, r *http.Request) {
	d := a.destination(w, r.PathValue("name"))
	if d == nil {
		return
	}
	q := r.URL.Query()
	job, sinceText := q.Get("job"), q.Get("since")
	if job == "" && sinceText == "" {
		a.replayDeadLetters(w, r, d)
		return
	}
	if job == "" || sinceText == "" {
		writeError(w, http.StatusBadRequest, CodeBadRequest, "job and since go together: ?job=JOB&since=TIME replays the events of "+
			"a job detected since an RFC 3339 time; without both, the destination's dead letters are replayed")
		return
	}
	since, err := time.Parse(time.RFC3339, sinceText)
	if err != nil {
		writeError(w, http.StatusBadRequest, CodeBadRequest,
			fmt.Sprintf("since %q is not an RFC 3339 time such as 2026-03-01T12:00:00Z", sinceText))
		return
	}
	if !slices.Contains(d.Jobs, job) {
		writeError(w, http.StatusNotFound, CodeNotFound, fmt.Sprintf("destination %q does not receive job %q", d.Name, job))
		return
	}
	a.replaySince(w, r, d, job, since)
}

func (a *api) replayDeadLetters(w http.ResponseWriter, r *http.Request, d *Destination) {
	n, err := a.del.ReplayDeadLetters(d.Name)
	res := ReplayResult{Destination: d.Name, Replayed: n}
	if err != nil {
		// Letters of jobs no longer routed to d have no lane to go to;
		// the others were moved all the same.
		var left []store.DeadLetter
		if errors.Is(err, store.ErrNoLane) {
			left, err = a.st.DeadLetters(d.Name)
		}
		if err != nil {
			a.storeFailed(w, r, err)
			return
		}
		res.Kept = len(left)
	}
	res.Message = fmt.Sprintf("%s of destination %q queued for delivery again", count(n, "dead letter"), d.Name)
	if res.Kept > 0 {
		res.Message += fmt.Sprintf("; %s kept: their jobs no longer route to it", count(res.Kept, "dead letter"))
	}
	a.srv.logger.Info("dead letters replayed", "destination", d.Name, "replayed", n, "kept", res.Kept)
	writeJSON(w, http.StatusOK, res)
}

func (a *api) replaySince(w http.ResponseWriter, r *http.Request, d *Destination, job string, since time.Time) {
	n, err := a.del.ReplaySince(d.Name, job, since)
	// No lane yet: the job has committed no event for d, so none to replay.
	if err != nil && !errors.Is(err, store.ErrNoLane) {
		a.storeFailed(w, r, err)
		return
	}
	oldest, err := a.st.Events(job, 1, 1)
	if err != nil {
		a.storeFailed(w, r, err)
		return
	}
	res := ReplayResult{Destination: d.Name, Job: job, Since: since.UTC(), Replayed: n}
	res.Message = fmt.Sprintf("%s of job %q detected since %s queued for delivery to %q again",
		count(n, "event"), job, res.Since.Format(time.RFC3339), d.Name)
	switch {
	case len(oldest) == 0:
		res.Message += fmt.Sprintf("; the log of job %q is empty (every destination has every event), so no older event can be replayed", job)
	case since.Before(oldest[0].Time):
		res.LogStart = oldest[0].Time
		res.Message += fmt.Sprintf("; the log of job %q holds events detected since %s: older ones, if any, were delivered to every destination and dropped",
			job, res.LogStart.UTC().Format(time.RFC3339))
	default:
		res.LogStart = oldest[0].Time
	}
	a.srv.logger.Info("events replayed", "destination", d.Name, "job", job, "since", res.Since.Format(time.RFC3339), "replayed", n)
	writeJSON(w, http.StatusOK, res)
}

// count writes n things, in the plural unless n is 1.
func count(n int, thing string) string {
	if n == 1 {
		return "1 " + thing
	}
	return fmt.Sprintf("%d %ss", n, thing)
}
