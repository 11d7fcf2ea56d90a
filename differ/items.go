package differ

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
)

// locate parses the value at c.pos looking for the item array at path[i:].
// The array's elements are written framed (see elements); everything else
// is only validated. It returns why the array is not there ("" when it is)
// and, separately, a syntax error, which takes precedence.
func (c *canonicalizer) locate(path Path, i int, t *fieldTrie, itemsStart int) (string, error) {
	c.skipSpace()
	if c.pos >= len(c.src) {
		return "", c.errEOF()
	}
	b := c.src[c.pos]
	if i == len(path) {
		switch b {
		case '[':
			return "", c.elements(t, true)
		case 'n':
			// A Go API encodes an empty slice as null: that is no items.
			return "", c.skip()
		}
		return fmt.Sprintf("found %s, want an array", kindName(b)), c.skip()
	}
	if b != '{' {
		return fmt.Sprintf("%q is %s, want an object", path[:i].String(), kindName(b)), c.skip()
	}
	want := canonicalName(path[i])
	miss := fmt.Sprintf("no field %q", path[i])
	more, err := c.beginObject()
	for more && err == nil {
		var nameStart, nameEnd int
		if nameStart, nameEnd, err = c.memberName(); err != nil {
			return "", err
		}
		match := bytes.Equal(c.out[nameStart:nameEnd], want)
		c.out = c.out[:nameStart-2]
		if match {
			// With duplicate names the last member wins, as in
			// encoding/json: forget the items of an earlier one.
			c.out = c.out[:itemsStart]
			miss, err = c.locate(path, i+1, t, itemsStart)
		} else {
			err = c.skip()
		}
		if err != nil {
			return "", err
		}
		more, err = c.nextMember()
	}
	return miss, err
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

// pairing matches the items of the previous snapshot with the new ones.
type pairing struct {
	newOf   []int32 // per old item: the new item it became, or -1 (deleted)
	oldOf   []int32 // per new item: the old item it was, or -1 (created)
	deleted int
}

// pairKeyed matches items by key and rejects duplicate keys. old may be nil.
// Map keys are substrings of one string per snapshot, so building the map
// costs no allocation per item.
func pairKeyed(old, cur *snapshot) (pairing, error) {
	p := newPairing(old, cur)
	m := make(map[string]int32, len(p.newOf)+len(p.oldOf)/64)
	if old != nil {
		start, region := old.keyRegion()
		for i, k := range old.keys {
			m[region[k.off-start:k.end-start]] = int32(i)
		}
	}
	start, region := cur.keyRegion()
	for j, ks := range cur.keys {
		k := region[ks.off-start : ks.end-start]
		i, ok := m[k]
		switch {
		case !ok:
			m[k] = -int32(j) - 1
		case i < 0:
			return pairing{}, fmt.Errorf("items %d and %d have the same key %q", -i-1, j, k)
		case p.newOf[i] >= 0:
			return pairing{}, fmt.Errorf("items %d and %d have the same key %q", p.newOf[i], j, k)
		default:
			p.newOf[i], p.oldOf[j] = int32(j), i
			p.deleted--
		}
	}
	return p, nil
}

// pairContent matches items compared by content as multisets: each new
// item takes the earliest unmatched old item with the same canonical JSON.
func pairContent(old, cur *snapshot) pairing {
	p := newPairing(old, cur)
	if old == nil {
		return p
	}
	// Chains of old items with the same content key, in old order; m
	// points at the first one not matched yet.
	m := make(map[string]int32, len(old.keys))
	next := make([]int32, len(old.keys))
	start, region := old.keyRegion()
	for i := len(old.keys) - 1; i >= 0; i-- {
		k := region[old.keys[i].off-start : old.keys[i].end-start]
		next[i] = -1
		if h, ok := m[k]; ok {
			next[i] = h
		}
		m[k] = int32(i)
	}
	start, region = cur.keyRegion()
	for j, ks := range cur.keys {
		k := region[ks.off-start : ks.end-start]
		head, ok := m[k]
		if !ok {
			continue
		}
		for i := head; i >= 0; i = next[i] {
			// Equal keys with different content would be a SHA-256
			// prefix collision: compare the bytes to stay exact.
			if p.newOf[i] >= 0 || !bytes.Equal(old.value(int(i)), cur.value(j)) {
				continue
			}
			p.newOf[i], p.oldOf[j] = int32(j), i
			p.deleted--
			if i == head {
				m[k] = next[i]
			}
			break
		}
	}
	return p
}

func newPairing(old, cur *snapshot) pairing {
	var p pairing
	if old != nil {
		p.newOf = make([]int32, len(old.values))
		for i := range p.newOf {
			p.newOf[i] = -1
		}
	}
	p.oldOf = make([]int32, len(cur.values))
	for j := range p.oldOf {
		p.oldOf[j] = -1
	}
	p.deleted = len(p.newOf)
	return p
}
