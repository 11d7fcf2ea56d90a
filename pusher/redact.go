package pusher

import (
	"context"
	"encoding/base64"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
)

// urlInText finds URLs inside free text: transport errors quote the request
// URL, receivers echo it in error pages, go-retryablehttp logs it.
var urlInText = regexp.MustCompile(`[a-zA-Z][a-zA-Z0-9+.-]*://[^\s"'<>]+`)

// RedactURL reduces a destination URL to its scheme and host, for logs and dumps. Userinfo and query strings
// carry credentials, and so does the path of many incoming-webhook URLs
// (Slack, Discord, Teams put the token there), so only the origin is kept;
// "/…" says that something was elided. Logs name the destination anyway.
func RedactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "<url>"
	}
	out := u.Scheme + "://" + u.Host
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		out += "/…"
	}
	return out
}

// redactor scrubs text bound for logs and the store: URLs are reduced by
// RedactURL and the destination's secrets are masked wherever they appear.
type redactor struct {
	secrets []string
}

// minSecretLen keeps very short values from being masked: they would blank
// ordinary words and guard nothing.
const minSecretLen = 4

// plainHeaders never carry credentials, so their values are not masked.
var plainHeaders = []string{"Accept", "Accept-Language", "Cache-Control", "Content-Type", "User-Agent"}

// destinationSecrets lists what a receiver may echo of d's credentials in
// an error page: the signing secrets, the values of its headers, and its
// URL's userinfo (also as the basic credentials Go sends for it), path
// (Slack, Discord and Teams put the token there) and query values; longest
// first, so that a secret containing another is masked whole.
func destinationSecrets(d Destination) []string {
	var out []string
	add := func(s string) {
		if len(s) >= minSecretLen && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	for _, s := range d.Secrets {
		add(s)
	}
	for name, v := range d.Header {
		if slices.Contains(plainHeaders, http.CanonicalHeaderKey(name)) {
			continue
		}
		add(v)
		// "Bearer abc", "Basic abc": the credential alone may be echoed.
		if _, cred, ok := strings.Cut(v, " "); ok {
			add(cred)
		}
	}
	if u, err := url.Parse(d.URL); err == nil {
		if u.User != nil {
			p, _ := u.User.Password()
			add(u.User.Username())
			add(p)
			add(base64.StdEncoding.EncodeToString([]byte(u.User.Username() + ":" + p)))
		}
		if u.Path != "/" {
			add(u.EscapedPath())
			add(u.Path)
		}
		for pair := range strings.SplitSeq(u.RawQuery, "&") {
			_, v, ok := strings.Cut(pair, "=")
			if !ok {
				v = pair
			}
			add(v)
			if dec, err := url.QueryUnescape(v); err == nil {
				add(dec)
			}
		}
	}
	slices.SortFunc(out, func(a, b string) int { return len(b) - len(a) })
	return out
}

func (r redactor) text(s string) string {
	s = urlInText.ReplaceAllStringFunc(s, func(u string) string {
		// Punctuation that ends a sentence or a parenthesis is not part of
		// the URL in prose; keep it after the redacted form.
		trimmed := strings.TrimRight(u, ").,;:!?")
		return RedactURL(trimmed) + u[len(trimmed):]
	})
	for _, sec := range r.secrets {
		if sec != "" {
			s = strings.ReplaceAll(s, sec, "<secret>")
		}
	}
	return s
}

// retryLogger adapts slog to go-retryablehttp's LeveledLogger. The library
// logs request URLs with their query strings and errors that quote them, so
// every string or error argument is redacted. Everything goes out at debug
// level: the pusher itself logs one line per failed delivery, and an
// in-process retry that then succeeds is not worth a warning.
type retryLogger struct {
	log    *slog.Logger
	redact redactor
}

func (l retryLogger) Error(msg string, kv ...any) { l.debug(msg, kv) }
func (l retryLogger) Warn(msg string, kv ...any)  { l.debug(msg, kv) }
func (l retryLogger) Info(msg string, kv ...any)  { l.debug(msg, kv) }
func (l retryLogger) Debug(msg string, kv ...any) { l.debug(msg, kv) }

func (l retryLogger) debug(msg string, kv []any) {
	if !l.log.Enabled(context.Background(), slog.LevelDebug) {
		return
	}
	args := make([]any, len(kv))
	for i, v := range kv {
		switch x := v.(type) {
		case string:
			if x == "error" && i%2 == 0 {
				x = "err" // the project's key for errors
			}
			args[i] = l.redact.text(x)
		case error:
			args[i] = l.redact.text(x.Error())
		default:
			args[i] = v
		}
	}
	l.log.Debug("http client: "+l.redact.text(msg), args...)
}
