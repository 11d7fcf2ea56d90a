package config

import (
	"encoding/base64"
	"net"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/pollhook/pollhook/differ"
	"github.com/pollhook/pollhook/poller"
	"github.com/pollhook/pollhook/scheduler"
	"github.com/robfig/cron/v3"
)

// namePattern is what job and destination names must match: they appear in
// metrics labels, admin API paths and store keys.
var namePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*$`)

// requestMethods are the values of a job's request.method (in any case),
// and jobEventNames those of its events.
var (
	requestMethods = []string{"GET", "POST"}
	jobEventNames  = []string{"created", "updated", "deleted", "changed"}
)

const nameRule = "expected letters, digits, '_', '.' or '-', starting with a letter or digit"

// validator checks a defaulted Config; every problem goes to the tracker,
// positioned at the field it concerns.
type validator struct {
	c *Config
	t *tracker
}

func validate(c *Config, t *tracker) {
	v := validator{c: c, t: t}
	v.server()
	v.limits()
	for _, name := range c.DestinationNames() {
		v.destination(keyPath("destinations", name), c.Destinations[name])
	}
	if len(c.Jobs) == 0 {
		t.errorf("jobs", "no jobs defined; expected at least one job with name, schedule, request.url and destinations")
	}
	first := map[string]int{} // job name → index of the job that has it first
	for i, j := range c.Jobs {
		v.job(indexPath("jobs", i), j, first, i)
	}
	v.streams()
}

func (v validator) errorf(path, format string, args ...any) { v.t.errorf(path, format, args...) }

func (v validator) server() {
	listen := v.c.Server.Listen
	_, port, err := net.SplitHostPort(listen)
	if n, perr := strconv.ParseUint(port, 10, 16); err != nil || perr != nil || port == "" || n > 65535 {
		v.errorf("server.listen", `%q is not host:port; expected e.g. ":8080" or "127.0.0.1:8080"`, listen)
	}
}

func (v validator) destination(p string, d *Destination) {
	if !namePattern.MatchString(d.Name) {
		v.errorf(p, "%q is not a valid destination name; %s", d.Name, nameRule)
	}
	v.url(p+".url", d.URL, "https://hooks.example.com/orders")
	v.delivery(p, d)
	v.signature(p, d)
	v.headers(p+".headers", d.Headers, webhookHeader)
	v.positive(p+".timeout", d.Timeout, "10s")
	r := d.Retry
	v.positive(p+".retry.initial_interval", r.InitialInterval, "5s")
	v.positive(p+".retry.max_interval", r.MaxInterval, "1h")
	v.positive(p+".retry.max_age", r.MaxAge, "72h")
	if r.InitialInterval > 0 && r.MaxInterval > 0 && r.InitialInterval > r.MaxInterval {
		v.errorf(p+".retry.initial_interval", "%s is longer than max_interval %s; expected at most max_interval", r.InitialInterval, r.MaxInterval)
	}
	if r.MaxAttempts < 1 {
		v.errorf(p+".retry.max_attempts", "%d is less than 1; expected e.g. 15", r.MaxAttempts)
	}
}

// signature checks that the signing scheme and the secrets fit together.
// Secrets are never shown, only the field that holds a bad one.
func (v validator) signature(p string, d *Destination) {
	type given struct {
		path   string
		secret Secret
	}
	var secrets []given
	if d.Secret != "" {
		field := ".secret"
		if d.SecretFile != "" {
			field = ".secret_file"
		}
		secrets = append(secrets, given{p + field, d.Secret})
	}
	for i, s := range d.Secrets {
		if s != "" {
			secrets = append(secrets, given{indexPath(p+".secrets", i), s})
		}
	}
	switch d.Signature {
	case "standard", "github":
		if len(secrets) == 0 {
			v.errorf(p+".signature", "%s needs a secret; set secret, secret_file or secrets, or write signature: none", d.Signature)
		}
		if d.Signature == "github" {
			return // GitHub signs with any string
		}
		for _, s := range secrets {
			if !standardSecret(s.secret) {
				v.errorf(s.path, `not a Standard Webhooks secret (value not shown); expected "whsec_" followed by base64, or signature: github for a plain string`)
			}
		}
	case "none":
		if len(secrets) > 0 {
			v.errorf(p+".signature", "none, but a secret is set; remove the secret or use standard or github")
		}
	default:
		v.errorf(p+".signature", "%q is not a signature scheme; expected standard, github or none", d.Signature)
	}
}

// standardSecret reports whether s has the Standard Webhooks form: "whsec_"
// and the base64 of the key bytes.
func standardSecret(s Secret) bool {
	b64, ok := strings.CutPrefix(string(s), "whsec_")
	if !ok {
		return false
	}
	key, err := base64.StdEncoding.DecodeString(b64)
	return err == nil && len(key) > 0
}

func (v validator) job(p string, j *Job, first map[string]int, i int) {
	switch prev, dup := first[j.Name]; {
	case j.Name == "":
		v.errorf(p+".name", "missing; every job needs a unique name")
	case !namePattern.MatchString(j.Name):
		v.errorf(p+".name", "%q is not a valid job name; %s", j.Name, nameRule)
	case dup:
		prevPath := indexPath("jobs", prev)
		v.errorf(p+".name", "%q is already the name of %s (line %d); job names must be unique", j.Name, prevPath, v.t.pos(prevPath+".name").line)
	default:
		first[j.Name] = i
	}
	var sched cron.Schedule
	if j.Schedule == "" {
		v.errorf(p+".schedule", `missing; expected a cron expression or @every duration, e.g. "*/5 * * * *" or "@every 30s"`)
	} else if s, err := scheduler.ParseSchedule(j.Schedule); err != nil {
		v.errorf(p+".schedule", "%q is not a cron expression or @every duration (%v)", j.Schedule, err)
	} else {
		sched = s
	}
	if j.Jitter < 0 {
		v.errorf(p+".jitter", "%s is negative; expected 0 or a positive duration such as 3s", j.Jitter)
	}
	v.request(p+".request", &j.Request)
	v.items(p, j)
	v.guard(p+".guard", j.Guard)
	v.detection(p, j)
	v.events(p+".events", j)
	v.jobDestinations(p+".destinations", j.Destinations)
	v.source(p, j, sched)
}

func (v validator) request(p string, r *Request) {
	v.url(p+".url", r.URL, "https://api.example.com/orders")
	if !slices.Contains(requestMethods, r.Method) {
		v.errorf(p+".method", "%q is not supported; expected GET or POST", r.Method)
	}
	if r.Body != "" && r.Method == "GET" {
		v.errorf(p+".body", "a body is sent only with POST; set method: POST or remove the body")
	}
	v.headers(p+".headers", r.Headers, func(string) bool { return false })
	v.positive(p+".timeout", r.Timeout, "10s")
	if r.MaxBodySize <= 0 {
		v.errorf(p+".max_body_size", "%s is not positive; expected e.g. 10MiB", r.MaxBodySize)
	}
}

// items checks the items-mode paths: items, key and ignore.
func (v validator) items(p string, j *Job) {
	if j.Items != "" {
		if _, err := differ.ParseItemsPath(j.Items); err != nil {
			v.errorf(p+".items", "%v; expected a dotted path such as data.orders, or $ for a top-level array", err)
		}
	}
	if len(j.Key) > 0 && j.Items == "" {
		v.errorf(p+".key", "needs items (the path to the array whose items the key identifies)")
	}
	for k, key := range j.Key {
		v.fieldPath(indexPath(p+".key", k), key, "id")
	}
	for k, ig := range j.Ignore {
		switch parsed, err := differ.ParseIgnore(ig); {
		case err != nil:
			v.errorf(indexPath(p+".ignore", k), "%v; expected a dotted field path such as updated_at or meta.*", err)
		case len(parsed) == 0:
			v.errorf(indexPath(p+".ignore", k), "%q is the whole item, not a field; expected a field path such as updated_at", ig)
		}
	}
	for k, u := range j.Unordered {
		if _, err := differ.ParseUnordered(u); err != nil {
			v.errorf(indexPath(p+".unordered", k), "%v; expected the dotted path of an array such as tags or lines[*].serials", err)
		}
	}
}

// fieldPath checks a path inside an item (or the document): it must parse
// and must not be the root, which would name the whole item.
func (v validator) fieldPath(p, s, example string) {
	parsed, err := differ.ParsePath(s)
	switch {
	case err != nil:
		v.errorf(p, "%v; expected a dotted field path such as %s", err, example)
	case len(parsed) == 0:
		v.errorf(p, "%q is the whole item, not a field; expected a field path such as %s", s, example)
	}
}

func (v validator) guard(p string, g Guard) {
	if !(g.MaxDeletedRatio >= 0 && g.MaxDeletedRatio <= 1) { // also catches NaN
		v.errorf(p+".max_deleted_ratio", "%v is outside 0..1; expected e.g. 0.5, or 0 to turn the guard off", g.MaxDeletedRatio)
	}
	if !(g.MaxChangedRatio >= 0 && g.MaxChangedRatio <= 1) {
		v.errorf(p+".max_changed_ratio", "%v is outside 0..1; expected e.g. 0.8, or 0 to leave the number of changes unchecked", g.MaxChangedRatio)
	}
	if g.ConfirmPolls < 1 {
		v.errorf(p+".confirm_polls", "%d is less than 1; expected e.g. 3", g.ConfirmPolls)
	}
}

// events checks the event filter against what the job's mode can emit, so
// that a filter that can never match is caught now rather than by silence.
func (v validator) events(p string, j *Job) {
	if len(j.Events) == 0 {
		v.errorf(p, "empty; list the events to send, or leave events out to send all")
	}
	seen := map[string]bool{}
	for i, e := range j.Events {
		ep := indexPath(p, i)
		switch {
		case seen[e]:
			v.errorf(ep, "%q is listed twice", e)
		case !slices.Contains(jobEventNames, e):
			v.errorf(ep, "%q is not an event; expected created, updated, deleted or changed", e)
		case e == "changed" && j.Items != "":
			v.errorf(ep, `"changed" is emitted only without items (document mode); expected created, updated or deleted`)
		case e != "changed" && j.Items == "":
			v.errorf(ep, "%q needs items (items mode); without items a job emits only changed", e)
		}
		seen[e] = true
	}
}

func (v validator) jobDestinations(p string, names []string) {
	defined := v.c.DestinationNames()
	switch {
	case len(names) > 0:
	case len(defined) > 0:
		v.errorf(p, "no destinations; expected a list with at least one of: %s", strings.Join(defined, ", "))
	default:
		v.errorf(p, "no destinations; a job needs at least one, and none are defined (add one under destinations:)")
	}
	seen := map[string]bool{}
	for i, name := range names {
		dp := indexPath(p, i)
		switch {
		case seen[name]:
			v.errorf(dp, "%q is listed twice", name)
		case v.c.Destinations[name] != nil:
		case len(defined) > 0:
			v.errorf(dp, "%q is not a defined destination; expected one of: %s", name, strings.Join(defined, ", "))
		default:
			v.errorf(dp, "%q is not a defined destination; none are defined (add one under destinations:)", name)
		}
		seen[name] = true
	}
}

// url checks an absolute http(s) URL. Messages show the URL only through
// RedactURL, and not at all when it does not parse, since url.Parse's error
// would repeat it whole.
func (v validator) url(p, raw, example string) {
	if raw == "" {
		v.errorf(p, "missing; expected an absolute http or https URL such as %s", example)
		return
	}
	u, err := url.Parse(raw)
	if err != nil {
		v.errorf(p, "not a valid URL (not shown, it may hold credentials); expected an absolute http or https URL such as %s", example)
		return
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" {
		v.errorf(p, "%q is not an absolute http or https URL; expected e.g. %s", poller.RedactURL(raw), example)
	}
}

// headers checks header names, duplicates that differ only in case (HTTP
// would merge them), values that would split the request, and names that
// pollhook sets itself (reserved).
func (v validator) headers(p string, h Headers, reserved func(name string) bool) {
	names := make([]string, 0, len(h))
	for name := range h {
		names = append(names, name)
	}
	slices.Sort(names)
	seen := map[string]string{}
	for _, name := range names {
		hp := keyPath(p, name)
		canonical := strings.ToLower(name)
		switch {
		case !headerName(name):
			v.errorf(hp, "%q is not a valid header name; expected letters, digits and '-', e.g. X-Api-Key", name)
		case seen[canonical] != "":
			v.errorf(hp, "same header as %s (header names ignore case); keep one", seen[canonical])
		case reserved(name):
			v.errorf(hp, "set by pollhook on every webhook; remove it")
		case strings.ContainsAny(h[name], "\r\n\x00"):
			v.errorf(hp, "the value contains a line break or NUL (value not shown); expected a single line")
		}
		seen[canonical] = name
	}
}

// webhookHeader reports whether pollhook sets the header on webhooks
// itself: the Standard Webhooks headers, the GitHub signature, and those
// that describe the body.
func webhookHeader(name string) bool {
	c := strings.ToLower(name)
	return strings.HasPrefix(c, "webhook-") ||
		slices.Contains([]string{"content-type", "content-length", "host", "x-hub-signature-256"}, c)
}

// headerName reports whether s is an RFC 9110 token.
func headerName(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("!#$%&'*+-.^_`|~", r)) {
			return false
		}
	}
	return true
}

func (v validator) positive(p string, d Duration, example string) {
	if d <= 0 {
		v.errorf(p, "%s is not positive; expected e.g. %s", d, example)
	}
}

// detection checks the options that shape how responses are read and
// which changes are sent: response.format, transform, when and debounce.
func (v validator) detection(p string, j *Job) {
	if f := j.Response.Format; f != "" && !slices.Contains(differ.Formats, f) {
		v.errorf(p+".response.format", "%q is not a format; expected %s, or leave it out to go by the Content-Type", f, strings.Join(differ.Formats, ", "))
	}
	if j.Response.Format == "text" {
		for _, field := range []struct {
			name string
			set  bool
		}{{"items", j.Items != ""}, {"ignore", len(j.Ignore) > 0}, {"unordered", len(j.Unordered) > 0}, {"transform", j.Transform != ""}} {
			if field.set {
				v.errorf(p+"."+field.name, "does not apply to format text (a text document is compared as a whole); remove it or use json, xml or csv")
			}
		}
	}
	if j.Transform != "" {
		if err := differ.CheckTransform(j.Transform); err != nil {
			v.errorf(p+".transform", "%v; expected a jq expression such as .data.orders | map({id, status})", err)
		}
	}
	if j.When != "" {
		if err := differ.CheckWhen(j.When); err != nil {
			v.errorf(p+".when", "%v; expected a condition over type, key, job, before and after such as after.stock < 5", err)
		}
	}
	if j.Debounce < 0 {
		v.errorf(p+".debounce", "%d is negative; expected the number of polls a change must persist, e.g. 2", j.Debounce)
	}
}
