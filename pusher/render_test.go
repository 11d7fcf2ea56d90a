package pusher

import (
	"encoding/json"
	"encoding/xml"
	"testing"
	"time"

	"github.com/pollhook/pollhook/store"
)

func TestRenderJSON(t *testing.T) {
	at := time.Date(2026, 11, 27, 21, 0, 0, 123456789, time.FixedZone("CET", 3600))
	tests := []struct {
		name string
		ev   store.Event
		want string
	}{
		{
			name: "item.updated, data compacted, time in UTC with milliseconds",
			ev: store.Event{Type: "item.updated", Time: at, Data: json.RawMessage(`{
				"job": "orders", "key": "1042",
				"before": {"id": 1042, "status": "open"},
				"after":  {"id": 1042, "status": "shipped"},
				"patch":  [{"op": "replace", "path": "/status", "value": "shipped"}]
			}`)},
			want: `{"type":"item.updated","timestamp":"2026-11-27T20:00:00.123Z","data":{"job":"orders","key":"1042","before":{"id":1042,"status":"open"},"after":{"id":1042,"status":"shipped"},"patch":[{"op":"replace","path":"/status","value":"shipped"}]}}`,
		},
		{
			name: "whole second still has three digits",
			ev:   store.Event{Type: "document.changed", Time: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Data: json.RawMessage(`{}`)},
			want: `{"type":"document.changed","timestamp":"2026-01-02T03:04:05.000Z","data":{}}`,
		},
		{
			name: "no HTML escaping of data",
			ev:   store.Event{Type: "item.created", Time: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Data: json.RawMessage(`{"note":"a<b & c>d"}`)},
			want: `{"type":"item.created","timestamp":"2026-01-02T03:04:05.000Z","data":{"note":"a<b & c>d"}}`,
		},
		{
			name: "empty data is null",
			ev:   store.Event{Type: "item.deleted", Time: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)},
			want: `{"type":"item.deleted","timestamp":"2026-01-02T03:04:05.000Z","data":null}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := JSONEnvelope(tt.ev)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("renderJSON =\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}

func TestRenderJSONInvalidData(t *testing.T) {
	_, err := JSONEnvelope(store.Event{Type: "item.created", Data: json.RawMessage(`{"a":`)})
	want := "render event data: unexpected end of JSON input"
	if err == nil || err.Error() != want {
		t.Errorf("renderJSON error = %v, want %q", err, want)
	}
}

// testDestination builds a validated destination as New would.
func testDestination(t *testing.T, d Destination) *destination {
	t.Helper()
	if d.Name == "" {
		d.Name = "hook"
	}
	if d.URL == "" {
		d.URL = "http://127.0.0.1:1/hook"
	}
	nd, err := newDestination(d, testOptions().withDefaults())
	if err != nil {
		t.Fatalf("newDestination: %v", err)
	}
	return nd
}

// TestRender pins the request each shape of destination renders, for one
// event and for a batch.
func TestRender(t *testing.T) {
	upd, crt := tmplEvents["updated"], tmplEvents["created"]
	const (
		updJSON = `{"type":"item.updated","timestamp":"2026-11-27T20:00:00.000Z","data":{"job":"orders","key":"1042","before":{"id":1042,"status":"open"},"after":{"id":1042,"status":"shipped"},"patch":[{"op":"replace","path":"/status","value":"shipped"}],"merge_patch":{"status":"shipped"}}}`
		crtJSON = `{"type":"item.created","timestamp":"2026-11-27T20:00:00.000Z","data":{"job":"orders","key":"1043","after":{"id":1043,"status":"open","total":19.90}}}`
		updXML  = `<type>item.updated</type><timestamp>2026-11-27T20:00:00.000Z</timestamp><data type="object"><job>orders</job><key>1042</key>` +
			`<before type="object"><id type="number">1042</id><status>open</status></before><after type="object"><id type="number">1042</id><status>shipped</status></after>` +
			`<patch type="array"><item type="object"><op>replace</op><path>/status</path><value>shipped</value></item></patch><merge_patch type="object"><status>shipped</status></merge_patch></data></event>`
		crtXML = `<type>item.created</type><timestamp>2026-11-27T20:00:00.000Z</timestamp><data type="object"><job>orders</job><key>1043</key>` +
			`<after type="object"><id type="number">1043</id><status>open</status><total type="number">19.90</total></after></data></event>`
		updForm = "type=item.updated&timestamp=2026-11-27T20%3A00%3A00.000Z&job=orders&key=1042" +
			"&before=%7B%22id%22%3A1042%2C%22status%22%3A%22open%22%7D&after=%7B%22id%22%3A1042%2C%22status%22%3A%22shipped%22%7D"
	)
	batch := BatchPolicy{MaxEvents: 10, MaxWait: time.Second}
	tmpl := `{"ids": [{{range $i, $e := .Events}}{{if $i}}, {{end}}{{json $e.ID}}{{end}}], "first": {{json .Key}}}`
	tests := []struct {
		name   string
		dest   Destination
		events []store.Event
		want   payload
	}{
		{"json", Destination{}, []store.Event{upd},
			payload{id: "evt_u", body: []byte(updJSON), contentType: "application/json"}},
		{"json batch", Destination{Batch: batch}, []store.Event{upd, crt},
			payload{id: "batch_evt_u_8", contentType: "application/json",
				body: []byte(`{"events":[{"id":"evt_u",` + updJSON[1:] + `,{"id":"evt_c",` + crtJSON[1:] + `]}`)}},
		{"json batch of one keeps the batch shape", Destination{Batch: batch}, []store.Event{upd},
			payload{id: "batch_evt_u_7", contentType: "application/json", body: []byte(`{"events":[{"id":"evt_u",` + updJSON[1:] + `]}`)}},
		{"max_events 1 does not batch", Destination{Batch: BatchPolicy{MaxEvents: 1}}, []store.Event{upd},
			payload{id: "evt_u", body: []byte(updJSON), contentType: "application/json"}},
		{"xml", Destination{Format: "xml", Method: "PUT"}, []store.Event{upd},
			payload{id: "evt_u", contentType: "application/xml", body: []byte(xml.Header + `<event>` + updXML)}},
		{"xml batch", Destination{Format: "xml", Batch: batch}, []store.Event{upd, crt},
			payload{id: "batch_evt_u_8", contentType: "application/xml",
				body: []byte(xml.Header + `<events><event><id>evt_u</id>` + updXML + `<event><id>evt_c</id>` + crtXML + `</events>`)}},
		{"form", Destination{Format: "form", Method: "patch"}, []store.Event{upd},
			payload{id: "evt_u", contentType: "application/x-www-form-urlencoded", body: []byte(updForm)}},
		{"GET: the form fields are the query, no body", Destination{Method: "GET"}, []store.Event{upd},
			payload{id: "evt_u", query: updForm}},
		{"template", Destination{Template: tmpl, ContentType: "application/vnd.acme+json"}, []store.Event{upd},
			payload{id: "evt_u", contentType: "application/vnd.acme+json", body: []byte(`{"ids":["evt_u"],"first":"1042"}`)}},
		{"template batch", Destination{Template: tmpl, Batch: batch}, []store.Event{upd, crt},
			payload{id: "batch_evt_u_8", contentType: "application/json", body: []byte(`{"ids":["evt_u","evt_c"],"first":"1042"}`)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := testDestination(t, tt.dest).render(tt.events)
			if err != nil {
				t.Fatal(err)
			}
			if got.id != tt.want.id || got.contentType != tt.want.contentType || got.query != tt.want.query ||
				string(got.body) != string(tt.want.body) || (got.body == nil) != (tt.want.body == nil) {
				t.Errorf("render =\n%+v\n%s\nwant\n%+v\n%s", got, got.body, tt.want, tt.want.body)
			}
		})
	}
}

func TestRenderErrors(t *testing.T) {
	bad := store.Event{ID: "evt_bad", Seq: 9, Type: "item.created", Data: json.RawMessage(`{"job":`)}
	upd := tmplEvents["updated"]
	batch := BatchPolicy{MaxEvents: 10}
	tests := []struct {
		name   string
		dest   Destination
		events []store.Event
		want   string
	}{
		{"no events", Destination{}, nil, "render: no events"},
		{"several events, no batching", Destination{}, []store.Event{upd, upd}, "render: 2 events for a destination that does not batch"},
		{"json", Destination{}, []store.Event{bad}, "render event data: unexpected end of JSON input"},
		{"json batch names the event", Destination{Batch: batch}, []store.Event{upd, bad}, "event evt_bad: render event data: unexpected end of JSON input"},
		{"xml", Destination{Format: "xml"}, []store.Event{bad}, "render event data: unexpected EOF"},
		{"form", Destination{Format: "form"}, []store.Event{bad}, "render event data: unexpected end of JSON input"},
		{"GET", Destination{Method: "GET"}, []store.Event{bad}, "render event data: unexpected end of JSON input"},
		{"template", Destination{Template: `{{.After.x}}`, ContentType: "text/plain"}, []store.Event{tmplEvents["deleted"]},
			`render: template line 1:8: executing "body" at <.After.x>: nil pointer evaluating interface {}.x`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := testDestination(t, tt.dest).render(tt.events)
			if err == nil || err.Error() != tt.want {
				t.Errorf("render error = %v, want %q", err, tt.want)
			}
		})
	}
}
