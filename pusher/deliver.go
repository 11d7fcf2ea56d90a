package pusher

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/hashicorp/go-retryablehttp"
)

const (
	// inProcessRetries is go-retryablehttp's RetryMax: a couple of quick
	// retries within one attempt. The durable schedule lives in the store.
	inProcessRetries = 2
	// maxResponseRead bounds how much of a response body is read (and so
	// drained for connection reuse); maxReasonBody bounds what of it is kept
	// as the failure reason.
	maxResponseRead = 64 << 10
	maxReasonBody   = 1 << 10
)

// destination is a validated Destination with its client and signing keys.
type destination struct {
	Destination
	policy RetryPolicy
	keys   [][]byte // decoded Standard Webhooks keys, one per secret
	client *retryablehttp.Client
	redact redactor
	now    func() time.Time
	tmpl   *bodyTemplate // the body template, if any (see checkShape)
}

// newClient builds the destination's go-retryablehttp client over the shared
// transport.
func (d *destination) newClient(tr http.RoundTripper, logger *slog.Logger, opts Options) {
	d.client = &retryablehttp.Client{
		HTTPClient: &http.Client{
			Transport: tr,
			Timeout:   d.Timeout, // per attempt: each in-process try gets its own
			// Redirects are a failure, not something to follow: a POST that
			// silently lands elsewhere (or turns into a GET) is not a delivery.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		Logger:       retryLogger{log: logger, redact: d.redact},
		RetryWaitMin: opts.RetryWaitMin,
		RetryWaitMax: opts.RetryWaitMax,
		RetryMax:     inProcessRetries,
		CheckRetry:   checkRetry(opts.RetryWaitMax, d.now),
		Backoff: func(lo, hi time.Duration, attemptNum int, resp *http.Response) time.Duration {
			var after time.Duration
			var hasAfter bool
			if resp != nil {
				after, hasAfter = parseRetryAfter(resp.StatusCode, resp.Header, d.now())
			}
			return backoff(lo, hi, attemptNum+1, after, hasAfter, opts.Rand)
		},
		// Keep the last response so its status and body become the reason.
		ErrorHandler: retryablehttp.PassthroughErrorHandler,
		PrepareRetry: d.resign,
	}
}

// sign sets webhook-timestamp to now and the signature headers of the
// destination's scheme. It runs before every try, so a late retry carries a
// fresh timestamp that receivers enforcing a tolerance still accept.
func (d *destination) sign(h http.Header, body []byte, now time.Time) {
	ts := now.Unix()
	h.Set(HeaderTimestamp, strconv.FormatInt(ts, 10))
	switch d.Signature {
	case "standard":
		id := h.Get(HeaderID)
		sigs := make([]string, len(d.keys))
		for i, key := range d.keys {
			sigs[i] = "v1," + base64.StdEncoding.EncodeToString(standardMAC(key, id, ts, body))
		}
		h.Set(HeaderSignature, strings.Join(sigs, " "))
	case "github":
		h.Set(HeaderGitHub, SignGitHub(d.Secrets[0], body))
	}
}

// resign is go-retryablehttp's PrepareRetry.
func (d *destination) resign(r *http.Request) error {
	rc, err := r.GetBody()
	if err != nil {
		return fmt.Errorf("re-read request body: %w", err)
	}
	body, err := io.ReadAll(rc)
	rc.Close()
	if err != nil {
		return fmt.Errorf("re-read request body: %w", err)
	}
	// The header map is shared with the previous try's request (the library
	// makes a shallow copy), so it is cloned rather than written in place.
	r.Header = r.Header.Clone()
	d.sign(r.Header, body, d.now())
	return nil
}

// result is what one durable attempt (up to 1+inProcessRetries tries) gave.
type result struct {
	outcome       outcome
	status        int    // 0: no response
	reason        string // redacted, for the store and the log
	retryAfter    time.Duration
	hasRetryAfter bool
	cancelled     bool // cut short by shutdown: does not count as an attempt
}

// deliver sends one rendered request (one event, or a batch: see render)
// to the destination. ctx is the pusher's send context: cancelled only when
// the drain grace period ends.
func (d *destination) deliver(ctx context.Context, p payload, userAgent string) result {
	// The URL was validated in New, so neither error below should happen;
	// both would quote the URL, so they are redacted.
	target := d.URL
	if p.query != "" {
		var err error
		if target, err = withQuery(d.URL, p.query); err != nil {
			return result{outcome: retryLater, reason: d.redact.text(err.Error())}
		}
	}
	// A GET's nil body goes out as no body at all (net/http probes an
	// empty one): no Content-Length, no chunked encoding.
	req, err := retryablehttp.NewRequestWithContext(ctx, d.Method, target, p.body)
	if err != nil {
		return result{outcome: retryLater, reason: d.redact.text(err.Error())}
	}
	req.Header.Set("User-Agent", userAgent)
	for k, v := range d.Header {
		req.Header.Set(k, v)
	}
	if p.contentType != "" {
		req.Header.Set("Content-Type", p.contentType)
	}
	req.Header.Set(HeaderID, p.id)
	// Without a body the signature covers the empty body: it vouches for
	// the id and the time, not for the query string (see docs/WEBHOOKS.md).
	d.sign(req.Header, p.body, d.now())

	resp, err := d.client.Do(req)
	if resp == nil {
		if err == nil {
			err = errors.New("no response")
		}
		if ctx.Err() != nil {
			return result{outcome: retryLater, cancelled: true, reason: "cancelled by shutdown"}
		}
		return result{outcome: retryLater, reason: d.redact.text(err.Error())}
	}
	// A response counts even when err is set (the drain ended as it
	// arrived): the receiver has processed the request.
	text, _ := io.ReadAll(io.LimitReader(resp.Body, maxResponseRead))
	resp.Body.Close()

	res := result{outcome: classify(resp.StatusCode, nil), status: resp.StatusCode}
	if res.outcome == delivered {
		return res
	}
	res.retryAfter, res.hasRetryAfter = parseRetryAfter(resp.StatusCode, resp.Header, d.now())
	res.reason = d.redact.text(statusReason(resp, text))
	return res
}

// statusReason describes a failed answer: the status line, the redirect
// target for 3xx, and the start of the body, which is where receivers
// explain themselves.
func statusReason(resp *http.Response, body []byte) string {
	var b strings.Builder
	b.WriteString(strconv.Itoa(resp.StatusCode))
	if text := http.StatusText(resp.StatusCode); text != "" {
		b.WriteString(" " + text)
	}
	if resp.StatusCode >= 300 && resp.StatusCode <= 399 {
		b.WriteString(" (redirects are not followed")
		if loc := resp.Header.Get("Location"); loc != "" {
			b.WriteString("; location " + redactLocation(resp.Request, loc))
		}
		b.WriteString(")")
	}
	if body := truncateUTF8(strings.TrimSpace(string(body)), maxReasonBody); body != "" {
		b.WriteString(": " + body)
	}
	return b.String()
}

// redactLocation resolves a relative Location against the request so the
// redacted form still names the host it points to.
func redactLocation(req *http.Request, loc string) string {
	if req != nil && req.URL != nil {
		if u, err := req.URL.Parse(loc); err == nil {
			return RedactURL(u.String())
		}
	}
	return RedactURL(loc)
}

// truncateUTF8 cuts s to at most n bytes without splitting a rune, and
// replaces invalid UTF-8 so the reason stays printable.
func truncateUTF8(s string, n int) string {
	if len(s) > n {
		cut := n
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}
