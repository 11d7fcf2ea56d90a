package pusher

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestRedactText(t *testing.T) {
	r := redactor{secrets: []string{"whsec_c2VjcmV0", "hunter2"}}
	tests := []struct {
		in, want string
	}{
		{`Post "https://user:pw@hooks.example.com/in?token=abc": dial tcp 10.0.0.1:443: connect: connection refused`,
			`Post "https://hooks.example.com/…": dial tcp 10.0.0.1:443: connect: connection refused`},
		{"POST http://127.0.0.1:8080/hook?sig=x (status: 503)", "POST http://127.0.0.1:8080/… (status: 503)"},
		{"see https://hooks.slack.com/services/T0/B0/XXXX for details", "see https://hooks.slack.com/… for details"},
		{"http://example.com/", "http://example.com"},
		{"http://example.com", "http://example.com"},
		{"<a href='https://a.example/x?y'>here</a>", "<a href='https://a.example/…'>here</a>"},
		{"bad http://%zz/x", "bad <url>"},
		{"the secret whsec_c2VjcmV0 and hunter2 leaked", "the secret <secret> and <secret> leaked"},
		{"plain text", "plain text"},
		{"(moved to https://h.example/v2?k=1).", "(moved to https://h.example/…)."},
		{"already redacted: http://h.example/…", "already redacted: http://h.example/…"},
	}
	for _, tt := range tests {
		if got := r.text(tt.in); got != tt.want {
			t.Errorf("redact(%q) =\n%q\nwant\n%q", tt.in, got, tt.want)
		}
	}
}

func TestRetryLogger(t *testing.T) {
	var buf bytes.Buffer
	h := slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug, ReplaceAttr: dropTime})
	l := retryLogger{log: slog.New(h), redact: redactor{secrets: []string{"s3cr3t"}}}
	l.Error("request failed", "error", errors.New(`Post "http://h.example/p?key=s3cr3t": EOF`), "method", "POST", "url", "http://h.example/p?key=s3cr3t")
	l.Debug("retrying request", "request", "POST http://h.example/p?key=1 (status: 503)", "timeout", 250*time.Millisecond, "remaining", 1)
	want := `level=DEBUG msg="http client: request failed" err="Post \"http://h.example/…\": EOF" method=POST url=http://h.example/…` + "\n" +
		`level=DEBUG msg="http client: retrying request" request="POST http://h.example/… (status: 503)" timeout=250ms remaining=1` + "\n"
	if buf.String() != want {
		t.Errorf("log =\n%s\nwant\n%s", buf.String(), want)
	}

	// Above debug level nothing is formatted at all.
	buf.Reset()
	quiet := retryLogger{log: slog.New(slog.NewTextHandler(&buf, nil))}
	quiet.Error("request failed", "url", "http://h.example/")
	if buf.Len() != 0 {
		t.Errorf("info-level logger wrote %q", buf.String())
	}
}

func dropTime(_ []string, a slog.Attr) slog.Attr {
	if a.Key == slog.TimeKey {
		return slog.Attr{}
	}
	return a
}

func TestTruncateUTF8(t *testing.T) {
	tests := []struct {
		in   string
		n    int
		want string
	}{
		{"short", 10, "short"},
		{"abcdef", 3, "abc…"},
		{"héllo", 2, "h…"}, // é is two bytes: not split
		{"bad\xffbyte", 20, "bad\uFFFDbyte"},
		{strings.Repeat("x", 2000), 1024, strings.Repeat("x", 1024) + "…"},
	}
	for _, tt := range tests {
		if got := truncateUTF8(tt.in, tt.n); got != tt.want {
			t.Errorf("truncateUTF8(%q, %d) = %q, want %q", tt.in, tt.n, got, tt.want)
		}
	}
}

// TestDestinationSecrets: what a receiver may echo of a destination's
// credentials in its error page is masked in the failure reason.
func TestDestinationSecrets(t *testing.T) {
	d := Destination{
		URL:     "https://hookuser:hookpass@hooks.example.com/services/T0/B0/xoxb-token?token=q-secret&bare-token",
		Secrets: []string{"whsec_c2VjcmV0"},
		Header:  map[string]string{"Authorization": "Bearer hdr-secret", "Content-Type": "text/plain", "X-Id": "abc"},
	}
	r := redactor{secrets: destinationSecrets(d)}
	tests := []struct{ in, want string }{
		{"denied /services/T0/B0/xoxb-token?token=q-secret&bare-token", "denied <secret>?token=<secret>&<secret>"},
		{"got Authorization=Bearer hdr-secret", "got Authorization=<secret>"},
		{"got hdr-secret", "got <secret>"},
		{"got Authorization=Basic aG9va3VzZXI6aG9va3Bhc3M=", "got Authorization=Basic <secret>"},
		{"user hookuser pass hookpass", "user <secret> pass <secret>"},
		{"content-type text/plain, id abc", "content-type text/plain, id abc"}, // plain headers and short values stay
	}
	for _, tt := range tests {
		if got := r.text(tt.in); got != tt.want {
			t.Errorf("text(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
