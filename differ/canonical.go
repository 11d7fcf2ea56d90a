package differ

import (
	"bytes"
	"fmt"
	"strconv"
	"unicode/utf8"
)

// maxDepth bounds nesting so that a hostile body cannot exhaust the stack.
// It stays far below encoding/json's own limit (10000) so that every
// canonical value can be decoded again when a patch is computed.
const maxDepth = 1000

// syntaxError is a body that is not JSON; Offset is the 0-based byte offset
// of the offending byte (the body length for a truncated body).
type syntaxError struct {
	msg    string
	Offset int
}

func (e *syntaxError) Error() string {
	return fmt.Sprintf("%s at offset %d", e.msg, e.Offset)
}

// member locates one canonical "name":value pair in the output while its
// object is being sorted.
type member struct {
	nameStart, nameEnd int  // canonical name, without quotes
	start, end         int  // the whole pair
	escaped            bool // the canonical name contains an escape
}

// canonicalizer parses JSON and writes its canonical form (sorted keys, no
// whitespace, normalised numbers and string escapes) in one pass, without
// building a tree: this is what makes diffing 100k items cheap.
type canonicalizer struct {
	src     []byte
	pos     int
	out     []byte
	depth   int
	stack   [][]member   // members of the open objects, reused across objects
	scratch []byte       // reused when an object's members or a set's elements must be reordered
	sets    [][]elemSpan // elements of the open sets (unordered arrays), reused like stack
	slow    bool         // stringSlow ran since this was last cleared
	// in is the rest of a body read as it is parsed (see stream.go), nil
	// when src is the whole body. src is then a window on the body,
	// starting at its byte base.
	in   *source
	base int
}

func (c *canonicalizer) errAt(off int, format string, args ...any) error {
	return &syntaxError{msg: fmt.Sprintf(format, args...), Offset: c.base + off}
}

// errChar reports the byte at c.pos, or the end of the input.
func (c *canonicalizer) errChar(context string) error {
	if c.pos >= len(c.src) {
		return c.errEOF()
	}
	return c.errAt(c.pos, "invalid character %s %s", quoteChar(c.src[c.pos]), context)
}

func (c *canonicalizer) errEOF() error {
	return c.errAt(len(c.src), "unexpected end of JSON input")
}

// quoteChar renders a byte the way encoding/json's errors do.
func quoteChar(b byte) string {
	switch b {
	case '\'':
		return `'\''`
	case '"':
		return `'"'`
	}
	s := strconv.Quote(string(rune(b)))
	if b >= utf8.RuneSelf {
		s = fmt.Sprintf(`"\x%02x"`, b)
	}
	return "'" + s[1:len(s)-1] + "'"
}

func (c *canonicalizer) skipSpace() {
	if c.pos < len(c.src) && c.src[c.pos] > ' ' {
		return // the common case in compact bodies
	}
	for {
		for c.pos < len(c.src) {
			switch c.src[c.pos] {
			case ' ', '\t', '\n', '\r':
				c.pos++
			default:
				return
			}
		}
		// The end of the window is the end of the body only once the
		// body has no more.
		if !c.fill(c.pos + 1) {
			return
		}
	}
}

// skipBOM tolerates the UTF-8 byte order mark some legacy servers prepend.
func (c *canonicalizer) skipBOM() {
	if bytes.HasPrefix(c.src[c.pos:], utf8BOM) {
		c.pos += len(utf8BOM)
	}
}

// end checks that nothing but whitespace follows the top-level value.
func (c *canonicalizer) end() error {
	c.skipSpace()
	if c.pos < len(c.src) {
		return c.errChar("after top-level value")
	}
	return nil
}

func (c *canonicalizer) push() error {
	if c.depth >= maxDepth {
		return c.errAt(c.pos, "exceeded max depth %d", maxDepth)
	}
	c.depth++
	return nil
}

// value canonicalizes the value at c.pos. t, when not nil, says which
// fields of an object here to drop and what applies inside the others, and
// whether an array here is a set (see fieldTrie).
func (c *canonicalizer) value(t *fieldTrie) error {
	c.skipSpace()
	if c.pos >= len(c.src) {
		return c.errEOF()
	}
	switch b := c.src[c.pos]; {
	case b == '{':
		return c.object(t)
	case b == '[':
		return c.array(t)
	case b == '"':
		return c.string()
	case b == 't':
		return c.literal("true")
	case b == 'f':
		return c.literal("false")
	case b == 'n':
		return c.literal("null")
	case b == '-' || ('0' <= b && b <= '9'):
		return c.number()
	}
	return c.errChar("looking for beginning of value")
}

// skip validates the value at c.pos and discards it.
func (c *canonicalizer) skip() error {
	mark := len(c.out)
	err := c.value(nil)
	c.out = c.out[:mark]
	return err
}

func (c *canonicalizer) literal(lit string) error {
	for i := 0; i < len(lit); i++ {
		if c.pos >= len(c.src) {
			return c.errEOF()
		}
		if c.src[c.pos] != lit[i] {
			return c.errChar(fmt.Sprintf("in literal %s (expecting %s)", lit, quoteChar(lit[i])))
		}
		c.pos++
	}
	c.out = append(c.out, lit...)
	return nil
}

func (c *canonicalizer) object(t *fieldTrie) error {
	// Every member is written with a leading comma; the first one's comma
	// sits where the object starts and becomes its '{'.
	start := len(c.out)
	level := c.depth
	for len(c.stack) <= level {
		c.stack = append(c.stack, nil)
	}
	members := c.stack[level][:0]
	sorted := true
	more, err := c.beginObject()
	for more && err == nil {
		var m member
		if m.nameStart, m.nameEnd, err = c.memberName(); err != nil {
			return err
		}
		drop, child := t.lookup(c.out[m.nameStart:m.nameEnd])
		if err := c.value(child); err != nil {
			return err
		}
		if drop {
			c.out = c.out[:m.nameStart-2]
		} else {
			m.start, m.end = m.nameStart-1, len(c.out)
			m.escaped = c.slow && bytes.IndexByte(c.out[m.nameStart:m.nameEnd], '\\') >= 0
			if n := len(members); n > 0 && c.compareMembers(members[n-1], m) >= 0 {
				sorted = false
			}
			members = append(members, m)
		}
		more, err = c.nextMember()
	}
	c.stack[level] = members
	switch {
	case err != nil:
		return err
	case !sorted:
		c.reorder(start, members)
	case len(members) == 0:
		c.out = append(c.out[:start], '{')
	default:
		c.out[start] = '{'
	}
	c.out = append(c.out, '}')
	return nil
}

// beginObject consumes the '{' at c.pos and reports whether members follow.
func (c *canonicalizer) beginObject() (more bool, err error) {
	if err := c.push(); err != nil {
		return false, err
	}
	c.pos++
	c.skipSpace()
	if c.pos < len(c.src) && c.src[c.pos] == '}' {
		c.pos++
		c.depth--
		return false, nil
	}
	return true, nil
}

// memberName parses a member name and its colon, writing `,"name":` to
// the output, and returns where the canonical name sits in it.
func (c *canonicalizer) memberName() (nameStart, nameEnd int, err error) {
	c.skipSpace()
	if c.pos >= len(c.src) || c.src[c.pos] != '"' {
		return 0, 0, c.errChar("looking for beginning of object key string")
	}
	c.out = append(c.out, ',')
	nameStart = len(c.out) + 1
	c.slow = false
	if err := c.string(); err != nil {
		return 0, 0, err
	}
	nameEnd = len(c.out) - 1
	c.skipSpace()
	if c.pos >= len(c.src) || c.src[c.pos] != ':' {
		return 0, 0, c.errChar("after object key")
	}
	c.pos++
	c.out = append(c.out, ':')
	return nameStart, nameEnd, nil
}

// nextMember consumes the ',' or '}' after a member's value.
func (c *canonicalizer) nextMember() (more bool, err error) {
	return c.next('}', "after object key:value pair")
}

// nextElement consumes the ',' or ']' after an array element.
func (c *canonicalizer) nextElement() (more bool, err error) {
	return c.next(']', "after array element")
}

// next consumes the ',' that announces another member or element, or the
// closing bracket, which ends the container; context names the place in
// the error for anything else.
func (c *canonicalizer) next(closing byte, context string) (more bool, err error) {
	c.skipSpace()
	if c.pos < len(c.src) {
		switch c.src[c.pos] {
		case ',':
			c.pos++
			return true, nil
		case closing:
			c.pos++
			c.depth--
			return false, nil
		}
	}
	return false, c.errChar(context)
}

// compareNames orders canonical member names by the bytes of the names
// they encode, the order in which encoding/json writes map keys. Only a
// name with an escape differs from what it encodes.
func compareNames(a, b []byte) int {
	if bytes.IndexByte(a, '\\') >= 0 || bytes.IndexByte(b, '\\') >= 0 {
		return bytes.Compare(unquote(a), unquote(b))
	}
	return bytes.Compare(a, b)
}

// compareMembers is compareNames for members in the output, where whether
// a name has an escape is known already.
func (c *canonicalizer) compareMembers(a, b member) int {
	x, y := c.out[a.nameStart:a.nameEnd], c.out[b.nameStart:b.nameEnd]
	if a.escaped || b.escaped {
		return bytes.Compare(unquote(x), unquote(y))
	}
	return bytes.Compare(x, y)
}

// reorder rewrites the object written from start on with its members in
// name order. Of members with the same name the last one wins, as in
// encoding/json.
func (c *canonicalizer) reorder(start int, members []member) {
	out := c.out
	// Objects are small: a stable insertion sort beats the generic sort
	// and its indirect calls.
	for i := 1; i < len(members); i++ {
		m := members[i]
		j := i
		for ; j > 0 && c.compareMembers(members[j-1], m) > 0; j-- {
			members[j] = members[j-1]
		}
		members[j] = m
	}
	c.scratch = append(c.scratch[:0], out[start:]...)
	out = append(out[:start], '{')
	for i, m := range members {
		if i+1 < len(members) && bytes.Equal(c.scratch[m.nameStart-start:m.nameEnd-start], c.scratch[members[i+1].nameStart-start:members[i+1].nameEnd-start]) {
			continue
		}
		if len(out) > start+1 {
			out = append(out, ',')
		}
		out = append(out, c.scratch[m.start-start:m.end-start]...)
	}
	c.out = out
}

// array canonicalizes an array reached with the trie t.
func (c *canonicalizer) array(t *fieldTrie) error {
	return c.list(t, listArray)
}

// listKind is the way list writes an array.
type listKind uint8

const (
	// listArray is an array reached with the trie: the trie decides
	// whether it is a set (listSet) or not (listJSON), and which trie its
	// elements get. The other kinds give the trie to the elements as it is.
	listArray  listKind = iota
	listJSON            // a JSON array, elements in order
	listFramed          // framed elements (see elements)
	listSet             // a JSON array, elements sorted (see sortSet)
)

// elements parses an array whose elements all get the trie t. With framed
// set, every element is written as a 4-byte little-endian length followed
// by its canonical bytes (the snapshot layout of items) instead of as a
// JSON array.
func (c *canonicalizer) elements(t *fieldTrie, framed bool) error {
	how := listJSON
	if framed {
		how = listFramed
	}
	return c.list(t, how)
}

// list parses an array the way how says, its elements with the trie t.
func (c *canonicalizer) list(t *fieldTrie, how listKind) error {
	if how == listArray {
		how = listJSON
		if t != nil {
			if t.set {
				how = listSet
			}
			t = t.elemTrie()
		}
	}
	level := c.depth
	if err := c.push(); err != nil {
		return err
	}
	c.pos++ // '['
	start := len(c.out)
	var spans []elemSpan
	if how == listSet {
		spans = c.openSet(level)
	}
	if how != listFramed {
		c.out = append(c.out, '[')
	}
	c.skipSpace()
	if c.pos < len(c.src) && c.src[c.pos] == ']' {
		c.pos++
	} else {
		for n := 0; ; n++ {
			frame := len(c.out)
			switch {
			case how == listFramed:
				c.out = append(c.out, 0, 0, 0, 0)
			case n > 0:
				c.out = append(c.out, ',')
			}
			if err := c.value(t); err != nil {
				return err
			}
			switch how {
			case listFramed:
				putUint32(c.out[frame:], len(c.out)-frame-4)
			case listSet:
				spans = append(spans, elemSpan{start: frame + min(n, 1), end: len(c.out)}) // after the comma
			}
			c.skipSpace()
			if c.pos < len(c.src) && c.src[c.pos] == ',' {
				c.pos++
				continue
			}
			if c.pos < len(c.src) && c.src[c.pos] == ']' {
				c.pos++
				break
			}
			return c.errChar("after array element")
		}
	}
	switch how {
	case listSet:
		c.sortSet(level, start, spans)
		c.out = append(c.out, ']')
	case listJSON:
		c.out = append(c.out, ']')
	}
	c.depth--
	return nil
}

// string copies a string that needs no re-escaping as it is, and
// re-encodes any other one canonically.
func (c *canonicalizer) string() error {
	i := c.pos + 1
	for i < len(c.src) {
		// Most strings are plain ASCII: one table look-up per byte.
		for i < len(c.src) && plainASCII[c.src[i]] {
			i++
		}
		if i >= len(c.src) {
			break
		}
		b := c.src[i]
		switch {
		case b == '"':
			c.out = append(c.out, c.src[c.pos:i+1]...)
			c.pos = i + 1
			return nil
		case b == '\\' || b < 0x20:
			return c.stringSlow()
		default:
			r, size := utf8.DecodeRune(c.src[i:])
			if r == utf8.RuneError && size == 1 {
				return c.stringSlow()
			}
			i += size
		}
	}
	return c.errEOF()
}

// plainASCII marks the bytes a canonical string keeps as they are and
// that need no further look: printable ASCII other than '"' and '\\'.
var plainASCII = func() (t [256]bool) {
	for b := 0x20; b < utf8.RuneSelf; b++ {
		t[b] = b != '"' && b != '\\'
	}
	return t
}()

// stringSlow decodes escapes and writes the canonical escaping. Invalid
// UTF-8 is an error: encoding/json would read it as U+FFFD, but JSON must
// be UTF-8 (RFC 8259), and a source that sends a stray byte once (a
// truncated multi-byte character, another charset for one record) would
// otherwise change an item to U+FFFD and back: two false events.
func (c *canonicalizer) stringSlow() error {
	c.slow = true
	c.out = append(c.out, '"')
	i := c.pos + 1
	for {
		if i >= len(c.src) {
			return c.errEOF()
		}
		b := c.src[i]
		switch {
		case b == '"':
			c.out = append(c.out, '"')
			c.pos = i + 1
			return nil
		case b < 0x20:
			c.pos = i
			return c.errChar("in string literal")
		case b == '\\':
			r, next, err := c.escape(i)
			if err != nil {
				return err
			}
			c.out = appendEscapedRune(c.out, r)
			i = next
		case b < utf8.RuneSelf:
			c.out = appendEscapedRune(c.out, rune(b))
			i++
		default:
			r, size := utf8.DecodeRune(c.src[i:])
			if r == utf8.RuneError && size == 1 {
				return c.errAt(i, "invalid UTF-8 byte %s in string literal (JSON must be UTF-8)", quoteChar(b))
			}
			c.out = utf8.AppendRune(c.out, r)
			i += size
		}
	}
}

// escape decodes the escape sequence at i and returns the rune and the
// offset after it. Surrogate pairs combine; a lone surrogate becomes U+FFFD.
func (c *canonicalizer) escape(i int) (rune, int, error) {
	if i+1 >= len(c.src) {
		return 0, 0, c.errEOF()
	}
	e := c.src[i+1]
	if int(e) < len(unescapes) && unescapes[e] != 0 {
		return rune(unescapes[e]), i + 2, nil
	}
	if e == 'u' {
		r, err := c.hex4(i + 2)
		if err != nil {
			return 0, 0, err
		}
		if !utf16IsSurrogate(r) {
			return r, i + 6, nil
		}
		if r < 0xdc00 && i+7 < len(c.src) && c.src[i+6] == '\\' && c.src[i+7] == 'u' {
			lo, err := c.hex4(i + 8)
			if err != nil {
				return 0, 0, err
			}
			if 0xdc00 <= lo && lo <= 0xdfff {
				return (r-0xd800)<<10 | (lo - 0xdc00) + 0x10000, i + 12, nil
			}
		}
		return utf8.RuneError, i + 6, nil
	}
	c.pos = i + 1
	return 0, 0, c.errChar("in string escape code")
}

func utf16IsSurrogate(r rune) bool { return 0xd800 <= r && r <= 0xdfff }

func (c *canonicalizer) hex4(i int) (rune, error) {
	var r rune
	for j := i; j < i+4; j++ {
		if j >= len(c.src) {
			return 0, c.errEOF()
		}
		b := c.src[j]
		switch {
		case '0' <= b && b <= '9':
			r = r<<4 | rune(b-'0')
		case 'a' <= b && b <= 'f':
			r = r<<4 | rune(b-'a'+10)
		case 'A' <= b && b <= 'F':
			r = r<<4 | rune(b-'A'+10)
		default:
			c.pos = j
			return 0, c.errChar(`in \u hexadecimal character escape`)
		}
	}
	return r, nil
}

// shortEscapes maps the characters escaped by a single letter to it, and
// unescapes maps back every such letter a JSON string may use.
var (
	shortEscapes = [...]byte{'"': '"', '\\': '\\', '\b': 'b', '\f': 'f', '\n': 'n', '\r': 'r', '\t': 't'}
	unescapes    = [...]byte{'"': '"', '\\': '\\', '/': '/', 'b': '\b', 'f': '\f', 'n': '\n', 'r': '\r', 't': '\t'}
)

// appendEscapedRune writes r as canonical string content: only the quote,
// the backslash and control characters are escaped.
func appendEscapedRune(dst []byte, r rune) []byte {
	if r < rune(len(shortEscapes)) && shortEscapes[r] != 0 {
		return append(dst, '\\', shortEscapes[r])
	}
	if r < 0x20 {
		const hex = "0123456789abcdef"
		return append(dst, '\\', 'u', '0', '0', hex[r>>4], hex[r&0xf])
	}
	return utf8.AppendRune(dst, r)
}

// appendString writes s as a canonical JSON string.
func appendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	for _, r := range s {
		dst = appendEscapedRune(dst, r)
	}
	return append(dst, '"')
}

// number validates the number at c.pos and writes its canonical spelling.
func (c *canonicalizer) number() error {
	start := c.pos
	i := start
	if c.src[i] == '-' {
		i++
	}
	digits := func() int {
		j := i
		for i < len(c.src) && '0' <= c.src[i] && c.src[i] <= '9' {
			i++
		}
		return i - j
	}
	switch {
	case i >= len(c.src):
		c.pos = i
		return c.errEOF()
	case c.src[i] == '0':
		i++
	case '1' <= c.src[i] && c.src[i] <= '9':
		digits()
	default:
		c.pos = i
		return c.errChar("in numeric literal")
	}
	plain := i-start <= maxPlainDigits && !(c.src[start] == '-' && c.src[start+1] == '0')
	if i < len(c.src) && c.src[i] == '.' {
		i++
		if digits() == 0 {
			c.pos = i
			return c.errChar("after decimal point in numeric literal")
		}
		plain = false
	}
	if i < len(c.src) && (c.src[i] == 'e' || c.src[i] == 'E') {
		i++
		if i < len(c.src) && (c.src[i] == '+' || c.src[i] == '-') {
			i++
		}
		if digits() == 0 {
			c.pos = i
			return c.errChar("in exponent of numeric literal")
		}
		plain = false
	}
	c.pos = i
	if plain {
		// A short integer without a negative zero is canonical already.
		c.out = append(c.out, c.src[start:i]...)
		return nil
	}
	c.out = appendNumber(c.out, c.src[start:i])
	return nil
}
