package config

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io/fs"
	"math"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/pollhook/pollhook/scheduler"
	"github.com/robfig/cron/v3"
)

// This file holds how a job treats its source: credentials, TLS,
// pagination, the load it may put on the source (limits, backoff, jitter)
// and the events that say the source is down or back.

// maxPEMFile bounds a CA bundle or certificate file; a full system CA
// bundle is about 200 KiB.
const maxPEMFile = 1 << 20

// orList lists words as "a, b or c".
func orList(words []string) string {
	last := len(words) - 1
	return strings.Join(words[:last], ", ") + " or " + words[last]
}

// paginationTypes are the values of pagination.type, in the order messages list them.
var paginationTypes = []string{"link", "cursor", "page", "offset"}

// readJobFiles reads a job's credential files into their secrets and
// resolves and checks its TLS files, so that a missing or broken file
// stops the configuration from loading rather than failing every poll.
func readJobFiles(t *tracker, p string, j *Job, dir string) {
	if a := j.Auth; a != nil {
		ap := p + ".auth"
		readSecretFile(t, ap, "bearer", &a.Bearer, a.BearerFile, dir)
		if b := a.Basic; b != nil {
			readSecretFile(t, ap+".basic", "password", &b.Password, b.PasswordFile, dir)
		}
		if h := a.Header; h != nil {
			readSecretFile(t, ap+".header", "value", &h.Value, h.ValueFile, dir)
		}
		if o := a.OAuth2; o != nil {
			readSecretFile(t, ap+".oauth2", "client_secret", &o.ClientSecret, o.ClientSecretFile, dir)
		}
	}
	if j.TLS != nil {
		readTLSFiles(t, p+".tls", j.TLS, dir)
	}
}

// readTLSFiles resolves the TLS file names against dir and checks that
// the CA file holds certificates and that the certificate and key files
// make a key pair. Messages never show what the files hold.
func readTLSFiles(t *tracker, p string, c *TLS, dir string) {
	for _, f := range []*string{&c.CAFile, &c.CertFile, &c.KeyFile} {
		if *f != "" && !filepath.IsAbs(*f) {
			*f = filepath.Join(dir, *f)
		}
	}
	if c.CAFile != "" {
		if data, ok := readPEMFile(t, p+".ca_file", c.CAFile, "CA certificates"); ok && !x509.NewCertPool().AppendCertsFromPEM(data) {
			t.errorf(p+".ca_file", "%q holds no PEM certificate; expected CA certificates (-----BEGIN CERTIFICATE-----)", c.CAFile)
		}
	}
	if c.CertFile == "" || c.KeyFile == "" {
		return // validation reports the one missing
	}
	cert, certOK := readPEMFile(t, p+".cert_file", c.CertFile, "client certificate")
	key, keyOK := readPEMFile(t, p+".key_file", c.KeyFile, "private key")
	if !certOK || !keyOK {
		return
	}
	if _, err := tls.X509KeyPair(cert, key); err != nil {
		t.errorf(p+".cert_file", "%q and key_file %q are not a key pair (%v); expected a PEM client certificate and its private key", c.CertFile, c.KeyFile, err)
	}
}

// readPEMFile reads one TLS file, reporting a problem at path.
func readPEMFile(t *tracker, path, file, what string) ([]byte, bool) {
	data, err := readFileLimited(file, what, maxPEMFile)
	if err != nil {
		if pe, ok := errors.AsType[*fs.PathError](err); ok {
			err = pe.Err // the path is already in the message
		}
		t.errorf(path, "cannot read %q: %v", file, err)
		return nil, false
	}
	return data, true
}

// limits checks the global load limits. Unset means no limit; a limit
// written as 0 would mean "never poll", so it is refused.
func (v validator) limits() {
	l := v.c.Limits
	if v.t.given("limits.max_concurrent_polls") && l.MaxConcurrentPolls < 1 {
		v.errorf("limits.max_concurrent_polls", "%d is less than 1; expected the number of polls that may run at once, e.g. 16, or leave it out for no cap", l.MaxConcurrentPolls)
	}
	h := l.PerHost
	if h == nil {
		return
	}
	switch {
	case !v.t.given("limits.per_host.rate"):
		v.errorf("limits.per_host.rate", "missing; expected polls per second to one host, such as 5 or 0.5")
	case !(h.Rate > 0 && !math.IsInf(h.Rate, 1)):
		v.errorf("limits.per_host.rate", "%v is not a positive finite number; expected polls per second to one host, such as 5 or 0.5", h.Rate)
	}
	if h.Burst < 1 {
		v.errorf("limits.per_host.burst", "%d is less than 1; expected the polls one host may take at once after a quiet spell, e.g. 1", h.Burst)
	}
}

// source checks how a job treats its source: auth, TLS, pagination,
// jitter, backoff and health events. sched is the job's parsed schedule,
// nil when it does not parse.
func (v validator) source(p string, j *Job, sched cron.Schedule) {
	v.auth(p, j)
	v.tls(p+".tls", j)
	v.pagination(p+".pagination", j)
	if sched != nil && j.Jitter > 0 {
		if interval := shortestInterval(sched); interval > 0 && time.Duration(j.Jitter) >= interval {
			v.errorf(p+".jitter", "%s is not shorter than the schedule's interval %s; expected less, e.g. %s", j.Jitter, Duration(interval), Duration(interval/10))
		}
	}
	// Without a schedule there is no default to check.
	if sched != nil || v.t.given(p+".backoff.max") {
		v.positive(p+".backoff.max", j.Backoff.Max, "10m")
	}
	if v.t.given(p+".down_after") && !j.NotifySourceHealth {
		v.errorf(p+".down_after", "applies only with notify_source_health: true; add it or remove down_after")
	} else if j.DownAfter < 1 {
		v.errorf(p+".down_after", "%d is less than 1; expected the number of failed polls in a row after which the source is down, e.g. 3", j.DownAfter)
	}
	if j.NotifySourceHealth && !v.healthReceived(j) {
		v.errorf(p+".notify_source_health", "none of the job's destinations receives source.down or source.recovered (see their events:); add them to one or remove notify_source_health")
	}
}

// shortestInterval is the shortest time between two of the next firings
// of sched, so that checking an irregular cron (0 9,17 * * *) does not
// depend on the time of day the file is loaded.
func shortestInterval(sched cron.Schedule) time.Duration {
	const firings = 32
	shortest := time.Duration(0)
	at := time.Now()
	for range firings {
		d := scheduler.Interval(sched, at)
		if d <= 0 {
			break
		}
		if shortest == 0 || d < shortest {
			shortest = d
		}
		at = sched.Next(at)
	}
	return shortest
}

// healthReceived reports whether a destination of the job takes source
// health events; unknown destinations are reported elsewhere and count as
// taking them, to report nothing twice.
func (v validator) healthReceived(j *Job) bool {
	for _, name := range j.Destinations {
		d := v.c.Destinations[name]
		if d == nil || len(d.Events) == 0 || slices.Contains(d.Events, "source.down") || slices.Contains(d.Events, "source.recovered") {
			return true
		}
	}
	return len(j.Destinations) == 0
}

// auth checks that exactly one kind of credentials is given and that each
// is complete and fits in a request. Values are never shown.
func (v validator) auth(p string, j *Job) {
	a := j.Auth
	if a == nil {
		return
	}
	ap := p + ".auth"
	var kinds []string
	if a.Bearer != "" || a.BearerFile != "" {
		kinds = append(kinds, "bearer")
	}
	if a.Basic != nil {
		kinds = append(kinds, "basic")
	}
	if a.Header != nil {
		kinds = append(kinds, "header")
	}
	if a.OAuth2 != nil {
		kinds = append(kinds, "oauth2")
	}
	switch len(kinds) {
	case 0:
		v.errorf(ap, "empty; expected one of bearer, bearer_file, basic, header or oauth2")
		return
	case 1:
	default:
		last := len(kinds) - 1
		v.errorf(ap, "%s and %s are set; expected exactly one kind of credentials", strings.Join(kinds[:last], ", "), kinds[last])
		return
	}
	// The header the credentials travel in must not be set twice.
	header := "Authorization"
	switch {
	case a.Bearer != "":
		v.singleLine(ap+fileField(".bearer", a.BearerFile), string(a.Bearer))
	case a.Basic != nil:
		v.basic(ap+".basic", a.Basic)
	case a.Header != nil:
		header = a.Header.Name
		v.headerAuth(ap+".header", a.Header)
	case a.OAuth2 != nil:
		v.oauth2(ap+".oauth2", a.OAuth2)
	}
	for name := range j.Request.Headers {
		if header != "" && strings.EqualFold(name, header) {
			v.errorf(ap, "%s is also set in request.headers; keep one", name)
		}
	}
}

// fileField is field, or field_file when the value was read from file.
func fileField(field, file string) string {
	if file != "" {
		return field + "_file"
	}
	return field
}

func (v validator) basic(p string, b *BasicAuth) {
	switch {
	case b.Username == "":
		v.errorf(p+".username", "missing; expected the user name")
	case strings.Contains(b.Username, ":"):
		// RFC 7617: the first colon ends the user name.
		v.errorf(p+".username", "contains ':', which basic authentication cannot carry in a user name")
	default:
		v.singleLine(p+".username", b.Username)
	}
	// An empty password is valid: some APIs take the key as the user name.
	if b.Password != "" {
		v.singleLine(p+fileField(".password", b.PasswordFile), string(b.Password))
	}
}

func (v validator) headerAuth(p string, h *HeaderAuth) {
	switch {
	case h.Name == "":
		v.errorf(p+".name", "missing; expected the header's name, e.g. X-Api-Key")
	case !headerName(h.Name):
		v.errorf(p+".name", "%q is not a valid header name; expected letters, digits and '-', e.g. X-Api-Key", h.Name)
	}
	if h.Value == "" && h.ValueFile == "" {
		v.errorf(p+".value", "missing; set value or value_file")
	} else if h.Value != "" {
		v.singleLine(p+fileField(".value", h.ValueFile), string(h.Value))
	}
}

func (v validator) oauth2(p string, o *OAuth2) {
	v.url(p+".token_url", o.TokenURL, "https://auth.example.com/oauth/token")
	if o.ClientID == "" {
		v.errorf(p+".client_id", "missing; expected the client id the token endpoint knows this client by")
	}
	if o.ClientSecret == "" && o.ClientSecretFile == "" {
		v.errorf(p+".client_secret", "missing; set client_secret or client_secret_file")
	}
	for i, s := range o.Scopes {
		if s == "" || strings.ContainsAny(s, " \t\r\n") {
			v.errorf(indexPath(p+".scopes", i), "%q is not one scope; expected a list with one scope per entry, e.g. [orders.read, stock.read]", s)
		}
	}
}

// singleLine reports a value that would split the request it is sent in.
func (v validator) singleLine(p, value string) {
	if strings.ContainsAny(value, "\r\n\x00") {
		v.errorf(p, "the value contains a line break or NUL (value not shown); expected a single line")
	}
}

func (v validator) tls(p string, j *Job) {
	c := j.TLS
	if c == nil {
		return
	}
	switch {
	case *c == TLS{}:
		v.errorf(p, "empty; expected ca_file, cert_file and key_file, or insecure_skip_verify")
		return
	case c.CertFile != "" && c.KeyFile == "":
		v.errorf(p+".cert_file", "needs key_file (the client certificate's private key)")
	case c.KeyFile != "" && c.CertFile == "":
		v.errorf(p+".key_file", "needs cert_file (the client certificate of this key)")
	}
	if c.InsecureSkipVerify && c.CAFile != "" {
		v.errorf(p+".insecure_skip_verify", "true turns off the verification that ca_file is for; keep one")
	}
	// TLS settings on a plain http source would silently do nothing. The
	// token endpoint of oauth2 is reached with them too. A URL that does
	// not parse is reported on its own.
	plain := func(raw string) bool {
		u, err := url.Parse(raw)
		return err == nil && u.Scheme == "http"
	}
	if plain(j.Request.URL) && (j.Auth == nil || j.Auth.OAuth2 == nil || plain(j.Auth.OAuth2.TokenURL)) {
		v.errorf(p, "applies only to https, and request.url is http; use an https URL or remove tls")
	}
}

// pagination checks that the type has what it needs and nothing it would
// ignore.
func (v validator) pagination(p string, j *Job) {
	pg := j.Pagination
	if pg == nil {
		return
	}
	if j.Items == "" {
		v.errorf(p, "needs items (the path to each page's array; the pages' items are merged)")
	}
	// Pages are merged as JSON, at the items path of the raw page: a
	// transform or another format would move or change what the path
	// means.
	if j.Transform != "" {
		v.errorf(p, "cannot be combined with transform (pages are merged at the items path of each raw JSON page); remove one of them")
	}
	if f := j.Response.Format; f != "" && f != "json" {
		v.errorf(p, "needs JSON pages, and response.format is %s; remove one of them", f)
	}
	type option struct {
		name string
		set  bool
	}
	cursorPath := option{"cursor_path", pg.CursorPath != ""}
	param := option{"param", pg.Param != ""}
	sizeParam := option{"size_param", pg.SizeParam != ""}
	size := option{"size", v.t.given(p + ".size")}
	var needs, ignores []option
	switch pg.Type {
	case "":
		v.errorf(p+".type", "missing; expected %s", orList(paginationTypes))
	case "link":
		ignores = []option{cursorPath, param, sizeParam, size}
	case "cursor":
		needs, ignores = []option{cursorPath, param}, []option{sizeParam, size}
	case "page", "offset":
		needs, ignores = []option{param, size}, []option{cursorPath}
	default:
		v.errorf(p+".type", "%q is not a pagination type; expected %s", pg.Type, orList(paginationTypes))
	}
	for _, o := range needs {
		if !o.set {
			v.errorf(p+"."+o.name, "missing; type %s needs %s", pg.Type, paginationNeed(o.name, pg.Type))
		}
	}
	for _, o := range ignores {
		if o.set {
			v.errorf(p+"."+o.name, "does not apply to type %s; remove it", pg.Type)
		}
	}
	if pg.Type == "cursor" && pg.CursorPath != "" {
		v.fieldPath(p+".cursor_path", pg.CursorPath, "meta.next")
	}
	if size.set && pg.Size < 1 && (pg.Type == "page" || pg.Type == "offset") {
		v.errorf(p+".size", "%d is less than 1; expected the number of items in a full page, e.g. 100", pg.Size)
	}
	if pg.SizeParam != "" && pg.SizeParam == pg.Param {
		v.errorf(p+".size_param", "%q is param too; expected another query parameter, e.g. per_page", pg.SizeParam)
	}
	if pg.MaxPages < 1 {
		v.errorf(p+".max_pages", "%d is less than 1; expected the most pages one poll fetches, e.g. 100", pg.MaxPages)
	}
}

// paginationNeed says what the required option name is for type typ.
func paginationNeed(name, typ string) string {
	switch name {
	case "cursor_path":
		return "the path of the next cursor in a page, e.g. meta.next"
	case "param":
		return "the query parameter to set for each page, e.g. " + typ
	}
	return "the page size, e.g. 100 (a shorter page is the last)"
}
