package config

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

// delivery is the part of a Destination that the delivery options set.
type delivery struct {
	Method, Format, Template, ContentType string
	Concurrency                           int
	RateLimit                             float64
	SuccessCodes                          []int
	Events                                []string
	Batch                                 Batch
}

func deliveryOf(d *Destination) delivery {
	return delivery{
		Method: d.Method, Format: d.Format, Template: d.Template, ContentType: d.ContentType,
		Concurrency: d.Concurrency, RateLimit: d.RateLimit, SuccessCodes: d.SuccessCodes,
		Events: d.Events, Batch: d.Batch,
	}
}

// TestDeliveryOptions parses one destination per case and checks every
// delivery field, defaults included, so that each option is seen to land
// in its field and to leave the others at their defaults.
func TestDeliveryOptions(t *testing.T) {
	noBatch := Batch{MaxEvents: 1, MaxWait: Duration(time.Second)}
	// with returns the defaults with change applied.
	with := func(change func(*delivery)) delivery {
		d := delivery{Method: "POST", Format: "json", Concurrency: 4, Batch: noBatch}
		change(&d)
		return d
	}
	tests := []struct {
		name string
		hook string // the destination's fields besides url, as a YAML flow mapping body
		want delivery
	}{
		{"defaults", ``, with(func(*delivery) {})},
		{"method is upper-cased", `method: put`, with(func(d *delivery) { d.Method = "PUT" })},
		{"patch", `method: PATCH`, with(func(d *delivery) { d.Method = "PATCH" })},
		{"get defaults to form", `method: get`, with(func(d *delivery) { d.Method, d.Format = "GET", "form" })},
		{"get with form written out", `method: GET, format: form`, with(func(d *delivery) { d.Method, d.Format = "GET", "form" })},
		{"xml", `format: xml`, with(func(d *delivery) { d.Format = "xml" })},
		{"form", `format: form`, with(func(d *delivery) { d.Format = "form" })},
		{"template has no format and a JSON content type", `template: "{{json .}}"`, with(func(d *delivery) {
			d.Format, d.Template, d.ContentType = "", "{{json .}}", "application/json"
		})},
		{"template with its content type", `template: "{{.Type}}", content_type: "text/plain; charset=utf-8", method: patch`, with(func(d *delivery) {
			d.Method, d.Format, d.Template, d.ContentType = "PATCH", "", "{{.Type}}", "text/plain; charset=utf-8"
		})},
		{"template with the pusher's helpers", `template: '{{.Key | truncate 10 | replace "<" "&lt;" | json}}'`, with(func(d *delivery) {
			d.Format, d.Template, d.ContentType = "", `{{.Key | truncate 10 | replace "<" "&lt;" | json}}`, "application/json"
		})},
		{"concurrency", `concurrency: 16`, with(func(d *delivery) { d.Concurrency = 16 })},
		{"concurrency 1", `concurrency: 1`, with(func(d *delivery) { d.Concurrency = 1 })},
		{"fractional rate limit", `rate_limit: 0.25`, with(func(d *delivery) { d.RateLimit = 0.25 })},
		{"whole rate limit", `rate_limit: 100`, with(func(d *delivery) { d.RateLimit = 100 })},
		{"success codes at the range ends", `success_codes: [100, 409, 599]`, with(func(d *delivery) { d.SuccessCodes = []int{100, 409, 599} })},
		{"every event type", `events: [item.created, item.updated, item.deleted, document.changed, item.snapshot, source.down, source.recovered]`, with(func(d *delivery) {
			d.Events = []string{"item.created", "item.updated", "item.deleted", "document.changed", "item.snapshot", "source.down", "source.recovered"}
		})},
		{"batch size alone waits 1s", `batch: {max_events: 100}`, with(func(d *delivery) { d.Batch.MaxEvents = 100 })},
		{"batch wait alone sends one event", `batch: {max_wait: 5s}`, with(func(d *delivery) { d.Batch.MaxWait = Duration(5 * time.Second) })},
		{"largest batch with xml", `format: xml, method: put, batch: {max_events: 1000, max_wait: 250ms}`, with(func(d *delivery) {
			d.Method, d.Format, d.Batch = "PUT", "xml", Batch{MaxEvents: 1000, MaxWait: Duration(250 * time.Millisecond)}
		})},
		{"batch with a template", `template: "{{json .}}", batch: {max_events: 10}`, with(func(d *delivery) {
			d.Format, d.Template, d.ContentType, d.Batch.MaxEvents = "", "{{json .}}", "application/json", 10
		})},
		{"one-event batch with form", `format: form, batch: {max_events: 1}`, with(func(d *delivery) { d.Format = "form" })},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := "destinations:\n  hook: {url: \"https://h/1\", " + tt.hook + "}\n" +
				"jobs:\n  - {name: j, schedule: \"@hourly\", request: {url: \"http://l/1\"}, destinations: [hook]}\n"
			c, err := Parse("c.yaml", []byte(doc), nil)
			if err != nil {
				t.Fatal(err)
			}
			if got := deliveryOf(c.Destinations["hook"]); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

// TestTemplateFileTooLarge names what the file should hold.
func TestTemplateFileTooLarge(t *testing.T) {
	big := filepath.Join(t.TempDir(), "big.tmpl")
	if err := os.WriteFile(big, make([]byte, maxSecretFile+1), 0o600); err != nil {
		t.Fatal(err)
	}
	doc := "destinations:\n  hook: {url: \"https://h/1\", template_file: " + big + "}\n" +
		"jobs:\n  - {name: j, schedule: \"@hourly\", request: {url: \"http://l/1\"}, destinations: [hook]}\n"
	_, err := Parse("c.yaml", []byte(doc), nil)
	want := `c.yaml:2:30: destinations.hook.template_file: cannot read "` + big + `": larger than 64 KiB; expected a file holding only the template`
	if err == nil || err.Error() != want {
		t.Errorf("got\n%v\nwant\n%s", err, want)
	}
}
