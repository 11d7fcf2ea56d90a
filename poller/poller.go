// Package poller performs one poll of one source: it builds the request,
// sends it with a bounded time and body size, and returns the raw body and
// the validators for the next conditional request.
package poller

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// DefaultMaxBodyBytes bounds a source response when the job sets no limit.
const DefaultMaxBodyBytes = 10 << 20

// DefaultTimeout bounds a poll whose Request sets no Timeout: a poll without
// any bound could hold its job's slot forever.
const DefaultTimeout = 10 * time.Second

// UserAgent is sent with every poll unless the job sets its own User-Agent.
const UserAgent = "pollhook"

// Request describes one poll.
type Request struct {
	Method       string // GET (default) or POST
	URL          string
	Header       http.Header
	Body         []byte
	Timeout      time.Duration // whole request, body included; 0 means DefaultTimeout
	MaxBodyBytes int64         // 0 means DefaultMaxBodyBytes
	ETag         string        // sent as If-None-Match when set
	LastModified string        // sent as If-Modified-Since when set

	Auth       Auth       // credentials sent with every request of the poll
	TLS        *TLS       // client certificate and trusted CAs for the source; nil: system defaults
	Pagination Pagination // how to fetch every page; zero: one request
}

// Auth is how a poll authenticates; at most one of its fields is set.
type Auth struct {
	Bearer string      // Authorization: Bearer <token>
	Basic  *BasicAuth  // Authorization: Basic
	Header *HeaderAuth // an API key in a header of its own
	OAuth2 *OAuth2     // client credentials grant; the token is cached and refreshed before it expires
}

// BasicAuth is HTTP basic authentication.
type BasicAuth struct{ Username, Password string }

// HeaderAuth sends Value in the header Name (X-API-Key: ...).
type HeaderAuth struct{ Name, Value string }

// OAuth2 is the OAuth 2.0 client credentials grant (RFC 6749 section 4.4).
type OAuth2 struct {
	TokenURL     string
	ClientID     string
	ClientSecret string
	Scopes       []string
}

// TLS configures TLS to the source: mTLS with a client certificate, a
// private CA, or (for tests of broken sources only) no verification.
type TLS struct {
	CAFile             string
	CertFile           string
	KeyFile            string
	InsecureSkipVerify bool
}

// Pagination says how a poll fetches every page of a paginated source.
// The pages' items (at ItemsPath) are merged into one document before it
// is compared; a failure on any page fails the whole poll.
type Pagination struct {
	Type       string // "" (one request), "link", "cursor", "page" or "offset"
	ItemsPath  string // the job's items path, where each page's items are
	CursorPath string // cursor: where the next cursor is in a page (empty or null: last page)
	Param      string // cursor, page or offset: the query parameter to set
	SizeParam  string // page or offset: the page size parameter (optional)
	Size       int    // page or offset: the page size; a shorter page is the last
	MaxPages   int    // at most this many pages (default DefaultMaxPages)
}

// DefaultMaxPages bounds a paginated poll whose Pagination sets no MaxPages.
const DefaultMaxPages = 100

// Response is the outcome of a successful poll.
type Response struct {
	Status       int
	Body         []byte // nil when NotModified
	ContentType  string
	ETag         string
	LastModified string
	NotModified  bool // the source answered 304
	Duration     time.Duration
}

// Poller sends polls through one shared HTTP client.
type Poller struct {
	client *http.Client
}

// New returns a Poller that sends through client, or through a client built
// for polling (see NewTransport) when client is nil.
func New(client *http.Client) *Poller {
	if client == nil {
		client = &http.Client{Transport: NewTransport()}
	}
	return &Poller{client: client}
}

// NewTransport returns the transport of the default client: connections are
// kept alive between polls of the same host, every network phase has its own
// bound, and no proxy is taken from the environment, because a sidecar
// polling an API next to it must not be silently routed elsewhere by an
// HTTP_PROXY meant for other programs.
func NewTransport() *http.Transport {
	dialer := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	return &http.Transport{
		Proxy:                  nil,
		DialContext:            dialer.DialContext,
		ForceAttemptHTTP2:      true,
		MaxIdleConns:           64,
		MaxIdleConnsPerHost:    8,
		IdleConnTimeout:        90 * time.Second,
		TLSHandshakeTimeout:    10 * time.Second,
		ExpectContinueTimeout:  time.Second,
		MaxResponseHeaderBytes: 1 << 20,
	}
}

// errPollTimeout is the cause of the per-poll deadline, which tells the
// poll's own timeout apart from a deadline the caller set.
var errPollTimeout = errors.New("poll timeout")

// Phases of a poll, named in timeout and cancellation messages so that the
// user knows whether the source was slow to answer or slow to send.
const (
	phaseResponse = "waiting for the response"
	phaseBody     = "reading the body"
)

// Poll sends req and returns the response of a successful poll. A failed
// poll (a non-2xx status other than 304, a timeout, a body over the limit, a
// transport failure or a cancelled ctx) returns an *Error. Any other error
// means req itself is invalid, which config validation should have caught.
func (p *Poller) Poll(ctx context.Context, req Request) (*Response, error) {
	hreq, err := newHTTPRequest(req)
	if err != nil {
		return nil, err
	}
	timeout := req.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	limit := req.MaxBodyBytes
	if limit <= 0 {
		limit = DefaultMaxBodyBytes
	}
	f := failer{parent: ctx, req: req, method: hreq.Method, url: RedactURL(req.URL), timeout: timeout}

	start := time.Now()
	pctx, cancel := context.WithTimeoutCause(ctx, timeout, errPollTimeout)
	defer cancel()
	f.pctx = pctx

	resp, err := p.client.Do(hreq.WithContext(pctx))
	if err != nil {
		return nil, f.transport(phaseResponse, err)
	}
	defer resp.Body.Close()

	out := &Response{
		Status:       resp.StatusCode,
		ContentType:  resp.Header.Get("Content-Type"),
		ETag:         resp.Header.Get("ETag"),
		LastModified: resp.Header.Get("Last-Modified"),
	}
	switch {
	case resp.StatusCode == http.StatusNotModified:
		// A 304 has no body by definition, so there is nothing to read.
		out.NotModified = true
		out.Duration = time.Since(start)
		return out, nil
	case resp.StatusCode < 200 || resp.StatusCode > 299:
		return nil, f.status(resp)
	case resp.ContentLength > limit:
		// The source announced more than we accept: fail before reading.
		return nil, f.tooLarge(limit)
	}

	// Reading one byte past the limit is how an overlong body is told apart
	// from one of exactly limit bytes without reading the rest of it.
	body, err := readBody(resp, limit)
	if err != nil {
		return nil, f.transport(phaseBody, err)
	}
	if int64(len(body)) > limit {
		return nil, f.tooLarge(limit)
	}
	out.Body = body
	out.Duration = time.Since(start)
	return out, nil
}

// newHTTPRequest builds the request of one poll, without its context.
func newHTTPRequest(req Request) (*http.Request, error) {
	method := strings.ToUpper(req.Method)
	switch method {
	case "":
		method = http.MethodGet
	case http.MethodGet, http.MethodPost:
	default:
		return nil, fmt.Errorf("poll %s: method %q is not GET or POST", RedactURL(req.URL), req.Method)
	}
	u, err := url.Parse(req.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		// The url.Parse error quotes the raw URL, credentials included.
		return nil, fmt.Errorf("poll %s %s: URL must be absolute http:// or https://", method, RedactURL(req.URL))
	}

	var body io.Reader
	if len(req.Body) > 0 {
		body = bytes.NewReader(req.Body)
	}
	// NewRequest rather than NewRequestWithContext: Poll attaches the context
	// that carries its own deadline.
	hreq, err := http.NewRequest(method, req.URL, body)
	if err != nil {
		return nil, fmt.Errorf("poll %s %s: %w", method, RedactURL(req.URL), errors.Unwrap(err))
	}
	if req.Header != nil {
		hreq.Header = req.Header.Clone()
	}
	// Go sends Request.Host, never a Host header field.
	if host := hreq.Header.Get("Host"); host != "" {
		hreq.Host = host
		hreq.Header.Del("Host")
	}
	// The transport only decodes gzip that it asked for itself; an explicit
	// Accept-Encoding would hand compressed bytes to the differ.
	hreq.Header.Del("Accept-Encoding")
	if hreq.Header.Get("User-Agent") == "" {
		hreq.Header.Set("User-Agent", UserAgent)
	}
	if len(req.Body) > 0 && hreq.Header.Get("Content-Type") == "" {
		hreq.Header.Set("Content-Type", "application/json")
	}
	if req.ETag != "" {
		hreq.Header.Set("If-None-Match", req.ETag)
	}
	if req.LastModified != "" {
		hreq.Header.Set("If-Modified-Since", req.LastModified)
	}
	return hreq, nil
}

// readBody reads at most limit+1 bytes of the body. With a Content-Length
// (never above limit here) the buffer is allocated once at that size:
// io.ReadAll's growing buffer costs twice the memory and three times the
// time on a 22 MB body. A gzip response has no usable length (Go removes
// it when it decodes), so it takes the growing path.
func readBody(resp *http.Response, limit int64) ([]byte, error) {
	r := io.LimitReader(resp.Body, limit+1)
	if resp.ContentLength <= 0 {
		return io.ReadAll(r)
	}
	var buf bytes.Buffer
	// bytes.MinRead more than announced: ReadFrom wants that much room
	// before each read, the last one included (the one that sees EOF), and
	// would otherwise double the buffer at the very end.
	buf.Grow(int(resp.ContentLength) + bytes.MinRead)
	_, err := buf.ReadFrom(r)
	return buf.Bytes(), err
}
