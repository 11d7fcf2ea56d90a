package pusher

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"

	"github.com/pollhook/pollhook/store"
)

// formData is what the form format takes from an event's data object.
// Pointers and raw values tell an absent member from an empty one.
//
// patch, merge_patch and diff are left out on purpose: form receivers are
// simple scripts that read flat fields, before and after already say
// everything, and with method GET every field lengthens a URL that many
// servers cap at 8 KiB. A receiver that wants the patch can take json or
// xml, or a template can add it.
type formData struct {
	Job    *string         `json:"job"`
	Key    *string         `json:"key"`
	Before json.RawMessage `json:"before"`
	After  json.RawMessage `json:"after"`
}

// appendForm appends ev as application/x-www-form-urlencoded fields, in
// this order: type, timestamp, job, key, before, after. before and after
// are compact JSON text; members absent from the data are left out (a
// document-mode event has no key). The same text is a GET's query string.
func appendForm(dst []byte, ev store.Event) ([]byte, error) {
	var d formData
	if len(bytes.TrimSpace(ev.Data)) > 0 {
		if err := json.Unmarshal(ev.Data, &d); err != nil {
			return nil, fmt.Errorf("render event data: %w", err)
		}
	}
	dst = appendField(dst, "type", ev.Type)
	dst = appendField(dst, "timestamp", ev.Time.UTC().Format(timestampLayout))
	if d.Job != nil {
		dst = appendField(dst, "job", *d.Job)
	}
	if d.Key != nil {
		dst = appendField(dst, "key", *d.Key)
	}
	for _, f := range []struct {
		name string
		raw  json.RawMessage
	}{{"before", d.Before}, {"after", d.After}} {
		if f.raw == nil {
			continue
		}
		var b bytes.Buffer
		// Valid already (Unmarshal checked it); compacting drops layout.
		if err := json.Compact(&b, f.raw); err != nil {
			return nil, fmt.Errorf("render event data: %w", err)
		}
		dst = appendField(dst, f.name, b.String())
	}
	return dst, nil
}

func appendField(dst []byte, name, value string) []byte {
	if len(dst) > 0 {
		dst = append(dst, '&')
	}
	dst = append(dst, name...)
	dst = append(dst, '=')
	return append(dst, url.QueryEscape(value)...)
}
