package poller

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestPollAuth(t *testing.T) {
	tests := []struct {
		name string
		auth Auth
		want http.Header // the credentials the source saw
	}{
		{name: "bearer", auth: Auth{Bearer: "t0ken"}, want: http.Header{"Authorization": {"Bearer t0ken"}}},
		{name: "basic", auth: Auth{Basic: &BasicAuth{Username: "ops", Password: "pa:ss"}}, want: http.Header{"Authorization": {"Basic b3BzOnBhOnNz"}}},
		{name: "header", auth: Auth{Header: &HeaderAuth{Name: "x-api-key", Value: "k3y"}}, want: http.Header{"X-Api-Key": {"k3y"}}},
		{name: "none", want: http.Header{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			seen := make(chan http.Header, 1)
			srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
				h := r.Header.Clone()
				for _, plain := range []string{"User-Agent", "Accept-Encoding"} {
					h.Del(plain)
				}
				seen <- h
			})
			if _, err := New(nil).Poll(t.Context(), Request{URL: srv.URL, Auth: tt.auth}); err != nil {
				t.Fatalf("Poll: %v", err)
			}
			if got := <-seen; !reflect.DeepEqual(got, tt.want) {
				t.Errorf("source saw %v, want %v", got, tt.want)
			}
		})
	}
}

func TestPollAuthScrubbed(t *testing.T) {
	tests := []struct {
		name string
		auth Auth
		echo string
		want string
	}{
		{name: "bearer", auth: Auth{Bearer: "t0ken-123"}, echo: "token t0ken-123 expired", want: "token REDACTED expired"},
		{name: "basic password and header", auth: Auth{Basic: &BasicAuth{Username: "ops", Password: "hunter22"}}, echo: "bad hunter22 in Basic b3BzOmh1bnRlcjIy", want: "bad REDACTED in Basic REDACTED"},
		{name: "api key", auth: Auth{Header: &HeaderAuth{Name: "X-Api-Key", Value: "k3y-456"}}, echo: "key k3y-456 unknown", want: "key REDACTED unknown"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
				http.Error(w, tt.echo, http.StatusForbidden)
			})
			perr := pollErr(t, New(nil), t.Context(), Request{URL: srv.URL, Auth: tt.auth})
			if want := "poll GET " + srv.URL + ": status 403 Forbidden: " + tt.want; perr.Error() != want {
				t.Errorf("error %q, want %q", perr.Error(), want)
			}
		})
	}
}

func TestAuthCheck(t *testing.T) {
	tests := []struct {
		auth Auth
		want string
	}{
		{Auth{Bearer: "a", Header: &HeaderAuth{Name: "X", Value: "b"}}, "auth: set only one of bearer, basic, header and oauth2"},
		{Auth{Basic: &BasicAuth{}, OAuth2: &OAuth2{TokenURL: "http://t"}}, "auth: set only one of bearer, basic, header and oauth2"},
		{Auth{Header: &HeaderAuth{Value: "b"}}, "auth: header needs a name"},
		{Auth{OAuth2: &OAuth2{ClientID: "c"}}, "auth: oauth2 needs a token_url"},
	}
	for _, tt := range tests {
		_, err := New(nil).Poll(t.Context(), Request{URL: "http://127.0.0.1:1/x?k=v", Auth: tt.auth})
		want := "poll GET http://127.0.0.1:1/x?k=REDACTED: " + tt.want
		if err == nil || err.Error() != want {
			t.Errorf("Poll(%+v) error = %v, want %q", tt.auth, err, want)
		}
		if _, ok := errors.AsType[*Error](err); ok {
			t.Errorf("an invalid auth is not a failed poll, got *Error")
		}
	}
}

// The test client's credentials.
const (
	clientID     = "client-a"
	clientSecret = "s3cret-client"
)

// tokenServer is an OAuth2 token endpoint that grants tok-1, tok-2, ...
// to clientID and clientSecret, each valid for expiresIn seconds.
type tokenServer struct {
	*httptest.Server
	expiresIn int
	issued    atomic.Int32
	mu        sync.Mutex
	forms     []string // the bodies of the token requests
	auths     []string // and their Authorization headers
}

func newTokenServer(t *testing.T, expiresIn int) *tokenServer {
	ts := &tokenServer{expiresIn: expiresIn}
	ts.Server = serve(t, func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		ts.mu.Lock()
		ts.forms = append(ts.forms, string(body))
		ts.auths = append(ts.auths, r.Header.Get("Authorization"))
		ts.mu.Unlock()
		if id, secret, _ := r.BasicAuth(); id != clientID || secret != clientSecret {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		n := ts.issued.Add(1)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"access_token":"tok-%d","token_type":"bearer","expires_in":%d}`, n, ts.expiresIn)
	})
	return ts
}

// requests returns the bodies and Authorization headers of the token
// requests so far.
func (ts *tokenServer) requests() (forms, auths []string) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return slices.Clone(ts.forms), slices.Clone(ts.auths)
}

// bearerSource is a source that records the Authorization of each poll
// and refuses the tokens in revoked with a 401.
type bearerSource struct {
	*httptest.Server
	mu      sync.Mutex
	seen    []string
	revoked map[string]bool
}

func newBearerSource(t *testing.T, revoked ...string) *bearerSource {
	s := &bearerSource{revoked: map[string]bool{}}
	for _, r := range revoked {
		s.revoked[r] = true
	}
	s.Server = serve(t, func(w http.ResponseWriter, r *http.Request) {
		auth := r.Header.Get("Authorization")
		s.mu.Lock()
		s.seen = append(s.seen, auth)
		s.mu.Unlock()
		if s.revoked[auth] {
			http.Error(w, "token revoked", http.StatusUnauthorized)
			return
		}
		io.WriteString(w, `[]`)
	})
	return s
}

func (s *bearerSource) authorizations() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.seen)
}

func oauth2Auth(tokenURL string, scopes ...string) Auth {
	return Auth{OAuth2: &OAuth2{TokenURL: tokenURL, ClientID: clientID, ClientSecret: clientSecret, Scopes: scopes}}
}

// TestPollOAuth2Cache: a token is fetched once and sent until it comes
// within oauth2's expiry delta (10s) of its expiry; one that expires in 5s
// is already due, so every poll refreshes it.
func TestPollOAuth2Cache(t *testing.T) {
	tests := []struct {
		name      string
		expiresIn int
		want      []string // the Authorization of each of 3 polls
	}{
		{name: "valid for an hour", expiresIn: 3600, want: []string{"Bearer tok-1", "Bearer tok-1", "Bearer tok-1"}},
		{name: "no expiry", expiresIn: 0, want: []string{"Bearer tok-1", "Bearer tok-1", "Bearer tok-1"}},
		{name: "refreshed before expiry", expiresIn: 5, want: []string{"Bearer tok-1", "Bearer tok-2", "Bearer tok-3"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ts := newTokenServer(t, tt.expiresIn)
			src := newBearerSource(t)
			p := New(nil)
			for range 3 {
				if _, err := p.Poll(t.Context(), Request{URL: src.URL, Auth: oauth2Auth(ts.URL+"/token", "read:orders", "write")}); err != nil {
					t.Fatalf("Poll: %v", err)
				}
			}
			if got := src.authorizations(); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("source saw %q, want %q", got, tt.want)
			}
			// The client credentials grant, as RFC 6749 section 4.4.2 has it.
			wantForm := "grant_type=client_credentials&scope=read%3Aorders+write"
			wantAuth := "Basic Y2xpZW50LWE6czNjcmV0LWNsaWVudA=="
			forms, auths := ts.requests()
			for i := range forms {
				if forms[i] != wantForm || auths[i] != wantAuth {
					t.Errorf("token request %d: %q with %q, want %q with %q", i, forms[i], auths[i], wantForm, wantAuth)
				}
			}
		})
	}
}

// TestPollOAuth2Revoked: a 401 from the source drops the cached token, so
// the poll after it gets a new one rather than sending the refused token
// until it expires.
func TestPollOAuth2Revoked(t *testing.T) {
	t.Parallel()
	ts := newTokenServer(t, 3600)
	src := newBearerSource(t, "Bearer tok-1")
	p := New(nil)
	req := Request{URL: src.URL, Auth: oauth2Auth(ts.URL)}
	perr := pollErr(t, p, t.Context(), req)
	if want := "poll GET " + src.URL + ": status 401 Unauthorized: token revoked"; perr.Error() != want || perr.Status != 401 {
		t.Errorf("first poll: %q (status %d), want %q", perr.Error(), perr.Status, want)
	}
	for range 2 {
		if _, err := p.Poll(t.Context(), req); err != nil {
			t.Fatalf("Poll after the 401: %v", err)
		}
	}
	want := []string{"Bearer tok-1", "Bearer tok-2", "Bearer tok-2"}
	if got := src.authorizations(); !reflect.DeepEqual(got, want) {
		t.Errorf("source saw %q, want %q", got, want)
	}
}

// TestPollOAuth2Shared: jobs with the same token URL, client and scopes
// share one token, also when they poll at once on a cold cache; other
// scopes or another secret get their own.
func TestPollOAuth2Shared(t *testing.T) {
	t.Parallel()
	ts := newTokenServer(t, 3600)
	src := newBearerSource(t)
	p := New(nil)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := range 8 {
		wg.Go(func() {
			_, err := p.Poll(t.Context(), Request{URL: fmt.Sprintf("%s/job/%d", src.URL, i), Auth: oauth2Auth(ts.URL, "read")})
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("Poll: %v", err)
		}
	}
	if n := ts.issued.Load(); n != 1 {
		t.Fatalf("8 concurrent polls fetched %d tokens, want 1", n)
	}
	if _, err := p.Poll(t.Context(), Request{URL: src.URL, Auth: oauth2Auth(ts.URL, "read", "write")}); err != nil {
		t.Fatalf("Poll: %v", err)
	}
	other := oauth2Auth(ts.URL, "read")
	other.OAuth2.ClientSecret = "another-secret"
	pollErr(t, p, t.Context(), Request{URL: src.URL, Auth: other})
	if n := ts.issued.Load(); n != 2 {
		t.Errorf("tokens issued = %d, want 2 (one per scope set; the wrong secret gets none)", n)
	}
	if forms, _ := ts.requests(); len(forms) != 4 {
		// read; read write; the wrong secret in the header, then in the form
		t.Errorf("token requests = %d, want 4", len(forms))
	}
}

// TestPollOAuth2Failure: a token endpoint that gives no token fails the
// poll before the source is asked, with the endpoint's reason scrubbed of
// the client secret.
func TestPollOAuth2Failure(t *testing.T) {
	down := httptest.NewServer(http.NotFoundHandler())
	downURL := down.URL
	down.Close()
	tests := []struct {
		name     string
		handler  http.HandlerFunc // the token endpoint; nil: nothing listens
		tokenURL string           // for a nil handler
		timeout  time.Duration
		want     string // after "poll GET <source>: "; TOKEN is the token URL, redacted
		reason   Reason
	}{
		{
			name: "invalid client",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusUnauthorized)
				io.WriteString(w, `{"error":"invalid_client","error_description":"secret s3cret-client is wrong"}`)
			},
			want:   "oauth2 token from TOKEN: status 401 Unauthorized: invalid_client: secret REDACTED is wrong",
			reason: ReasonAuth,
		},
		{
			name: "server error with a text body",
			handler: func(w http.ResponseWriter, r *http.Request) {
				http.Error(w, "db down\nwhile checking s3cret-client", http.StatusInternalServerError)
			},
			want:   "oauth2 token from TOKEN: status 500 Internal Server Error: db down while checking REDACTED",
			reason: ReasonAuth,
		},
		{
			name: "no access token",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				io.WriteString(w, `{"token_type":"bearer"}`)
			},
			want:   "oauth2 token from TOKEN: oauth2: server response missing access_token",
			reason: ReasonAuth,
		},
		{
			name:     "endpoint down",
			tokenURL: downURL + "/token?realm=s3cret-realm",
			want:     "oauth2 token from " + downURL + "/token?realm=REDACTED: dial tcp " + strings.TrimPrefix(downURL, "http://") + ": connect: connection refused",
			reason:   ReasonAuth,
		},
		{
			name: "endpoint slow",
			handler: func(w http.ResponseWriter, r *http.Request) {
				// The server notices the client hang up only once the
				// request body is read.
				io.ReadAll(r.Body)
				<-r.Context().Done()
			},
			timeout: 100 * time.Millisecond,
			want:    "timed out after 100ms fetching the oauth2 token",
			reason:  ReasonTimeout,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tokenURL := tt.tokenURL
			if tt.handler != nil {
				tokenURL = serve(t, tt.handler).URL + "/token"
			}
			src := newBearerSource(t)
			perr := pollErr(t, New(nil), t.Context(), Request{URL: src.URL, Auth: oauth2Auth(tokenURL), Timeout: tt.timeout})
			want := "poll GET " + src.URL + ": " + strings.ReplaceAll(tt.want, "TOKEN", RedactURL(tokenURL))
			if perr.Error() != want || perr.Reason != tt.reason {
				t.Errorf("error\n%q (%s)\nwant\n%q (%s)", perr.Error(), perr.Reason, want, tt.reason)
			}
			for err := error(perr); err != nil; err = errors.Unwrap(err) {
				if msg := err.Error(); strings.Contains(msg, clientSecret) || strings.Contains(msg, "s3cret-realm") {
					t.Errorf("error chain leaks a secret: %q", msg)
				}
			}
			if got := src.authorizations(); len(got) != 0 {
				t.Errorf("source was polled %d times without a token", len(got))
			}
		})
	}
}

// TestPollRedirectDropsAPIKey: an API key in a header of its own follows
// redirects within the host, never to another one.
func TestPollRedirectDropsAPIKey(t *testing.T) {
	t.Parallel()
	seen := make(chan string, 2)
	record := func(w http.ResponseWriter, r *http.Request) {
		seen <- r.Host + " " + r.Header.Get("X-Api-Key")
		io.WriteString(w, "{}")
	}
	other := serve(t, record)
	mux := http.NewServeMux()
	mux.HandleFunc("/same", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/end", http.StatusFound) })
	mux.HandleFunc("/away", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, other.URL+"/end", http.StatusFound) })
	mux.HandleFunc("/end", record)
	src := serve(t, mux.ServeHTTP)
	auth := Auth{Header: &HeaderAuth{Name: "X-Api-Key", Value: "k3y"}}
	p := New(nil)
	for _, path := range []string{"/same", "/away"} {
		if _, err := p.Poll(t.Context(), Request{URL: src.URL + path, Auth: auth}); err != nil {
			t.Fatalf("Poll %s: %v", path, err)
		}
	}
	host := func(s *httptest.Server) string { return strings.TrimPrefix(s.URL, "http://") }
	for _, want := range []string{host(src) + " k3y", host(other) + " "} {
		if got := <-seen; got != want {
			t.Errorf("source saw %q, want %q", got, want)
		}
	}
}
