package admin

import (
	"bytes"
	_ "embed"
	"html/template"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/pollhook/pollhook/pusher"
	"github.com/pollhook/pollhook/store"
)

// The status page at /: one server-rendered HTML page, with its styles
// inline and no script, that reloads itself every 10 seconds. It needs the
// admin token like the API, given as an Authorization: Bearer header or as
// ?token= (a browser cannot send a header from the address bar); the
// token is never written into the page, which links to nothing and
// reloads its own address. The page shows names, states and redacted
// errors, never event data: that is the source's data.

//go:embed status.html
var statusHTML string

var statusTemplate = template.Must(template.New("status").Funcs(template.FuncMap{
	"when": when,
	"ago":  ago,
}).Parse(statusHTML))

// recentEvents is how many events the page lists.
const recentEvents = 20

// statusData is what the page shows.
type statusData struct {
	Now          time.Time
	Jobs         []JobStatus
	Destinations []statusDestination
	Events       []store.Event
}

// statusDestination is one destination's line: its lanes summed up.
type statusDestination struct {
	Name      string
	URL       string
	State     string // paused, failing or delivering
	Paused    *PauseStatus
	Depth     uint64        // events still to deliver, over every lane
	Queued    int           // redeliveries waiting
	Oldest    time.Duration // age of the oldest event waiting
	LastError string        // the failing lanes' last errors, "job: error"
}

func (a *api) statusPage(w http.ResponseWriter, r *http.Request) {
	if !a.authorized(r) && !a.tokenMatches(r.URL.Query().Get("token")) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="pollhook"`)
		writeHTML(w, http.StatusUnauthorized, []byte(statusUnauthorized))
		return
	}
	data, err := a.statusData()
	if err != nil {
		a.srv.logger.Error("status page failed", "err", err)
		http.Error(w, "status page: "+err.Error(), http.StatusInternalServerError)
		return
	}
	var b bytes.Buffer
	if err := statusTemplate.Execute(&b, data); err != nil {
		a.srv.logger.Error("status page failed", "err", err)
		http.Error(w, "status page: "+err.Error(), http.StatusInternalServerError)
		return
	}
	writeHTML(w, http.StatusOK, b.Bytes())
}

// statusUnauthorized is the page's one answer to a missing, wrong or
// unconfigured token, as the API's 401 is.
const statusUnauthorized = `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>pollhook: unauthorized</title></head>
<body><h1>401 Unauthorized</h1>
<p>The status page needs the admin token (server.admin_token): open it as <code>/?token=TOKEN</code>,
or send <code>Authorization: Bearer TOKEN</code>.</p></body></html>
`

func writeHTML(w http.ResponseWriter, code int, body []byte) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	// No script, no external anything; and since the address may hold
	// the token, it is sent to nobody as a referrer.
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	_, _ = w.Write(body)
}

// statusData reads what the page shows.
func (a *api) statusData() (*statusData, error) {
	d := &statusData{Now: a.now().UTC()}
	for _, name := range a.jobOrder {
		js, head, err := a.jobStatus(a.jobs[name])
		if err != nil {
			return nil, err
		}
		d.Jobs = append(d.Jobs, js)
		if head.LastSeq == 0 {
			continue
		}
		// The log keeps events until every destination has them, so these
		// are the last ones still held: usually the undelivered ones.
		from := uint64(1)
		if head.LastSeq > recentEvents {
			from = head.LastSeq - recentEvents + 1
		}
		evs, err := a.st.Events(name, from, recentEvents)
		if err != nil {
			return nil, err
		}
		d.Events = append(d.Events, evs...)
	}
	slices.SortFunc(d.Events, func(x, y store.Event) int {
		if c := y.Time.Compare(x.Time); c != 0 {
			return c
		}
		if c := strings.Compare(x.Job, y.Job); c != 0 {
			return c
		}
		return int(y.Seq) - int(x.Seq)
	})
	d.Events = d.Events[:min(len(d.Events), recentEvents)]

	paused, err := a.pauses()
	if err != nil {
		return nil, err
	}
	heads := map[string]store.Head{}
	for _, name := range a.order {
		ds, err := a.status(a.dests[name], paused, heads)
		if err != nil {
			return nil, err
		}
		d.Destinations = append(d.Destinations, summarise(ds, pusher.RedactURL(a.dests[name].URL)))
	}
	return d, nil
}

// summarise sums up a destination's lanes for the page.
func summarise(ds DestinationStatus, url string) statusDestination {
	sd := statusDestination{Name: ds.Name, URL: url, State: "delivering", Paused: ds.Paused}
	var errs []string
	for _, l := range ds.Lanes {
		sd.Depth += l.Depth
		sd.Queued += l.Queued
		sd.Oldest = max(sd.Oldest, time.Duration(l.OldestPendingAge*float64(time.Second)).Round(time.Second))
		if l.LastError != "" {
			errs = append(errs, l.Job+": "+l.LastError)
		}
		if l.Redelivery != nil && l.Redelivery.LastError != "" {
			errs = append(errs, l.Job+" (redelivery): "+l.Redelivery.LastError)
		}
	}
	sd.LastError = strings.Join(errs, "; ")
	switch {
	case ds.Paused != nil:
		sd.State = "paused"
	case len(errs) > 0:
		sd.State = "failing"
	}
	return sd
}

// when writes a time for the page, in UTC; "-" for none.
func when(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format("2006-01-02 15:04:05Z")
}

// ago writes how long before now t was ("3m5s ago"), or how long after
// ("in 25s"); "" for no time.
func ago(now, t time.Time) string {
	if t.IsZero() {
		return ""
	}
	d := now.Sub(t).Round(time.Second)
	switch {
	case d > 0:
		return d.String() + " ago"
	case d < 0:
		return "in " + (-d).String()
	}
	return "now"
}
