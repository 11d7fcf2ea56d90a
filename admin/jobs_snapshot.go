package admin

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/pollhook/pollhook/differ"
	"github.com/pollhook/pollhook/store"
)

// Snapshot is the answer of GET /api/v1/jobs/{name}/snapshot: what the
// job's last applied response holds, in the differ's canonical form
// (ignored fields dropped, keys sorted). It is streamed, items as they are
// read, so a large snapshot is never encoded whole in memory.
type Snapshot struct {
	Job     string `json:"job"`
	Version uint64 `json:"version"`
	Mode    string `json:"mode"` // items or document
	// Count is the number of items (1 in document mode). Items is there
	// in items mode, in the order of the response, Document in document
	// mode.
	Count    int             `json:"count"`
	Items    []SnapshotItem  `json:"items,omitempty"`
	Document json.RawMessage `json:"document,omitempty"`
}

// SnapshotItem is one item of a snapshot, under its key as events name it.
type SnapshotItem struct {
	Key   string          `json:"key"`
	Value json.RawMessage `json:"value"`
}

// errNoSnapshot: the job has not recorded a snapshot yet.
var errNoSnapshot = errors.New("no snapshot")

// maxStaleReads bounds how often a read of a job's snapshot, or a resync,
// starts again because a poll committed in between.
const maxStaleReads = 5

// storedState is a job's snapshot as stored at its head.
type storedState struct {
	head     store.Head
	document json.RawMessage // document mode
	items    []differ.Item   // items mode
}

func (s *storedState) isDocument() bool { return s.document != nil }

// loadState reads the job's snapshot at its head, again when a commit
// moved the head between the two reads; errNoSnapshot when there is none.
func (a *api) loadState(job string) (*storedState, error) {
	for attempt := 1; ; attempt++ {
		head, err := a.st.Head(job)
		if err != nil {
			return nil, err
		}
		if head.Version == 0 {
			return nil, errNoSnapshot
		}
		base, deltas, err := a.st.LoadSnapshot(job, head.Version)
		if errors.Is(err, store.ErrStale) && attempt < maxStaleReads {
			continue
		}
		if err != nil {
			return nil, err
		}
		// A job whose source failed from its first poll on may have
		// committed a source.down event, and so a version, without a
		// snapshot.
		st, err := differ.Load(base, deltas)
		if err != nil {
			return nil, fmt.Errorf("job %q: read snapshot at version %d: %w", job, head.Version, err)
		}
		if st == nil {
			return nil, errNoSnapshot
		}
		out := &storedState{head: head}
		if doc, err := st.Document(); err == nil {
			out.document = doc
			return out, nil
		}
		if out.items, err = st.Items(); err != nil {
			return nil, fmt.Errorf("job %q: read snapshot at version %d: %w", job, head.Version, err)
		}
		return out, nil
	}
}

// heavy waits for the one slot of the requests that load a whole snapshot
// into memory (snapshot, resync), so that several at once do not multiply
// pollhook's memory. It answers 503 and reports false when the client goes
// away first.
func (a *api) heavy(w http.ResponseWriter, r *http.Request) (release func(), ok bool) {
	select {
	case a.heavySlot <- struct{}{}:
		return func() { <-a.heavySlot }, true
	case <-r.Context().Done():
		writeError(w, http.StatusServiceUnavailable, CodeUnavailable, "request cancelled while waiting for another snapshot read to end")
		return nil, false
	}
}

// readState is loadState answering its errors: 409 for a job without a
// snapshot, 500 for a store failure; nil then.
func (a *api) readState(w http.ResponseWriter, r *http.Request, job string) *storedState {
	s, err := a.loadState(job)
	switch {
	case errors.Is(err, errNoSnapshot):
		writeError(w, http.StatusConflict, CodeConflict,
			fmt.Sprintf("job %q has no snapshot yet: its first successful poll records one", job))
		return nil
	case err != nil:
		a.storeFailed(w, r, err)
		return nil
	}
	return s
}

func (a *api) getSnapshot(w http.ResponseWriter, r *http.Request) {
	j := a.job(w, r.PathValue("name"))
	if j == nil {
		return
	}
	release, ok := a.heavy(w, r)
	if !ok {
		return
	}
	defer release()
	s := a.readState(w, r, j.Name)
	if s == nil {
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	if err := writeSnapshot(r.Context(), w, j.Name, s); err != nil {
		// The status is sent: the client sees a cut answer, which does
		// not parse.
		a.srv.logger.Warn("snapshot answer cut short", "job", j.Name, "err", err)
	}
}

// writeSnapshot streams s as a Snapshot, the stored canonical values as
// they are, and a newline.
func writeSnapshot(ctx context.Context, w http.ResponseWriter, job string, s *storedState) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	name, err := json.Marshal(job)
	if err != nil {
		return err
	}
	bw.WriteString(`{"job":`)
	bw.Write(name)
	bw.WriteString(`,"version":`)
	bw.WriteString(strconv.FormatUint(s.head.Version, 10))
	if s.isDocument() {
		bw.WriteString(`,"mode":"document","count":1,"document":`)
		bw.Write(s.document)
		bw.WriteString("}\n")
		return bw.Flush()
	}
	bw.WriteString(`,"mode":"items","count":`)
	bw.WriteString(strconv.Itoa(len(s.items)))
	bw.WriteString(`,"items":[`)
	for i, it := range s.items {
		if i > 0 {
			bw.WriteByte(',')
			if i%1024 == 0 && ctx.Err() != nil {
				return ctx.Err() // the client is gone
			}
		}
		key, err := json.Marshal(it.Key)
		if err != nil {
			return err
		}
		bw.WriteString(`{"key":`)
		bw.Write(key)
		bw.WriteString(`,"value":`)
		bw.Write(it.Value)
		bw.WriteByte('}')
	}
	bw.WriteString("]}\n")
	return bw.Flush()
}
