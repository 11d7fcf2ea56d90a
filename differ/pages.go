package differ

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// Page is where the items of one page of a paginated source are in its
// body, found by PageItems.
type Page struct {
	// Start and End delimit the item array in the body, or the null that
	// stands for no items; both are -1 when the items path is missing.
	Start, End int
	// Elements are the raw bytes of the array's elements in order:
	// sub-slices of the body, byte for byte as the source sent them, so
	// that an unchanged item is recognised by its raw bytes after the
	// pages are merged.
	Elements [][]byte
}

// PageItems finds the item array of one page of a paginated source, the
// array that the job's items path (as for ParseItemsPath) leads to. For a
// path with [*] steps it is the array at the first [*] ("data.groups" for
// "data.groups[*].orders", the document for "$[*].items"): concatenating
// that array across pages makes the items path select every page's items
// in order. A null there, as a Go API encodes an empty slice, is no items.
//
// body must be valid JSON (json.Valid): PageItems matches brackets without
// validating. On anything else its result is meaningless, but it does not
// panic.
func PageItems(body []byte, itemsPath string) (Page, error) {
	path, err := ParseItemsPath(itemsPath)
	if err != nil {
		return Page{}, err
	}
	for i, seg := range path {
		if seg == elemStep {
			path = path[:i]
			break
		}
	}
	start, end, err := rawValueAt(body, path, false)
	if err != nil || start < 0 {
		return Page{Start: -1, End: -1}, err
	}
	page := Page{Start: start, End: end}
	switch body[start] {
	case 'n':
		return page, nil
	case '[':
	default:
		return Page{}, fmt.Errorf("%q is %s, want an array", path, kindName(body[start]))
	}
	// The array was matched whole, so every element ends inside it.
	for i := spaceEnd(body, start+1); i < end-1; {
		e := scanValue(body, i)
		if e <= i {
			return Page{}, fmt.Errorf("%q: malformed element at offset %d", path, i)
		}
		page.Elements = append(page.Elements, body[i:e])
		i = spaceEnd(body, e)
		if i < len(body) && body[i] == ',' {
			i = spaceEnd(body, i+1)
		}
	}
	return page, nil
}

// ValueAt returns the raw JSON value at the plain dotted path (as for
// ParsePath) in body: a pagination cursor, say. found is false when a
// member on the way is missing or null; a value on the way that is neither
// an object nor null is an error. body must be valid JSON, as for
// PageItems.
func ValueAt(body []byte, path string) (value json.RawMessage, found bool, err error) {
	p, err := ParsePath(path)
	if err != nil {
		return nil, false, err
	}
	start, end, err := rawValueAt(body, p, true)
	if err != nil || start < 0 {
		return nil, false, err
	}
	return body[start:end], true, nil
}

// rawValueAt finds the value at the plain path p in the JSON document
// body and returns where it starts and ends; start is -1 when a member on the
// way is missing, or null when nullMissing is set. As in encoding/json,
// the last of duplicate members wins.
func rawValueAt(body []byte, p Path, nullMissing bool) (start, end int, err error) {
	// A byte order mark is no JSON, but the differ accepts one.
	i := spaceEnd(body, 0)
	if bytes.HasPrefix(body[i:], []byte("\ufeff")) {
		i = spaceEnd(body, i+3)
	}
	if i >= len(body) {
		return -1, -1, errors.New("empty document")
	}
	for n, seg := range p {
		switch {
		case i >= len(body):
			return -1, -1, fmt.Errorf("%q: unexpected end of document", p[:n])
		case body[i] == 'n' && nullMissing:
			return -1, -1, nil
		case body[i] != '{':
			return -1, -1, fmt.Errorf("%q is %s, want an object", p[:n], kindName(body[i]))
		}
		i = lastMember(body, i, seg)
		if i < 0 {
			return -1, -1, nil
		}
	}
	end = scanValue(body, i)
	if end <= i {
		return -1, -1, fmt.Errorf("%q: malformed value at offset %d", p, i)
	}
	return i, end, nil
}

// lastMember returns the offset of the value of the last member named
// name in the object that starts at body[i], or -1.
func lastMember(body []byte, i int, name string) int {
	found := -1
	i = spaceEnd(body, i+1)
	for i < len(body) && body[i] == '"' {
		keyEnd := scanString(body, i)
		if keyEnd < 0 {
			return -1
		}
		v := spaceEnd(body, keyEnd)
		if v >= len(body) || body[v] != ':' {
			return -1
		}
		v = spaceEnd(body, v+1)
		if memberNamed(body[i:keyEnd], name) {
			found = v
		}
		e := scanValue(body, v)
		if e <= v {
			return -1
		}
		i = spaceEnd(body, e)
		if i < len(body) && body[i] == ',' {
			i = spaceEnd(body, i+1)
		}
	}
	return found
}

// memberNamed reports whether the quoted member name key is name, escapes
// decoded.
func memberNamed(key []byte, name string) bool {
	raw := key[1 : len(key)-1]
	if bytes.IndexByte(raw, '\\') < 0 {
		return string(raw) == name
	}
	var s string
	return json.Unmarshal(key, &s) == nil && s == name
}

// spaceEnd returns the offset of the first byte at or after i that is not
// JSON whitespace.
func spaceEnd(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}
