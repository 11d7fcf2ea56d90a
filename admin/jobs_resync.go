package admin

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/pollhook/pollhook/scheduler"
	"github.com/pollhook/pollhook/store"
)

// TypeItemSnapshot is the type of the events a resync sends: one per
// current item (or one with the document), with the data of an
// item.created event (job, key, after).
const TypeItemSnapshot = "item.snapshot"

// ResyncResult is the answer of POST /api/v1/jobs/{name}/resync.
type ResyncResult struct {
	Job string `json:"job"`
	// Destination is set when the resync was asked for one destination.
	Destination string `json:"destination,omitempty"`
	// Events is how many item.snapshot events were committed, and
	// Destinations the destinations that will be sent them.
	Events       int      `json:"events"`
	Destinations []string `json:"destinations"`
	// Version is the job's version after the resync; its snapshot is the
	// one the events describe (GET .../snapshot shows it).
	Version uint64 `json:"version"`
	Message string `json:"message"`
}

// A resync bootstraps a subscriber: every current item of the job's stored
// snapshot becomes an item.snapshot event, committed to the job's log like
// the events of a poll, so the pusher delivers them in order, with retries,
// dead letters and all. The commit is conditional on the head whose
// snapshot was read, so that the events are exactly the items at one
// version: a poll committing in between makes the resync read again. It
// changes neither the snapshot nor the validators and body hash, so the
// next poll compares with the same state as before.
//
// Every lane of a job reads the same log, so the events reach every
// destination of the job that takes item.snapshot events (a destination's
// events: list may leave them out). A resync for one destination
// (?destination=) is refused while another destination would receive them
// too.

func (a *api) resync(w http.ResponseWriter, r *http.Request) {
	j := a.job(w, r.PathValue("name"))
	if j == nil {
		return
	}
	dest := r.URL.Query().Get("destination")
	targets, lanes, ok := a.resyncTargets(w, j, dest)
	if !ok {
		return
	}
	release, ok := a.heavy(w, r)
	if !ok {
		return
	}
	defer release()

	var head store.Head
	var events []store.Event
	for attempt := 1; ; attempt++ {
		s := a.readState(w, r, j.Name)
		if s == nil {
			return
		}
		var err error
		if events, err = a.snapshotEvents(j.Name, s); err != nil {
			a.storeFailed(w, r, err)
			return
		}
		if len(events) == 0 {
			head = s.head
			break
		}
		c := &store.Commit{BodyHash: s.head.BodyHash, ETag: s.head.ETag, LastModified: s.head.LastModified,
			Events: events, Destinations: lanes}
		head, err = a.st.Commit(r.Context(), j.Name, s.head.Version, c)
		if errors.Is(err, store.ErrStale) && attempt < maxStaleReads {
			continue
		}
		if errors.Is(err, store.ErrStale) {
			writeError(w, http.StatusConflict, CodeConflict, fmt.Sprintf(
				"job %q committed %d times while its snapshot was read for the resync; try again", j.Name, attempt))
			return
		}
		if err != nil {
			a.storeFailed(w, r, err)
			return
		}
		break
	}
	if len(events) > 0 && a.wake != nil {
		a.wake(j.Name)
	}
	res := ResyncResult{Job: j.Name, Destination: dest, Events: len(events), Destinations: targets, Version: head.Version}
	if len(events) == 0 {
		res.Message = fmt.Sprintf("job %q has no items: nothing to send", j.Name)
	} else {
		res.Message = fmt.Sprintf("%s of job %q queued for delivery to %s", count(len(events), TypeItemSnapshot+" event"),
			j.Name, quoteList(targets))
	}
	a.srv.logger.Info("job resynced", "job", j.Name, "events", len(events), "destinations", targets)
	writeJSON(w, http.StatusOK, res)
}

// resyncTargets returns the destinations that will receive a resync of j
// (to dest alone when it is set) and the lanes its commit names, or
// answers why the resync cannot be done and reports false.
func (a *api) resyncTargets(w http.ResponseWriter, j *Job, dest string) (targets, lanes []string, ok bool) {
	for _, d := range j.Destinations {
		if a.takesSnapshots(d) {
			targets = append(targets, d)
		}
	}
	if dest == "" {
		switch {
		case len(j.Destinations) == 0:
			writeError(w, http.StatusConflict, CodeConflict, fmt.Sprintf("job %q has no destinations to resync", j.Name))
			return nil, nil, false
		case len(targets) == 0:
			writeError(w, http.StatusConflict, CodeConflict, fmt.Sprintf(
				"no destination of job %q takes %s events (their events: lists leave them out)", j.Name, TypeItemSnapshot))
			return nil, nil, false
		}
		return targets, j.Destinations, true
	}
	if a.destination(w, dest) == nil {
		return nil, nil, false
	}
	if !slices.Contains(j.Destinations, dest) {
		writeError(w, http.StatusNotFound, CodeNotFound, fmt.Sprintf("job %q does not send to destination %q", j.Name, dest))
		return nil, nil, false
	}
	if !a.takesSnapshots(dest) {
		writeError(w, http.StatusConflict, CodeConflict, fmt.Sprintf(
			"destination %q does not take %s events (its events: list leaves them out)", dest, TypeItemSnapshot))
		return nil, nil, false
	}
	if others := slices.DeleteFunc(slices.Clone(targets), func(d string) bool { return d == dest }); len(others) > 0 {
		writeError(w, http.StatusConflict, CodeConflict, fmt.Sprintf(
			"%s events of job %q go to every destination of the job that takes them: %s would receive them too; "+
				"resync the whole job, or leave %s out of the events: list of the others", TypeItemSnapshot, j.Name, quoteList(others), TypeItemSnapshot))
		return nil, nil, false
	}
	return []string{dest}, []string{dest}, true
}

// takesSnapshots reports whether the destination called name is sent
// item.snapshot events.
func (a *api) takesSnapshots(name string) bool {
	d, ok := a.dests[name]
	return !ok || len(d.Events) == 0 || slices.Contains(d.Events, TypeItemSnapshot)
}

// snapshotEvents turns the stored state into item.snapshot events, timed
// now, with the data of the job's other item events.
func (a *api) snapshotEvents(job string, s *storedState) ([]store.Event, error) {
	now := a.now().UTC()
	if s.isDocument() {
		data, err := json.Marshal(scheduler.EventData{Job: job, After: s.document})
		if err != nil {
			return nil, fmt.Errorf("job %q: encode %s event: %w", job, TypeItemSnapshot, err)
		}
		return []store.Event{{Type: TypeItemSnapshot, Job: job, Time: now, Data: data}}, nil
	}
	events := make([]store.Event, 0, len(s.items))
	for _, it := range s.items {
		data, err := json.Marshal(scheduler.EventData{Job: job, Key: &it.Key, After: it.Value})
		if err != nil {
			return nil, fmt.Errorf("job %q: encode %s event of item %q: %w", job, TypeItemSnapshot, it.Key, err)
		}
		events = append(events, store.Event{Type: TypeItemSnapshot, Job: job, Key: it.Key, Time: now, Data: data})
	}
	return events, nil
}

// quoteList writes names as "a", "b" and "c".
func quoteList(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = fmt.Sprintf("%q", n)
	}
	if len(q) < 2 {
		return strings.Join(q, "")
	}
	return strings.Join(q[:len(q)-1], ", ") + " and " + q[len(q)-1]
}
