package pusher

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"strings"
	"text/template"
	"time"

	"github.com/pollhook/pollhook/store"
)

// bodyTemplate is a destination's parsed template and the media type of
// what it renders.
type bodyTemplate struct {
	tmpl        *template.Template
	contentType string
	// json is set for application/json and any +json media type: the
	// output is then checked and compacted (see render).
	json bool
}

// templateName names the template in text/template's messages, which
// templateError turns into "template line N".
const templateName = "body"

// templateFuncs are the helpers a template may call besides text/template's
// own (printf, index, len, eq, urlquery, …).
var templateFuncs = template.FuncMap{
	"json":     templateJSON,
	"truncate": truncate,
	"replace":  replace,
}

// templateEvent is what a template sees of one event. The JSON values are
// decoded (objects as map[string]any, numbers as json.Number, which prints
// and marshals as its exact text); members absent from the event's data
// are nil or "".
type templateEvent struct {
	ID        string    // the event id (the webhook-id of an unbatched request)
	Type      string    // item.created, item.updated, item.deleted, document.changed
	Time      time.Time // detection time, UTC
	Timestamp string    // Time as the JSON envelope writes it: 2026-11-27T20:00:00.000Z
	Job       string
	Key       string // "" in document mode
	Before    any    // nil for item.created
	After     any    // nil for item.deleted
	// Patch is the RFC 6902 patch and MergePatch the RFC 7386 merge patch
	// from Before to After, for updates; Diff is the unified diff that
	// replaces them for text documents.
	Patch      any
	MergePatch any
	Diff       string
	// Data is the whole data object, as the JSON envelope's "data".
	Data any
}

// templateData is the value a template is executed with: the event's
// fields, and Events, every event of the request. Unbatched, Events holds
// just that event, so one template can serve both; in a batch the event
// fields are those of its first event.
type templateData struct {
	templateEvent
	Events []templateEvent
}

// parseTemplate parses text once, when the destination is built, so that a
// syntax error stops the configuration rather than every delivery.
// contentType defaults to application/json.
func parseTemplate(text, contentType string) (*bodyTemplate, error) {
	if contentType == "" {
		contentType = mediaJSON
	}
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil || !strings.Contains(mt, "/") {
		return nil, fmt.Errorf("content_type %q is not a media type", contentType)
	}
	t, err := template.New(templateName).Funcs(templateFuncs).Parse(text)
	if err != nil {
		return nil, templateError(err)
	}
	return &bodyTemplate{
		tmpl:        t,
		contentType: contentType,
		json:        mt == mediaJSON || strings.HasSuffix(mt, "+json"),
	}, nil
}

// templateError rewrites text/template's "template: body:3: …" (parse) and
// "template: body:3:12: …" (execution) as "template line 3: …" and
// "template line 3:12: …": the user knows no template called body.
func templateError(err error) error {
	msg := err.Error()
	if rest, ok := strings.CutPrefix(msg, "template: "+templateName+":"); ok {
		return errors.New("template line " + rest)
	}
	return err
}

// render executes the template for events. With a JSON media type the
// output must be valid JSON, and is sent compacted: a template may be laid
// out for reading, and a broken one fails here, once, with the reason,
// instead of being refused by the receiver on every retry.
func (bt *bodyTemplate) render(events []store.Event) ([]byte, error) {
	data := templateData{Events: make([]templateEvent, len(events))}
	for i, ev := range events {
		te, err := templateEventOf(ev)
		if err != nil {
			if len(events) > 1 {
				return nil, fmt.Errorf("event %s: %w", ev.ID, err)
			}
			return nil, err
		}
		data.Events[i] = te
	}
	data.templateEvent = data.Events[0]
	var out bytes.Buffer
	if err := bt.tmpl.Execute(&out, data); err != nil {
		return nil, fmt.Errorf("render: %w", templateError(err))
	}
	if !bt.json {
		return out.Bytes(), nil
	}
	var compact bytes.Buffer
	compact.Grow(out.Len())
	if err := json.Compact(&compact, out.Bytes()); err != nil {
		// Compact's error has no offset; Unmarshal's says where it broke.
		var se *json.SyntaxError
		if errors.As(json.Unmarshal(out.Bytes(), new(json.RawMessage)), &se) {
			return nil, fmt.Errorf("render: template output is not valid JSON (content type %s): %v after %d bytes", bt.contentType, se, se.Offset)
		}
		return nil, fmt.Errorf("render: template output is not valid JSON (content type %s): %v", bt.contentType, err)
	}
	return compact.Bytes(), nil
}

// templateEventOf decodes ev's data for a template.
func templateEventOf(ev store.Event) (templateEvent, error) {
	te := templateEvent{
		ID:        ev.ID,
		Type:      ev.Type,
		Time:      ev.Time.UTC(),
		Timestamp: ev.Time.UTC().Format(timestampLayout),
	}
	if len(bytes.TrimSpace(ev.Data)) == 0 {
		return te, nil
	}
	dec := json.NewDecoder(bytes.NewReader(ev.Data))
	dec.UseNumber()
	if err := dec.Decode(&te.Data); err != nil {
		return templateEvent{}, fmt.Errorf("render event data: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return templateEvent{}, errDataAfterValue
	}
	if m, ok := te.Data.(map[string]any); ok {
		te.Job, _ = m["job"].(string)
		te.Key, _ = m["key"].(string)
		te.Before, te.After = m["before"], m["after"]
		te.Patch, te.MergePatch = m["patch"], m["merge_patch"]
		te.Diff, _ = m["diff"].(string)
	}
	return te, nil
}

// templateJSON is the json helper: v as compact JSON, without the HTML
// escaping encoding/json applies by default (the body is not HTML, and
// "\u003c" would reach a chat message as it is). A string becomes a
// quoted, escaped JSON string, so {{json .Key}} is safe inside a JSON body.
func templateJSON(v any) (string, error) {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return "", err
	}
	return strings.TrimSuffix(b.String(), "\n"), nil
}

// truncate is the truncate helper: s cut to at most n characters, the
// last of them "…" when something was cut. Characters are counted in
// UTF-16 code units, as JavaScript counts them, which is never fewer than
// the code points: the result fits a limit counted either way (Discord,
// Slack and Teams document their limits in characters).
func truncate(n int, s string) string {
	if n <= 0 {
		return ""
	}
	units := 0
	for i, r := range s {
		// Stop where one more character would leave no room for "…",
		// unless everything that is left fits as it is.
		if units+utf16Units(r) > n-1 {
			if units+utf16Len(s[i:]) <= n {
				return s
			}
			return s[:i] + "…"
		}
		units += utf16Units(r)
	}
	return s
}

// utf16Units is how many UTF-16 code units r takes: 2 beyond the BMP.
func utf16Units(r rune) int {
	if r > 0xFFFF {
		return 2
	}
	return 1
}

func utf16Len(s string) int {
	n := 0
	for _, r := range s {
		n += utf16Units(r)
	}
	return n
}

// replace is the replace helper: replace OLD NEW [OLD NEW …] TEXT replaces
// every OLD in TEXT with its NEW, all at once (strings.NewReplacer). TEXT
// comes last so that it can be piped in: {{.Key | replace "<" "&lt;"}}.
func replace(args ...string) (string, error) {
	if len(args) < 3 || len(args)%2 == 0 {
		return "", fmt.Errorf("replace wants pairs of old and new strings, then the text; got %d arguments", len(args))
	}
	return strings.NewReplacer(args[:len(args)-1]...).Replace(args[len(args)-1]), nil
}
