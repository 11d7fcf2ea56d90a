package differ

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
)

// walker reads the items of one response (phase 1 of an items-mode diff):
// it validates the body, finds the item array(s) the items path selects
// and, for each element, either recognises it as a previous item by the
// hash of its raw bytes, or canonicalizes it into its own buffer.
type walker struct {
	d      *Differ
	single bool             // an object at the items path is one item (XML)
	c      canonicalizer    // src is the body; out holds canonical values, then keys
	prev   *State           // the state compared with, or nil
	before map[int32][]byte // values of prev's items read from the store (see oldValue)
	// bodyLen is the length of the body walked; once the walk is done the
	// walker drops the body itself (c.src), so that the collector may take
	// it while the changes, the new state and the events are built.
	bodyLen int
	// items are the elements found so far, in document order.
	items []pending
	// at is the index of the element being walked at each [*] step of the
	// items path, for errors that name a place.
	at []int
	// next is the previous item expected at the next element: items are
	// mostly in the order of the previous response, so checking the one
	// after the last recognised item first finds most without a scan.
	next int32
	// misses counts the elements not recognised in a row, and skip the
	// elements still to canonicalize without looking them up (see
	// element).
	misses, skip int
}

// When this many elements in a row are not recognised, the next
// skipMisses are canonicalized without being looked up: a state loaded
// from the store, whose items' raw bytes are not known, then costs little
// more than a full parse, and a run of new items at the top of a list
// costs a few parses more than needed.
const (
	maxMisses  = 32
	skipMisses = 64
)

// pending is one element of the response's items. A response has as many
// as it has items, so it is kept to 40 bytes.
type pending struct {
	prev    int32   // a previous item with the same raw bytes, or -1
	rawLen  uint32  // length of its raw bytes
	val     outSpan // otherwise its canonical value in the walker's buffer
	key     outSpan // and its key (set by keys)
	keyHash uint64
	raw     uint64 // hash of its raw bytes
}

// outSpan locates bytes in the walker's buffer, which a body's size limit
// keeps far below 4 GiB.
type outSpan struct{ off, end uint32 }

func newOutSpan(off, end int) outSpan { return outSpan{uint32(off), uint32(end)} }

func (s outSpan) of(b []byte) []byte { return b[s.off:s.end] }

// ref locates the span's bytes in a full snapshot laid out in the buffer.
func (s outSpan) ref() ref { return ref{chunk: 0, off: s.off, n: s.end - s.off} }

// oldValue returns the value of item i of the state compared with. A lean
// state reads it from the store, and several steps of a diff compare the
// same changed item: each value is read once per diff.
func (w *walker) oldValue(i int32) []byte {
	if w.prev.src == nil {
		return w.prev.value(int(i))
	}
	if v, ok := w.before[i]; ok {
		return v
	}
	if w.before == nil {
		w.before = make(map[int32][]byte)
	}
	v := w.prev.value(int(i))
	w.before[i] = v
	return v
}

// value and key return the canonical value and the key of item j.
func (w *walker) value(j int) []byte {
	if i := w.items[j].prev; i >= 0 {
		return w.prev.value(int(i))
	}
	return w.items[j].val.of(w.c.out)
}

func (w *walker) key(j int) []byte {
	if i := w.items[j].prev; i >= 0 {
		return w.prev.key(int(i))
	}
	return w.items[j].key.of(w.c.out)
}

// locate parses the value at c.pos looking for the item array at
// path[i:]. The array's elements are read by elements; everything else is
// only validated. It returns why the array is not there ("" when it is)
// and, separately, a syntax error, which takes precedence. itemsStart is
// the number of items found before the value, which a later member of the
// same name discards. Inside an element stepped into by [*], a missing
// field or a null on the way contributes no items instead of failing.
func (w *walker) locate(i, itemsStart int, inside bool) (string, error) {
	c := &w.c
	path := w.d.items
	c.skipSpace()
	if c.pos >= len(c.src) {
		return "", c.errEOF()
	}
	b := c.src[c.pos]
	switch {
	case i == len(path) && b == '[':
		return "", w.elements()
	case i == len(path) && b == '{' && w.single:
		// XML has no arrays: an element that repeats becomes one, but a
		// lone element is an object. At the items path that is one item.
		return "", w.element()
	case b == 'n' && (i == len(path) || inside || path[i] == elemStep):
		// A Go API encodes an empty slice as null: that is no items.
		return "", w.skipValue()
	case i == len(path) && path.wildcards():
		return fmt.Sprintf("%q is %s, want an array", path.render(i, w.at), kindName(b)), w.skipValue()
	case i == len(path):
		return fmt.Sprintf("found %s, want an array", kindName(b)), w.skipValue()
	case path[i] == elemStep && b == '[':
		return w.eachElement(i)
	case path[i] == elemStep:
		return fmt.Sprintf("%q is %s, want an array", path.render(i, w.at), kindName(b)), w.skipValue()
	case b != '{':
		return fmt.Sprintf("%q is %s, want an object", path.render(i, w.at), kindName(b)), w.skipValue()
	}
	want := canonicalName(path[i])
	var miss string
	if !inside {
		miss = fmt.Sprintf("no field %q", path[i])
	}
	more, err := c.beginObject()
	for more && err == nil {
		var nameStart, nameEnd int
		c.whole()
		if nameStart, nameEnd, err = c.memberName(); err != nil {
			return "", err
		}
		match := bytes.Equal(c.out[nameStart:nameEnd], want)
		c.out = c.out[:nameStart-2]
		if match {
			// With duplicate names the last member wins, as in
			// encoding/json: forget the items of an earlier one.
			w.truncate(itemsStart)
			miss, err = w.locate(i+1, itemsStart, inside)
		} else {
			err = w.skipValue()
		}
		if err != nil {
			return "", err
		}
		more, err = c.nextMember()
	}
	return miss, err
}

// eachElement walks every element of the array at c.pos for the rest of
// the items path after the [*] at path[i]. The first element that is not
// shaped as the path says is the one reported.
func (w *walker) eachElement(i int) (string, error) {
	c := &w.c
	if err := c.push(); err != nil {
		return "", err
	}
	c.pos++ // '['
	c.skipSpace()
	if c.pos < len(c.src) && c.src[c.pos] == ']' {
		c.pos++
		c.depth--
		return "", nil
	}
	var miss string
	w.at = append(w.at, 0)
	for n := 0; ; n++ {
		w.at[len(w.at)-1] = n
		m, err := w.locate(i+1, len(w.items), true)
		if err != nil {
			return "", err
		}
		if miss == "" {
			miss = m
		}
		if more, err := w.nextElement(); err != nil || !more {
			w.at = w.at[:len(w.at)-1]
			return miss, err
		}
	}
}

// nextElement consumes the ',' or ']' after an array element.
func (w *walker) nextElement() (more bool, err error) { return w.c.nextElement() }

// skipValue validates the value at c.pos, which holds no items.
func (w *walker) skipValue() error {
	w.c.whole()
	return w.c.skip()
}

// truncate forgets the items found from the n-th on.
func (w *walker) truncate(n int) {
	for _, p := range w.items[n:] {
		if p.prev < 0 {
			w.c.out = w.c.out[:p.val.off-4]
			break
		}
	}
	w.items = w.items[:n]
}

// elements reads the item array at c.pos.
func (w *walker) elements() error {
	c := &w.c
	if err := c.push(); err != nil {
		return err
	}
	c.pos++ // '['
	c.skipSpace()
	if c.pos < len(c.src) && c.src[c.pos] == ']' {
		c.pos++
		c.depth--
		return nil
	}
	for {
		c.compact()
		if err := w.element(); err != nil {
			return err
		}
		if more, err := w.nextElement(); err != nil || !more {
			return err
		}
	}
}

// element reads one item. Raw bytes identical to those a previous item
// was read from are that item again, without a parse: they were valid,
// and canonicalize to the same value. Only other items are canonicalized,
// framed by a 4-byte length like the values of a full snapshot.
func (w *walker) element() error {
	c := &w.c
	c.skipSpace()
	start := c.pos
	switch {
	case w.prev == nil:
	case w.skip > 0:
		w.skip--
	default:
		if c.in != nil && int(w.next) < len(w.prev.items) {
			c.fill(start + int(w.prev.items[w.next].rawLen) + 1)
		}
		if i, h := w.expected(start); i >= 0 {
			return w.recognised(i, h, start, start+int(w.prev.items[i].rawLen))
		}
		c.whole()
		if end := scanValue(c.src, start); end > start && delimited(c.src, end) {
			h := hashBytes(c.src[start:end])
			if i := w.prev.findRaw(h, end-start); i >= 0 {
				return w.recognised(i, h, start, end)
			}
		}
		if w.misses++; w.misses >= maxMisses {
			w.skip = skipMisses
			// Most of what follows may be parsed: make room for it at
			// once rather than by repeated growth.
			c.out = slices.Grow(c.out, (len(c.src)-start)*9/8)
		}
	}
	c.whole()
	frame := len(c.out)
	c.out = append(c.out, 0, 0, 0, 0)
	if err := c.value(w.d.ignore); err != nil {
		return err
	}
	putUint32(c.out[frame:], len(c.out)-frame-4)
	raw := c.src[start:c.pos]
	w.items = append(w.items, pending{prev: -1, val: newOutSpan(frame+4, len(c.out)), raw: hashBytes(raw), rawLen: uint32(len(raw))})
	return nil
}

// expected checks whether the element at start is the previous item
// after the last one recognised, and returns it with the hash of its raw
// bytes, or -1.
func (w *walker) expected(start int) (int32, uint64) {
	i := w.next
	if int(i) >= len(w.prev.items) {
		return -1, 0
	}
	it := &w.prev.items[i]
	end := start + int(it.rawLen)
	if it.rawLen == 0 || end > len(w.c.src) || !delimited(w.c.src, end) {
		return -1, 0
	}
	if h := hashBytes(w.c.src[start:end]); h == it.raw {
		return i, h
	}
	return -1, 0
}

// recognised records the element at start..end as previous item i.
func (w *walker) recognised(i int32, h uint64, start, end int) error {
	// The bytes were valid where they were, so they are here, with one
	// exception: depth, which counts from the document's root. The items
	// path, part of the rules a state is compared under, fixes it.
	w.items = append(w.items, pending{prev: i, raw: h, rawLen: uint32(end - start)})
	w.c.pos = end
	w.next = i + 1
	w.misses = 0
	return nil
}

// keys computes the key of every item that was canonicalized (phase 2),
// framed after the values in the walker's buffer, and every item's key
// hash. Without a previous state the buffer is then laid out as a full
// snapshot.
func (w *walker) keys() error {
	for j := range w.items {
		p := &w.items[j]
		if p.prev >= 0 {
			p.keyHash = w.prev.items[p.prev].keyHash
			continue
		}
		frame := len(w.c.out)
		w.c.out = append(w.c.out, 0, 0, 0, 0)
		v := p.val.of(w.c.out)
		switch w.d.kind {
		case kindKeyed:
			var err error
			if w.c.out, err = w.d.appendKey(w.c.out, j, v); err != nil {
				return err
			}
		case kindKeyless:
			w.c.out = appendContentKey(w.c.out, v)
		}
		putUint32(w.c.out[frame:], len(w.c.out)-frame-4)
		p.key = newOutSpan(frame+4, len(w.c.out))
		p.keyHash = hashBytes(w.c.out[frame+4:])
	}
	return nil
}

// kindName names the JSON type of a value starting with b.
func kindName(b byte) string {
	switch b {
	case '{':
		return "an object"
	case '[':
		return "an array"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	}
	return "a number"
}

// keyField is one field of an item key, by canonical segment names.
type keyField struct {
	name string // as written in the spec, for errors
	segs [][]byte
}

// appendKey renders the key of item i (canonical object v): scalar values
// as their text, a number canonically (1042.0 → "1042"), fields of a
// compound key joined by '|' with '|' and '\' inside them escaped by '\'.
func (d *Differ) appendKey(dst []byte, i int, v []byte) ([]byte, error) {
	if v[0] != '{' {
		return nil, fmt.Errorf("item %d: found %s, want an object", i, kindName(v[0]))
	}
	for k, f := range d.keys {
		val := v
		for _, seg := range f.segs {
			if val = fieldValue(val, seg); val == nil {
				return nil, fmt.Errorf("item %d: key field %q is missing", i, f.name)
			}
		}
		if k > 0 {
			dst = append(dst, '|')
		}
		switch val[0] {
		case '"':
			s := unquote(val[1 : len(val)-1])
			if len(d.keys) == 1 {
				dst = append(dst, s...)
				break
			}
			for _, b := range s {
				if b == '|' || b == '\\' {
					dst = append(dst, '\\')
				}
				dst = append(dst, b)
			}
		case 'n':
			return nil, fmt.Errorf("item %d: key field %q is null", i, f.name)
		case '{', '[':
			return nil, fmt.Errorf("item %d: key field %q is %s, want a string, number or boolean", i, f.name, kindName(val[0]))
		default:
			dst = append(dst, val...)
		}
	}
	return dst, nil
}

// appendContentKey renders the key of an item compared by content: the
// first 16 hex digits of the SHA-256 of its canonical JSON.
func appendContentKey(dst, v []byte) []byte {
	sum := sha256.Sum256(v)
	return hex.AppendEncode(dst, sum[:8])
}

// fieldValue returns the value of the member with the canonical name in
// the canonical object obj, or nil when obj is no object or lacks it.
func fieldValue(obj, name []byte) []byte {
	if len(obj) < 2 || obj[0] != '{' {
		return nil
	}
	for i := 1; i < len(obj) && obj[i] == '"'; {
		nameEnd := endOfString(obj, i)
		valEnd := skipCanonical(obj, nameEnd+2)
		if bytes.Equal(obj[i+1:nameEnd], name) {
			return obj[nameEnd+2 : valEnd]
		}
		i = valEnd + 1
	}
	return nil
}

// endOfString returns the index of the closing quote of the canonical
// string opening at i.
func endOfString(b []byte, i int) int {
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '\\':
			j++
		case '"':
			return j
		}
	}
	return len(b)
}

// skipCanonical returns the end of the canonical value starting at i.
func skipCanonical(b []byte, i int) int {
	switch b[i] {
	case '"':
		return endOfString(b, i) + 1
	case '{', '[':
		depth := 0
		for j := i; j < len(b); j++ {
			switch b[j] {
			case '"':
				j = endOfString(b, j)
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return j + 1
				}
			}
		}
		return len(b)
	}
	j := i
	for j < len(b) && b[j] != ',' && b[j] != '}' && b[j] != ']' {
		j++
	}
	return j
}

// unquote decodes the content of a canonical string (without its quotes),
// whose only escapes are \" \\ \b \f \n \r \t and \u00XX.
func unquote(s []byte) []byte {
	if bytes.IndexByte(s, '\\') < 0 {
		return s
	}
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' {
			out = append(out, s[i])
			continue
		}
		i++
		if s[i] == 'u' {
			h, _ := hex.DecodeString(string(s[i+3 : i+5]))
			out = append(out, h...)
			i += 4
			continue
		}
		out = append(out, unescapes[s[i]])
	}
	return out
}

// pairing matches the items of the previous state with the new ones.
type pairing struct {
	newOf   []int32 // per old item: the new item it became, or -1 (deleted)
	oldOf   []int32 // per new item: the old item it was, or -1 (created)
	deleted int
	byKey   table // keyed: the new items by key, the next state's table
}

func newPairing(old *State, n int) pairing {
	var p pairing
	if old != nil {
		p.newOf = make([]int32, len(old.items))
		for i := range p.newOf {
			p.newOf[i] = -1
		}
	}
	p.oldOf = make([]int32, n)
	for j := range p.oldOf {
		p.oldOf[j] = -1
	}
	p.deleted = len(p.newOf)
	return p
}

// pairKeyed matches items by key and rejects duplicate keys; old may be nil.
func (w *walker) pairKeyed(old *State) (pairing, error) {
	p := newPairing(old, len(w.items))
	p.byKey = newTable(len(w.items))
	for j := range w.items {
		k, h := w.key(j), w.items[j].keyHash
		if e := p.byKey.get(h, func(e int32) bool { return bytes.Equal(w.key(int(e)), k) }); e >= 0 {
			return pairing{}, fmt.Errorf("items %d and %d have the same key %q", e, j, k)
		}
		p.byKey.put(h, int32(j), nil)
		if old == nil {
			continue
		}
		// An item recognised by its raw bytes has its key: it is the
		// old item of that key.
		i := w.items[j].prev
		if i < 0 {
			i = old.findKey(k, h)
		}
		if i >= 0 {
			p.newOf[i], p.oldOf[j] = int32(j), i
			p.deleted--
		}
	}
	return p, nil
}

// pairContent matches items compared by content as multisets: each new
// item takes the earliest unmatched old item with the same canonical JSON.
func (w *walker) pairContent(old *State) pairing {
	p := newPairing(old, len(w.items))
	if old == nil {
		return p
	}
	// Per chain of old items with the same content key (by its first
	// item): the first one not matched yet, +1; 0 is the first item
	// itself, -1 none.
	cur := make([]int32, len(old.items))
	for j := range w.items {
		head := old.findKey(w.key(j), w.items[j].keyHash)
		if head < 0 || cur[head] < 0 {
			continue
		}
		first := head
		if cur[head] > 0 {
			first = cur[head] - 1
		}
		for i := first; i >= 0; i = old.sameKey[i] {
			// Equal keys with different content would be a SHA-256
			// prefix collision: compare the bytes to stay exact.
			if p.newOf[i] >= 0 || !bytes.Equal(w.oldValue(i), w.value(j)) {
				continue
			}
			p.newOf[i], p.oldOf[j] = int32(j), i
			p.deleted--
			if i == first {
				cur[head] = old.sameKey[i] + 1
				if old.sameKey[i] < 0 {
					cur[head] = -1
				}
			}
			break
		}
	}
	return p
}
