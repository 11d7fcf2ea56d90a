package config

import (
	"strings"
	"testing"
)

// TestMalformedYAMLPositions pins where syntax errors are reported. yaml.v3
// prints 0-based lines for parser errors, 1-based ones for scanner errors,
// and none at all for some; all must come out 1-based and right.
func TestMalformedYAMLPositions(t *testing.T) {
	tests := []struct{ doc, want string }{
		{"a: b: c\n", "c.yaml:1: malformed YAML: mapping values are not allowed in this context"},
		{"x: 1\ny: 2\na: b: c\n", "c.yaml:3: malformed YAML: mapping values are not allowed in this context"},
		{"x: 1\ny: 2\na: [1, 2\n", "c.yaml:3: malformed YAML: did not find expected ',' or ']'"},
		{"x: 1\ny: 2\n- z\n", "c.yaml:3: malformed YAML: did not find expected key"},
		{"x: 1\ny:\n\t- b\n", "c.yaml:3: malformed YAML: found character that cannot start any token"},
		{"x: 1\ny: \"abc\n", "c.yaml:2: malformed YAML: found unexpected end of stream"},
		{"x: 1\ny: 2\nz: *nope\n", "c.yaml:3:4: malformed YAML: unknown anchor 'nope' referenced"},
		{"x: 1\ny: 'a\x01'\n", "c.yaml:2:6: malformed YAML: control characters are not allowed"},
		{"x: 1\ny: 'a\xff'\n", "c.yaml:2:6: malformed YAML: invalid leading UTF-8 octet"},
	}
	for _, tt := range tests {
		_, err := Parse("c.yaml", []byte(tt.doc), nil)
		if err == nil || err.Error() != tt.want {
			t.Errorf("Parse(%q):\n got %v\nwant %s", tt.doc, err, tt.want)
		}
	}
}

// TestStructuralProblems covers shapes of YAML that decode to nothing
// useful; each must give exactly the errors listed, no follow-ups.
func TestStructuralProblems(t *testing.T) {
	tests := []struct{ name, doc, want string }{
		{"empty file", "", "c.yaml:1:1: jobs: no jobs defined; expected at least one job with name, schedule, request.url and destinations"},
		{"comments only", "# nothing\n", "c.yaml:1:1: jobs: no jobs defined; expected at least one job with name, schedule, request.url and destinations"},
		{"root is a list", "- a\n", "c.yaml:1:1: expected a mapping with fields server, store, limits, destinations, jobs, streams, got a list"},
		{"alias cycle", "jobs: &a [*a]\n", "c.yaml:1:11: jobs[0]: alias refers to a value that contains it; YAML aliases must not form a cycle"},
		{"non-scalar key", "server: {[a]: 1}\njobs: []\n", "c.yaml:1:10: server: a key must be a plain name, got a list\n" +
			"c.yaml:2:1: jobs: no jobs defined; expected at least one job with name, schedule, request.url and destinations"},
		{"null job", "destinations: {hook: {url: \"https://h/\"}}\njobs:\n  - ~\n", "c.yaml:3:5: jobs[0].destinations: no destinations; expected a list with at least one of: hook\n" +
			"c.yaml:3:5: jobs[0].name: missing; every job needs a unique name\n" +
			"c.yaml:3:5: jobs[0].request.url: missing; expected an absolute http or https URL such as https://api.example.com/orders\n" +
			`c.yaml:3:5: jobs[0].schedule: missing; expected a cron expression or @every duration, e.g. "*/5 * * * *" or "@every 30s"`},
		{"null destination", "destinations:\n  hook:\njobs: [{name: j, schedule: \"@hourly\", request: {url: \"http://l/\"}, destinations: [hook]}]\n",
			"c.yaml:2:3: destinations.hook.url: missing; expected an absolute http or https URL such as https://hooks.example.com/orders"},
	}
	for _, tt := range tests {
		c, err := Parse("c.yaml", []byte(tt.doc), nil)
		if c != nil || err == nil || err.Error() != tt.want {
			t.Errorf("%s:\n got %v\nwant %s", tt.name, err, tt.want)
		}
	}
}

// TestAliasBomb checks that a small file that aliases expand into a huge
// one is refused early instead of being decoded whole: 200 jobs each
// aliasing a list of 1000 values make 200,000 values from 6 KB.
func TestAliasBomb(t *testing.T) {
	var b strings.Builder
	b.WriteString("jobs:\n  - {name: j0, ignore: &i [" + strings.Repeat("a, ", 999) + "a]}\n")
	for range 199 {
		b.WriteString("  - {ignore: *i}\n")
	}
	_, err := Parse("c.yaml", []byte(b.String()), nil)
	const want = "c.yaml:2:2419: the file expands to more than 100000 values through aliases; simplify its anchors"
	if err == nil || err.Error() != want {
		t.Errorf("alias bomb:\n got %v\nwant %s", err, want)
	}
}

func TestKeyPath(t *testing.T) {
	tests := []struct{ parent, key, want string }{
		{"", "jobs", "jobs"},
		{"destinations", "orders-hook", "destinations.orders-hook"},
		{"destinations", "audit.v2", `destinations["audit.v2"]`},
		{"destinations", "", `destinations[""]`},
		{"headers", "X Api", `headers["X Api"]`},
	}
	for _, tt := range tests {
		if got := keyPath(tt.parent, tt.key); got != tt.want {
			t.Errorf("keyPath(%q, %q) = %q, want %q", tt.parent, tt.key, got, tt.want)
		}
	}
}
