package pusher

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/pollhook/pollhook/store"
)

// timestampLayout is RFC 3339 in UTC with exactly three fractional digits,
// the shape the Standard Webhooks payload examples use.
const timestampLayout = "2006-01-02T15:04:05.000Z"

// Media types of the built-in formats; a template's is its destination's
// ContentType.
const (
	mediaJSON = "application/json"
	mediaXML  = "application/xml"
	mediaForm = "application/x-www-form-urlencoded"
)

// payload is one rendered request: everything the receiver gets apart from
// the headers that sign it.
type payload struct {
	id          string // webhook-id: the event's, or the batch's (batchID)
	body        []byte // nil: no body at all (GET)
	contentType string // "" when there is no body
	query       string // encoded form fields for the URL's query string (GET)
}

// batched reports whether d sends its events in batches: then every request
// has the batch shape ({"events":[…]}), even with a single event in it, so
// that receivers parse one shape.
func (d *destination) batched() bool { return d.Batch.MaxEvents > 1 }

// render builds the request for events, which are consecutive events of one
// lane: exactly one unless the destination batches. An error means these
// events can never be rendered (their data is not JSON, the template fails
// on them): retrying cannot help. The payload's id is set even then.
func (d *destination) render(events []store.Event) (payload, error) {
	switch {
	case len(events) == 0:
		return payload{}, errors.New("render: no events")
	case len(events) > 1 && !d.batched():
		return payload{}, fmt.Errorf("render: %d events for a destination that does not batch", len(events))
	}
	p := payload{id: events[0].ID}
	if d.batched() {
		p.id = batchID(events)
	}
	var err error
	switch {
	case d.tmpl != nil:
		p.contentType = d.tmpl.contentType
		p.body, err = d.tmpl.render(events)
	case d.Method == http.MethodGet:
		// newDestination allows GET only unbatched: one event.
		var q []byte
		q, err = appendForm(nil, events[0])
		p.query = string(q)
	case d.Format == "xml":
		p.contentType = mediaXML
		p.body, err = renderXML(events, d.batched())
	case d.Format == "form":
		p.contentType = mediaForm
		p.body, err = appendForm(nil, events[0])
	case d.batched():
		p.contentType = mediaJSON
		p.body, err = renderJSONBatch(events)
	default:
		p.contentType = mediaJSON
		p.body, err = JSONEnvelope(events[0])
	}
	if err != nil {
		// The id still names the request, for the dead letter.
		return payload{id: p.id}, err
	}
	return p, nil
}

// batchID is the webhook-id of a batch. It is derived from the batch's
// first event id and last sequence number, so a batch sent again with the
// same events keeps its id (receivers dedupe on it), while a batch that
// starts at the same event but holds more of them (formed again after a
// restart, with more events pending) gets another; each event in it still
// carries its own id.
func batchID(events []store.Event) string {
	return "batch_" + events[0].ID + "_" + strconv.FormatUint(events[len(events)-1].Seq, 10)
}

// JSONEnvelope is the body of ev's webhook in format json: the Standard
// Webhooks payload envelope {"type":…,"timestamp":…,"data":…} with its
// keys in that order. The data is compacted but otherwise passed through
// as stored (no HTML escaping). Event streams send the same bytes.
func JSONEnvelope(ev store.Event) ([]byte, error) {
	var b bytes.Buffer
	b.Grow(len(ev.Data) + len(ev.Type) + 64)
	if err := appendEnvelope(&b, ev, false); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// renderJSONBatch builds {"events":[…]}: one envelope per event, each with
// its event id first, since the batch's webhook-id does not name them.
func renderJSONBatch(events []store.Event) ([]byte, error) {
	var b bytes.Buffer
	size := 16
	for _, ev := range events {
		size += len(ev.Data) + len(ev.Type) + len(ev.ID) + 80
	}
	b.Grow(size)
	b.WriteString(`{"events":[`)
	for i, ev := range events {
		if i > 0 {
			b.WriteByte(',')
		}
		if err := appendEnvelope(&b, ev, true); err != nil {
			return nil, fmt.Errorf("event %s: %w", ev.ID, err)
		}
	}
	b.WriteString("]}")
	return b.Bytes(), nil
}

// appendEnvelope writes the JSON envelope of ev, with an "id" member first
// when withID is set.
func appendEnvelope(b *bytes.Buffer, ev store.Event, withID bool) error {
	if withID {
		id, err := json.Marshal(ev.ID)
		if err != nil {
			return fmt.Errorf("render event id: %w", err)
		}
		b.WriteString(`{"id":`)
		b.Write(id)
		b.WriteString(`,"type":`)
	} else {
		b.WriteString(`{"type":`)
	}
	typ, err := json.Marshal(ev.Type)
	if err != nil {
		return fmt.Errorf("render event type: %w", err)
	}
	b.Write(typ)
	b.WriteString(`,"timestamp":"`)
	b.WriteString(ev.Time.UTC().Format(timestampLayout))
	b.WriteString(`","data":`)
	if len(bytes.TrimSpace(ev.Data)) == 0 {
		b.WriteString("null")
	} else if err := json.Compact(b, ev.Data); err != nil {
		return fmt.Errorf("render event data: %w", err)
	}
	b.WriteByte('}')
	return nil
}
