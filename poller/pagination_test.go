package poller

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pollhook/pollhook/differ"
)

// page is one answer of a pagedSource.
type page struct {
	body  string
	links []string // Link header fields; BASE stands for the server's URL
	code  int      // 0: 200
	retry string   // Retry-After
}

// pagedSource serves fixed pages by request URI, with weak ETags as an
// Express app sends them, and records what each request carried.
type pagedSource struct {
	*httptest.Server
	pages map[string]page

	mu   sync.Mutex
	seen []seenPage
}

// seenPage is what the source saw of one request.
type seenPage struct {
	URI, Authorization, Tenant, IfNoneMatch string
}

func newPagedSource(t *testing.T, pages map[string]page) *pagedSource {
	s := &pagedSource{pages: pages}
	s.Server = serve(t, func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.seen = append(s.seen, seenPage{r.RequestURI, r.Header.Get("Authorization"), r.Header.Get("X-Tenant"), r.Header.Get("If-None-Match")})
		s.mu.Unlock()
		s.mu.Lock()
		pg, ok := s.pages[r.RequestURI]
		s.mu.Unlock()
		if !ok {
			http.Error(w, "no page "+r.RequestURI, http.StatusNotFound)
			return
		}
		for _, l := range pg.links {
			w.Header().Add("Link", strings.ReplaceAll(l, "BASE", "http://"+r.Host))
		}
		if pg.retry != "" {
			w.Header().Set("Retry-After", pg.retry)
		}
		w.Header().Set("ETag", expressETag(pg.body))
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.WriteHeader(cmp.Or(pg.code, http.StatusOK))
		io.WriteString(w, pg.body)
	})
	return s
}

// set replaces the page at uri.
func (s *pagedSource) set(uri string, pg page) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pages[uri] = pg
}

func (s *pagedSource) requests() []seenPage {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.seen)
}

func TestPollPagination(t *testing.T) {
	tests := []struct {
		name     string
		path     string // the job's URL, after the server's
		pg       Pagination
		pages    map[string]page
		want     string   // the merged document
		wantURIs []string // the requests, in order
	}{
		{
			name: "link, relative, items verbatim",
			path: "/api/orders",
			pg:   Pagination{Type: "link", ItemsPath: "data"},
			pages: map[string]page{
				"/api/orders":        {body: `{"data": [ {"id":1}, {"id": 2} ], "page": 1}`, links: []string{`</api/orders?page=2>; rel="next", </api/orders?page=3>; rel="last"`}},
				"/api/orders?page=2": {body: "{\"data\":[{ \"id\" : 3 },\n\t{\"id\":4,\"s\":\"],[\"}],\"page\":2}", links: []string{`<?page=3>; rel=next`}},
				"/api/orders?page=3": {body: `{"data":[{"id":5}],"page":3}`},
			},
			want:     `{"data": [{"id":1},{"id": 2},{ "id" : 3 },{"id":4,"s":"],["},{"id":5}], "page": 1}`,
			wantURIs: []string{"/api/orders", "/api/orders?page=2", "/api/orders?page=3"},
		},
		{
			name: "link, absolute, among other Link fields",
			path: "/o",
			pg:   Pagination{Type: "link"},
			pages: map[string]page{
				"/o":     {body: `[1,2]`, links: []string{`<BASE/o?p=9>; rel="last"`, `<BASE/o?p=2>; rel="prefetch next"`}},
				"/o?p=2": {body: `[3]`, links: []string{`<BASE/o>; rel="first"`}},
				"/o?p=9": {body: `[9]`},
			},
			want:     `[1,2,3]`,
			wantURIs: []string{"/o", "/o?p=2"},
		},
		{
			name: "link, a single page is the body as sent",
			path: "/o",
			pg:   Pagination{Type: "link", ItemsPath: "data"},
			pages: map[string]page{
				"/o": {body: " {\"data\" : [ 1 , 2 ] }\n"},
			},
			want:     " {\"data\" : [ 1 , 2 ] }\n",
			wantURIs: []string{"/o"},
		},
		{
			name: "link, items at a [*] path",
			path: "/g",
			pg:   Pagination{Type: "link", ItemsPath: "data.groups[*].orders"},
			pages: map[string]page{
				"/g":   {body: `{"data":{"groups":[{"name":"a","orders":[1]}]}}`, links: []string{`</g?2>; rel="next"`}},
				"/g?2": {body: `{"data":{"groups":[{"name":"b","orders":[2,3]},{"name":"c","orders":null}]}}`},
			},
			want:     `{"data":{"groups":[{"name":"a","orders":[1]},{"name":"b","orders":[2,3]},{"name":"c","orders":null}]}}`,
			wantURIs: []string{"/g", "/g?2"},
		},
		{
			name: "cursor, stops at null",
			path: "/items?status=open",
			pg:   Pagination{Type: "cursor", ItemsPath: "items", CursorPath: "meta.next", Param: "cursor"},
			pages: map[string]page{
				"/items?status=open":                    {body: `{"items":[1,2],"meta":{"next":"c/2=="}}`},
				"/items?status=open&cursor=c%2F2%3D%3D": {body: `{"items":[3],"meta":{"next":"c3"}}`},
				"/items?status=open&cursor=c3":          {body: `{"items":null,"meta":{"next":null}}`},
			},
			want:     `{"items":[1,2,3],"meta":{"next":"c/2=="}}`,
			wantURIs: []string{"/items?status=open", "/items?status=open&cursor=c%2F2%3D%3D", "/items?status=open&cursor=c3"},
		},
		{
			name: "cursor, stops when missing",
			path: "/items?cursor=0&x=1",
			pg:   Pagination{Type: "cursor", ItemsPath: "items", CursorPath: "meta.next", Param: "cursor"},
			pages: map[string]page{
				"/items?cursor=0&x=1": {body: `{"items":[1],"meta":{}}`},
			},
			want:     `{"items":[1],"meta":{}}`,
			wantURIs: []string{"/items?cursor=0&x=1"},
		},
		{
			name: "cursor, number then empty string",
			path: "/items",
			pg:   Pagination{Type: "cursor", ItemsPath: "items", CursorPath: "next_id", Param: "after"},
			pages: map[string]page{
				"/items":          {body: `{"items":[1],"next_id":42}`},
				"/items?after=42": {body: `{"items":[2],"next_id":""}`},
			},
			want:     `{"items":[1,2],"next_id":42}`,
			wantURIs: []string{"/items", "/items?after=42"},
		},
		{
			name: "page, stops on a short page",
			path: "/o?status=open&page=7",
			pg:   Pagination{Type: "page", ItemsPath: "o", Param: "page", SizeParam: "per_page", Size: 2},
			pages: map[string]page{
				"/o?status=open&page=1&per_page=2": {body: `{"o":[1,2]}`},
				"/o?status=open&page=2&per_page=2": {body: `{"o":[3,4]}`},
				"/o?status=open&page=3&per_page=2": {body: `{"o":[5]}`},
			},
			want:     `{"o":[1,2,3,4,5]}`,
			wantURIs: []string{"/o?status=open&page=1&per_page=2", "/o?status=open&page=2&per_page=2", "/o?status=open&page=3&per_page=2"},
		},
		{
			name: "page, stops on an empty page",
			path: "/o",
			pg:   Pagination{Type: "page", ItemsPath: "o", Param: "p", Size: 2},
			pages: map[string]page{
				"/o?p=1": {body: `{"o":[1,2]}`},
				"/o?p=2": {body: `{"o":[3,4]}`},
				"/o?p=3": {body: `{"o":[]}`},
			},
			want:     `{"o":[1,2,3,4]}`,
			wantURIs: []string{"/o?p=1", "/o?p=2", "/o?p=3"},
		},
		{
			name: "page without size, stops on null",
			path: "/o",
			pg:   Pagination{Type: "page", ItemsPath: "o", Param: "p"},
			pages: map[string]page{
				"/o?p=1": {body: `{"o":[1,2,3]}`},
				"/o?p=2": {body: `{"o":[4]}`},
				"/o?p=3": {body: `{"o":null}`},
			},
			want:     `{"o":[1,2,3,4]}`,
			wantURIs: []string{"/o?p=1", "/o?p=2", "/o?p=3"},
		},
		{
			name: "offset",
			path: "/o",
			pg:   Pagination{Type: "offset", ItemsPath: "o", Param: "offset", SizeParam: "limit", Size: 2},
			pages: map[string]page{
				"/o?offset=0&limit=2": {body: `{"o":[1,2]}`},
				"/o?offset=2&limit=2": {body: `{"o":[3,4]}`},
				"/o?offset=4&limit=2": {body: `{"o":[5]}`},
			},
			want:     `{"o":[1,2,3,4,5]}`,
			wantURIs: []string{"/o?offset=0&limit=2", "/o?offset=2&limit=2", "/o?offset=4&limit=2"},
		},
		{
			name: "first page empty with items to come",
			path: "/o",
			pg:   Pagination{Type: "link", ItemsPath: "o"},
			pages: map[string]page{
				"/o":   {body: `{"o":null}`, links: []string{`</o?2>; rel="next"`}},
				"/o?2": {body: `{"o":[1]}`},
			},
			want:     `{"o":[1]}`,
			wantURIs: []string{"/o", "/o?2"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			src := newPagedSource(t, tt.pages)
			req := Request{
				URL:        src.URL + tt.path,
				Header:     http.Header{"X-Tenant": {"acme"}},
				Auth:       Auth{Bearer: "t0ken"},
				ETag:       `W/"stale"`, // never sent with pagination
				Pagination: tt.pg,
			}
			resp, err := New(nil).Poll(t.Context(), req)
			if err != nil {
				t.Fatalf("Poll: %v", err)
			}
			if string(resp.Body) != tt.want {
				t.Errorf("document\n%s\nwant\n%s", resp.Body, tt.want)
			}
			if resp.Duration <= 0 {
				t.Errorf("Duration = %v, want > 0", resp.Duration)
			}
			resp.Body, resp.Duration = nil, 0
			// No validators: a paginated source is compared in full.
			if want := (Response{Status: 200, ContentType: "application/json; charset=utf-8"}); !reflect.DeepEqual(*resp, want) {
				t.Errorf("Poll = %+v, want %+v", *resp, want)
			}
			var want []seenPage
			for _, uri := range tt.wantURIs {
				want = append(want, seenPage{URI: uri, Authorization: "Bearer t0ken", Tenant: "acme"})
			}
			if got := src.requests(); !reflect.DeepEqual(got, want) {
				t.Errorf("source saw\n%+v\nwant\n%+v", got, want)
			}
		})
	}
}

func TestPollPaginationFails(t *testing.T) {
	next := func(target string) []string { return []string{"<" + target + `>; rel="next"`} }
	other := serve(t, func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("a Link led the poll to another origin: %s", r.RequestURI)
	})
	tests := []struct {
		name      string
		pg        Pagination
		limit     int64
		pages     map[string]page
		want      string // after "poll GET <server URL>/p: "; OTHER is the other server's origin
		reason    Reason
		status    int
		retry     time.Duration
		wantPolls int
	}{
		{
			name:      "a page fails",
			pg:        Pagination{Type: "link"},
			pages:     map[string]page{"/p": {body: `[1]`, links: next("/p?2")}, "/p?2": {body: "boom", code: 500}},
			want:      "page 2: status 500 Internal Server Error: boom",
			reason:    ReasonStatus,
			status:    500,
			wantPolls: 2,
		},
		{
			name:      "a page is rate limited",
			pg:        Pagination{Type: "page", Param: "n", Size: 1},
			pages:     map[string]page{"/p?n=1": {body: `[1]`}, "/p?n=2": {body: "", code: 429, retry: "60"}},
			want:      "page 2: status 429 Too Many Requests",
			reason:    ReasonStatus,
			status:    429,
			retry:     time.Minute,
			wantPolls: 2,
		},
		{
			name:      "a page is not modified",
			pg:        Pagination{Type: "link"},
			pages:     map[string]page{"/p": {code: 304}},
			want:      "page 1: status 304 Not Modified",
			reason:    ReasonStatus,
			status:    304,
			wantPolls: 1,
		},
		{
			name:      "more pages than max_pages",
			pg:        Pagination{Type: "link", MaxPages: 2},
			pages:     map[string]page{"/p": {body: `[1]`, links: next("/p?2")}, "/p?2": {body: `[2]`, links: next("/p?3")}, "/p?3": {body: `[3]`}},
			want:      "page 2: the source has more pages than the limit of 2 (max_pages)",
			reason:    ReasonTooLarge,
			wantPolls: 2,
		},
		{
			name:      "Link to another origin",
			pg:        Pagination{Type: "link"},
			pages:     map[string]page{"/p": {body: `[1]`, links: next(other.URL + "/p?2")}},
			want:      `page 1: Link rel="next" leads to another origin (OTHER); not followed, since the job's credentials would go there`,
			reason:    ReasonResponse,
			wantPolls: 1,
		},
		{
			name:      "Link loop",
			pg:        Pagination{Type: "link"},
			pages:     map[string]page{"/p": {body: `[1]`, links: next("/p?2")}, "/p?2": {body: `[2]`, links: next("/p#again")}},
			want:      `page 2: Link rel="next" leads back to page 1`,
			reason:    ReasonResponse,
			wantPolls: 2,
		},
		{
			name:      "cursor repeats",
			pg:        Pagination{Type: "cursor", CursorPath: "next", Param: "c", ItemsPath: "o"},
			pages:     map[string]page{"/p": {body: `{"o":[1],"next":"x"}`}, "/p?c=x": {body: `{"o":[2],"next":"x"}`}},
			want:      `page 2: cursor_path "next" gives the cursor page 1 gave`,
			reason:    ReasonResponse,
			wantPolls: 2,
		},
		{
			name:      "cursor not a string",
			pg:        Pagination{Type: "cursor", CursorPath: "meta.next", Param: "c", ItemsPath: "o"},
			pages:     map[string]page{"/p": {body: `{"o":[1],"meta":{"next":{"id":2}}}`}},
			want:      `page 1: cursor_path "meta.next" is an object, want a string or a number`,
			reason:    ReasonResponse,
			wantPolls: 1,
		},
		{
			name:      "cursor path through a string",
			pg:        Pagination{Type: "cursor", CursorPath: "meta.next", Param: "c", ItemsPath: "o"},
			pages:     map[string]page{"/p": {body: `{"o":[1],"meta":"none"}`}},
			want:      `page 1: cursor_path: "meta" is a string, want an object`,
			reason:    ReasonResponse,
			wantPolls: 1,
		},
		{
			name:      "a page is not JSON",
			pg:        Pagination{Type: "link"},
			pages:     map[string]page{"/p": {body: `[1]`, links: next("/p?2")}, "/p?2": {body: `<html>maintenance</html>`}},
			want:      "page 2: body is not valid JSON, which pagination needs",
			reason:    ReasonResponse,
			wantPolls: 2,
		},
		{
			name:      "items not an array",
			pg:        Pagination{Type: "link", ItemsPath: "data"},
			pages:     map[string]page{"/p": {body: `{"data":{"id":1}}`}},
			want:      `page 1: items: "data" is an object, want an array`,
			reason:    ReasonResponse,
			wantPolls: 1,
		},
		{
			name:      "items missing from page 1",
			pg:        Pagination{Type: "link", ItemsPath: "data"},
			pages:     map[string]page{"/p": {body: `{"error":"none"}`, links: next("/p?2")}, "/p?2": {body: `{"data":[2]}`}},
			want:      "page 2: the items path is missing from page 1, so this page's items have nowhere to go",
			reason:    ReasonResponse,
			wantPolls: 2,
		},
		{
			name:      "pages over the body limit together",
			pg:        Pagination{Type: "link"},
			limit:     30,
			pages:     map[string]page{"/p": {body: `[1,2,3,4,5,6,7,8]`, links: next("/p?2")}, "/p?2": {body: `[9,10,11,12,13,14]`}},
			want:      "page 2: the pages exceed the limit of 30 bytes together (max_body_size)",
			reason:    ReasonTooLarge,
			wantPolls: 2,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			src := newPagedSource(t, tt.pages)
			perr := pollErr(t, New(nil), t.Context(), Request{URL: src.URL + "/p", Pagination: tt.pg, MaxBodyBytes: tt.limit})
			want := "poll GET " + src.URL + "/p: " + strings.ReplaceAll(tt.want, "OTHER", other.URL+"")
			if perr.Error() != want || perr.Reason != tt.reason || perr.Status != tt.status || perr.RetryAfter != tt.retry {
				t.Errorf("error\n%q (%s, status %d, retry %v)\nwant\n%q (%s, status %d, retry %v)",
					perr.Error(), perr.Reason, perr.Status, perr.RetryAfter, want, tt.reason, tt.status, tt.retry)
			}
			if n := len(src.requests()); n != tt.wantPolls {
				t.Errorf("source answered %d requests, want %d", n, tt.wantPolls)
			}
		})
	}
}

// TestPollPaginationDefaultMaxPages: a source whose pages never end is
// read DefaultMaxPages times, then the poll fails.
func TestPollPaginationDefaultMaxPages(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	requests := 0
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		requests++
		n := requests
		mu.Unlock()
		w.Header().Set("Link", fmt.Sprintf(`</p?page=%d>; rel="next"`, n+1))
		fmt.Fprintf(w, "[%d]", n)
	})
	perr := pollErr(t, New(nil), t.Context(), Request{URL: srv.URL + "/p", Pagination: Pagination{Type: "link"}})
	if want := "poll GET " + srv.URL + "/p: page 100: the source has more pages than the limit of 100 (max_pages)"; perr.Error() != want {
		t.Errorf("error %q, want %q", perr.Error(), want)
	}
	mu.Lock()
	defer mu.Unlock()
	if requests != DefaultMaxPages {
		t.Errorf("source answered %d requests, want %d", requests, DefaultMaxPages)
	}
}

// TestPollPaginationDiffer: the merged document is what the differ
// compares, and an item changed on the last page is the one change.
func TestPollPaginationDiffer(t *testing.T) {
	t.Parallel()
	pages := map[string]page{
		"/o?page=1&size=2": {body: `{"data":[{"id":1,"v":"a"},{"id":2,"v":"b"}]}`},
		"/o?page=2&size=2": {body: `{"data":[{"id":3,"v":"c"},{"id":4,"v":"d"}]}`},
		"/o?page=3&size=2": {body: `{"data":[{"id":5,"v":"e"}]}`},
	}
	src := newPagedSource(t, pages)
	d, err := differ.Compile(differ.Spec{Items: "data", Key: []string{"id"}})
	if err != nil {
		t.Fatal(err)
	}
	req := Request{URL: src.URL + "/o", Pagination: Pagination{Type: "page", ItemsPath: "data", Param: "page", SizeParam: "size", Size: 2}}
	p := New(nil)
	poll := func(prev *differ.State) *differ.Result {
		t.Helper()
		resp, err := p.Poll(t.Context(), req)
		if err != nil {
			t.Fatalf("Poll: %v", err)
		}
		res, err := d.Diff(prev, resp.Body)
		if err != nil {
			t.Fatalf("Diff: %v", err)
		}
		return res
	}
	first := poll(nil)
	src.set("/o?page=3&size=2", page{body: `{"data":[{"id":5,"v":"E"}]}`})
	second := poll(first.Next)
	var got []string
	for _, c := range second.Changes {
		got = append(got, c.Type+" "+c.Key+" "+string(c.After))
	}
	if want := []string{differ.TypeItemUpdated + ` 5 {"id":5,"v":"E"}`}; !reflect.DeepEqual(got, want) {
		t.Errorf("changes %q, want %q", got, want)
	}
}

func TestPaginationCheck(t *testing.T) {
	tests := []struct {
		pg   Pagination
		want string
	}{
		{Pagination{Type: "links"}, `pagination: unknown type "links" (want link, cursor, page or offset)`},
		{Pagination{Type: "cursor", Param: "c"}, `pagination: type "cursor" needs cursor_path and param`},
		{Pagination{Type: "cursor", CursorPath: "a..b", Param: "c"}, `pagination: cursor_path: path "a..b" has an empty segment`},
		{Pagination{Type: "page"}, `pagination: type "page" needs param`},
		{Pagination{Type: "offset", Param: "o"}, `pagination: type "offset" needs param and a size above 0`},
		{Pagination{Type: "page", Param: "p", MaxPages: -1}, "pagination: size and max_pages may not be negative"},
		{Pagination{Type: "page", Param: "p", SizeParam: "n"}, "pagination: size_param needs a size"},
		{Pagination{Type: "link", ItemsPath: "a[0]"}, `pagination: items path: path "a[0]": segment "a[0]": only [*] (every element of an array) may follow a name`},
	}
	for _, tt := range tests {
		_, err := New(nil).Poll(t.Context(), Request{URL: "http://127.0.0.1:1/x", Pagination: tt.pg})
		want := "poll GET http://127.0.0.1:1/x: " + tt.want
		if err == nil || err.Error() != want {
			t.Errorf("Poll(%+v) error = %v, want %q", tt.pg, err, want)
		}
		if _, ok := errors.AsType[*Error](err); ok {
			t.Errorf("an invalid pagination is not a failed poll, got *Error")
		}
	}
}

func TestSetQuery(t *testing.T) {
	tests := []struct{ raw, key, value, want string }{
		{"", "page", "1", "page=1"},
		{"status=open", "page", "2", "status=open&page=2"},
		{"page=7&status=open&page=8", "page", "2", "page=2&status=open"},
		{"b=2&a=1", "a", "x y/z", "b=2&a=x+y%2Fz"},
		{"%70age=1", "page", "2", "page=2"},
		{"cursor", "cursor", "c", "cursor=c"},
		{"q=a%26b", "c", "1", "q=a%26b&c=1"},
	}
	for _, tt := range tests {
		if got := setQuery(tt.raw, tt.key, tt.value); got != tt.want {
			t.Errorf("setQuery(%q, %q, %q) = %q, want %q", tt.raw, tt.key, tt.value, got, tt.want)
		}
	}
}

func TestOrigin(t *testing.T) {
	tests := []struct{ raw, want string }{
		{"http://h/x", "http://h:80"},
		{"HTTP://H:80/x", "http://h:80"},
		{"https://h/x", "https://h:443"},
		{"https://h:8443/x", "https://h:8443"},
		{"https://u:p@h/x", "https://h:443"},
		{"http://[::1]:81/x", "http://::1:81"},
	}
	for _, tt := range tests {
		u, err := url.Parse(tt.raw)
		if err != nil {
			t.Fatal(err)
		}
		if got := origin(u); got != tt.want {
			t.Errorf("origin(%q) = %q, want %q", tt.raw, got, tt.want)
		}
	}
}
