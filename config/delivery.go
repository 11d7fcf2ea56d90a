package config

import (
	"math"
	"mime"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"text/template"

	"github.com/pollhook/pollhook/differ"
)

// destinationEventTypes are the event types a destination may subscribe to
// with events:, in the order the error message lists them. The last three
// come from the scheduler (a snapshot on demand, a source failing and
// coming back) rather than from a diff.
var destinationEventTypes = []string{
	differ.TypeItemCreated, differ.TypeItemUpdated, differ.TypeItemDeleted, differ.TypeDocumentChanged,
	"item.snapshot", "source.down", "source.recovered",
}

// destinationMethods and destinationFormats are the values of a
// destination's method (in any case) and format.
var (
	destinationMethods = []string{"GET", "POST", "PUT", "PATCH"}
	destinationFormats = []string{"json", "xml", "form"}
)

// signatureSchemes are the values of a destination's signature.
var signatureSchemes = []string{"standard", "github", "none"}

// maxBatchEvents bounds batch.max_events: a receiver behind a typical
// proxy rejects bodies of a few MB, and a failed batch is retried whole.
const maxBatchEvents = 1000

// templateHelpers are the helpers the pusher gives a body template (json,
// truncate, replace: see pusher/template.go), so that a helper parses and a
// misspelt one does not. Config only parses; these stubs are never called,
// only their names and shapes matter.
var templateHelpers = template.FuncMap{
	"json":     func(any) (string, error) { return "", nil },
	"truncate": func(int, string) string { return "" },
	"replace":  func(...string) (string, error) { return "", nil },
}

// templateName names the template in text/template's parse errors,
// "template: body:LINE: message", which templateError takes apart.
const templateName = "body"

var templateError = regexp.MustCompile(`(?s)^template: ` + templateName + `:(\d+): (.*)$`)

// parseTemplate parses a destination's body template as the pusher will.
func parseTemplate(text string) error {
	_, err := template.New(templateName).Funcs(templateHelpers).Parse(text)
	return err
}

// delivery checks how a destination's requests are built and paced: method,
// format, template, content type, concurrency, rate limit, success codes,
// event filter and batching, and the combinations that cannot work.
func (v validator) delivery(p string, d *Destination) {
	if !slices.Contains(destinationMethods, d.Method) {
		v.errorf(p+".method", "%q is not supported; expected GET, POST, PUT or PATCH", d.Method)
	}
	switch {
	case d.Format != "" && !slices.Contains(destinationFormats, d.Format):
		v.errorf(p+".format", "%q is not supported; expected json, xml or form", d.Format)
	case d.Method == "GET" && d.Format != "form" && d.Template == "":
		v.errorf(p+".format", "%q cannot be sent with GET, which sends the event's form fields as a query string; remove format or write format: form", d.Format)
	}
	v.template(p, d)
	if d.ContentType != "" {
		if d.Template == "" {
			v.errorf(p+".content_type", "applies only to a template's body (each format sets its own); add a template or remove content_type")
		} else if mt, _, err := mime.ParseMediaType(d.ContentType); err != nil || !strings.Contains(mt, "/") || strings.ContainsAny(d.ContentType, "\r\n") {
			v.errorf(p+".content_type", "%q is not a media type; expected e.g. application/json or text/plain; charset=utf-8", d.ContentType)
		}
	}
	if d.Concurrency < 1 {
		v.errorf(p+".concurrency", "%d is less than 1; expected the number of lanes that may deliver at once, e.g. 4", d.Concurrency)
	}
	// Unset means no limit; a limit written as 0 would mean "never send".
	if v.t.given(p+".rate_limit") && !(d.RateLimit > 0 && !math.IsInf(d.RateLimit, 1)) {
		v.errorf(p+".rate_limit", "%v is not a positive finite number; expected events per second such as 10 or 0.5, or leave rate_limit out for no limit", d.RateLimit)
	}
	v.successCodes(p+".success_codes", d.SuccessCodes)
	v.destinationEvents(p+".events", d.Events)
	v.batch(p+".batch", d)
}

// template parses the body template, if any, and reports a parse error at
// the template or template_file key with the template's own line. It also
// rejects what a template cannot go with.
func (v validator) template(p string, d *Destination) {
	if d.Template == "" {
		return
	}
	field, where := p+".template", "template"
	if d.TemplateFile != "" {
		field, where = p+".template_file", strconv.Quote(d.TemplateFile)
	}
	switch {
	case v.t.given(p + ".format"):
		v.errorf(field, "a template and a format are both set; the template renders the whole body, so keep one")
	case d.Method == "GET":
		v.errorf(field, "a GET request has no body for a template to render; remove the template or use POST, PUT or PATCH")
	}
	if err := parseTemplate(d.Template); err != nil {
		msg := err.Error()
		if m := templateError.FindStringSubmatch(msg); m != nil {
			msg = where + " line " + m[1] + ": " + m[2]
		}
		v.errorf(field, "%s; expected a Go text/template, e.g. {\"text\": {{json .Type}}}", msg)
	}
}

// successCodes checks the extra status codes that count as delivered.
func (v validator) successCodes(p string, codes []int) {
	seen := map[int]bool{}
	for i, c := range codes {
		cp := indexPath(p, i)
		switch {
		case c < 100 || c > 599:
			v.errorf(cp, "%d is not an HTTP status code; expected 100 to 599, e.g. 409", c)
		case c >= 200 && c <= 299:
			v.errorf(cp, "%d is a 2xx code, which always counts as success; list only other codes, e.g. 409", c)
		case seen[c]:
			v.errorf(cp, "%d is listed twice", c)
		}
		seen[c] = true
	}
}

// destinationEvents checks a destination's event filter. Unlike a job's
// events (created, changed), it names full event types, since it also takes
// the types that do not come from a diff; a short name gets a hint.
func (v validator) destinationEvents(p string, events []string) {
	if v.t.given(p) && len(events) == 0 {
		v.errorf(p, "empty; list the event types to send, or leave events out to send all")
	}
	seen := map[string]bool{}
	for i, e := range events {
		ep := indexPath(p, i)
		switch {
		case seen[e]:
			v.errorf(ep, "%q is listed twice", e)
		case !slices.Contains(destinationEventTypes, e):
			hint := ""
			for _, full := range []string{"item." + e, "document." + e} {
				if slices.Contains(destinationEventTypes, full) {
					hint = " (a destination takes full event types: " + full + ")"
				}
			}
			v.errorf(ep, "%q is not an event type%s; expected one of: %s", e, hint, strings.Join(destinationEventTypes, ", "))
		}
		seen[e] = true
	}
}

// batch checks batching and that the body can hold several events: a
// query string and a form body carry one event's fields.
func (v validator) batch(p string, d *Destination) {
	b := d.Batch
	switch {
	case b.MaxEvents < 1 || b.MaxEvents > maxBatchEvents:
		v.errorf(p+".max_events", "%d is outside 1..%d; expected e.g. 100, or 1 to send one event per request", b.MaxEvents, maxBatchEvents)
	case b.MaxEvents == 1:
	case d.Method == "GET":
		v.errorf(p+".max_events", "GET sends one event per request as a query string; remove batch or use POST, PUT or PATCH")
	case d.Format == "form":
		v.errorf(p+".max_events", "format form sends one event per request; remove batch or use format json or xml")
	}
	v.positive(p+".max_wait", b.MaxWait, "1s")
}
