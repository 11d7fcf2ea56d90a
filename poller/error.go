package poller

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Reason classifies a failed poll. The set is closed, so a Reason can label
// a metric.
type Reason string

// The reasons a poll fails for.
const (
	ReasonStatus    Reason = "status"    // the source answered non-2xx, other than 304
	ReasonTimeout   Reason = "timeout"   // the poll's timeout or the caller's deadline passed
	ReasonTooLarge  Reason = "too_large" // the body is over the limit
	ReasonTransport Reason = "transport" // connection, TLS or protocol failure
	ReasonCanceled  Reason = "canceled"  // the caller cancelled the context
	ReasonAuth      Reason = "auth"      // the OAuth2 token endpoint gave no token
	ReasonResponse  Reason = "response"  // a page cannot be read or merged as the pagination says
)

// Error is a failed poll. Its message names the method and the redacted URL
// and says what went wrong; it never contains credentials.
type Error struct {
	Reason Reason
	Method string
	URL    string // redacted by RedactURL
	Status int    // the HTTP status when Reason is ReasonStatus, else 0
	Detail string // what went wrong, free of credentials
	Err    error  // the underlying cause, if any; it never quotes the URL
	// RetryAfter is the wait a 429 or 503 answer asked for in its
	// Retry-After header (0: none); the scheduler delays the job's next poll.
	RetryAfter time.Duration
}

// Error returns "poll METHOD URL: detail".
func (e *Error) Error() string {
	return "poll " + e.Method + " " + e.URL + ": " + e.Detail
}

// Unwrap returns the underlying cause, such as context.Canceled or
// context.DeadlineExceeded.
func (e *Error) Unwrap() error { return e.Err }

// maxSnippet bounds how much of an error response's body goes into an Error.
const maxSnippet = 200

// minSecretLen keeps very short header or query values from being scrubbed
// out of a body snippet: they would blank ordinary words and guard nothing.
const minSecretLen = 4

// plainHeaders never carry credentials, so their values are not scrubbed.
var plainHeaders = []string{"Accept", "Accept-Language", "Cache-Control", "Content-Type", "User-Agent"}

// failer builds the Errors of one poll.
type failer struct {
	parent  context.Context // the caller's context
	pctx    context.Context // parent plus the poll's own timeout
	req     Request
	method  string
	url     string // redacted
	timeout time.Duration
	limit   int64  // the poll's body limit
	page    int    // the page being fetched in a paginated poll, else 0
	token   string // the OAuth2 access token sent, if any
}

// fail builds an Error. In a paginated poll the detail starts with the
// page, since Error.URL is the job's URL, not the page's.
func (f failer) fail(reason Reason, detail string, err error) *Error {
	if f.page > 0 {
		detail = "page " + strconv.Itoa(f.page) + ": " + detail
	}
	return &Error{Reason: reason, Method: f.method, URL: f.url, Detail: detail, Err: err}
}

// transport classifies an error from sending the request or reading the
// body. The contexts are asked first, because the same deadline surfaces as
// different errors depending on the phase it hit.
func (f failer) transport(phase string, err error) *Error {
	// A *url.Error quotes the full URL, credentials included: keep its cause.
	if uerr, ok := errors.AsType[*url.Error](err); ok {
		err = uerr.Err
	}
	// Go's transport names its own internals when the connection fails
	// before any answer ("readLoopPeekFailLocked: remote error: tls:
	// certificate required"): the cause alone is what a user can act on.
	if inner := errors.Unwrap(err); inner != nil && strings.HasPrefix(err.Error(), "readLoopPeekFailLocked: ") {
		err = inner
	}
	switch {
	case errors.Is(f.parent.Err(), context.Canceled):
		return f.fail(ReasonCanceled, "canceled "+phase, context.Canceled)
	case errors.Is(context.Cause(f.pctx), errPollTimeout):
		return f.fail(ReasonTimeout, fmt.Sprintf("timed out after %s %s", f.timeout, phase), context.DeadlineExceeded)
	case errors.Is(f.parent.Err(), context.DeadlineExceeded):
		return f.fail(ReasonTimeout, "deadline exceeded "+phase, context.DeadlineExceeded)
	}
	if nerr, ok := errors.AsType[net.Error](err); ok && nerr.Timeout() {
		return f.fail(ReasonTimeout, "timed out "+phase+": "+err.Error(), err)
	}
	return f.fail(ReasonTransport, err.Error(), err)
}

// tooLarge reports a body over the poll's limit, which in a paginated
// poll bounds all pages together: their merged document is what is held.
func (f failer) tooLarge() *Error {
	if f.page > 0 {
		return f.fail(ReasonTooLarge, fmt.Sprintf("the pages exceed the limit of %d bytes together (max_body_size)", f.limit), nil)
	}
	return f.fail(ReasonTooLarge, fmt.Sprintf("body exceeds the limit of %d bytes (max_body_size)", f.limit), nil)
}

// status reports a non-2xx answer with the start of its body, which often
// says why ("maintenance until 02:00", "invalid api key").
func (f failer) status(resp *http.Response) *Error {
	code := resp.StatusCode
	detail := statusDetail(code)
	secrets := f.secrets()
	if r := resp.Request; r != nil && r.URL != nil && r.URL.String() != f.req.URL {
		secrets = sortedSecrets(append(secrets, redirectSecrets(r.URL)...))
	}
	// Reading past maxSnippet by the longest secret lets a secret that
	// straddles the cut be scrubbed whole rather than leak its first bytes.
	extra := 0
	if len(secrets) > 0 {
		extra = len(secrets[0])
	}
	limit := maxSnippet + extra
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, int64(limit+1)))
	more := len(raw) > limit
	if snippet := snippetText(raw[:min(len(raw), limit)], more, secrets); snippet != "" {
		detail += ": " + snippet
	}
	e := f.fail(ReasonStatus, detail, nil)
	e.Status = code
	if code == http.StatusTooManyRequests || code == http.StatusServiceUnavailable {
		e.RetryAfter = retryAfter(resp.Header.Get("Retry-After"), time.Now())
	}
	return e
}

// maxRetryAfter bounds a Retry-After so that no answer overflows a
// Duration; the scheduler caps the wait much lower.
const maxRetryAfter = 1 << 30 * time.Second

// retryAfter parses a Retry-After value (RFC 9110 section 10.2.3): a
// number of seconds or an HTTP date, which is turned into the wait from
// now. Anything else, and a date in the past, is no wait.
func retryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if strings.Trim(v, "0123456789") == "" {
		secs, err := strconv.ParseInt(v, 10, 64)
		if err != nil || secs > int64(maxRetryAfter/time.Second) {
			return maxRetryAfter // only digits: too many for an int64
		}
		return time.Duration(secs) * time.Second
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0
	}
	return min(max(t.Sub(now), 0), maxRetryAfter)
}

// statusDetail names a status by its code and standard text, never by the
// reason phrase the source sent.
func statusDetail(code int) string {
	detail := "status " + strconv.Itoa(code)
	if text := http.StatusText(code); text != "" {
		detail += " " + text
	}
	return detail
}

// secrets lists the credentials a source might echo in an error body: the
// URL's userinfo and query values and the request's header values, longest
// first so that a secret containing another is scrubbed whole.
func (f failer) secrets() []string {
	var out []string
	add := func(s string) {
		if len(s) >= minSecretLen {
			out = append(out, s)
		}
	}
	for _, s := range f.req.Auth.secrets() {
		add(s)
	}
	add(f.token)
	if u, err := url.Parse(f.req.URL); err == nil {
		if u.User != nil {
			add(u.User.Username())
			if p, ok := u.User.Password(); ok {
				add(p)
			}
		}
		for _, v := range queryValues(u.RawQuery) {
			add(v)
		}
	}
	for name, values := range f.req.Header {
		if slices.Contains(plainHeaders, http.CanonicalHeaderKey(name)) {
			continue
		}
		for _, v := range values {
			add(v)
			// "Bearer abc", "Basic abc": the credential alone may be echoed.
			if _, cred, ok := strings.Cut(v, " "); ok {
				add(cred)
			}
		}
	}
	return sortedSecrets(out)
}

// redirectSecrets lists the credentials of the URL a redirect led to, which
// the source may echo too: its userinfo, also as the basic credentials Go
// sends for it, and its query values.
func redirectSecrets(u *url.URL) []string {
	out := queryValues(u.RawQuery)
	if u.User != nil {
		p, _ := u.User.Password()
		out = append(out, u.User.Username(), p, base64.StdEncoding.EncodeToString([]byte(u.User.Username()+":"+p)))
	}
	return out
}

// sortedSecrets drops values too short to be worth masking and sorts the
// rest longest first, so that a secret containing another is scrubbed whole.
func sortedSecrets(s []string) []string {
	s = slices.DeleteFunc(s, func(v string) bool { return len(v) < minSecretLen })
	slices.SortFunc(s, func(a, b string) int { return len(b) - len(a) })
	return s
}

// snippetText turns the start of a body into one line of printable text of
// at most maxSnippet bytes, with secrets replaced. It ends in "..." when it
// was cut or when more of the body remained unread.
func snippetText(raw []byte, more bool, secrets []string) string {
	var sb strings.Builder
	space := false
	for len(raw) > 0 {
		r, size := utf8.DecodeRune(raw)
		raw = raw[size:]
		// Control characters, newlines and invalid bytes would break a log
		// line or a terminal; they become a single space.
		if r == utf8.RuneError || !unicode.IsPrint(r) {
			r = ' '
		}
		if r == ' ' {
			if space || sb.Len() == 0 {
				continue
			}
			space = true
		} else {
			space = false
		}
		sb.WriteRune(r)
	}
	s := sb.String()
	for _, secret := range secrets {
		s = strings.ReplaceAll(s, secret, redacted)
	}
	if len(s) > maxSnippet {
		cut := maxSnippet
		for !utf8.RuneStart(s[cut]) {
			cut--
		}
		s, more = s[:cut], true
	}
	s = strings.TrimRight(s, " ")
	if more && s != "" {
		s += "..."
	}
	return s
}
