package poller

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/pollhook/pollhook/differ"
)

// The pagination types (Pagination.Type).
const (
	PaginationLink   = "link"   // follow Link: <...>; rel="next" (RFC 8288)
	PaginationCursor = "cursor" // the next cursor is in the page; Param carries it
	PaginationPage   = "page"   // Param counts pages from 1
	PaginationOffset = "offset" // Param counts items from 0, Size at a time
)

// check refuses a pagination that cannot work. Its messages use the
// config's names, since that is where the user fixes them.
func (pg Pagination) check() error {
	switch pg.Type {
	case "":
		return nil
	case PaginationLink:
	case PaginationCursor:
		if pg.CursorPath == "" || pg.Param == "" {
			return errors.New(`pagination: type "cursor" needs cursor_path and param`)
		}
		if _, err := differ.ParsePath(pg.CursorPath); err != nil {
			return fmt.Errorf("pagination: cursor_path: %w", err)
		}
	case PaginationPage:
		if pg.Param == "" {
			return errors.New(`pagination: type "page" needs param`)
		}
	case PaginationOffset:
		if pg.Param == "" || pg.Size <= 0 {
			return errors.New(`pagination: type "offset" needs param and a size above 0`)
		}
	default:
		return fmt.Errorf("pagination: unknown type %q (want link, cursor, page or offset)", pg.Type)
	}
	switch {
	case pg.Size < 0 || pg.MaxPages < 0:
		return errors.New("pagination: size and max_pages may not be negative")
	case pg.SizeParam != "" && pg.Size == 0:
		return errors.New("pagination: size_param needs a size")
	}
	if _, err := differ.ParseItemsPath(pg.itemsPath()); err != nil {
		return fmt.Errorf("pagination: items path: %w", err)
	}
	return nil
}

// itemsPath is where the items of a page are; without an items path the
// page is the array.
func (pg Pagination) itemsPath() string { return cmp.Or(pg.ItemsPath, "$") }

// paginate fetches every page and merges their items into the first
// page's document. Pages are sent without validators and the Response
// carries none: a 304 for the first page would say nothing about the
// others, so a paginated source is compared in full at every poll.
func (s *poll) paginate() (*Response, error) {
	pg := s.req.Pagination
	maxPages := cmp.Or(pg.MaxPages, DefaultMaxPages)
	job, err := url.Parse(s.req.URL)
	if err != nil {
		return nil, err // newHTTPRequest accepted it: not reached
	}
	s.jobURL = job
	pageURL := s.req.URL
	if pg.Type == PaginationPage || pg.Type == PaginationOffset {
		pageURL = s.numbered(1)
	}
	// The links or cursors met so far, with the page that gave them: a
	// source that sends one again would repeat its pages.
	seen := map[string]int{}
	if pg.Type == PaginationLink {
		seen[linkKey(job)] = 0
	}
	var out *Response
	var m merger
	for n := 1; ; n++ {
		s.f.page = n
		hreq, err := newHTTPRequest(s.req, pageURL, false)
		if err != nil {
			return nil, err
		}
		resp, body, err := s.send(hreq, false)
		if err != nil {
			return nil, err
		}
		if out == nil {
			out = &Response{Status: resp.StatusCode, ContentType: resp.Header.Get("Content-Type")}
		}
		items, perr := s.pageItems(body)
		if perr != nil {
			return nil, perr
		}
		if msg := m.add(body, items); msg != "" {
			return nil, s.f.fail(ReasonResponse, msg, nil)
		}
		next, perr := s.nextPage(n, resp, body, items, seen)
		if perr != nil {
			return nil, perr
		}
		if next == "" {
			break
		}
		if n >= maxPages {
			// A partial list would read as deleted items.
			return nil, s.f.fail(ReasonTooLarge, fmt.Sprintf("the source has more pages than the limit of %d (max_pages)", maxPages), nil)
		}
		pageURL = next
	}
	out.Body = m.document()
	return out, nil
}

// bom is the byte order mark that the differ skips at the start of a body.
var bom = []byte("\ufeff")

// pageItems finds the items of a page.
func (s *poll) pageItems(body []byte) (differ.Page, *Error) {
	// PageItems trusts its input to be JSON; and an HTML error page
	// answered with a 200 must not pass for a page without items.
	if !json.Valid(bytes.TrimPrefix(body, bom)) {
		return differ.Page{}, s.f.fail(ReasonResponse, "body is not valid JSON, which pagination needs", nil)
	}
	page, err := differ.PageItems(body, s.req.Pagination.itemsPath())
	if err != nil {
		return differ.Page{}, s.f.fail(ReasonResponse, "items: "+err.Error(), nil)
	}
	return page, nil
}

// nextPage returns the URL of the page after page n, or "" after the last.
func (s *poll) nextPage(n int, resp *http.Response, body []byte, items differ.Page, seen map[string]int) (string, *Error) {
	pg := s.req.Pagination
	switch pg.Type {
	case PaginationLink:
		return s.nextLink(n, resp, seen)
	case PaginationCursor:
		return s.nextCursor(n, body, seen)
	}
	// A short or empty page is the last.
	if k := len(items.Elements); k == 0 || k < pg.Size {
		return "", nil
	}
	return s.numbered(n + 1), nil
}

// numbered returns the URL of page n of a page or offset pagination.
func (s *poll) numbered(n int) string {
	pg := s.req.Pagination
	value := n
	if pg.Type == PaginationOffset {
		value = (n - 1) * pg.Size
	}
	u := *s.jobURL
	q := setQuery(u.RawQuery, pg.Param, strconv.Itoa(value))
	if pg.SizeParam != "" {
		q = setQuery(q, pg.SizeParam, strconv.Itoa(pg.Size))
	}
	u.RawQuery = q
	return u.String()
}

// nextLink follows the Link header's rel="next", resolved against the
// page's own URL. It stays on the job's origin: every page carries the
// job's credentials, which must not go to whatever host a source names.
func (s *poll) nextLink(n int, resp *http.Response, seen map[string]int) (string, *Error) {
	ref, ok := nextLink(resp.Header.Values("Link"))
	if !ok {
		return "", nil
	}
	u, err := resp.Request.URL.Parse(ref)
	if err != nil {
		return "", s.f.fail(ReasonResponse, `Link rel="next" is not a URL`, nil)
	}
	if origin(u) != origin(s.jobURL) {
		return "", s.f.fail(ReasonResponse, fmt.Sprintf(`Link rel="next" leads to another origin (%s); not followed, since the job's credentials would go there`, origin(u)), nil)
	}
	key := linkKey(u)
	if p, ok := seen[key]; ok {
		return "", s.f.fail(ReasonResponse, fmt.Sprintf(`Link rel="next" leads back to page %d`, p+1), nil)
	}
	seen[key] = n
	return key, nil
}

// linkKey is u without its fragment, which a server never sees.
func linkKey(u *url.URL) string {
	v := *u
	v.Fragment, v.RawFragment = "", ""
	return v.String()
}

// origin is the RFC 6454 origin of u, the default port spelled out.
func origin(u *url.URL) string {
	scheme := strings.ToLower(u.Scheme)
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[scheme]
	}
	return scheme + "://" + strings.ToLower(u.Hostname()) + ":" + port
}

// nextCursor reads the cursor of the next page from page n: a string or a
// number; missing, null or "" ends the pagination.
func (s *poll) nextCursor(n int, body []byte, seen map[string]int) (string, *Error) {
	pg := s.req.Pagination
	raw, found, err := differ.ValueAt(body, pg.CursorPath)
	if err != nil {
		return "", s.f.fail(ReasonResponse, "cursor_path: "+err.Error(), nil)
	}
	if !found {
		return "", nil
	}
	var cursor string
	switch raw[0] {
	case 'n':
		return "", nil
	case '"':
		if err := json.Unmarshal(raw, &cursor); err != nil {
			return "", s.f.fail(ReasonResponse, "cursor_path: "+err.Error(), nil)
		}
	case '{', '[', 't', 'f':
		return "", s.f.fail(ReasonResponse, fmt.Sprintf("cursor_path %q is %s, want a string or a number", pg.CursorPath, jsonKind(raw[0])), nil)
	default:
		cursor = string(raw) // a number, as written
	}
	if cursor == "" {
		return "", nil
	}
	if p, ok := seen[cursor]; ok {
		return "", s.f.fail(ReasonResponse, fmt.Sprintf("cursor_path %q gives the cursor page %d gave", pg.CursorPath, p), nil)
	}
	seen[cursor] = n
	u := *s.jobURL
	u.RawQuery = setQuery(u.RawQuery, pg.Param, cursor)
	return u.String(), nil
}

// jsonKind names the JSON type of a compound or boolean value starting
// with b.
func jsonKind(b byte) string {
	switch b {
	case '{':
		return "an object"
	case '[':
		return "an array"
	}
	return "a boolean"
}

// setQuery sets key to value in the raw query, in place of its first
// occurrence and dropping the others; the other parameters keep their
// order and spelling, which url.Values would sort and re-encode.
func setQuery(raw, key, value string) string {
	pair := url.QueryEscape(key) + "=" + url.QueryEscape(value)
	var out []string
	set := false
	if raw != "" {
		for _, p := range strings.Split(raw, "&") {
			k, _, _ := strings.Cut(p, "=")
			if dk, err := url.QueryUnescape(k); err == nil && dk == key {
				if !set {
					out, set = append(out, pair), true
				}
				continue
			}
			out = append(out, p)
		}
	}
	if !set {
		out = append(out, pair)
	}
	return strings.Join(out, "&")
}

// merger builds the document of a paginated poll: the first page with its
// item array holding every page's elements in order, each byte for byte
// as its page sent it, so that the differ recognises an unchanged item by
// its raw bytes. A page is dropped once its elements are copied; only the
// first is kept until a second comes, since a single page is the document
// as it is.
type merger struct {
	pages  int
	first  []byte      // the first page while it is the only one
	items  differ.Page // where the first page's items are
	buf    []byte      // from the second page on: the document up to the last element
	suffix []byte      // what follows the first page's items
	n      int         // the elements in buf
}

// add merges the items of the next page, or returns why they cannot be.
func (m *merger) add(body []byte, page differ.Page) string {
	if m.pages++; m.pages == 1 {
		m.first, m.items = body, page
		return ""
	}
	if len(page.Elements) == 0 {
		return ""
	}
	if m.buf == nil {
		if m.items.Start < 0 {
			return "the items path is missing from page 1, so this page's items have nowhere to go"
		}
		m.buf = make([]byte, 0, len(m.first)+len(body))
		m.buf = append(m.buf, m.first[:m.items.Start]...)
		m.buf = append(m.buf, '[')
		m.appendElements(m.items.Elements)
		m.suffix = bytes.Clone(m.first[m.items.End:])
		m.first, m.items = nil, differ.Page{}
	}
	m.appendElements(page.Elements)
	return ""
}

func (m *merger) appendElements(elems [][]byte) {
	for _, e := range elems {
		if m.n > 0 {
			m.buf = append(m.buf, ',')
		}
		m.buf = append(m.buf, e...)
		m.n++
	}
}

// document returns the merged document.
func (m *merger) document() []byte {
	if m.buf == nil {
		return m.first
	}
	m.buf = append(m.buf, ']')
	return append(m.buf, m.suffix...)
}
