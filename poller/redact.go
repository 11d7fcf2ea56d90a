package poller

import (
	"net/url"
	"strings"
)

// redacted replaces every query value in a redacted URL.
const redacted = "REDACTED"

// invalidURL stands for a URL that does not parse: any part of it might be a
// secret, so none of it is shown.
const invalidURL = "[invalid URL]"

// RedactURL returns raw fit for errors and logs: the userinfo and the
// fragment are dropped and every query value becomes REDACTED, while the
// scheme, host, path and query keys stay so that a user still recognises the
// source. A URL that does not parse yields "[invalid URL]".
func RedactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return invalidURL
	}
	u.User = nil
	u.Fragment, u.RawFragment = "", ""
	if u.Opaque != "" {
		// "http:user:pass@host" parses as an opaque URL.
		u.Opaque = redacted
	}
	u.RawQuery = redactQuery(u.RawQuery)
	return u.String()
}

// redactQuery keeps the keys of a raw query in their order and replaces each
// value. A pair without "=" is replaced whole: some APIs take a bare token.
func redactQuery(raw string) string {
	if raw == "" {
		return ""
	}
	pairs := strings.Split(raw, "&")
	for i, pair := range pairs {
		if pair == "" {
			continue
		}
		key, _, ok := strings.Cut(pair, "=")
		if !ok {
			pairs[i] = redacted
			continue
		}
		pairs[i] = key + "=" + redacted
	}
	return strings.Join(pairs, "&")
}

// queryValues returns every value of a raw query, both as written and
// decoded, since a source may echo either form.
func queryValues(raw string) []string {
	var out []string
	for pair := range strings.SplitSeq(raw, "&") {
		_, value, ok := strings.Cut(pair, "=")
		if !ok {
			value = pair
		}
		out = append(out, value)
		if decoded, err := url.QueryUnescape(value); err == nil && decoded != value {
			out = append(out, decoded)
		}
	}
	return out
}
