package poller

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"strings"
	"sync"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// check refuses credentials that cannot be sent.
func (a Auth) check() error {
	n := 0
	for _, set := range []bool{a.Bearer != "", a.Basic != nil, a.Header != nil, a.OAuth2 != nil} {
		if set {
			n++
		}
	}
	switch {
	case n > 1:
		return errors.New("auth: set only one of bearer, basic, header and oauth2")
	case a.Header != nil && a.Header.Name == "":
		return errors.New("auth: header needs a name")
	case a.OAuth2 != nil && a.OAuth2.TokenURL == "":
		return errors.New("auth: oauth2 needs a token_url")
	}
	return nil
}

// secrets lists the credentials of a, in every form a source might echo
// them in an error body.
func (a Auth) secrets() []string {
	var out []string
	switch {
	case a.Bearer != "":
		out = append(out, a.Bearer)
	case a.Basic != nil:
		out = append(out, a.Basic.Password, base64.StdEncoding.EncodeToString([]byte(a.Basic.Username+":"+a.Basic.Password)))
	case a.Header != nil:
		out = append(out, a.Header.Value)
	case a.OAuth2 != nil:
		out = append(out, a.OAuth2.ClientSecret)
	}
	return out
}

// authorize sets the poll's credentials on one of its requests; every
// page of a poll carries the same.
func (s *poll) authorize(hreq *http.Request) {
	a := s.req.Auth
	switch {
	case a.Bearer != "":
		hreq.Header.Set("Authorization", "Bearer "+a.Bearer)
	case a.Basic != nil:
		hreq.SetBasicAuth(a.Basic.Username, a.Basic.Password)
	case a.Header != nil:
		hreq.Header.Set(a.Header.Name, a.Header.Value)
	case s.token != nil:
		s.token.SetAuthHeader(hreq)
	}
}

// guardRedirects returns client, or for an API key in a header of its own
// a copy of it that drops that header when a redirect leaves the host. Go
// drops Authorization and cookies there, but not a header it cannot know
// to be a credential.
func guardRedirects(client *http.Client, a Auth) *http.Client {
	if a.Header == nil {
		return client
	}
	name, next := a.Header.Name, client.CheckRedirect
	c := *client
	c.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if !strings.EqualFold(req.URL.Host, via[0].URL.Host) {
			req.Header.Del(name)
		}
		if next != nil {
			return next(req, via)
		}
		// http.Client's own policy.
		if len(via) >= 10 {
			return errors.New("stopped after 10 redirects")
		}
		return nil
	}
	return &c
}

// tokenKey identifies the OAuth2 tokens that polls share. The secret is
// part of it, hashed, so that two jobs differing only in their secret do
// not share a token obtained with the other's.
type tokenKey struct {
	tokenURL, clientID, scopes string
	secret                     [sha256.Size]byte
}

// tokenEntry is the cached token of one tokenKey.
type tokenEntry struct {
	config *clientcredentials.Config
	// fetching is held while a token is requested, so that polls sharing
	// the token wait for one request rather than each sending their own.
	fetching chan struct{}
	mu       sync.Mutex
	token    *oauth2.Token
}

// tokenEntry returns the cache entry of o, creating it on first use.
func (p *Poller) tokenEntry(o *OAuth2) *tokenEntry {
	key := tokenKey{
		tokenURL: o.TokenURL,
		clientID: o.ClientID,
		scopes:   strings.Join(o.Scopes, " "),
		secret:   sha256.Sum256([]byte(o.ClientSecret)),
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	e := p.tokens[key]
	if e == nil {
		e = &tokenEntry{
			config: &clientcredentials.Config{
				ClientID:     o.ClientID,
				ClientSecret: o.ClientSecret,
				TokenURL:     o.TokenURL,
				Scopes:       o.Scopes,
			},
			fetching: make(chan struct{}, 1),
		}
		p.tokens[key] = e
	}
	return e
}

// cached returns the entry's token while it is valid: oauth2's Valid
// counts a token as expired 10 seconds before its expiry, so a token is
// replaced before the source could refuse it mid-poll.
func (e *tokenEntry) cached() *oauth2.Token {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.token.Valid() {
		return e.token
	}
	return nil
}

// fetchToken sets the poll's OAuth2 token, cached or requested from the
// token endpoint through the poll's client (its TLS setting applies to
// the token endpoint too) within the poll's deadline.
func (s *poll) fetchToken() *Error {
	e := s.p.tokenEntry(s.req.Auth.OAuth2)
	s.entry = e
	if s.token = e.cached(); s.token != nil {
		s.f.token = s.token.AccessToken
		return nil
	}
	select {
	case e.fetching <- struct{}{}:
	case <-s.ctx.Done():
		return s.f.transport(phaseToken, s.ctx.Err())
	}
	defer func() { <-e.fetching }()
	// Another poll may have fetched it while this one waited.
	if s.token = e.cached(); s.token != nil {
		s.f.token = s.token.AccessToken
		return nil
	}
	rec := &recorder{next: s.client.Transport}
	if rec.next == nil {
		rec.next = http.DefaultTransport
	}
	client := *s.client
	client.Transport = rec
	tok, err := e.config.Token(context.WithValue(s.ctx, oauth2.HTTPClient, &client))
	if err != nil {
		return s.tokenError(err, rec.err)
	}
	e.mu.Lock()
	e.token = tok
	e.mu.Unlock()
	s.token = tok
	s.f.token = tok.AccessToken
	return nil
}

// dropToken forgets the poll's token after the source refused it (401),
// so that the next poll asks for a new one instead of sending a revoked
// token until it expires. A token another poll has since replaced it with
// stays.
func (s *poll) dropToken() {
	if s.entry == nil {
		return
	}
	s.entry.mu.Lock()
	defer s.entry.mu.Unlock()
	if s.entry.token == s.token {
		s.entry.token = nil
	}
}

// tokenError turns a failure of the token endpoint into the poll's Error.
// oauth2 formats a transport failure with %v, quoting the token URL and
// losing the cause, so the cause comes from the recorder instead, and the
// endpoint's own words go through the snippet scrubber like any error
// body: the client secret never shows.
func (s *poll) tokenError(err, transportErr error) *Error {
	if transportErr == nil {
		// A deadline that hit while the answer was being read.
		transportErr = s.ctx.Err()
	}
	where := "oauth2 token from " + RedactURL(s.req.Auth.OAuth2.TokenURL) + ": "
	if transportErr != nil {
		perr := s.f.transport(phaseToken, transportErr)
		if perr.Reason != ReasonTransport {
			return perr // timed out or canceled
		}
		return s.f.fail(ReasonAuth, where+perr.Err.Error(), perr.Err)
	}
	secrets := s.f.secrets()
	var detail string
	if rerr, ok := errors.AsType[*oauth2.RetrieveError](err); ok {
		detail = statusDetail(rerr.Response.StatusCode)
		what := rerr.ErrorCode
		if rerr.ErrorDescription != "" {
			what += ": " + rerr.ErrorDescription
		}
		if what == "" {
			what = string(rerr.Body)
		}
		if snippet := snippetText([]byte(what), false, secrets); snippet != "" {
			detail += ": " + snippet
		}
	} else {
		raw := s.req.Auth.OAuth2.TokenURL
		detail = snippetText([]byte(strings.ReplaceAll(err.Error(), raw, RedactURL(raw))), false, secrets)
	}
	return s.f.fail(ReasonAuth, where+detail, nil)
}

// recorder keeps the error of the last round trip through it: oauth2
// reports a transport failure only as text.
type recorder struct {
	next http.RoundTripper
	err  error
}

// RoundTrip sends req through the next transport and records its error.
func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := r.next.RoundTrip(req)
	r.err = err
	return resp, err
}
