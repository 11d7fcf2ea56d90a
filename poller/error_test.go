package poller

import (
	"strings"
	"testing"
)

func TestSnippetText(t *testing.T) {
	secret := "sk_live_0123456789"
	tests := []struct {
		name    string
		raw     string
		more    bool
		secrets []string
		want    string
	}{
		{name: "empty", raw: "", want: ""},
		{name: "only whitespace", raw: " \n\t\r ", want: ""},
		{name: "controls and invalid UTF-8 become one space", raw: "a\x00\x1b[31mb\xff\xfe c\n", want: "a [31mb c"},
		{name: "unread rest is marked", raw: "start of a longer body", more: true, want: "start of a longer body..."},
		{name: "secret replaced", raw: "bad key " + secret + ".", secrets: []string{secret}, want: "bad key REDACTED."},
		{
			name:    "secret straddling the cut is scrubbed before cutting",
			raw:     strings.Repeat("x ", 96) + "key=" + secret + " rest",
			secrets: []string{secret},
			want:    strings.Repeat("x ", 96) + "key=REDA...",
		},
		{
			name:    "longer secret first",
			raw:     "Bearer abcd1234 / abcd1234",
			secrets: []string{"Bearer abcd1234", "abcd1234"},
			want:    "REDACTED / REDACTED",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := snippetText([]byte(tt.raw), tt.more, tt.secrets)
			if got != tt.want {
				t.Errorf("snippetText = %q, want %q", got, tt.want)
			}
			if len(strings.TrimSuffix(got, "...")) > maxSnippet {
				t.Errorf("snippet of %d bytes, want at most %d", len(got), maxSnippet)
			}
		})
	}
}
