package pusher

import (
	"context"
	"log/slog"
	"net/url"
	"regexp"
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
