// Package config reads, expands, defaults and validates pollhook's YAML
// configuration. Every error names the file, line and column.
//
// Load and Parse do everything before anything starts: strict decoding
// (unknown fields are rejected at every level), ${VAR} and ${VAR:-default}
// expansion inside values, *_file secrets, defaults, then validation. They
// report every problem in the file at once, each as
// FILE:LINE:COL: path.to.field: what is wrong and what is expected.
//
// Secrets never print: Secret and sensitive Headers values render as
// "<secret>" through fmt, JSON and YAML, and Config.Redacted dumps a
// configuration that is safe to show.
package config

import (
	"slices"
	"time"

	"github.com/pollhook/pollhook/poller"
	"github.com/pollhook/pollhook/pusher"
	"gopkg.in/yaml.v3"
)

// Config is the whole configuration file.
type Config struct {
	Server       Server                  `yaml:"server"`
	Store        Store                   `yaml:"store"`
	Limits       Limits                  `yaml:"limits"`
	Destinations map[string]*Destination `yaml:"destinations"`
	Jobs         []*Job                  `yaml:"jobs"`
	Streams      *Streams                `yaml:"streams,omitempty"` // nil: no event streams (streams.go)
}

// Server configures the HTTP listener for health, metrics and admin.
type Server struct {
	Listen         string `yaml:"listen"`           // default ":8080"
	AdminToken     Secret `yaml:"admin_token"`      // optional; without it the admin API refuses every request
	AdminTokenFile string `yaml:"admin_token_file"` // read into AdminToken; relative to the config file
}

// Store configures the Badger directory.
type Store struct {
	Path       string `yaml:"path"`        // default "./data"
	SyncWrites *bool  `yaml:"sync_writes"` // default true: every commit is fsynced
}

// Limits bound the load pollhook puts on its sources, across all jobs.
type Limits struct {
	// MaxConcurrentPolls caps the polls in flight at once; 0 (unset): no cap.
	MaxConcurrentPolls int       `yaml:"max_concurrent_polls"`
	PerHost            *HostRate `yaml:"per_host,omitempty"` // nil: no per-host limit
}

// HostRate is a token bucket shared by the jobs that poll one host.
type HostRate struct {
	Rate  float64 `yaml:"rate"`  // polls per second, may be fractional
	Burst int     `yaml:"burst"` // polls allowed at once after a quiet spell; default 1
}

// Destination is one webhook receiver.
type Destination struct {
	Name       string   `yaml:"-"` // the map key
	URL        string   `yaml:"url"`
	Method     string   `yaml:"method"`      // GET | POST (default) | PUT | PATCH
	Secret     Secret   `yaml:"secret"`      // "whsec_..." for Standard Webhooks, any string for github
	SecretFile string   `yaml:"secret_file"` // read into Secret; relative to the config file
	Secrets    []Secret `yaml:"secrets"`     // several at once, for rotation
	Signature  string   `yaml:"signature"`   // standard (default with a secret) | github | none (default without)
	// Format is json (default), xml or form; form with GET, and empty
	// with a template, which renders the whole body instead.
	Format       string   `yaml:"format"`
	Template     string   `yaml:"template"`      // Go text/template of the body, with a json helper
	TemplateFile string   `yaml:"template_file"` // read into Template; relative to the config file
	ContentType  string   `yaml:"content_type"`  // of a template's body; default application/json
	Headers      Headers  `yaml:"headers"`
	Timeout      Duration `yaml:"timeout"` // default 10s
	Retry        Retry    `yaml:"retry"`
	Concurrency  int      `yaml:"concurrency"`   // lanes delivering at once; default 4
	RateLimit    float64  `yaml:"rate_limit"`    // requests (events, or batches) per second, may be fractional; 0 (default): no limit
	SuccessCodes []int    `yaml:"success_codes"` // non-2xx codes that also count as delivered
	Events       []string `yaml:"events"`        // full event types this destination receives; empty: all
	Batch        Batch    `yaml:"batch"`
}

// Batch groups several events of one lane into one request.
type Batch struct {
	MaxEvents int      `yaml:"max_events"` // 1..1000; default 1, which sends one event per request
	MaxWait   Duration `yaml:"max_wait"`   // longest wait for a batch to fill; default 1s
}

// SigningSecrets lists the secrets that sign each request: Secret (which
// secret_file fills) first, then Secrets. Several sign at once so that a
// receiver can rotate its secret without rejecting a single delivery.
func (d *Destination) SigningSecrets() []Secret {
	var out []Secret
	if d.Secret != "" {
		out = append(out, d.Secret)
	}
	for _, s := range d.Secrets {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

// Retry is a destination's durable retry schedule.
type Retry struct {
	InitialInterval Duration `yaml:"initial_interval"` // default 5s
	MaxInterval     Duration `yaml:"max_interval"`     // default 1h
	MaxAttempts     int      `yaml:"max_attempts"`     // default 15
	MaxAge          Duration `yaml:"max_age"`          // default 72h
}

// Job is one polled source.
type Job struct {
	Name         string   `yaml:"name"`
	Schedule     string   `yaml:"schedule"`
	Jitter       Duration `yaml:"jitter"`
	Request      Request  `yaml:"request"`
	Items        string   `yaml:"items"`
	Key          KeyList  `yaml:"key"` // a field name or a list of field names
	Ignore       []string `yaml:"ignore"`
	Unordered    []string `yaml:"unordered"` // arrays compared as sets
	Response     Response `yaml:"response"`
	Transform    string   `yaml:"transform"` // jq expression reshaping the document before comparing
	When         string   `yaml:"when"`      // expression an event must satisfy to be sent
	Debounce     int      `yaml:"debounce"`  // polls in a row a change must show before it is sent; 0 or 1: at once
	EmitInitial  bool     `yaml:"emit_initial"`
	Guard        Guard    `yaml:"guard"`
	Events       []string `yaml:"events"` // created | updated | deleted | changed; default all
	Destinations []string `yaml:"destinations"`

	Auth       *Auth       `yaml:"auth,omitempty"`       // credentials for the source; nil: none
	TLS        *TLS        `yaml:"tls,omitempty"`        // client certificate and CAs; nil: system defaults
	Pagination *Pagination `yaml:"pagination,omitempty"` // how to fetch every page; nil: one request
	Backoff    Backoff     `yaml:"backoff"`
	// NotifySourceHealth sends source.down after DownAfter failed polls in
	// a row and source.recovered at the next successful one.
	NotifySourceHealth bool `yaml:"notify_source_health"`
	DownAfter          int  `yaml:"down_after"` // default 3
}

// Auth is how a job authenticates to its source: exactly one kind is set.
type Auth struct {
	Bearer     Secret      `yaml:"bearer"`      // Authorization: Bearer <token>
	BearerFile string      `yaml:"bearer_file"` // read into Bearer; relative to the config file
	Basic      *BasicAuth  `yaml:"basic,omitempty"`
	Header     *HeaderAuth `yaml:"header,omitempty"`
	OAuth2     *OAuth2     `yaml:"oauth2,omitempty"`
}

// BasicAuth is HTTP basic authentication.
type BasicAuth struct {
	Username     string `yaml:"username"`
	Password     Secret `yaml:"password"`
	PasswordFile string `yaml:"password_file"` // read into Password; relative to the config file
}

// HeaderAuth sends a credential (an API key) in a header of its own.
type HeaderAuth struct {
	Name      string `yaml:"name"`
	Value     Secret `yaml:"value"`
	ValueFile string `yaml:"value_file"` // read into Value; relative to the config file
}

// OAuth2 is the OAuth 2.0 client credentials grant.
type OAuth2 struct {
	TokenURL         string   `yaml:"token_url"`
	ClientID         string   `yaml:"client_id"`
	ClientSecret     Secret   `yaml:"client_secret"`
	ClientSecretFile string   `yaml:"client_secret_file"` // read into ClientSecret; relative to the config file
	Scopes           []string `yaml:"scopes"`
}

// TLS configures TLS to a job's source. Relative file names are resolved
// against the config file's directory when it is loaded, so the fields
// hold paths that work from any working directory.
type TLS struct {
	CAFile             string `yaml:"ca_file"`   // PEM CA certificates trusted instead of the system's
	CertFile           string `yaml:"cert_file"` // PEM client certificate (mTLS), with KeyFile
	KeyFile            string `yaml:"key_file"`
	InsecureSkipVerify bool   `yaml:"insecure_skip_verify"` // for tests against broken sources only
}

// Pagination says how a job fetches every page of its source; the pages'
// items are merged before they are compared.
type Pagination struct {
	Type       string `yaml:"type"`        // link | cursor | page | offset
	CursorPath string `yaml:"cursor_path"` // cursor: where a page names the next cursor
	Param      string `yaml:"param"`       // cursor, page, offset: the query parameter set for each page
	SizeParam  string `yaml:"size_param"`  // page, offset: the page size parameter (optional)
	Size       int    `yaml:"size"`        // page, offset: the page size; a shorter page is the last
	MaxPages   int    `yaml:"max_pages"`   // default 100
}

// Backoff slows a job down while its source keeps failing.
type Backoff struct {
	// Max is the longest wait after a failed poll (and for a Retry-After);
	// default 10 times the job's interval.
	Max Duration `yaml:"max"`
}

// Response says how a job's responses are read.
type Response struct {
	Format string `yaml:"format"` // json | xml | csv | text; default from the Content-Type
}

// Request describes how a job polls its source.
type Request struct {
	URL         string   `yaml:"url"`
	Method      string   `yaml:"method"` // GET (default) or POST
	Headers     Headers  `yaml:"headers"`
	Body        string   `yaml:"body"`
	Timeout     Duration `yaml:"timeout"`       // default 10s
	MaxBodySize ByteSize `yaml:"max_body_size"` // default 10MiB
}

// Guard holds mass deletions until confirmed.
type Guard struct {
	MaxDeletedRatio float64 `yaml:"max_deleted_ratio"` // 0..1, default 0.5; 0 turns the guard off
	ConfirmPolls    int     `yaml:"confirm_polls"`     // default 3
	MaxChangedRatio float64 `yaml:"max_changed_ratio"` // 0..1, default 0 (off)
}

// Duration is a time.Duration written as "10s", "5m", "72h".
type Duration time.Duration

// KeyList is a key given either as one field name or as a list of names.
type KeyList []string

// ByteSize is a size written as 1048576, "512KiB", "10MiB" or "1MB".
type ByteSize int64

// Secret is a string that never prints: String, GoString, Format,
// MarshalText, MarshalYAML and MarshalJSON give "<secret>" ("" when unset).
// Convert with string(s) where the value is really needed.
type Secret string

// DestinationNames returns the names of all destinations, sorted.
func (c *Config) DestinationNames() []string {
	names := make([]string, 0, len(c.Destinations))
	for name := range c.Destinations {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

// Job returns the job called name, or nil when there is none.
func (c *Config) Job(name string) *Job {
	for _, j := range c.Jobs {
		if j.Name == name {
			return j
		}
	}
	return nil
}

// Redacted returns the configuration as YAML, defaults included, with every
// secret and sensitive header value as "<secret>" and URL passwords, query
// values as "REDACTED" (poller.RedactURL): safe for logs, bug reports and the admin API.
func (c *Config) Redacted() ([]byte, error) {
	r := *c
	r.Destinations = make(map[string]*Destination, len(c.Destinations))
	for name, d := range c.Destinations {
		dc := *d
		dc.URL = pusher.RedactURL(d.URL)
		r.Destinations[name] = &dc
	}
	r.Jobs = make([]*Job, len(c.Jobs))
	for i, j := range c.Jobs {
		jc := *j
		jc.Request.URL = poller.RedactURL(j.Request.URL)
		if j.Auth != nil && j.Auth.OAuth2 != nil {
			// Copies, so that the Config itself keeps its URL.
			a, o := *j.Auth, *j.Auth.OAuth2
			o.TokenURL = poller.RedactURL(o.TokenURL)
			a.OAuth2, jc.Auth = &o, &a
		}
		r.Jobs[i] = &jc
	}
	return yaml.Marshal(&r)
}
