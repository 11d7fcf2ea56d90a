package differ

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// xmlToJSON maps an XML document to the JSON tree that items:, key: and
// ignore: paths address, so that they work on XML exactly as on JSON:
//
//   - The document is an object whose only member is the root element.
//   - An element with neither attributes nor child elements is its text as
//     a string (<status>open</status> → "status":"open"; <a/> → "a":"").
//   - Any other element is an object: attributes become members "@name",
//     child elements members named after them, and its text, if any, the
//     member "#text". Sibling elements of the same name, adjacent or not,
//     become one array in document order.
//   - Names keep their namespace prefix as written (ns:item, @xmlns:ns):
//     prefixes are not resolved, because paths in a job's config name
//     elements as the document spells them.
//   - Text is kept exactly (CDATA is text, the standard entities are
//     decoded, line endings are LF as XML mandates), except that in an
//     element with child elements, runs of whitespace-only text between
//     tags (indentation) are dropped. An element's text runs are joined in
//     document order; comments do not split a run.
//   - Every value is a string: XML has no types, so <n>1.0</n> and <n>1</n>
//     differ where the JSON numbers 1.0 and 1 would not.
//   - Comments, processing instructions and the DOCTYPE are ignored. No
//     entity other than the five predefined ones and character references
//     is ever expanded: a reference to one declared in a DOCTYPE, external
//     or not, is an error rather than a fetch or an expansion bomb.
//
// An element that is repeated in one response but single in another is an
// array in the first and an object (or string) in the second: items mode
// must take a non-array where it expects items as a one-element array.
//
// Declared encodings other than UTF-8, US-ASCII, ISO-8859-1 and
// windows-1252 are rejected. Errors name the line they were found on. The
// JSON has insignificant white space, which canonicalisation drops.
func xmlToJSON(body []byte) ([]byte, error) {
	c := xmlConverter{dec: xml.NewDecoder(bytes.NewReader(bytes.TrimPrefix(body, utf8BOM)))}
	c.dec.CharsetReader = charsetReader
	c.out = make([]byte, 0, len(body)+len(body)/4)
	if err := c.run(); err != nil {
		var syn *xml.SyntaxError
		if errors.As(err, &syn) {
			return nil, fmt.Errorf("parse XML: line %d: %s", syn.Line, syn.Msg)
		}
		return nil, fmt.Errorf("parse XML: %w", err)
	}
	return c.out, nil
}

// utf8BOM is the byte order mark some Windows tools put before UTF-8.
var utf8BOM = []byte{0xef, 0xbb, 0xbf}

// xmlConverter streams tokens into out, writing each element's object as
// its attributes and children arrive: a member's name is followed by a
// space, which becomes the '[' of an array when the next sibling has the
// same name. Only an element whose children of one name are not adjacent
// (<a/><b/><a/>) has its object rebuilt when it closes, from the spans of
// its members' values: documents are written about once, whatever their
// depth.
type xmlConverter struct {
	dec     *xml.Decoder
	out     []byte
	scratch []byte
	stack   []xmlFrame        // open elements; frames beyond len are kept for reuse
	names   map[string]string // composed names ("@id", "ns:item"), built once
	done    bool              // the root element is closed
}

// xmlFrame is one open element.
type xmlFrame struct {
	name     string
	start    int         // where its value starts in out
	members  []xmlMember // attributes, then child names in order of first appearance
	index    map[string]int
	last     int  // the member written last; -1 before the first
	array    bool // the last member is an array still open
	regroup  bool // a name came back after another: rebuild at the end
	text     []byte
	runStart int // start in text of the run since the last tag
	children bool
}

// xmlMember is one member of an element's object: an attribute or all the
// children of one name.
type xmlMember struct {
	name   string
	open   int      // offset in out of the space after the name
	vals   [][2]int // spans in out
	height int      // greatest JSON nesting among vals
}

// xmlIndexAfter is the member count from which lookups go through a map:
// elements have few distinct child names, but a hostile one may have many.
const xmlIndexAfter = 16

func (c *xmlConverter) run() error {
	for {
		tok, err := c.dec.RawToken()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			err = c.start(t)
		case xml.EndElement:
			err = c.end(t)
		case xml.CharData:
			err = c.chars(t)
		}
		if err != nil {
			return err
		}
	}
	if len(c.stack) > 0 {
		return c.errorf("unexpected end of document: <%s> not closed", c.stack[len(c.stack)-1].name)
	}
	if !c.done {
		return errors.New("no root element")
	}
	return nil
}

func (c *xmlConverter) errorf(format string, args ...any) error {
	line, _ := c.dec.InputPos()
	return fmt.Errorf("line %d: "+format, append([]any{line}, args...)...)
}

func (c *xmlConverter) start(t xml.StartElement) error {
	name := c.name("", t.Name)
	if c.done {
		return c.errorf("second root element <%s>", name)
	}
	if len(c.stack) >= maxDepth {
		return c.errorf("nesting deeper than %d levels", maxDepth)
	}
	if n := len(c.stack); n > 0 {
		parent := &c.stack[n-1]
		parent.endRun(true)
		parent.children = true
		c.member(parent, name)
	} else {
		// The document object, whose only member is the root.
		c.out = append(appendString(append(c.out, '{'), name), ':')
	}
	if len(c.stack) < cap(c.stack) {
		c.stack = c.stack[:len(c.stack)+1] // reuse the memory of a closed frame
	} else {
		c.stack = append(c.stack, xmlFrame{})
	}
	f := &c.stack[len(c.stack)-1]
	*f = xmlFrame{name: name, start: len(c.out), members: f.members[:0], last: -1, text: f.text[:0]}
	for _, a := range t.Attr {
		an := c.name("@", a.Name)
		if f.lookup(an) >= 0 {
			return c.errorf("attribute %s repeated in <%s>", an[1:], name)
		}
		c.member(f, an)
		start := len(c.out)
		c.out = appendString(c.out, a.Value)
		f.members[f.last].vals = append(f.members[f.last].vals, [2]int{start, len(c.out)})
	}
	return nil
}

// name returns the name as written, with prefix. Composed names are kept
// so that each is built once, not once per element.
func (c *xmlConverter) name(prefix string, n xml.Name) string {
	if prefix == "" && n.Space == "" {
		return n.Local
	}
	key := append(append(c.scratch[:0], prefix...), n.Space...)
	if n.Space != "" {
		key = append(key, ':')
	}
	key = append(key, n.Local...)
	c.scratch = key
	if s, ok := c.names[string(key)]; ok {
		return s
	}
	if c.names == nil {
		c.names = make(map[string]string)
	}
	s := string(key)
	c.names[s] = s
	return s
}

// member makes the member called name of f the one the next value is
// written to: it opens f's object, starts a new member, or turns the last
// one into an array.
func (c *xmlConverter) member(f *xmlFrame, name string) {
	if f.last >= 0 && f.members[f.last].name == name {
		if !f.array && !f.regroup {
			c.out[f.members[f.last].open] = '['
			f.array = true
		}
		c.out = append(c.out, ',')
		return
	}
	if f.array {
		c.out = append(c.out, ']')
		f.array = false
	}
	if f.last < 0 {
		c.out = append(c.out, '{')
	} else {
		c.out = append(c.out, ',')
	}
	i := f.lookup(name)
	if i >= 0 {
		f.regroup = true
	} else {
		i = f.add(name)
	}
	f.last = i
	c.out = append(appendString(c.out, name), ':')
	f.members[i].open = len(c.out)
	c.out = append(c.out, ' ')
}

func (c *xmlConverter) chars(t xml.CharData) error {
	if len(c.stack) == 0 {
		if len(bytes.Trim(t, xmlSpace)) > 0 {
			return c.errorf("text outside the root element")
		}
		return nil
	}
	f := &c.stack[len(c.stack)-1]
	f.text = append(f.text, t...)
	return nil
}

// xmlSpace is the white space of XML (its production S).
const xmlSpace = " \t\r\n"

// endRun ends the text run in progress at a tag. Within an element with
// child elements (which a child's start tag proves), a whitespace-only
// run is indentation and is dropped.
func (f *xmlFrame) endRun(children bool) {
	if (children || f.children) && len(bytes.Trim(f.text[f.runStart:], xmlSpace)) == 0 {
		f.text = f.text[:f.runStart]
	}
	f.runStart = len(f.text)
}

func (c *xmlConverter) end(t xml.EndElement) error {
	name := c.name("", t.Name)
	if len(c.stack) == 0 {
		return c.errorf("unexpected end element </%s>", name)
	}
	f := &c.stack[len(c.stack)-1]
	if f.name != name {
		return c.errorf("element <%s> closed by </%s>", f.name, name)
	}
	f.endRun(false)
	c.stack = c.stack[:len(c.stack)-1]
	height := 0
	switch {
	case f.last < 0:
		c.out = appendString(c.out, string(f.text))
	case f.regroup:
		height = c.rebuild(f)
	default:
		if f.array {
			c.out = append(c.out, ']')
		}
		if len(f.text) > 0 {
			c.out = appendString(append(c.out, `,"#text":`...), string(f.text))
		}
		c.out = append(c.out, '}')
		height = f.height()
	}
	if len(c.stack) > 0 {
		parent := &c.stack[len(c.stack)-1]
		m := &parent.members[parent.last]
		m.vals = append(m.vals, [2]int{f.start, len(c.out)})
		m.height = max(m.height, height)
		return nil
	}
	// The root: close the document object.
	if height+1 > maxDepth {
		return c.errorf("nesting deeper than %d levels", maxDepth)
	}
	c.out = append(c.out, '}')
	c.done = true
	return nil
}

// height is the JSON nesting of f's object.
func (f *xmlFrame) height() int {
	h := 1
	for _, m := range f.members {
		if len(m.vals) > 1 {
			h = max(h, m.height+2)
		} else {
			h = max(h, m.height+1)
		}
	}
	return h
}

// rebuild replaces what was written of f in out by its object, the values
// of each member gathered in document order, and returns its height.
func (c *xmlConverter) rebuild(f *xmlFrame) int {
	b := append(c.scratch[:0], '{')
	for i, m := range f.members {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(appendString(b, m.name), ':')
		if len(m.vals) == 1 {
			b = append(b, c.out[m.vals[0][0]:m.vals[0][1]]...)
			continue
		}
		b = append(b, '[')
		for j, v := range m.vals {
			if j > 0 {
				b = append(b, ',')
			}
			b = append(b, c.out[v[0]:v[1]]...)
		}
		b = append(b, ']')
	}
	if len(f.text) > 0 {
		b = appendString(append(b, `,"#text":`...), string(f.text))
	}
	b = append(b, '}')
	c.out = append(c.out[:f.start], b...)
	c.scratch = b
	return f.height()
}

// lookup returns the index of the member named name, or -1.
func (f *xmlFrame) lookup(name string) int {
	if f.index != nil {
		if i, ok := f.index[name]; ok {
			return i
		}
		return -1
	}
	for i := range f.members {
		if f.members[i].name == name {
			return i
		}
	}
	return -1
}

// add appends an empty member called name and returns its index.
func (f *xmlFrame) add(name string) int {
	i := len(f.members)
	if i < cap(f.members) {
		// Reuse the spans of a frame this one replaced.
		f.members = f.members[:i+1]
		f.members[i] = xmlMember{name: name, vals: f.members[i].vals[:0]}
	} else {
		f.members = append(f.members, xmlMember{name: name})
	}
	if f.index != nil {
		f.index[name] = i
	} else if len(f.members) > xmlIndexAfter {
		f.index = make(map[string]int, 2*len(f.members))
		for j, m := range f.members {
			f.index[m.name] = j
		}
	}
	return i
}

// charsetReader decodes the few single-byte encodings legacy XML APIs
// still declare; encoding/xml itself reads only UTF-8.
func charsetReader(label string, r io.Reader) (io.Reader, error) {
	switch strings.ToLower(label) {
	case "us-ascii", "ascii":
		// A subset of UTF-8: bytes above 0x7f are reported as invalid UTF-8.
		return r, nil
	case "iso-8859-1", "iso8859-1", "latin1", "l1":
		return &singleByteReader{src: r}, nil
	case "windows-1252", "cp1252":
		return &singleByteReader{src: r, high: &windows1252}, nil
	}
	return nil, fmt.Errorf("unsupported encoding %q", label)
}

// singleByteReader decodes a single-byte encoding into UTF-8: ISO-8859-1
// maps each byte to the code point of its value; windows-1252 differs only
// in 0x80-0x9f, given by high.
type singleByteReader struct {
	src  io.Reader
	high *[32]rune
	buf  []byte
	out  []byte
}

func (r *singleByteReader) Read(p []byte) (int, error) {
	if len(r.out) == 0 {
		if cap(r.buf) == 0 {
			r.buf = make([]byte, 4096)
		}
		n, err := r.src.Read(r.buf)
		if n == 0 {
			return 0, err
		}
		r.out = r.out[:0]
		for _, b := range r.buf[:n] {
			ch := rune(b)
			if r.high != nil && 0x80 <= b && b < 0xa0 {
				ch = r.high[b-0x80]
			}
			r.out = utf8.AppendRune(r.out, ch)
		}
	}
	n := copy(p, r.out)
	r.out = r.out[n:]
	return n, nil
}

// windows1252 maps 0x80-0x9f; the five bytes it leaves undefined map to
// the C1 controls of the same value, as the WHATWG encoding standard does.
var windows1252 = [32]rune{
	'€', 0x81, '‚', 'ƒ', '„', '…', '†', '‡', 'ˆ', '‰', 'Š', '‹', 'Œ', 0x8d, 'Ž', 0x8f,
	0x90, '‘', '’', '“', '”', '•', '–', '—', '˜', '™', 'š', '›', 'œ', 0x9d, 'ž', 'Ÿ',
}
