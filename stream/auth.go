package stream

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
)

// Clients authenticate with a bearer token: in the Authorization header,
// or in the access_token query parameter for clients that cannot set
// headers (a browser's EventSource and WebSocket). The admin token reads
// every job; a stream token reads its jobs only. A URL carrying a token
// is never logged.

// accessKey is the SHA-256 of a token: only hashes are kept and compared,
// in constant time, whatever the length of the token offered.
type accessKey [sha256.Size]byte

func keyOf(token string) accessKey { return sha256.Sum256([]byte(token)) }

// grant is what a client authenticated as.
type grant struct {
	admin bool
	key   accessKey
}

// filter is what a client subscribed to.
type filter struct {
	jobs  []string // nil: every job (admin token only)
	types []string // nil: every type
}

func (f filter) job(j string) bool { return f.jobs == nil || slices.Contains(f.jobs, j) }

func (f filter) match(fr *frame) bool {
	return f.job(fr.job) && (f.types == nil || slices.Contains(f.types, fr.typ))
}

// String describes the jobs of f, for messages.
func (f filter) String() string {
	if f.jobs == nil {
		return "every job"
	}
	return "job " + strings.Join(f.jobs, ", ")
}

// allows reports whether g may still read what f asks for.
func (s *settings) allows(g grant, f filter) bool {
	if g.admin {
		return s.admin != nil && subtle.ConstantTimeCompare(s.admin[:], g.key[:]) == 1
	}
	jobs, ok := s.tokens[g.key]
	if !ok || f.jobs == nil {
		return false
	}
	for _, j := range f.jobs {
		if !slices.Contains(jobs, j) {
			return false
		}
	}
	return true
}

// Error codes of stream requests, in the admin API's error shape.
const (
	codeUnauthorized = "unauthorized"
	codeForbidden    = "forbidden"
	codeBadRequest   = "bad_request"
	codeUnavailable  = "unavailable"
)

// httpError is a refusal, answered before the stream starts.
type httpError struct {
	status  int
	code    string
	message string
}

func (e *httpError) write(w http.ResponseWriter) {
	if e.status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="pollhook"`)
	}
	writeError(w, e.status, e.code, e.message)
}

// errorBody is the body of every refusal: {"error":{"code","message"}},
// as the admin API answers.
type errorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

func errorJSON(code, msg string) []byte {
	var b errorBody
	b.Error.Code, b.Error.Message = code, msg
	out, _ := json.Marshal(b) // strings only: cannot fail
	return out
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(append(errorJSON(code, msg), '\n'))
}

// unauthorizedMessage is the one answer to a missing or wrong token, as
// the admin API's.
const unauthorizedMessage = "missing or invalid bearer token"

// requestToken is the bearer token of r: the Authorization header's, else
// the access_token parameter's.
func requestToken(r *http.Request) string {
	if scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " "); ok && strings.EqualFold(scheme, "Bearer") {
		return strings.TrimSpace(token)
	}
	return r.URL.Query().Get("access_token")
}

// authorize authenticates r and reads its filters.
func (s *settings) authorize(r *http.Request) (grant, filter, *httpError) {
	var g grant
	var f filter
	token := requestToken(r)
	if token == "" {
		return g, f, &httpError{http.StatusUnauthorized, codeUnauthorized, unauthorizedMessage}
	}
	g.key = keyOf(token)
	tokenJobs, isToken := s.tokens[g.key]
	g.admin = s.admin != nil && subtle.ConstantTimeCompare(s.admin[:], g.key[:]) == 1
	if !g.admin && !isToken {
		return g, f, &httpError{http.StatusUnauthorized, codeUnauthorized, unauthorizedMessage}
	}
	q := r.URL.Query()
	f.jobs = listParam(q["job"])
	f.types = listParam(q["types"])
	for _, j := range f.jobs {
		if !g.admin && !slices.Contains(tokenJobs, j) {
			return g, f, &httpError{http.StatusForbidden, codeForbidden, fmt.Sprintf("this token may not read job %q; it reads %s", j, strings.Join(tokenJobs, ", "))}
		}
		if !s.jobs[j] {
			return g, f, &httpError{http.StatusBadRequest, codeBadRequest, fmt.Sprintf("job %q is not configured", j)}
		}
	}
	if f.jobs == nil && !g.admin {
		f.jobs = slices.Clone(tokenJobs)
	}
	return g, f, nil
}

// listParam splits comma-separated values (job=a,b or job=a&job=b),
// dropping empty ones and duplicates; nil when none is left.
func listParam(values []string) []string {
	var out []string
	for _, v := range values {
		for _, s := range strings.Split(v, ",") {
			if s = strings.TrimSpace(s); s != "" && !slices.Contains(out, s) {
				out = append(out, s)
			}
		}
	}
	return out
}
