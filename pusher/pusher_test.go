package pusher

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pollhook/pollhook/store"
)

const (
	secretA = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	secretB = "whsec_c2Vjb25kLXNlY3JldC1mb3Itcm90YXRpb24="
)

func TestNewValidation(t *testing.T) {
	st := openStore(t, "")
	ok := Destination{Name: "d", URL: "http://127.0.0.1:1/hook"}
	with := func(f func(*Destination)) []Destination {
		d := ok
		f(&d)
		return []Destination{d}
	}
	tests := []struct {
		name   string
		dests  []Destination
		routes map[string][]string
		want   string
	}{
		{"no name", with(func(d *Destination) { d.Name = "" }), nil,
			"pusher: destination without a name"},
		{"relative url", with(func(d *Destination) { d.URL = "/hook?token=s3cr3t" }), nil,
			`pusher: destination "d": url is not an absolute http or https URL`},
		{"ftp url", with(func(d *Destination) { d.URL = "ftp://user:s3cr3t@host/x" }), nil,
			`pusher: destination "d": url is not an absolute http or https URL`},
		{"unparsable url", with(func(d *Destination) { d.URL = "http://h/%zz?token=s3cr3t" }), nil,
			`pusher: destination "d": url is not an absolute http or https URL`},
		{"DELETE", with(func(d *Destination) { d.Method = "delete" }), nil,
			`pusher: destination "d": method "DELETE" is not GET, POST, PUT or PATCH`},
		{"yaml", with(func(d *Destination) { d.Format = "yaml" }), nil,
			`pusher: destination "d": format "yaml" is not json, xml or form`},
		{"webhook header", with(func(d *Destination) { d.Header = map[string]string{"webhook-id": "x"} }), nil,
			`pusher: destination "d": header "webhook-id" is set by pollhook and cannot be overridden`},
		{"any webhook- header", with(func(d *Destination) { d.Header = map[string]string{"Webhook-Foo": "x"} }), nil,
			`pusher: destination "d": header "Webhook-Foo" is set by pollhook and cannot be overridden`},
		{"content-type header", with(func(d *Destination) { d.Header = map[string]string{"content-type": "text/plain"} }), nil,
			`pusher: destination "d": header "content-type" is set by pollhook and cannot be overridden`},
		{"github header", with(func(d *Destination) { d.Header = map[string]string{"x-hub-signature-256": "x"} }), nil,
			`pusher: destination "d": header "x-hub-signature-256" is set by pollhook and cannot be overridden`},
		{"unknown signature", with(func(d *Destination) { d.Signature = "hmac" }), nil,
			`pusher: destination "d": signature "hmac" is not standard, github or none`},
		{"standard without secret", with(func(d *Destination) { d.Signature = "standard" }), nil,
			`pusher: destination "d": signature standard needs a secret`},
		{"bad standard secret", with(func(d *Destination) { d.Secrets = []string{secretA, "whsec_s3cr3t!"} }), nil,
			`pusher: destination "d": secret 2: pusher: secret is not a base64 Standard Webhooks secret (whsec_...)`},
		{"github two secrets", with(func(d *Destination) { d.Signature, d.Secrets = "github", []string{"a", "b"} }), nil,
			`pusher: destination "d": signature github needs exactly one secret`},
		{"none with secret", with(func(d *Destination) { d.Signature, d.Secrets = "none", []string{"s3cr3t"} }), nil,
			`pusher: destination "d": signature none with a secret: the secret would be unused`},
		{"duplicate destination", []Destination{ok, ok}, nil,
			`pusher: destination "d": defined twice`},
		{"unknown route", []Destination{ok}, map[string][]string{"orders": {"d", "e"}},
			`pusher: job "orders": unknown destination "e"`},
		{"route twice", []Destination{ok}, map[string][]string{"orders": {"d", "d"}},
			`pusher: job "orders": destination "d" listed twice`},
		{"every problem at once", []Destination{{Name: "a", URL: "x"}, {Name: "b", URL: "http://h", Method: "DELETE"}}, map[string][]string{"j": {"c"}},
			"pusher: destination \"a\": url is not an absolute http or https URL\n" +
				"destination \"b\": method \"DELETE\" is not GET, POST, PUT or PATCH\n" +
				"job \"j\": unknown destination \"c\""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(st, tt.dests, tt.routes, discardLogger(), Options{})
			if err == nil || err.Error() != tt.want {
				t.Fatalf("New error =\n%v\nwant\n%s", err, tt.want)
			}
			if strings.Contains(err.Error(), "s3cr3t") {
				t.Errorf("error leaks a secret: %v", err)
			}
		})
	}
	if _, err := New(nil, nil, nil, nil, Options{}); err == nil || err.Error() != "pusher: nil store" {
		t.Errorf("New(nil store) error = %v", err)
	}
}

func TestRequestExact(t *testing.T) {
	at := time.Date(2026, 11, 27, 20, 0, 0, 0, time.UTC)
	clock := func() time.Time { return at }
	const data = `{"job": "orders", "key": "1042", "after": {"id": 1042, "note": "<b>"}}`
	const wantBody = `{"type":"item.created","timestamp":"2026-11-27T20:00:00.000Z","data":{"job":"orders","key":"1042","after":{"id":1042,"note":"<b>"}}}`
	ts := strconv.FormatInt(at.Unix(), 10)

	tests := []struct {
		name       string
		dest       Destination
		wantMethod string
		// wantHeader maps header names to their exact value; "" means absent.
		wantHeader func(id string, body []byte) map[string]string
	}{
		{
			name:       "standard signature with two secrets, PUT, extra headers",
			dest:       Destination{Method: "put", Secrets: []string{secretA, secretB}, Header: map[string]string{"X-Tenant": "acme", "User-Agent": "custom/1"}},
			wantMethod: "PUT",
			wantHeader: func(id string, body []byte) map[string]string {
				a, _ := SignStandard(secretA, id, at.Unix(), body)
				b, _ := SignStandard(secretB, id, at.Unix(), body)
				return map[string]string{"Webhook-Signature": a + " " + b, "X-Hub-Signature-256": "", "X-Tenant": "acme", "User-Agent": "custom/1"}
			},
		},
		{
			name:       "default method and user agent, standard by default with a secret",
			dest:       Destination{Secrets: []string{secretA}},
			wantMethod: "POST",
			wantHeader: func(id string, body []byte) map[string]string {
				a, _ := SignStandard(secretA, id, at.Unix(), body)
				return map[string]string{"Webhook-Signature": a, "User-Agent": "pollhook/test"}
			},
		},
		{
			name:       "github signature",
			dest:       Destination{Method: "PATCH", Signature: "github", Secrets: []string{"It's a Secret to Everybody"}},
			wantMethod: "PATCH",
			wantHeader: func(_ string, body []byte) map[string]string {
				return map[string]string{"X-Hub-Signature-256": SignGitHub("It's a Secret to Everybody", body), "Webhook-Signature": ""}
			},
		},
		{
			name:       "no signature",
			dest:       Destination{},
			wantMethod: "POST",
			wantHeader: func(string, []byte) map[string]string {
				return map[string]string{"X-Hub-Signature-256": "", "Webhook-Signature": ""}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := openStore(t, "")
			rc := newReceiver(t, status(http.StatusNoContent))
			d := tt.dest
			d.Name, d.URL, d.Retry = "hook", rc.URL+"/in?tenant=acme", fastRetry
			opts := testOptions()
			opts.Now = clock
			p := newPusher(t, st, []Destination{d}, map[string][]string{"orders": {"hook"}}, nil, opts)

			head, _ := st.Head("orders")
			c := &store.Commit{Snapshot: []byte("s"), Destinations: []string{"hook"}, Events: []store.Event{
				{Type: "item.created", Job: "orders", Key: "1042", Time: at, Data: json.RawMessage(data)},
			}}
			if _, err := st.Commit(t.Context(), "orders", head.Version, c); err != nil {
				t.Fatal(err)
			}
			ev := c.Events[0]
			r := start(t, p)
			h := rc.next(t)
			r.stop(t)

			if h.Method != tt.wantMethod || h.Path != "/in?tenant=acme" {
				t.Errorf("request %s %s, want %s /in?tenant=acme", h.Method, h.Path, tt.wantMethod)
			}
			if string(h.Body) != wantBody {
				t.Errorf("body =\n%s\nwant\n%s", h.Body, wantBody)
			}
			want := map[string]string{
				"Content-Type":      "application/json",
				"User-Agent":        "pollhook/test",
				"Webhook-Id":        ev.ID,
				"Webhook-Timestamp": ts,
			}
			for k, v := range tt.wantHeader(ev.ID, h.Body) {
				want[k] = v
			}
			for k, v := range want {
				if got := h.Header.Get(k); got != v || (v == "" && len(h.Header.Values(k)) > 0) {
					t.Errorf("header %s = %q, want %q", k, got, v)
				}
			}
			for i, s := range tt.dest.Secrets {
				if tt.dest.Signature == "github" {
					break
				}
				if err := VerifyStandard(s, h.Header, h.Body, 5*time.Minute, at); err != nil {
					t.Errorf("VerifyStandard with secret %d: %v", i+1, err)
				}
			}
			ls := laneState(t, st, "hook", "orders")
			if want := (store.LaneState{Destination: "hook", Job: "orders", Cursor: ev.Seq + 1}); ls != want {
				t.Errorf("lane after delivery = %+v, want %+v", ls, want)
			}
			rc.none(t)
		})
	}
}

func TestWakeDeliversNewEvents(t *testing.T) {
	st := openStore(t, "")
	rc := newReceiver(t, status(http.StatusOK))
	p := newPusher(t, st, []Destination{{Name: "hook", URL: rc.URL, Retry: fastRetry}},
		map[string][]string{"orders": {"hook"}}, nil, testOptions())
	start(t, p)
	p.Wake("no-such-job") // ignored, never blocks

	for round := range 3 {
		evs := commit(t, st, "orders", []string{"hook"}, `{"round":`+strconv.Itoa(round)+`}`)
		p.Wake("orders")
		p.Wake("orders") // a second wake-up while one is pending never blocks
		if h := rc.next(t); h.ID() != evs[0].ID {
			t.Fatalf("round %d: got webhook-id %s, want %s", round, h.ID(), evs[0].ID)
		}
	}
}

func TestRunTwice(t *testing.T) {
	st := openStore(t, "")
	p := newPusher(t, st, nil, nil, nil, testOptions())
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := p.Run(ctx); err != nil {
		t.Fatalf("first Run = %v", err)
	}
	if err := p.Run(ctx); err == nil || err.Error() != "pusher: Run called twice" {
		t.Errorf("second Run = %v", err)
	}
}
