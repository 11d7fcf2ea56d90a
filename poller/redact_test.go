package poller

import (
	"net/url"
	"testing"
)

func TestRedactURL(t *testing.T) {
	tests := []struct{ raw, want string }{
		{"http://127.0.0.1:4000/api/orders", "http://127.0.0.1:4000/api/orders"},
		{"http://127.0.0.1:4000/api/orders?token=abc", "http://127.0.0.1:4000/api/orders?token=REDACTED"},
		{"https://user:pass@legacy:8443/a?x=1&y=2&x=3", "https://legacy:8443/a?x=REDACTED&y=REDACTED&x=REDACTED"},
		{"https://onlyuser@legacy/a", "https://legacy/a"},
		{"http://h/a?bare-token&k=&=v", "http://h/a?REDACTED&k=REDACTED&=REDACTED"},
		{"http://h/a?k=v;w=x", "http://h/a?k=REDACTED"},
		{"http://h/a?", "http://h/a?"},
		{"http://h/cb#access_token=abc", "http://h/cb"},
		{"http:user:pass@host/x", "http:REDACTED"},
		{"//user:pass@host/x?q=1", "//host/x?q=REDACTED"},
		{"http://u:p w@h/", "[invalid URL]"},
		{"http://h:port/", "[invalid URL]"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := RedactURL(tt.raw); got != tt.want {
			t.Errorf("RedactURL(%q) = %q, want %q", tt.raw, got, tt.want)
		}
	}
}

func FuzzRedactURL(f *testing.F) {
	f.Add("http://user:pass@127.0.0.1:4000/api?token=abc#frag", "user", "pass")
	f.Add("http:user:pass@host", "a@b", "p:w/d?#")
	f.Add("//u@h?x", "", "")
	f.Add("%zz", "é", "\x00")
	f.Fuzz(func(t *testing.T, raw, user, password string) {
		// Any input: no panic, and what comes out carries no userinfo and
		// no query value.
		if out := RedactURL(raw); out != invalidURL {
			if u, err := url.Parse(out); err == nil {
				if u.User != nil {
					t.Errorf("RedactURL(%q) = %q keeps userinfo", raw, out)
				}
				for _, v := range queryValues(u.RawQuery) {
					if v != redacted && v != "" {
						t.Errorf("RedactURL(%q) = %q keeps query value %q", raw, out, v)
					}
				}
			}
		}
		// A well-formed URL holding the password in its userinfo and its
		// query redacts to exactly its harmless parts.
		u := url.URL{Scheme: "https", User: url.UserPassword(user, password), Host: "example.com", Path: "/x", RawQuery: "token=" + url.QueryEscape(password)}
		const want = "https://example.com/x?token=REDACTED"
		if got := RedactURL(u.String()); got != want {
			t.Errorf("RedactURL(%q) = %q, want %q", u.String(), got, want)
		}
	})
}
