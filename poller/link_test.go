package poller

import (
	"strings"
	"testing"
)

func TestNextLink(t *testing.T) {
	tests := []struct {
		name   string
		values []string
		want   string
		ok     bool
	}{
		{name: "none"},
		{name: "GitHub", values: []string{`<https://api.github.com/repos/x/y/issues?page=2>; rel="next", <https://api.github.com/repos/x/y/issues?page=5>; rel="last"`}, want: "https://api.github.com/repos/x/y/issues?page=2", ok: true},
		{name: "next after last", values: []string{`</o?p=9>; rel="last", </o?p=2>; rel="next"`}, want: "/o?p=2", ok: true},
		{name: "in a second field", values: []string{`</o?p=9>; rel="last"`, `</o?p=2>; rel=next`}, want: "/o?p=2", ok: true},
		{name: "one of several relation types, any case", values: []string{`</o?p=2>; rel="prefetch NEXT"`}, want: "/o?p=2", ok: true},
		{name: "other parameters first", values: []string{`</o?p=2> ; title="a, \"b\"; c" ;type=application/json; rel="next"`}, want: "/o?p=2", ok: true},
		{name: "comma in the target", values: []string{`</o?ids=1,2>; rel="next"`}, want: "/o?ids=1,2", ok: true},
		{name: "only the first rel counts", values: []string{`</o?p=2>; rel="prev"; rel="next"`}},
		{name: "rev is not rel", values: []string{`</o?p=2>; rev="next"`}},
		{name: "next-page is not next", values: []string{`</o?p=2>; rel="next-page"`}},
		{name: "malformed skipped", values: []string{`junk; rel="next", </o?p=2>; rel="next"`}, want: "/o?p=2", ok: true},
		{name: "unterminated target", values: []string{`</o?p=2; rel="next"`}},
		{name: "empty target", values: []string{`<>; rel="next"`}, want: "", ok: true},
		{name: "rel without a value", values: []string{`</o?p=2>; rel`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := nextLink(tt.values)
			if got != tt.want || ok != tt.ok {
				t.Errorf("nextLink(%q) = %q, %v; want %q, %v", tt.values, got, ok, tt.want, tt.ok)
			}
		})
	}
}

// FuzzNextLink: any header value is scanned to its end without a panic,
// and a target found is a bracketed part of it.
func FuzzNextLink(f *testing.F) {
	f.Add(`</o?p=2>; rel="next", </o?p=9>; rel="last"`)
	f.Add(`<a>;rel="\"next\\";,<b>; rel=next`)
	f.Add(`<;>,;=,"`)
	f.Fuzz(func(t *testing.T, v string) {
		target, ok := nextLink([]string{v})
		if ok && !strings.Contains(v, "<"+target+">") {
			t.Errorf("nextLink(%q) = %q, not a target in it", v, target)
		}
	})
}
