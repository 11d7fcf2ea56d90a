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
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"
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
	Timeout      time.Duration // whole poll: token, every page, bodies; 0 means DefaultTimeout
	MaxBodyBytes int64         // decoded bytes, all pages together; 0 means DefaultMaxBodyBytes
	ETag         string        // sent as If-None-Match when set, byte for byte (W/ included); never with Pagination
	LastModified string        // sent as If-Modified-Since when set; never with Pagination

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
	ItemsPath  string // where each page's items are, in the raw page (as differ.ParseItemsPath); "": the page is the array
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

// BodyReader reads the body of a successful poll as it comes in (see
// PollStream). length is the decoded body's length when it is known before
// it is read (an identity body with a Content-Length, or merged pages),
// else -1.
type BodyReader func(resp *Response, body io.Reader, length int64) error

// Poller sends polls through one shared HTTP client. It keeps what polls
// share: one client per distinct TLS setting and the OAuth2 tokens. It is
// safe for concurrent use.
type Poller struct {
	client *http.Client
	// base is the transport cloned for each TLS setting, nil when the
	// client's transport is not an *http.Transport.
	base *http.Transport

	mu         sync.Mutex
	tlsClients map[TLS]*http.Client
	tokens     map[tokenKey]*tokenEntry
}

// New returns a Poller that sends through client, or through a client built
// for polling (see NewTransport) when client is nil. A poll with TLS
// settings goes through a clone of client's transport, which must then be
// an *http.Transport.
func New(client *http.Client) *Poller {
	if client == nil {
		client = &http.Client{Transport: NewTransport()}
	}
	base, _ := client.Transport.(*http.Transport)
	if client.Transport == nil {
		base, _ = http.DefaultTransport.(*http.Transport)
	}
	return &Poller{client: client, base: base, tlsClients: map[TLS]*http.Client{}, tokens: map[tokenKey]*tokenEntry{}}
}

// errPollTimeout is the cause of the per-poll deadline, which tells the
// poll's own timeout apart from a deadline the caller set.
var errPollTimeout = errors.New("poll timeout")

// Phases of a poll, named in timeout and cancellation messages so that the
// user knows whether the source was slow to answer or slow to send.
const (
	phaseResponse = "waiting for the response"
	phaseBody     = "reading the body"
	phaseToken    = "fetching the oauth2 token"
)

// Poll sends req and returns the response of a successful poll: for a
// paginated source, every page merged into one document. A failed poll (a
// non-2xx status other than 304, a timeout, a body over the limit, a
// transport failure, an OAuth2 token that could not be had, a page that
// cannot be merged, or a cancelled ctx) returns an *Error. Any other error
// means req itself is invalid, which config validation should have caught.
//
// The timeout and the body limit bound the whole poll, every page and the
// token request included, because the scheduler budgets a poll, not a
// request.
func (p *Poller) Poll(ctx context.Context, req Request) (*Response, error) {
	return p.poll(ctx, req, nil)
}

// PollStream is Poll for a caller that reads the body as it comes in, so
// that a large one is never held whole. For a successful poll with a body
// (not a 304), read is called with the response, whose Body is nil, and
// the decoded body; the poll's timeout and body limit still hold, and a
// body that breaks either, or that cannot be read, fails read's reads with
// the *Error Poll would return. read's error is PollStream's. A paginated
// poll reads its pages as Poll does and hands read the merged document.
func (p *Poller) PollStream(ctx context.Context, req Request, read BodyReader) (*Response, error) {
	if read == nil {
		return nil, errors.New("poller: PollStream without a reader")
	}
	return p.poll(ctx, req, read)
}

// poll is Poll, and PollStream when read is set.
func (p *Poller) poll(ctx context.Context, req Request, read BodyReader) (*Response, error) {
	paginated := req.Pagination.Type != ""
	// Conditional requests only without pagination: an unchanged first
	// page says nothing about the others.
	hreq, err := newHTTPRequest(req, req.URL, !paginated)
	if err != nil {
		return nil, err
	}
	if err := checkRequest(req); err != nil {
		return nil, fmt.Errorf("poll %s %s: %w", hreq.Method, RedactURL(req.URL), err)
	}
	timeout := req.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	limit := req.MaxBodyBytes
	if limit <= 0 {
		limit = DefaultMaxBodyBytes
	}
	f := failer{parent: ctx, req: req, method: hreq.Method, url: RedactURL(req.URL), timeout: timeout, limit: limit}

	start := time.Now()
	pctx, cancel := context.WithTimeoutCause(ctx, timeout, errPollTimeout)
	defer cancel()
	f.pctx = pctx

	s := &poll{p: p, ctx: pctx, req: req, f: f, limit: limit}
	if err := s.prepare(); err != nil {
		return nil, err
	}
	var out *Response
	switch {
	case paginated:
		out, err = s.paginate()
		if err == nil && read != nil {
			body := out.Body
			out.Body = nil
			err = read(out, bytes.NewReader(body), int64(len(body)))
		}
	case read != nil:
		out, err = s.stream(hreq, read)
	default:
		out, err = s.single(hreq)
	}
	if err != nil {
		return nil, err
	}
	out.Duration = time.Since(start)
	return out, nil
}

// poll is one poll in flight.
type poll struct {
	p      *Poller
	ctx    context.Context // the caller's context with the poll's deadline
	req    Request
	f      failer
	client *http.Client
	limit  int64    // body bytes the poll may still read
	jobURL *url.URL // the job's URL, parsed, in a paginated poll

	// token is the OAuth2 token the poll sends, from entry.
	token *oauth2.Token
	entry *tokenEntry
}

// prepare picks the client for the poll's TLS setting and gets its OAuth2
// token.
func (s *poll) prepare() *Error {
	client, err := s.p.clientFor(s.req.TLS)
	if err != nil {
		return s.f.fail(ReasonTransport, err.Error(), err)
	}
	s.client = guardRedirects(client, s.req.Auth)
	if s.req.Auth.OAuth2 != nil {
		return s.fetchToken()
	}
	return nil
}

// single is a poll of one request.
func (s *poll) single(hreq *http.Request) (*Response, error) {
	resp, body, err := s.send(hreq, true)
	if err != nil {
		return nil, err
	}
	out := response(resp)
	out.Body = body
	return out, nil
}

// response is the part of a Response that resp's header says.
func response(resp *http.Response) *Response {
	return &Response{
		Status:       resp.StatusCode,
		ContentType:  resp.Header.Get("Content-Type"),
		ETag:         resp.Header.Get("ETag"),
		LastModified: resp.Header.Get("Last-Modified"),
		NotModified:  resp.StatusCode == http.StatusNotModified,
	}
}

// send sends one request of the poll with its credentials and returns the
// answer, its body read and closed. A 304 counts as success only when
// notModifiedOK; its body, which it has none of by definition, is not
// read.
func (s *poll) send(hreq *http.Request, notModifiedOK bool) (*http.Response, []byte, error) {
	resp, err := s.do(hreq, notModifiedOK)
	if err != nil || resp.StatusCode == http.StatusNotModified {
		return resp, nil, err
	}
	defer resp.Body.Close()
	body, err := readBody(resp, s.limit)
	if err != nil {
		return nil, nil, s.bodyError(err)
	}
	drain(resp)
	s.limit -= int64(len(body))
	return resp, body, nil
}

// do sends one request of the poll with its credentials and returns a
// successful answer with its body unread (closed for a 304), or the
// poll's failure.
func (s *poll) do(hreq *http.Request, notModifiedOK bool) (*http.Response, error) {
	s.authorize(hreq)
	resp, err := s.client.Do(hreq.WithContext(s.ctx))
	if err != nil {
		return nil, s.f.transport(phaseResponse, err)
	}
	switch code := resp.StatusCode; {
	case code == http.StatusNotModified && notModifiedOK:
		drain(resp)
		resp.Body.Close()
		return resp, nil
	case code < 200 || code > 299:
		if code == http.StatusUnauthorized {
			s.dropToken()
		}
		perr := s.f.status(resp)
		drain(resp)
		resp.Body.Close()
		return nil, perr
	}
	return resp, nil
}

// bodyError is the poll's failure when its body could not be read.
func (s *poll) bodyError(err error) *Error {
	if errors.Is(err, errTooLarge) {
		return s.f.tooLarge()
	}
	if eerr, ok := errors.AsType[*encodingError](err); ok {
		return s.f.fail(ReasonResponse, eerr.Error(), nil)
	}
	return s.f.transport(phaseBody, err)
}

// stream is a poll of one request whose body read reads as it comes in.
func (s *poll) stream(hreq *http.Request, read BodyReader) (*Response, error) {
	resp, err := s.do(hreq, true)
	if err != nil {
		return nil, err
	}
	out := response(resp)
	if out.NotModified {
		return out, nil
	}
	defer resp.Body.Close()
	r, identity, err := decoder(resp)
	if err == nil && identity && resp.ContentLength > s.limit {
		err = errTooLarge
	}
	if err != nil {
		return nil, s.bodyError(err)
	}
	length := int64(-1)
	if identity && resp.ContentLength >= 0 {
		length = resp.ContentLength
	}
	body := &limitedBody{s: s, r: r, left: s.limit}
	if err := read(out, body, length); err != nil {
		return nil, err
	}
	drain(resp)
	return out, nil
}

// limitedBody is a body read as it comes in, with the poll's limit, and
// its failures turned into the poll's.
type limitedBody struct {
	s    *poll
	r    io.Reader
	left int64 // bytes it may still read
	err  error // the failure, once there was one
}

func (b *limitedBody) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	// One byte past the limit tells an overlong body from one of exactly
	// limit bytes.
	if int64(len(p)) > b.left+1 {
		p = p[:b.left+1]
	}
	n, err := b.r.Read(p)
	if b.left -= int64(n); b.left < 0 {
		b.err = b.s.bodyError(errTooLarge)
		return 0, b.err
	}
	if err != nil && !errors.Is(err, io.EOF) {
		b.err = b.s.bodyError(err)
		return n, b.err
	}
	return n, err
}

// newHTTPRequest builds one request of the poll req to rawURL, without its
// context and credentials. The validators for a conditional request are
// sent when conditional is set.
func newHTTPRequest(req Request, rawURL string, conditional bool) (*http.Request, error) {
	method := strings.ToUpper(req.Method)
	switch method {
	case "":
		method = http.MethodGet
	case http.MethodGet, http.MethodPost:
	default:
		return nil, fmt.Errorf("poll %s: method %q is not GET or POST", RedactURL(rawURL), req.Method)
	}
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		// The url.Parse error quotes the raw URL, credentials included.
		return nil, fmt.Errorf("poll %s %s: URL must be absolute http:// or https://", method, RedactURL(rawURL))
	}

	var body io.Reader
	if len(req.Body) > 0 {
		body = bytes.NewReader(req.Body)
	}
	// NewRequest rather than NewRequestWithContext: Poll attaches the context
	// that carries its own deadline.
	hreq, err := http.NewRequest(method, rawURL, body)
	if err != nil {
		return nil, fmt.Errorf("poll %s %s: %w", method, RedactURL(rawURL), errors.Unwrap(err))
	}
	if req.Header != nil {
		hreq.Header = req.Header.Clone()
	}
	// Go sends Request.Host, never a Host header field.
	if host := hreq.Header.Get("Host"); host != "" {
		hreq.Host = host
		hreq.Header.Del("Host")
	}
	// The poller decodes the body itself (see readBody): a job's own
	// Accept-Encoding could ask for an encoding it cannot read.
	hreq.Header.Set("Accept-Encoding", acceptEncoding)
	if hreq.Header.Get("User-Agent") == "" {
		hreq.Header.Set("User-Agent", UserAgent)
	}
	if len(req.Body) > 0 && hreq.Header.Get("Content-Type") == "" {
		hreq.Header.Set("Content-Type", "application/json")
	}
	if conditional && req.ETag != "" {
		hreq.Header.Set("If-None-Match", req.ETag)
	}
	if conditional && req.LastModified != "" {
		hreq.Header.Set("If-Modified-Since", req.LastModified)
	}
	return hreq, nil
}

// checkRequest validates what newHTTPRequest does not: the credentials
// and the pagination.
func checkRequest(req Request) error {
	if err := req.Auth.check(); err != nil {
		return err
	}
	return req.Pagination.check()
}
