package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"unicode"

	"github.com/pollhook/pollhook/differ"
)

// This file generates the JSON Schema of the configuration file from the
// Go types the loader decodes into, so that the schema cannot drift from
// them: every yaml field becomes a property, and fieldDocs (which a test
// holds to exactly the fields there are) adds descriptions, defaults,
// enums and bounds. The schema is what an editor can check while the file
// is written; pollhook validate checks everything else (files, schedules,
// paths, combinations of fields).
//
// Where the loader is lenient the schema is too, so that it never flags a
// file the loader accepts: every value may be null or empty (the default
// applies), scalars are read as text (a quoted "15" is a number, 15 a
// string), and any value may hold ${VAR} references, which are only known
// once expanded.

// schemaURI is the JSON Schema dialect of the generated schema.
const schemaURI = "https://json-schema.org/draft/2020-12/schema"

// Patterns of the scalar kinds, each matching exactly the text the decoder
// reads (a test holds each to its parser). envRef marks a value holding a
// ${VAR} reference, which can be anything once expanded.
const (
	envRef          = `\$\{[A-Za-z_][A-Za-z0-9_]*(:-[^}]*)?\}`
	intPattern      = `^[+-]?[0-9]+$`
	floatPattern    = `^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$`
	boolPattern     = `^(true|True|TRUE|false|False|FALSE)$`
	durationPattern = `^\s*[+-]?(0|(([0-9]+\.?[0-9]*|\.[0-9]+)(ns|us|µs|μs|ms|s|m|h))+)\s*$`
	sizePattern     = `^\s*[0-9]+\s*(([KkMmGgTt][Ii]?)?[Bb])?\s*$`
	// headerPattern is an RFC 9110 token, as headerName checks.
	headerPattern = "^[-!#$%&'*+.^_`|~0-9A-Za-z]+$"
)

// fieldDoc is what the schema says about one field beyond its type.
type fieldDoc struct {
	desc string
	def  any      // the default as written in YAML; nil when there is none or it depends (desc says)
	enum []string // the values accepted (of each element, for a list)
	fold bool     // enum compared ignoring case
	// Bounds of a number (of each element, for a list); nil: none.
	min, max     *float64
	exclusiveMin bool   // min itself is refused
	pattern      string // what a string must match, besides ${VAR} references
	required     bool   // the enclosing mapping must have this field
	// A list, when written, must hold at least one element (nonEmpty),
	// each only once (unique).
	nonEmpty, unique bool
}

func bound(v float64) *float64 { return &v }

// typeDocs describes each struct type of the configuration.
var typeDocs = map[string]string{
	"Config":      "pollhook configuration: sources polled on schedules (jobs) and the webhook receivers their changes go to (destinations).",
	"Server":      "The HTTP listener for health, metrics, the status page and the admin API.",
	"Store":       "The Badger directory holding snapshots, the outbox and dead letters.",
	"Limits":      "Load limits across all jobs. Unset: no limit.",
	"HostRate":    "A token bucket shared by the jobs that poll one host.",
	"Destination": "A webhook receiver.",
	"Batch":       "Groups several events of one lane into one request ({\"events\": [...]}).",
	"Retry":       "The durable retry schedule of failed deliveries: exponential backoff with jitter, kept across restarts.",
	"Job":         "A polled source: how and when it is polled, how its responses are compared, and where its changes go.",
	"Auth":        "Credentials for the source: exactly one of bearer, bearer_file, basic, header or oauth2.",
	"BasicAuth":   "HTTP basic authentication.",
	"HeaderAuth":  "A credential (an API key) sent in a header of its own.",
	"OAuth2":      "The OAuth 2.0 client credentials grant; the token is cached and refreshed before it expires.",
	"TLS":         "TLS to an https source: private CAs, a client certificate (mTLS).",
	"Pagination":  "How to fetch every page of the source; the pages' items are merged before they are compared.",
	"Backoff":     "How a job slows down while its source keeps failing.",
	"Response":    "How the job's responses are read.",
	"Request":     "The HTTP request that polls the source.",
	"Guard":       "Holds suspicious mass changes until further polls confirm them.",
	"Streams":     "Event streams for clients that open their own connection: Server-Sent Events at /api/v1/stream, WebSocket at /api/v1/ws. Present (streams: {} for the defaults): on; absent: off, and no copy of events is kept.",
	"StreamToken": "A bearer token that reads the streams of some jobs only.",
}

// fieldDocs describes every field, keyed by struct type and yaml name. A
// test checks that it names exactly the fields there are.
var fieldDocs = map[string]fieldDoc{
	"Config.server":       {desc: "Health, metrics and admin API listener."},
	"Config.store":        {desc: "Where pollhook keeps its state."},
	"Config.limits":       {desc: "Load limits across all jobs."},
	"Config.destinations": {desc: "Webhook receivers, by name (letters, digits, '_', '.', '-')."},
	"Config.jobs":         {desc: "The polled sources.", required: true},
	"Config.streams":      {desc: "SSE and WebSocket event streams; unset: off."},

	"Server.listen":           {desc: "host:port of the HTTP listener.", def: defaultListen},
	"Server.admin_token":      {desc: "Bearer token the admin API requires; without one it refuses every request. Prefer admin_token_file."},
	"Server.admin_token_file": {desc: "File holding admin_token, relative to the config file."},

	"Streams.retention":   {desc: "How long events are kept for clients that resume (Last-Event-ID).", def: defaultStreamRetention.String()},
	"Streams.max_clients": {desc: "SSE and WebSocket clients connected at once; more are answered 503.", def: defaultStreamMaxClients, min: bound(1)},
	"Streams.buffer":      {desc: "Events queued per client; a client that falls this far behind is dropped as a slow consumer.", def: defaultStreamBuffer, min: bound(1), max: bound(maxStreamBuffer)},
	"Streams.heartbeat":   {desc: "Interval of SSE heartbeat comments and WebSocket pings.", def: defaultStreamHeartbeat.String()},
	"Streams.tokens":      {desc: "Tokens that read some jobs' streams, besides server.admin_token (which reads every job)."},

	"StreamToken.token":      {desc: "The bearer token. Prefer token_file."},
	"StreamToken.token_file": {desc: "File holding token, relative to the config file."},
	"StreamToken.jobs":       {desc: "The jobs this token may read.", required: true, nonEmpty: true, unique: true},

	"Store.path":        {desc: "The Badger directory.", def: defaultStorePath},
	"Store.sync_writes": {desc: "fsync every commit and delivery update, so that a crash never loses an acknowledged poll.", def: true},

	"Limits.max_concurrent_polls": {desc: "Polls in flight at once, across all jobs; unset: no cap.", min: bound(1)},
	"Limits.per_host":             {desc: "Polls per second one source host gets; unset: no limit."},

	"HostRate.rate":  {desc: "Polls per second to one host, may be fractional.", min: bound(0), exclusiveMin: true, required: true},
	"HostRate.burst": {desc: "Polls one host may take at once after a quiet spell.", def: defaultHostBurst, min: bound(1)},

	"Destination.url":           {desc: "Absolute http or https URL of the receiver.", required: true},
	"Destination.method":        {desc: "HTTP method; GET sends the event's form fields as a query string.", def: defaultDestinationMethod, enum: destinationMethods, fold: true},
	"Destination.secret":        {desc: "Signing secret: \"whsec_\" + base64 for Standard Webhooks, any string for github."},
	"Destination.secret_file":   {desc: "File holding secret, relative to the config file."},
	"Destination.secrets":       {desc: "Several secrets signing at once, for rotation."},
	"Destination.signature":     {desc: "Signing scheme; default standard with a secret, none without.", enum: signatureSchemes},
	"Destination.format":        {desc: "Body format: the JSON envelope, the same as XML, or form fields; default json (form with GET); none with a template.", enum: destinationFormats},
	"Destination.template":      {desc: "Go text/template rendering the whole body (helpers: json, truncate, replace), instead of a format."},
	"Destination.template_file": {desc: "File holding template, relative to the config file."},
	"Destination.content_type":  {desc: "Media type of a template's body.", def: defaultContentType},
	"Destination.headers":       {desc: "Extra request headers; the webhook-*, Content-Type and signature headers are pollhook's."},
	"Destination.timeout":       {desc: "Timeout of one delivery request.", def: defaultDestinationTimeout.String()},
	"Destination.retry":         {desc: "Retry schedule of failed deliveries."},
	"Destination.concurrency":   {desc: "Lanes (jobs) delivering to this destination at once.", def: defaultConcurrency, min: bound(1)},
	"Destination.rate_limit":    {desc: "Requests (events, or batches) per second at most, may be fractional; unset: no limit.", min: bound(0), exclusiveMin: true},
	"Destination.success_codes": {desc: "Non-2xx status codes that also count as delivered.", min: bound(100), max: bound(599), unique: true},
	"Destination.events":        {desc: "Event types this destination receives; unset: all.", enum: destinationEventTypes, nonEmpty: true, unique: true},
	"Destination.batch":         {desc: "Several events per request."},

	"Batch.max_events": {desc: "Most events in one request; 1 sends one event per request.", def: defaultBatchMaxEvents, min: bound(1), max: bound(maxBatchEvents)},
	"Batch.max_wait":   {desc: "Longest wait for a batch to fill.", def: defaultBatchMaxWait.String()},

	"Retry.initial_interval": {desc: "First backoff interval.", def: defaultRetryInitial.String()},
	"Retry.max_interval":     {desc: "Longest backoff interval.", def: defaultRetryMax.String()},
	"Retry.max_attempts":     {desc: "Attempts before an event becomes a dead letter.", def: defaultRetryAttempts, min: bound(1)},
	"Retry.max_age":          {desc: "Age after which a failing event becomes a dead letter.", def: defaultRetryMaxAge.String()},

	"Job.name":                 {desc: "Unique name (letters, digits, '_', '.', '-'), in metrics, the admin API and the store.", pattern: namePattern.String(), required: true},
	"Job.schedule":             {desc: "5-field cron (\"*/5 * * * *\"), optional seconds field, a descriptor (@hourly, @every 30s), optionally prefixed by CRON_TZ=Zone.", required: true},
	"Job.jitter":               {desc: "Random delay before each poll, shorter than the schedule's interval.", def: "0s"},
	"Job.request":              {desc: "The request that polls the source.", required: true},
	"Job.items":                {desc: "Dotted path to the array of items ($ = root, [*] steps into every element); omit for document mode."},
	"Job.key":                  {desc: "Field (or list of fields) identifying an item; without it items are compared by content."},
	"Job.ignore":               {desc: "Field paths left out of the comparison (updated_at, meta.*)."},
	"Job.unordered":            {desc: "Paths of arrays compared as sets, their order ignored."},
	"Job.response":             {desc: "How responses are read."},
	"Job.transform":            {desc: "jq expression reshaping the document before it is compared."},
	"Job.when":                 {desc: "expr-lang condition over type, key, job, before and after that an event must meet to be sent."},
	"Job.debounce":             {desc: "Polls in a row a change must show before it is sent; 0 or 1: at once.", def: 0, min: bound(0)},
	"Job.emit_initial":         {desc: "Send the items of the first poll as item.created instead of recording a silent baseline.", def: false},
	"Job.guard":                {desc: "Holds mass deletions and changes until confirmed."},
	"Job.events":               {desc: "Events sent; default all of the job's mode: created, updated, deleted with items, changed without.", enum: jobEventNames, nonEmpty: true, unique: true},
	"Job.destinations":         {desc: "Names of the destinations that receive the job's events.", required: true, nonEmpty: true, unique: true},
	"Job.auth":                 {desc: "Credentials for the source."},
	"Job.tls":                  {desc: "TLS settings for an https source."},
	"Job.pagination":           {desc: "How to fetch every page (needs items)."},
	"Job.backoff":              {desc: "Slowing down while the source fails."},
	"Job.notify_source_health": {desc: "Send source.down after down_after failed polls in a row, and source.recovered once the source answers again.", def: false},
	"Job.down_after":           {desc: "Failed polls in a row after which the source is down (with notify_source_health).", def: defaultDownAfter, min: bound(1)},

	"Auth.bearer":      {desc: "Token sent as Authorization: Bearer <token>."},
	"Auth.bearer_file": {desc: "File holding bearer, relative to the config file."},
	"Auth.basic":       {desc: "HTTP basic authentication."},
	"Auth.header":      {desc: "An API key in a header of its own."},
	"Auth.oauth2":      {desc: "OAuth 2.0 client credentials."},

	"BasicAuth.username":      {desc: "User name (no ':').", required: true},
	"BasicAuth.password":      {desc: "Password; may be empty."},
	"BasicAuth.password_file": {desc: "File holding password, relative to the config file."},

	"HeaderAuth.name":       {desc: "Header name, e.g. X-Api-Key.", pattern: headerPattern, required: true},
	"HeaderAuth.value":      {desc: "Header value (the key)."},
	"HeaderAuth.value_file": {desc: "File holding value, relative to the config file."},

	"OAuth2.token_url":          {desc: "Token endpoint URL.", required: true},
	"OAuth2.client_id":          {desc: "Client id.", required: true},
	"OAuth2.client_secret":      {desc: "Client secret."},
	"OAuth2.client_secret_file": {desc: "File holding client_secret, relative to the config file."},
	"OAuth2.scopes":             {desc: "Scopes requested, one per entry."},

	"TLS.ca_file":              {desc: "PEM CA certificates trusted instead of the system's, relative to the config file."},
	"TLS.cert_file":            {desc: "PEM client certificate (mTLS), with key_file."},
	"TLS.key_file":             {desc: "PEM private key of cert_file."},
	"TLS.insecure_skip_verify": {desc: "Skip certificate verification: for tests against broken sources only.", def: false},

	"Pagination.type":        {desc: "link follows Link rel=\"next\"; cursor reads the next cursor from cursor_path; page and offset count.", enum: paginationTypes, required: true},
	"Pagination.cursor_path": {desc: "cursor: where a page names the next cursor, e.g. meta.next."},
	"Pagination.param":       {desc: "cursor, page, offset: the query parameter set for each page."},
	"Pagination.size_param":  {desc: "page, offset: the page size parameter (optional)."},
	"Pagination.size":        {desc: "page, offset: the page size; a shorter page is the last.", min: bound(1)},
	"Pagination.max_pages":   {desc: "Most pages one poll fetches.", def: defaultMaxPages, min: bound(1)},

	"Backoff.max": {desc: "Longest wait after failed polls (and for a Retry-After); default 10 times the job's interval."},

	"Response.format": {desc: "Response format; default from the Content-Type (XML, CSV, else JSON). text is never guessed.", enum: differ.Formats},

	"Request.url":           {desc: "Absolute http or https URL of the source.", required: true},
	"Request.method":        {desc: "HTTP method.", def: defaultRequestMethod, enum: requestMethods, fold: true},
	"Request.headers":       {desc: "Request headers."},
	"Request.body":          {desc: "Request body (POST only)."},
	"Request.timeout":       {desc: "Timeout of the whole poll.", def: defaultRequestTimeout.String()},
	"Request.max_body_size": {desc: "Largest (decoded) body accepted: bytes, or with a unit (512KiB, 10MiB, 1MB).", def: defaultMaxBodySize.String(), min: bound(0), exclusiveMin: true},

	"Guard.max_deleted_ratio": {desc: "Share of the items that may vanish at once before the change is held; 0 turns the guard off.", def: defaultMaxDeletedRatio, min: bound(0), max: bound(1)},
	"Guard.confirm_polls":     {desc: "Polls in a row that must show a held change before it is sent.", def: defaultConfirmPolls, min: bound(1)},
	"Guard.max_changed_ratio": {desc: "Share of the items that may be created, updated or deleted at once before the change is held; 0: unchecked.", def: 0.0, min: bound(0), max: bound(1)},
}

// jsonSchema is one JSON Schema (a subset of draft 2020-12's keywords).
type jsonSchema struct {
	Schema               string         `json:"$schema,omitempty"`
	Title                string         `json:"title,omitempty"`
	Description          string         `json:"description,omitempty"`
	Ref                  string         `json:"$ref,omitempty"`
	Type                 schemaType     `json:"type,omitempty"`
	Enum                 []any          `json:"enum,omitempty"`
	Pattern              string         `json:"pattern,omitempty"`
	Minimum              *float64       `json:"minimum,omitempty"`
	ExclusiveMinimum     *float64       `json:"exclusiveMinimum,omitempty"`
	Maximum              *float64       `json:"maximum,omitempty"`
	Default              any            `json:"default,omitempty"`
	Properties           *schemaMembers `json:"properties,omitempty"`
	PropertyNames        *jsonSchema    `json:"propertyNames,omitempty"`
	AdditionalProperties any            `json:"additionalProperties,omitempty"` // false or a schema
	Required             []string       `json:"required,omitempty"`
	Items                *jsonSchema    `json:"items,omitempty"`
	MinItems             int            `json:"minItems,omitempty"`
	UniqueItems          bool           `json:"uniqueItems,omitempty"`
	AnyOf                []*jsonSchema  `json:"anyOf,omitempty"`
	OneOf                []*jsonSchema  `json:"oneOf,omitempty"`
	Not                  *jsonSchema    `json:"not,omitempty"`
	If                   *jsonSchema    `json:"if,omitempty"`
	Then                 *jsonSchema    `json:"then,omitempty"`
	Defs                 *schemaMembers `json:"$defs,omitempty"`
}

// schemaType is the type keyword: one name, or a list of names.
type schemaType []string

// MarshalJSON writes a single type as a string, several as a list.
func (t schemaType) MarshalJSON() ([]byte, error) {
	if len(t) == 1 {
		return json.Marshal(t[0])
	}
	return json.Marshal([]string(t))
}

// schemaMembers are named schemas kept in the order they were added, so
// that properties read in the order of the Go fields.
type schemaMembers struct {
	names   []string
	schemas []*jsonSchema
}

func (m *schemaMembers) add(name string, s *jsonSchema) {
	m.names = append(m.names, name)
	m.schemas = append(m.schemas, s)
}

// MarshalJSON writes the members as one JSON object, in order.
func (m *schemaMembers) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, name := range m.names {
		if i > 0 {
			b.WriteByte(',')
		}
		k, err := marshalPlain(name)
		if err != nil {
			return nil, err
		}
		v, err := marshalPlain(m.schemas[i])
		if err != nil {
			return nil, err
		}
		b.Write(k)
		b.WriteByte(':')
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// marshalPlain is json.Marshal without HTML escaping, so that descriptions
// and patterns keep their <, > and & readable.
func marshalPlain(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// JSONSchema returns the JSON Schema (draft 2020-12) of the configuration
// file, indented, with a final newline: every field with its type,
// description, default, enum values and bounds; patterns for durations,
// sizes and names; unknown fields refused, as the loader refuses them; and
// exactly one kind of auth. It is written to accept every file Load
// accepts (exotic spellings aside, such as a hexadecimal float); Load
// checks more than it can express (files, schedules, field combinations).
func JSONSchema() ([]byte, error) {
	g := schemaGen{defs: &schemaMembers{}, seen: map[reflect.Type]bool{}}
	root := g.structure(reflect.TypeFor[Config]())
	root.Schema = schemaURI
	root.Title = "pollhook configuration"
	root.Type = schemaType{"object"} // a configuration needs jobs, so an empty file is not one
	g.defs.add("expanded", &jsonSchema{
		Description: "A value with ${VAR} or ${VAR:-default} references, checked once expanded.",
		Type:        schemaType{"string"},
		Pattern:     envRef,
	})
	root.Defs = g.defs
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(root); err != nil {
		return nil, fmt.Errorf("encode config schema: %w", err)
	}
	return b.Bytes(), nil
}

// schemaGen builds the schema of a type and the $defs of its struct types.
type schemaGen struct {
	defs *schemaMembers
	seen map[reflect.Type]bool
}

var headersType = reflect.TypeFor[Headers]()

// ref returns a reference to the definition of struct type t, adding the
// definition the first time.
func (g *schemaGen) ref(t reflect.Type) *jsonSchema {
	if !g.seen[t] {
		g.seen[t] = true
		// Listed before the definitions it refers to, so that $defs read
		// from the top down.
		i := len(g.defs.names)
		g.defs.add(t.Name(), nil)
		g.defs.schemas[i] = g.structure(t)
	}
	return &jsonSchema{Ref: "#/$defs/" + t.Name()}
}

// structure is the schema of a struct type: a mapping of its yaml fields
// and nothing else. null stands for an empty section, as in the loader.
func (g *schemaGen) structure(t reflect.Type) *jsonSchema {
	s := &jsonSchema{
		Description:          typeDocs[t.Name()],
		Type:                 schemaType{"object", "null"},
		Properties:           &schemaMembers{},
		AdditionalProperties: false,
	}
	for i := range t.NumField() {
		f := t.Field(i)
		name := yamlName(f)
		if name == "" {
			continue
		}
		doc := fieldDocs[t.Name()+"."+name]
		p := g.field(f.Type, doc)
		p.Description = doc.desc
		if f.Type == durationType {
			p.Description += " A duration such as 300ms, 30s, 5m or 1h30m."
		}
		p.Default = doc.def
		s.Properties.add(name, p)
		if doc.required {
			s.Required = append(s.Required, name)
		}
	}
	if t == reflect.TypeFor[Auth]() {
		s.If = &jsonSchema{Type: schemaType{"object"}}
		s.Then = &jsonSchema{OneOf: authKinds(s.Properties.names)}
	}
	return s
}

// authKinds says that exactly one kind of credentials is given: each
// branch holds for one field written with a value.
func authKinds(fields []string) []*jsonSchema {
	var out []*jsonSchema
	for _, name := range fields {
		given := &schemaMembers{}
		given.add(name, &jsonSchema{Not: &jsonSchema{Enum: []any{nil, ""}}})
		out = append(out, &jsonSchema{Required: []string{name}, Properties: given})
	}
	return out
}

// field is the schema of a field of type t.
func (g *schemaGen) field(t reflect.Type, doc fieldDoc) *jsonSchema {
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case t == keyListType:
		return &jsonSchema{Type: schemaType{"string", "number", "boolean", "array", "null"}, Items: scalar(reflect.TypeFor[string](), doc)}
	case t == headersType:
		return &jsonSchema{
			Type:                 schemaType{"object", "null"},
			PropertyNames:        &jsonSchema{Pattern: headerPattern},
			AdditionalProperties: scalar(reflect.TypeFor[string](), fieldDoc{}),
		}
	case t.Kind() == reflect.Struct && t != durationType && t != byteSizeType:
		return g.ref(t)
	case t.Kind() == reflect.Map:
		// Destinations, by name; names are not expanded.
		return &jsonSchema{
			Type:                 schemaType{"object", "null"},
			PropertyNames:        &jsonSchema{Pattern: namePattern.String()},
			AdditionalProperties: g.field(t.Elem(), fieldDoc{}),
		}
	case t.Kind() == reflect.Slice:
		s := &jsonSchema{Type: schemaType{"array", "null"}, Items: g.field(t.Elem(), doc), UniqueItems: doc.unique}
		if doc.nonEmpty {
			s.MinItems = 1
		}
		return s
	}
	return scalar(t, doc)
}

// scalar is the schema of a single value of type t. Text the decoder
// reads is given by a pattern (which JSON Schema applies to strings only),
// so that a quoted number or ${VAR} passes where the loader takes it.
func scalar(t reflect.Type, doc fieldDoc) *jsonSchema {
	s := &jsonSchema{Minimum: doc.min, Maximum: doc.max}
	if doc.exclusiveMin {
		s.Minimum, s.ExclusiveMinimum = nil, doc.min
	}
	switch {
	case t == durationType:
		// A bare 0 is the one duration without a unit.
		s.Type, s.Pattern = schemaType{"string", "integer", "null"}, orEnv(durationPattern)
		s.Minimum, s.Maximum = bound(0), bound(0)
		return s
	case t == byteSizeType:
		s.Type, s.Pattern = schemaType{"integer", "string", "null"}, orEnv(sizePattern)
		return s
	case t.Kind() == reflect.Bool:
		s.Type, s.Pattern = schemaType{"boolean", "string", "null"}, orEnv(boolPattern)
		return s
	case t.Kind() == reflect.Int:
		s.Type, s.Pattern = schemaType{"integer", "string", "null"}, orEnv(intPattern)
		return s
	case t.Kind() == reflect.Float64:
		s.Type, s.Pattern = schemaType{"number", "string", "null"}, orEnv(floatPattern)
		return s
	case t.Kind() != reflect.String:
		// Only reachable if a field of an unsupported type is added.
		panic(fmt.Sprintf("config: no schema for %s", t))
	}
	if len(doc.enum) == 0 {
		// Text as written: YAML's 15 or true is the string "15" or "true".
		s.Type = schemaType{"string", "number", "boolean", "null"}
		if doc.pattern != "" {
			s.Pattern = orEnv(doc.pattern)
		}
		return s
	}
	enum := []any{nil}
	for _, v := range doc.enum {
		enum = append(enum, v)
	}
	s.AnyOf = []*jsonSchema{{Enum: enum}}
	if doc.fold {
		s.AnyOf = append(s.AnyOf, &jsonSchema{Type: schemaType{"string"}, Pattern: foldPattern(doc.enum)})
	}
	s.AnyOf = append(s.AnyOf, &jsonSchema{Ref: "#/$defs/expanded"})
	return s
}

// orEnv is pattern, or a value holding a ${VAR} reference.
func orEnv(pattern string) string { return pattern + "|" + envRef }

// foldPattern matches the words in any case ("[Gg][Ee][Tt]"), written
// without inline flags, which editors' ECMAScript engines lack.
func foldPattern(words []string) string {
	var b strings.Builder
	b.WriteString("^(")
	for i, w := range words {
		if i > 0 {
			b.WriteByte('|')
		}
		for _, r := range w {
			if lo, up := unicode.ToLower(r), unicode.ToUpper(r); lo != up {
				fmt.Fprintf(&b, "[%c%c]", up, lo)
			} else {
				b.WriteRune(r)
			}
		}
	}
	b.WriteString(")$")
	return b.String()
}
