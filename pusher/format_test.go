package pusher

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pollhook/pollhook/store"
)

func TestNewShapeValidation(t *testing.T) {
	st := openStore(t, "")
	batch := BatchPolicy{MaxEvents: 2, MaxWait: time.Second}
	tests := []struct {
		name string
		dest Destination
		want string
	}{
		{"unknown method", Destination{Method: "delete"},
			`method "DELETE" is not GET, POST, PUT or PATCH`},
		{"unknown format", Destination{Format: "yaml"},
			`format "yaml" is not json, xml or form`},
		{"format is case-sensitive", Destination{Format: "XML"},
			`format "XML" is not json, xml or form`},
		{"GET with json", Destination{Method: "GET", Format: "json"},
			`method GET sends the form fields in the query string: format json needs POST, PUT or PATCH`},
		{"GET with xml", Destination{Method: "get", Format: "xml"},
			`method GET sends the form fields in the query string: format xml needs POST, PUT or PATCH`},
		{"GET with a template", Destination{Method: "GET", Template: `{}`},
			`method GET sends no body: a template needs POST, PUT or PATCH`},
		{"GET batched", Destination{Method: "GET", Batch: batch},
			`method GET sends one event's fields in the query string: batch needs POST, PUT or PATCH`},
		{"form batched", Destination{Format: "form", Batch: batch},
			`format form holds the fields of one event: batch needs format json or xml, or a template`},
		{"content_type without template", Destination{ContentType: "text/plain"},
			`content_type without a template: the formats set their own`},
		{"template and xml", Destination{Format: "xml", Template: `{}`},
			`template and format xml both shape the body: keep one`},
		{"template and form", Destination{Format: "form", Template: `{}`},
			`template and format form both shape the body: keep one`},
		{"bad content_type", Destination{Template: `{}`, ContentType: "text/"},
			`content_type "text/" is not a media type`},
		{"content_type without a slash", Destination{Template: `{}`, ContentType: "json"},
			`content_type "json" is not a media type`},
		{"template syntax error names its line", Destination{Template: "{\n  \"text\": {{json .Key}\n}"},
			`template line 2: bad character U+007D '}'`},
		{"template with an unknown function", Destination{Template: "{\"text\": {{toJSON .Key}}}"},
			`template line 1: function "toJSON" not defined`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := tt.dest
			d.Name, d.URL = "chat", "https://hooks.example.com/services/T000/B000/s3cr3t"
			_, err := New(st, []Destination{d}, nil, discardLogger(), Options{})
			if want := `pusher: destination "chat": ` + tt.want; err == nil || err.Error() != want {
				t.Errorf("New error =\n%v\nwant\n%s", err, want)
			}
		})
	}
}

// TestNewShapeDefaults pins how method and format are normalised.
func TestNewShapeDefaults(t *testing.T) {
	tests := []struct {
		dest                 Destination
		method, format, mime string
	}{
		{Destination{}, "POST", "json", ""},
		{Destination{Method: "put", Format: "xml"}, "PUT", "xml", ""},
		{Destination{Method: "Patch", Format: "form"}, "PATCH", "form", ""},
		{Destination{Method: "get"}, "GET", "form", ""},
		{Destination{Method: "GET", Format: "form"}, "GET", "form", ""},
		{Destination{Template: "{}"}, "POST", "json", "application/json"},
		{Destination{Template: "{}", Format: "json", ContentType: "text/plain; charset=utf-8"}, "POST", "json", "text/plain; charset=utf-8"},
		{Destination{Format: "json", Batch: BatchPolicy{MaxEvents: 5}}, "POST", "json", ""},
		{Destination{Format: "xml", Batch: BatchPolicy{MaxEvents: 5}}, "POST", "xml", ""},
		{Destination{Template: "{}", Batch: BatchPolicy{MaxEvents: 5}}, "POST", "json", "application/json"},
		{Destination{Method: "GET", Batch: BatchPolicy{MaxEvents: 1}}, "GET", "form", ""}, // 1 does not batch
	}
	for _, tt := range tests {
		d := testDestination(t, tt.dest)
		mime := ""
		if d.tmpl != nil {
			mime = d.tmpl.contentType
		}
		if d.Method != tt.method || d.Format != tt.format || mime != tt.mime {
			t.Errorf("%+v: method %s, format %s, template type %q; want %s, %s, %q", tt.dest, d.Method, d.Format, mime, tt.method, tt.format, tt.mime)
		}
	}
}

func TestWithQuery(t *testing.T) {
	tests := []struct{ url, query, want string }{
		{"http://h/in", "a=1", "http://h/in?a=1"},
		{"http://h/in?token=x", "a=1", "http://h/in?token=x&a=1"},
		{"http://h/in?", "a=1", "http://h/in?a=1"},
		{"http://h/in?token=x#frag", "a=1&b=%2F", "http://h/in?token=x&a=1&b=%2F"},
		{"http://h", "a=1", "http://h?a=1"},
	}
	for _, tt := range tests {
		got, err := withQuery(tt.url, tt.query)
		if err != nil || got != tt.want {
			t.Errorf("withQuery(%q, %q) = %q, %v; want %q", tt.url, tt.query, got, err, tt.want)
		}
	}
}

// TestFormatsDelivered sends one event through a running Pusher to a real
// receiver in every format and method, and checks the exact request and
// that its signature verifies over exactly what was sent as the body.
func TestFormatsDelivered(t *testing.T) {
	at := time.Date(2026, 11, 27, 20, 0, 0, 0, time.UTC)
	const data = `{"job":"orders","key":"10 42","before":{"id":1042,"note":"a&b"},"after":{"id":1042,"note":"<b>"}}`
	const fields = "type=item.updated&timestamp=2026-11-27T20%3A00%3A00.000Z&job=orders&key=10+42" +
		"&before=%7B%22id%22%3A1042%2C%22note%22%3A%22a%26b%22%7D&after=%7B%22id%22%3A1042%2C%22note%22%3A%22%3Cb%3E%22%7D"
	tests := []struct {
		name              string
		dest              Destination
		method, path      string
		contentType, body string
	}{
		{"xml", Destination{Format: "xml"}, "POST", "/in?tenant=acme", "application/xml",
			xml.Header + `<event><type>item.updated</type><timestamp>2026-11-27T20:00:00.000Z</timestamp><data type="object"><job>orders</job><key>10 42</key>` +
				`<before type="object"><id type="number">1042</id><note>a&amp;b</note></before><after type="object"><id type="number">1042</id><note>&lt;b&gt;</note></after></data></event>`},
		{"form, PUT", Destination{Format: "form", Method: "PUT"}, "PUT", "/in?tenant=acme", "application/x-www-form-urlencoded", fields},
		{"GET: fields after the URL's own query, no body", Destination{Method: "GET"}, "GET", "/in?tenant=acme&" + fields, "", ""},
		{"template, PATCH", Destination{Method: "PATCH", Template: "{\n  \"text\": {{json (printf \"%s %s: %s\" .Type .Key .After.note)}}\n}", ContentType: "application/json; charset=utf-8"},
			"PATCH", "/in?tenant=acme", "application/json; charset=utf-8", `{"text":"item.updated 10 42: <b>"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := openStore(t, "")
			// How the request announced its body, which the server takes
			// out of the header.
			framing := make(chan string, 8)
			rc := newReceiver(t, func(_ hit, w http.ResponseWriter, r *http.Request) {
				framing <- fmt.Sprintf("length %d, transfer encoding %q", r.ContentLength, r.TransferEncoding)
			})
			d := tt.dest
			d.Name, d.URL, d.Retry, d.Secrets = "hook", rc.URL+"/in?tenant=acme", fastRetry, []string{secretA}
			opts := testOptions()
			opts.Now = func() time.Time { return at }
			p := newPusher(t, st, []Destination{d}, map[string][]string{"orders": {"hook"}}, nil, opts)
			head, err := st.Head("orders")
			if err != nil {
				t.Fatal(err)
			}
			c := &store.Commit{Snapshot: []byte("s"), Destinations: []string{"hook"}, Events: []store.Event{
				{Type: "item.updated", Job: "orders", Key: "10 42", Time: at, Data: json.RawMessage(data)},
			}}
			if _, err := st.Commit(t.Context(), "orders", head.Version, c); err != nil {
				t.Fatal(err)
			}
			r := start(t, p)
			h := rc.next(t)
			r.stop(t)

			if h.Method != tt.method || h.Path != tt.path {
				t.Errorf("request %s %s\nwant    %s %s", h.Method, h.Path, tt.method, tt.path)
			}
			if string(h.Body) != tt.body {
				t.Errorf("body =\n%s\nwant\n%s", h.Body, tt.body)
			}
			if got := h.Header.Values("Content-Type"); strings.Join(got, ",") != tt.contentType {
				t.Errorf("Content-Type = %q, want %q", got, tt.contentType)
			}
			if got := h.Header.Get("Webhook-Timestamp"); got != strconv.FormatInt(at.Unix(), 10) {
				t.Errorf("webhook-timestamp = %q", got)
			}
			if h.ID() != c.Events[0].ID {
				t.Errorf("webhook-id = %q, want %q", h.ID(), c.Events[0].ID)
			}
			if err := VerifyStandard(secretA, h.Header, h.Body, time.Minute, at); err != nil {
				t.Errorf("signature: %v", err)
			}
			if tt.method == "GET" {
				// The body signed is the empty one.
				want, _ := SignStandard(secretA, h.ID(), at.Unix(), nil)
				if got := h.Header.Get(HeaderSignature); got != want {
					t.Errorf("GET signature = %q, want %q", got, want)
				}
				if got := <-framing; got != `length 0, transfer encoding []` {
					t.Errorf("GET announces a body: %s", got)
				}
			}
		})
	}
}

// TestDeliverBatch sends a rendered batch: one request, the batch's id as
// webhook-id, signed over the batch body.
func TestDeliverBatch(t *testing.T) {
	at := time.Date(2026, 11, 27, 20, 0, 0, 0, time.UTC)
	rc := newReceiver(t, status(http.StatusNoContent))
	opts := testOptions()
	opts.Now = func() time.Time { return at }
	opts = opts.withDefaults()
	d, err := newDestination(Destination{Name: "hook", URL: rc.URL + "/batch", Secrets: []string{secretA}, Batch: BatchPolicy{MaxEvents: 3, MaxWait: time.Second}}, opts)
	if err != nil {
		t.Fatal(err)
	}
	d.newClient(http.DefaultTransport, discardLogger(), opts)
	events := []store.Event{
		{ID: "evt_a", Seq: 41, Type: "item.created", Time: at, Data: json.RawMessage(`{"job":"j","key":"1","after":{"n":1}}`)},
		{ID: "evt_b", Seq: 42, Type: "item.deleted", Time: at, Data: json.RawMessage(`{"job":"j","key":"2","before":{"n":2}}`)},
	}
	pl, err := d.render(events)
	if err != nil {
		t.Fatal(err)
	}
	if res := d.deliver(t.Context(), pl, "pollhook/test"); res.outcome != delivered || res.status != http.StatusNoContent {
		t.Fatalf("deliver = %+v", res)
	}
	h := rc.next(t)
	const want = `{"events":[{"id":"evt_a","type":"item.created","timestamp":"2026-11-27T20:00:00.000Z","data":{"job":"j","key":"1","after":{"n":1}}},` +
		`{"id":"evt_b","type":"item.deleted","timestamp":"2026-11-27T20:00:00.000Z","data":{"job":"j","key":"2","before":{"n":2}}}]}`
	if h.Method != "POST" || h.Path != "/batch" || string(h.Body) != want || h.ID() != "batch_evt_a_42" || h.Header.Get("Content-Type") != "application/json" {
		t.Errorf("request %s %s id %s type %s\n%s\nwant POST /batch id batch_evt_a_42 type application/json\n%s",
			h.Method, h.Path, h.ID(), h.Header.Get("Content-Type"), h.Body, want)
	}
	if err := VerifyStandard(secretA, h.Header, h.Body, time.Minute, at); err != nil {
		t.Errorf("signature: %v", err)
	}
	rc.none(t)
}

// TestTemplateErrorDeadLetters shows that an event the template cannot
// render is dead-lettered at once, with the template's reason, and the
// lane goes on with the next event.
func TestTemplateErrorDeadLetters(t *testing.T) {
	st := openStore(t, "")
	rc := newReceiver(t, status(http.StatusOK))
	// Written for updates only: .After.status fails on a deletion.
	d := Destination{Name: "chat", URL: rc.URL, Retry: fastRetry, Template: `{"text": {{json .After.status}}}`}
	p := newPusher(t, st, []Destination{d}, map[string][]string{"orders": {"chat"}}, nil, testOptions())
	head, err := st.Head("orders")
	if err != nil {
		t.Fatal(err)
	}
	c := &store.Commit{Snapshot: []byte("s"), Destinations: []string{"chat"}, Events: []store.Event{
		{Type: "item.deleted", Job: "orders", Key: "1", Data: json.RawMessage(`{"job":"orders","key":"1","before":{"status":"open"}}`)},
		{Type: "item.updated", Job: "orders", Key: "2", Data: json.RawMessage(`{"job":"orders","key":"2","before":{"status":"open"},"after":{"status":"paid"}}`)},
	}}
	if _, err := st.Commit(t.Context(), "orders", head.Version, c); err != nil {
		t.Fatal(err)
	}
	r := start(t, p)
	h := rc.next(t)
	r.stop(t)
	if string(h.Body) != `{"text":"paid"}` || h.ID() != c.Events[1].ID {
		t.Errorf("delivered %s %s, want %s {\"text\":\"paid\"}", h.ID(), h.Body, c.Events[1].ID)
	}
	dls, err := st.DeadLetters("chat")
	if err != nil {
		t.Fatal(err)
	}
	const reason = `render: template line 1:22: executing "body" at <.After.status>: nil pointer evaluating interface {}.status`
	if len(dls) != 1 || dls[0].Event.ID != c.Events[0].ID || dls[0].LastError != reason || dls[0].LastStatus != 0 {
		t.Errorf("dead letters = %+v\nwant %s with reason %q", dls, c.Events[0].ID, reason)
	}
	rc.none(t)
}
