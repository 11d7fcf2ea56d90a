package admin

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/pollhook/pollhook/store"
)

// DeadLetterList is the answer of GET /api/v1/deadletters.
type DeadLetterList struct {
	DeadLetters []DeadLetterStatus `json:"dead_letters"`
}

// DeadLetterStatus is one dead letter: an event that ran out of attempts
// or age on one destination. The event's data is not included: it is the
// source's data, and the event id is enough to act on it.
type DeadLetterStatus struct {
	Destination string    `json:"destination"`
	EventID     string    `json:"event_id"`
	Job         string    `json:"job"`
	Seq         uint64    `json:"seq"`
	Type        string    `json:"type"`
	Key         string    `json:"key"`
	DetectedAt  time.Time `json:"detected_at"`
	Attempts    int       `json:"attempts"`
	LastStatus  int       `json:"last_status"` // 0: the last attempt got no HTTP answer
	LastError   string    `json:"last_error"`  // redacted, and the receiver's body truncated, as stored
	DeadAt      time.Time `json:"dead_at"`
}

// RetryResult is the answer of POST /api/v1/deadletters/{destination}/{event_id}/retry.
type RetryResult struct {
	Destination string `json:"destination"`
	EventID     string `json:"event_id"`
	Message     string `json:"message"`
}

// listDeadLetters answers the dead letters, oldest first, of one
// destination (?destination=) and one job (?job=) or all. Without a
// destination filter it also lists those of destinations no longer
// configured, which the filter refuses as unknown.
func (a *api) listDeadLetters(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	dest, job := q.Get("destination"), q.Get("job")
	if dest != "" && a.destination(w, dest) == nil {
		return
	}
	dls, err := a.st.DeadLetters(dest)
	if err != nil {
		a.storeFailed(w, r, err)
		return
	}
	list := DeadLetterList{DeadLetters: make([]DeadLetterStatus, 0, len(dls))}
	for _, dl := range dls {
		if job != "" && dl.Event.Job != job {
			continue
		}
		list.DeadLetters = append(list.DeadLetters, DeadLetterStatus{
			Destination: dl.Destination, EventID: dl.Event.ID, Job: dl.Event.Job, Seq: dl.Event.Seq,
			Type: dl.Event.Type, Key: dl.Event.Key, DetectedAt: dl.Event.Time, Attempts: dl.Attempts,
			LastStatus: dl.LastStatus, LastError: dl.LastError, DeadAt: dl.DeadAt,
		})
	}
	writeJSON(w, http.StatusOK, list)
}

func (a *api) retry(w http.ResponseWriter, r *http.Request) {
	d := a.destination(w, r.PathValue("destination"))
	if d == nil {
		return
	}
	id := r.PathValue("event_id")
	switch err := a.del.RetryDeadLetter(d.Name, id); {
	case errors.Is(err, store.ErrNoDeadLetter):
		writeError(w, http.StatusNotFound, CodeNotFound, fmt.Sprintf("destination %q has no dead letter of event %q", d.Name, id))
		return
	case errors.Is(err, store.ErrNoLane):
		writeError(w, http.StatusConflict, CodeConflict,
			fmt.Sprintf("the dead letter of event %q belongs to a job that no longer routes to destination %q", id, d.Name))
		return
	case err != nil:
		a.storeFailed(w, r, err)
		return
	}
	a.srv.logger.Info("dead letter retried", "destination", d.Name, "event_id", id)
	writeJSON(w, http.StatusOK, RetryResult{Destination: d.Name, EventID: id,
		Message: fmt.Sprintf("dead letter of event %s queued for delivery to %q again", id, d.Name)})
}
