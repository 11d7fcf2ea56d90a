package differ

import (
	"bytes"
	"encoding/json"
	"strconv"
)

// patch returns the RFC 6902 JSON Patch turning the canonical value before
// into after, itself canonical JSON.
//
// It walks both canonical values side by side instead of decoding them:
// members are sorted the same way on both sides, so objects merge in one
// pass, and equal subtrees are equal bytes. The operations are those
// github.com/wI2L/jsondiff produces with its default options, in the same
// order (tests hold the two to byte equality): object members in name
// order, arrays compared index by index (surplus elements removed at the
// first surplus index, missing ones added at "-"), a value of another type
// replaced, or added at "" for the whole document. It is ten times faster
// than decoding both values and calling jsondiff (see BenchmarkPatch),
// which matters when most items of a large response change at once.
func patch(before, after []byte) json.RawMessage {
	p := patcher{out: []byte{'['}}
	p.diff(before, after, true)
	return append(p.out, ']')
}

type patcher struct {
	out  []byte
	path []byte // JSON Pointer of the value being compared, decoded
}

func (p *patcher) diff(a, b []byte, root bool) {
	if bytes.Equal(a, b) {
		return
	}
	ka, kb := canonicalKind(a[0]), canonicalKind(b[0])
	switch {
	case ka != kb && root:
		p.op("add", b)
	case ka != kb:
		p.op("replace", b)
	case ka == '{':
		p.objects(a, b)
	case ka == '[':
		p.arrays(a, b)
	default:
		p.op("replace", b)
	}
}

// canonicalKind maps the first byte of a canonical value to one byte per
// JSON type.
func canonicalKind(b byte) byte {
	switch b {
	case '{', '[', '"', 'n':
		return b
	case 't', 'f':
		return 't'
	}
	return '0'
}

func (p *patcher) objects(a, b []byte) {
	i, j := 1, 1 // after '{', at a member's name or at '}'
	for a[i] == '"' || b[j] == '"' {
		var na, nb []byte
		if a[i] == '"' {
			na = a[i+1 : endOfString(a, i)]
		}
		if b[j] == '"' {
			nb = b[j+1 : endOfString(b, j)]
		}
		var c int
		switch {
		case na == nil:
			c = 1
		case nb == nil:
			c = -1
		default:
			c = compareNames(na, nb)
		}
		var va, vb []byte
		if c <= 0 {
			va, i = memberValue(a, i, len(na))
		}
		if c >= 0 {
			vb, j = memberValue(b, j, len(nb))
		}
		name := na
		if c > 0 {
			name = nb
		}
		mark := p.push(name)
		switch {
		case c < 0:
			p.op("remove", nil)
		case c > 0:
			p.op("add", vb)
		default:
			p.diff(va, vb, false)
		}
		p.path = p.path[:mark]
	}
}

// memberValue returns the value of the member whose name of n bytes starts
// at i, and where the next member starts.
func memberValue(obj []byte, i, n int) ([]byte, int) {
	start := i + n + 3 // `"name":`
	end := skipCanonical(obj, start)
	if obj[end] == ',' {
		return obj[start:end], end + 1
	}
	return obj[start:end], end
}

// push appends the pointer token of the canonical member name to the path
// and returns the length to restore.
func (p *patcher) push(name []byte) int {
	mark := len(p.path)
	p.path = append(p.path, '/')
	for _, c := range unquote(name) {
		switch c {
		case '~':
			p.path = append(p.path, '~', '0')
		case '/':
			p.path = append(p.path, '~', '1')
		default:
			p.path = append(p.path, c)
		}
	}
	return mark
}

func (p *patcher) arrays(a, b []byte) {
	ea, eb := elementsOf(a), elementsOf(b)
	n := min(len(ea), len(eb))
	mark := len(p.path)
	if len(ea) > n {
		p.path = strconv.AppendInt(append(p.path, '/'), int64(n), 10)
		for range len(ea) - n {
			p.op("remove", nil)
		}
		p.path = p.path[:mark]
	}
	for k := 0; k < n; k++ {
		p.path = strconv.AppendInt(append(p.path, '/'), int64(k), 10)
		p.diff(ea[k], eb[k], false)
		p.path = p.path[:mark]
	}
	if len(eb) > n {
		p.path = append(p.path, '/', '-')
		for _, v := range eb[n:] {
			p.op("add", v)
		}
		p.path = p.path[:mark]
	}
}

// elementsOf splits a canonical array into its elements.
func elementsOf(arr []byte) [][]byte {
	var els [][]byte
	for i := 1; arr[i] != ']'; {
		end := skipCanonical(arr, i)
		els = append(els, arr[i:end])
		i = end
		if arr[i] == ',' {
			i++
		}
	}
	return els
}

// op appends one operation; its members are written in canonical order.
func (p *patcher) op(kind string, value []byte) {
	if len(p.out) > 1 {
		p.out = append(p.out, ',')
	}
	p.out = append(p.out, `{"op":"`...)
	p.out = append(p.out, kind...)
	p.out = append(p.out, `","path":`...)
	p.out = appendString(p.out, string(p.path))
	if value != nil {
		p.out = append(p.out, `,"value":`...)
		p.out = append(p.out, value...)
	}
	p.out = append(p.out, '}')
}
