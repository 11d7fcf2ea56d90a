package config

import (
	"strings"
	"time"

	"github.com/pollhook/pollhook/poller"
	"github.com/pollhook/pollhook/scheduler"
)

// Default values. The configuration reference (README) lists the same.
const (
	defaultListen             = ":8080"
	defaultStorePath          = "./data"
	defaultDestinationMethod  = "POST"
	defaultFormat             = "json"
	defaultGETFormat          = "form" // GET sends the form fields as a query string
	defaultContentType        = "application/json"
	defaultConcurrency        = 4
	defaultBatchMaxEvents     = 1 // one event per request: no batching
	defaultBatchMaxWait       = Duration(time.Second)
	defaultDestinationTimeout = Duration(10 * time.Second)
	defaultRetryInitial       = Duration(5 * time.Second)
	defaultRetryMax           = Duration(time.Hour)
	defaultRetryAttempts      = 15
	defaultRetryMaxAge        = Duration(72 * time.Hour)
	defaultRequestMethod      = "GET"
	defaultRequestTimeout     = Duration(10 * time.Second)
	defaultMaxBodySize        = ByteSize(10 << 20)
	defaultMaxDeletedRatio    = 0.5
	defaultConfirmPolls       = 3
	defaultMaxPages           = poller.DefaultMaxPages
	defaultDownAfter          = 3
	defaultHostBurst          = 1
	// defaultBackoffFactor times the job's interval is the default
	// backoff.max: long enough to spare a struggling source, short enough
	// that its recovery is seen within a few intervals.
	defaultBackoffFactor = 10
)

// applyDefaults fills in every value the file left out; it is the one place
// defaults are set. A field keeps its value when the file gave one, even 0,
// so that "timeout: 0s" is reported by validation instead of silently
// becoming 10s. An empty value (such as an unset ${VAR:-}) counts as not
// given. It also fills what derives from the file's shape: a destination's
// Name is its key.
func applyDefaults(c *Config, t *tracker) {
	def(t, "server.listen", &c.Server.Listen, defaultListen)
	def(t, "store.path", &c.Store.Path, defaultStorePath)
	if c.Limits.PerHost != nil {
		def(t, "limits.per_host.burst", &c.Limits.PerHost.Burst, defaultHostBurst)
	}
	streamDefaults(c, t)
	if c.Store.SyncWrites == nil {
		sync := true // every commit fsynced: a crash loses no acknowledged poll
		c.Store.SyncWrites = &sync
	}
	for name, d := range c.Destinations {
		p := keyPath("destinations", name)
		d.Name = name
		d.Method = strings.ToUpper(d.Method)
		def(t, p+".method", &d.Method, defaultDestinationMethod)
		// A template renders the whole body, so no format applies; with GET
		// the event travels as form fields in the query string.
		switch {
		case d.Template != "":
			def(t, p+".content_type", &d.ContentType, defaultContentType)
		case d.Method == "GET":
			def(t, p+".format", &d.Format, defaultGETFormat)
		default:
			def(t, p+".format", &d.Format, defaultFormat)
		}
		signature := "none"
		if len(d.SigningSecrets()) > 0 {
			signature = "standard"
		}
		def(t, p+".signature", &d.Signature, signature)
		def(t, p+".timeout", &d.Timeout, defaultDestinationTimeout)
		def(t, p+".retry.initial_interval", &d.Retry.InitialInterval, defaultRetryInitial)
		def(t, p+".retry.max_interval", &d.Retry.MaxInterval, defaultRetryMax)
		def(t, p+".retry.max_attempts", &d.Retry.MaxAttempts, defaultRetryAttempts)
		def(t, p+".retry.max_age", &d.Retry.MaxAge, defaultRetryMaxAge)
		def(t, p+".concurrency", &d.Concurrency, defaultConcurrency)
		def(t, p+".batch.max_events", &d.Batch.MaxEvents, defaultBatchMaxEvents)
		def(t, p+".batch.max_wait", &d.Batch.MaxWait, defaultBatchMaxWait)
	}
	for i, j := range c.Jobs {
		p := indexPath("jobs", i)
		j.Request.Method = strings.ToUpper(j.Request.Method)
		def(t, p+".request.method", &j.Request.Method, defaultRequestMethod)
		def(t, p+".request.timeout", &j.Request.Timeout, defaultRequestTimeout)
		def(t, p+".request.max_body_size", &j.Request.MaxBodySize, defaultMaxBodySize)
		def(t, p+".guard.max_deleted_ratio", &j.Guard.MaxDeletedRatio, defaultMaxDeletedRatio)
		def(t, p+".guard.confirm_polls", &j.Guard.ConfirmPolls, defaultConfirmPolls)
		// "All events" means all that the job's mode produces, so that the
		// default never lists an event the job cannot emit.
		events := []string{"changed"}
		if j.Items != "" {
			events = []string{"created", "updated", "deleted"}
		}
		def(t, p+".events", &j.Events, events)
		def(t, p+".down_after", &j.DownAfter, defaultDownAfter)
		if j.Pagination != nil {
			def(t, p+".pagination.max_pages", &j.Pagination.MaxPages, defaultMaxPages)
		}
		// An invalid schedule gets no default; validation reports it.
		if sched, err := scheduler.ParseSchedule(j.Schedule); err == nil {
			def(t, p+".backoff.max", &j.Backoff.Max, Duration(defaultBackoffFactor*scheduler.Interval(sched, time.Now())))
		}
	}
}

// def sets *v to value unless the file gave a value at path.
func def[T any](t *tracker, path string, v *T, value T) {
	if !t.given(path) {
		*v = value
	}
}
