package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"gopkg.in/yaml.v3"
)

// compileSchema compiles JSONSchema's output as a validator would.
func compileSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	raw, err := JSONSchema()
	if err != nil {
		t.Fatal(err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("config.schema.json", doc); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile("config.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	return sch
}

// yamlInstance reads a YAML document as the JSON value an editor's schema
// check sees (anchors, aliases and merge keys resolved).
func yamlInstance(t *testing.T, data []byte) any {
	t.Helper()
	var v any
	if err := yaml.Unmarshal(data, &v); err != nil {
		t.Fatal(err)
	}
	j, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(j))
	if err != nil {
		t.Fatal(err)
	}
	return inst
}

// rejected lists where the schema rejects inst: the instance location of
// every innermost error, as a JSON pointer, or a bad property name (name
// "x"); sorted and without repeats.
func rejected(sch *jsonschema.Schema, inst any) []string {
	err := sch.Validate(inst)
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return nil
	}
	var out []string
	var walk func(e *jsonschema.ValidationError)
	walk = func(e *jsonschema.ValidationError) {
		// The library's location of a bad property name is unreliable
		// (it shares a buffer that later errors overwrite); the name is not.
		if k, ok := e.ErrorKind.(*kind.PropertyNames); ok {
			out = append(out, "name "+strconv.Quote(k.Property))
			return
		}
		if len(e.Causes) == 0 {
			var ptr strings.Builder
			for _, seg := range e.InstanceLocation {
				ptr.WriteString("/" + seg)
			}
			out = append(out, ptr.String())
		}
		for _, c := range e.Causes {
			walk(c)
		}
	}
	walk(ve)
	slices.Sort(out)
	return slices.Compact(out)
}

// TestSchemaAcceptsValidConfigs validates config.example.yaml and every
// testdata/config/valid-*.yaml against the schema: it must never flag a
// file the loader accepts.
func TestSchemaAcceptsValidConfigs(t *testing.T) {
	sch := compileSchema(t)
	files, err := filepath.Glob(filepath.Join("..", "testdata", "config", "valid-*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 7 {
		t.Fatalf("found %d valid-*.yaml files, want at least 7", len(files))
	}
	files = append(files, filepath.Join("..", "config.example.yaml"))
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			if err := sch.Validate(yamlInstance(t, data)); err != nil {
				t.Errorf("schema rejects %s:\n%v", f, err)
			}
		})
	}
}

// TestSchemaRejectsInvalidConfigs pins where the schema rejects the
// invalid-*.yaml files whose problem it can express (unknown fields, wrong
// types, values outside an enum, a range or a pattern, missing or empty
// required fields, several auth kinds), and a few more cases written out.
func TestSchemaRejectsInvalidConfigs(t *testing.T) {
	sch := compileSchema(t)
	tests := []struct {
		file string // under testdata/config, or "" for doc
		name string // of a doc
		doc  string
		want []string
	}{
		{file: "invalid-unknown-field.yaml", want: []string{""}},
		{file: "invalid-unknown-nested-field.yaml", want: []string{"/destinations/hook/retry", "/jobs/0/request"}},
		{file: "invalid-wrong-type.yaml", want: []string{
			"/destinations/hook/retry/max_attempts", "/destinations/hook/url",
			"/jobs/0/destinations", "/jobs/0/emit_initial", "/jobs/0/guard/max_deleted_ratio", "/jobs/0/key", "/jobs/0/request",
			"/store/sync_writes",
		}},
		{file: "invalid-bad-method.yaml", want: []string{"/destinations/hook/method", "/jobs/0/request/method"}},
		{file: "invalid-unsupported-format.yaml", want: []string{"/destinations/hook/format"}},
		{file: "invalid-bad-signature.yaml", want: []string{"/destinations/hook/signature"}},
		{file: "invalid-bad-event.yaml", want: []string{"/jobs/0/events", "/jobs/0/events/1", "/jobs/2/events"}},
		{file: "invalid-bad-destination-events.yaml", want: []string{"/destinations/archive/events", "/destinations/hook/events", "/destinations/hook/events/1", "/destinations/hook/events/2", "/destinations/hook/events/4"}},
		{file: "invalid-pagination-type.yaml", want: []string{"/jobs/0/pagination", "/jobs/1/pagination/type"}},
		{file: "invalid-bad-duration.yaml", want: []string{"/destinations/hook/retry/max_age", "/jobs/0/jitter", "/jobs/0/request/timeout"}},
		{file: "invalid-bad-job-name.yaml", want: []string{"/jobs/0/name"}},
		{file: "invalid-bad-destination-name.yaml", want: []string{`name "orders hook"`}},
		{file: "invalid-auth-kinds.yaml", want: []string{"/jobs/0/auth", "/jobs/2/auth"}},
		{file: "invalid-ratio-out-of-range.yaml", want: []string{"/jobs/0/guard/confirm_polls", "/jobs/0/guard/max_deleted_ratio", "/jobs/1/guard/max_changed_ratio", "/jobs/1/guard/max_deleted_ratio"}},
		{file: "invalid-bad-success-codes.yaml", want: []string{"/destinations/hook/success_codes", "/destinations/hook/success_codes/0", "/destinations/hook/success_codes/3"}},
		{file: "invalid-no-jobs.yaml", want: []string{""}},
		{file: "invalid-missing-job-name.yaml", want: []string{"/jobs/0"}},
		{file: "invalid-bad-concurrency.yaml", want: []string{"/destinations/hook/concurrency"}},
		{file: "invalid-bad-batch.yaml", want: []string{"/destinations/archive/batch/max_events", "/destinations/hook/batch/max_events"}},
		{file: "invalid-max-body-size.yaml", want: []string{"/jobs/0/request/max_body_size", "/jobs/1/request/max_body_size"}},
		{file: "invalid-bad-rate-limit.yaml", want: []string{"/destinations/hook/rate_limit", "/destinations/infinite/rate_limit", "/destinations/nan/rate_limit", "/destinations/negative/rate_limit"}},
		{file: "invalid-limits.yaml", want: []string{"/limits/max_concurrent_polls", "/limits/per_host/burst", "/limits/per_host/rate"}},
		{file: "invalid-bad-header.yaml", want: []string{`name "Api Key"`}},
		{name: "methods in any case", doc: "jobs: [{name: j, schedule: '@hourly', request: {url: 'http://s', method: Get}, destinations: [h]}]\ndestinations: {h: {url: 'http://h', method: pAtCh}}\n"},
		{name: "unsupported request method", doc: "jobs: [{name: j, schedule: '@hourly', request: {url: 'http://s', method: DELETE}, destinations: [h]}]\n", want: []string{"/jobs/0/request/method"}},
		{name: "unknown response format", doc: "jobs: [{name: j, schedule: '@hourly', request: {url: 'http://s'}, response: {format: yaml}, destinations: [h]}]\n", want: []string{"/jobs/0/response/format"}},
		{name: "bearer and bearer_file", doc: "jobs: [{name: j, schedule: '@hourly', request: {url: 'http://s'}, auth: {bearer: t, bearer_file: f}, destinations: [h]}]\n", want: []string{"/jobs/0/auth"}},
		{name: "an empty kind is not given", doc: "jobs: [{name: j, schedule: '@hourly', request: {url: 'http://s'}, auth: {bearer: '', basic: {username: u}}, destinations: [h]}]\ndestinations: {h: {url: 'https://h'}}\n"},
		{name: "null auth, unitless 0, negative debounce", doc: "jobs: [{name: j, schedule: '@hourly', request: {url: 'http://s'}, auth: ~, jitter: 0, debounce: -1, destinations: [h]}]\n", want: []string{"/jobs/0/debounce"}},
		{name: "duration without unit", doc: "jobs: [{name: j, schedule: '@hourly', request: {url: 'http://s', timeout: 5}, destinations: [h]}]\n", want: []string{"/jobs/0/request/timeout"}},
		{name: "empty sections and ${VAR} in typed fields", doc: "server:\nstore:\nlimits:\njobs:\n- name: j\n  schedule: '@hourly'\n  request: {url: 'http://s', timeout: '${T:-5s}'}\n  emit_initial: '${E}'\n  destinations: [h]\ndestinations: {h: {url: 'https://h'}}\n"},
		{name: "YAML 1.1 boolean and a destination twice", doc: "jobs: [{name: j, schedule: '@hourly', request: {url: 'http://s'}, emit_initial: yes, destinations: [h, h]}]\n", want: []string{"/jobs/0/destinations", "/jobs/0/emit_initial"}},
	}
	for _, tc := range tests {
		t.Run(tc.file+tc.name, func(t *testing.T) {
			data := []byte(tc.doc)
			if tc.file != "" {
				var err error
				if data, err = os.ReadFile(filepath.Join("..", "testdata", "config", tc.file)); err != nil {
					t.Fatal(err)
				}
			}
			// The loader agrees: it rejects what the schema rejects, and
			// accepts the documents the schema must let through.
			_, err := Parse("c.yaml", data, mapEnv(map[string]string{"E": "true"}))
			if (err == nil) != (tc.want == nil) {
				t.Errorf("Parse: %v", err)
			}
			inst := yamlInstance(t, data)
			if got := rejected(sch, inst); !slices.Equal(got, tc.want) {
				t.Errorf("rejected at %q, want %q\n%v", got, tc.want, sch.Validate(inst))
			}
		})
	}
}

// TestSchemaCoversEveryField walks the configuration types by reflection
// and checks that the schema has exactly their yaml fields, refuses any
// other, and that fieldDocs and typeDocs describe exactly those.
func TestSchemaCoversEveryField(t *testing.T) {
	raw, err := JSONSchema()
	if err != nil {
		t.Fatal(err)
	}
	var root map[string]any
	if err := json.Unmarshal(raw, &root); err != nil {
		t.Fatal(err)
	}
	defs := root["$defs"].(map[string]any)
	documented := map[string]bool{}
	types := map[string]bool{}
	var walk func(t reflect.Type)
	walk = func(typ reflect.Type) {
		switch typ.Kind() {
		case reflect.Pointer, reflect.Slice, reflect.Map:
			walk(typ.Elem())
			return
		case reflect.Struct:
		default:
			return
		}
		if types[typ.Name()] {
			return
		}
		types[typ.Name()] = true
		s := root
		if typ != reflect.TypeFor[Config]() {
			d, ok := defs[typ.Name()].(map[string]any)
			if !ok {
				t.Errorf("no $defs/%s", typ.Name())
				return
			}
			s = d
		}
		if s["additionalProperties"] != false {
			t.Errorf("%s: additionalProperties %v, want false", typ.Name(), s["additionalProperties"])
		}
		if s["description"] == "" || s["description"] == nil {
			t.Errorf("%s has no description", typ.Name())
		}
		props := s["properties"].(map[string]any)
		var names []string
		for name := range props {
			names = append(names, name)
		}
		want := fieldNames(typ)
		slices.Sort(names)
		slices.Sort(want)
		if !slices.Equal(names, want) {
			t.Errorf("%s: schema properties %q, want the yaml fields %q", typ.Name(), names, want)
		}
		for i := range typ.NumField() {
			f := typ.Field(i)
			name := yamlName(f)
			if name == "" {
				continue
			}
			key := typ.Name() + "." + name
			documented[key] = true
			if fieldDocs[key].desc == "" {
				t.Errorf("fieldDocs has no description of %s", key)
			}
			walk(f.Type)
		}
	}
	walk(reflect.TypeFor[Config]())
	for key := range fieldDocs {
		if !documented[key] {
			t.Errorf("fieldDocs describes %s, which is not a field", key)
		}
	}
	for name := range typeDocs {
		if !types[name] {
			t.Errorf("typeDocs describes %s, which is not a configuration type", name)
		}
	}
	// Every definition is one of the types, or the ${VAR} helper.
	for name := range defs {
		if !types[name] && name != "expanded" {
			t.Errorf("$defs/%s is no configuration type", name)
		}
	}
}

// TestSchemaDefaults checks the defaults the schema states against the
// ones Parse applies to a minimal configuration.
func TestSchemaDefaults(t *testing.T) {
	c, err := Parse("c.yaml", []byte(`
limits: {per_host: {rate: 1}}
destinations: {h: {url: "https://h/in"}}
jobs: [{name: j, schedule: "@hourly", request: {url: "http://s"}, items: $, pagination: {type: link}, destinations: [h]}]
`), nil)
	if err != nil {
		t.Fatal(err)
	}
	j, d := c.Jobs[0], c.Destinations["h"]
	got := map[string]any{
		"Server.listen":            c.Server.Listen,
		"Store.path":               c.Store.Path,
		"Store.sync_writes":        *c.Store.SyncWrites,
		"HostRate.burst":           c.Limits.PerHost.Burst,
		"Destination.method":       d.Method,
		"Destination.timeout":      d.Timeout.String(),
		"Destination.concurrency":  d.Concurrency,
		"Batch.max_events":         d.Batch.MaxEvents,
		"Batch.max_wait":           d.Batch.MaxWait.String(),
		"Retry.initial_interval":   d.Retry.InitialInterval.String(),
		"Retry.max_interval":       d.Retry.MaxInterval.String(),
		"Retry.max_attempts":       d.Retry.MaxAttempts,
		"Retry.max_age":            d.Retry.MaxAge.String(),
		"Job.jitter":               j.Jitter.String(),
		"Job.debounce":             j.Debounce,
		"Job.emit_initial":         j.EmitInitial,
		"Job.notify_source_health": j.NotifySourceHealth,
		"Job.down_after":           j.DownAfter,
		"TLS.insecure_skip_verify": false,
		"Pagination.max_pages":     j.Pagination.MaxPages,
		"Request.method":           j.Request.Method,
		"Request.timeout":          j.Request.Timeout.String(),
		"Request.max_body_size":    j.Request.MaxBodySize.String(),
		"Guard.max_deleted_ratio":  j.Guard.MaxDeletedRatio,
		"Guard.confirm_polls":      j.Guard.ConfirmPolls,
		"Guard.max_changed_ratio":  j.Guard.MaxChangedRatio,
	}
	// A template's content type applies only with a template.
	c, err = Parse("c.yaml", []byte(`
destinations: {h: {url: "https://h/in", template: "{}"}}
jobs: [{name: j, schedule: "@hourly", request: {url: "http://s"}, destinations: [h]}]
`), nil)
	if err != nil {
		t.Fatal(err)
	}
	got["Destination.content_type"] = c.Destinations["h"].ContentType
	// Stream settings apply with a streams section.
	c, err = Parse("c.yaml", []byte(`
server: {admin_token: t}
streams: {}
destinations: {h: {url: "https://h/in"}}
jobs: [{name: j, schedule: "@hourly", request: {url: "http://s"}, destinations: [h]}]
`), nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Streams == nil {
		t.Fatal("streams: {} left Streams nil; want the section on with its defaults")
	}
	got["Streams.retention"] = c.Streams.Retention.String()
	got["Streams.max_clients"] = c.Streams.MaxClients
	got["Streams.buffer"] = c.Streams.Buffer
	got["Streams.heartbeat"] = c.Streams.Heartbeat.String()
	for key, doc := range fieldDocs {
		if doc.def == nil {
			continue
		}
		v, ok := got[key]
		if !ok {
			t.Errorf("%s: the schema states default %v, which this test does not check", key, doc.def)
			continue
		}
		if !reflect.DeepEqual(doc.def, v) {
			t.Errorf("%s: schema default %#v, Parse applies %#v", key, doc.def, v)
		}
	}
}

// TestSchemaPatterns holds each scalar pattern to the parser the decoder
// uses: it matches exactly the text the parser reads (and validation does
// not refuse for what the pattern can see, such as a negative size).
func TestSchemaPatterns(t *testing.T) {
	tests := []struct {
		name    string
		pattern string
		accepts func(string) bool
		samples []string
	}{
		{"duration", durationPattern, func(s string) bool { _, err := parseDuration(s); return err == nil },
			[]string{"30s", "1h30m", "1.5h", ".5s", "1.s", "0", "-1s", "+0", " 5m ", "300ms", "1µs", "1μs", "2us", "3ns",
				"10", "1d", "s", "", "1e3s", "1h 30m", "0s", "00", "1.2.3s", "."}},
		{"size", sizePattern, func(s string) bool { n, err := parseByteSize(s); return err == nil && n >= 0 },
			[]string{"1048576", "512KiB", "10MiB", "1MB", "10 mib", "3kb", "1B", "7TiB", "2GB", " 5 ", "0",
				"-1", "10 megs", "1.5MiB", "MiB", "", "1iB", "1KiBB"}},
		{"int", intPattern, func(s string) bool { _, err := strconv.ParseInt(s, 10, 0); return err == nil },
			[]string{"15", "-3", "+4", "0", "007", "1.0", "", " 1", "1e3", "0x10", "many"}},
		{"float", floatPattern, func(s string) bool {
			f, err := strconv.ParseFloat(s, 64)
			return err == nil && !math.IsInf(f, 0) && !math.IsNaN(f)
		}, []string{"0.5", "1", "-2.5", ".5", "5.", "1e3", "1E-2", "+0.1", "Inf", "NaN", "", "half", "1,5", " 1", "1e"}},
		{"bool", boolPattern, func(s string) bool { _, err := parseBool(s); return err == nil },
			[]string{"true", "True", "TRUE", "false", "False", "FALSE", "yes", "on", "1", "tRuE", ""}},
		{"header", headerPattern, headerName, []string{"X-Api-Key", "Authorization", "a!#$%&'*+-.^_`|~9", "Api Key", "", "X:Y", "Ünicode"}},
		{"name", namePattern.String(), namePattern.MatchString, []string{"orders", "audit.v2", "a_b-c", "-x", "open orders", ""}},
		{"method", foldPattern(destinationMethods), func(s string) bool { return slices.Contains(destinationMethods, strings.ToUpper(s)) },
			[]string{"GET", "get", "Post", "pAtCh", "PUT", "DELETE", "GETS", ""}},
	}
	for _, tc := range tests {
		re := regexp.MustCompile(tc.pattern)
		for _, s := range tc.samples {
			if got, want := re.MatchString(s), tc.accepts(s); got != want {
				t.Errorf("%s pattern matches %q: %v, the parser accepts it: %v", tc.name, s, got, want)
			}
		}
	}
	env := regexp.MustCompile(envRef)
	// A reference the loader expands, and text it keeps or refuses.
	for s, want := range map[string]bool{"${A}": true, "x ${A_1:-d} y": true, "${A:-}": true, "$A": false, "${1A}": false, "${A": false} {
		if env.MatchString(s) != want {
			t.Errorf("envRef matches %q: %v, want %v", s, !want, want)
		}
	}
}
