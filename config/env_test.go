package config

import (
	"reflect"
	"testing"
)

func TestExpand(t *testing.T) {
	env := mapEnv(map[string]string{"HOST": "legacy", "EMPTY": "", "PORT": "8080"})
	tests := []struct {
		in       string
		want     string
		problems []string
	}{
		{"plain", "plain", nil},
		{"http://${HOST}:${PORT}/x", "http://legacy:8080/x", nil},
		{"${MISSING:-fallback}", "fallback", nil},
		{"${EMPTY:-fallback}", "fallback", nil}, // empty counts as unset, as in a shell
		{"${EMPTY}", "", nil},
		{"${MISSING:-}", "", nil},
		{"${HOST:-other}", "legacy", nil},
		{"${MISSING:-a:-b}", "a:-b", nil},
		{"price $$5", "price $5", nil},
		{"$$${HOST}", "$legacy", nil},
		{"$HOST $1 $", "$HOST $1 $", nil}, // only ${...} expands
		{"${MISSING}", "", []string{"environment variable MISSING is not set (give it a value or write ${MISSING:-default})"}},
		{"${A}-${B}", "-", []string{
			"environment variable A is not set (give it a value or write ${A:-default})",
			"environment variable B is not set (give it a value or write ${B:-default})",
		}},
		{"${}", "", []string{`"${}" is not a valid variable reference; expected ${NAME} or ${NAME:-default}`}},
		{"${1X}", "", []string{`"${1X}" is not a valid variable reference; expected ${NAME} or ${NAME:-default}`}},
		{"${X-d}", "", []string{`"${X-d}" is not a valid variable reference; expected ${NAME} or ${NAME:-default}`}},
		{"a ${HOST", "a ${HOST", []string{`unterminated "${"; close it with "}" or write $$ for a literal $`}},
	}
	for _, tt := range tests {
		got, problems := expand(tt.in, env)
		if got != tt.want || !reflect.DeepEqual(problems, tt.problems) {
			t.Errorf("expand(%q) = %q, %q; want %q, %q", tt.in, got, problems, tt.want, tt.problems)
		}
	}
}

// TestExpansionKeepsPositions checks that a value whose expansion fails is
// reported at its own line and column, and that keys are never expanded.
func TestExpansionKeepsPositions(t *testing.T) {
	const doc = `jobs:
  - name: ${NAME}
    "${KEY}": x
    schedule: "@hourly"
    request: {url: "http://l/1"}
    destinations: [hook]
destinations:
  hook: {url: "https://h/1"}
`
	_, err := Parse("c.yaml", []byte(doc), nil)
	want := "c.yaml:2:5: jobs[0].name: environment variable NAME is not set (give it a value or write ${NAME:-default})\n" +
		`c.yaml:3:5: jobs[0]["${KEY}"]: unknown field; expected one of: name, schedule, jitter, request, items, key, ignore, unordered, response, transform, when, debounce, emit_initial, guard, events, destinations, auth, tls, pagination, backoff, notify_source_health, down_after`
	if err == nil || err.Error() != want {
		t.Errorf("got\n%v\nwant\n%s", err, want)
	}
}
