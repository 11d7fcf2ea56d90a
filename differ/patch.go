package differ

import (
	"bytes"
	"encoding/json"
	"slices"
	"strconv"
)

// patch returns the RFC 6902 JSON Patch turning the canonical value before
// into after, itself canonical JSON.
//
// It walks both canonical values side by side instead of decoding them:
// members are sorted the same way on both sides, so objects merge in one
// pass, and equal subtrees are equal bytes. Object members are compared
// by name, in name order, as github.com/wI2L/jsondiff does; a value of
// another type is replaced, or added at "" for the whole document. Arrays
// get a short edit script (see arrays): elements inserted, removed or
// moved, not every later index rewritten. A member removed in one place
// whose value is added in another becomes one move (see moveMembers).
// The patch never has
// more operations than jsondiff's default one (tests and a fuzz target
// hold it to that), and it is written about ten times faster than
// decoding both values and calling jsondiff (see BenchmarkPatch), which
// matters when most items of a large response change at once.
func patch(before, after []byte) json.RawMessage {
	p := patcher{out: []byte{'['}}
	p.diff(before, after, true)
	p.moveMembers()
	return append(p.out, ']')
}

type patcher struct {
	out  []byte
	path []byte // JSON Pointer of the value being compared, decoded
	ops  int    // operations in out

	// members are the object members added or removed whose path no
	// array operation can shift (see moveMembers).
	members []memberOp
	// shifting counts the arrays around the value being compared whose
	// edit script inserts, removes or moves elements.
	shifting int
	// byIndex makes arrays pair their elements by index (see arrays).
	byIndex bool
	// limit, unless 0, is the length of out from which on the operations
	// are of no use (see element).
	limit   int
	scratch []byte // a quoted path, measured by element
}

// over reports whether out has reached the limit: the walk can stop.
func (p *patcher) over() bool { return p.limit > 0 && len(p.out) >= p.limit }

// memberOp is an add or remove operation of an object member in out.
type memberOp struct {
	add   bool
	span  opSpan
	value []byte // added or removed
}

// opSpan locates an operation in out: the operation without the comma
// before it, and its path (a JSON string).
type opSpan struct{ start, end, pathStart, pathEnd int }

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
	for (a[i] == '"' || b[j] == '"') && !p.over() {
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
			p.member(false, p.op("remove", nil), va)
		case c > 0:
			p.member(true, p.op("add", vb), vb)
		default:
			p.diff(va, vb, false)
		}
		p.path = p.path[:mark]
	}
}

// member records an added or removed member for moveMembers, unless an
// array around it shifts its elements.
func (p *patcher) member(add bool, s opSpan, value []byte) {
	if p.shifting == 0 {
		p.members = append(p.members, memberOp{add: add, span: s, value: value})
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

// op appends one operation at the current path; its members are written
// in canonical order.
func (p *patcher) op(kind string, value []byte) opSpan {
	s := p.begin()
	p.out = append(p.out, `{"op":"`...)
	p.out = append(p.out, kind...)
	p.out = append(p.out, `","path":`...)
	s.pathStart = len(p.out)
	p.out = appendString(p.out, string(p.path))
	s.pathEnd = len(p.out)
	if value != nil {
		p.out = append(p.out, `,"value":`...)
		p.out = append(p.out, value...)
	}
	p.out = append(p.out, '}')
	s.end = len(p.out)
	return s
}

// begin starts an operation: the comma before it and the count.
func (p *patcher) begin() opSpan {
	if len(p.out) > 1 {
		p.out = append(p.out, ',')
	}
	p.ops++
	return opSpan{start: len(p.out)}
}

// patchMark is what the patcher has written so far, to go back to.
type patchMark struct{ out, ops, members int }

func (p *patcher) mark() patchMark {
	return patchMark{len(p.out), p.ops, len(p.members)}
}

// rollback forgets what was written since m.
func (p *patcher) rollback(m patchMark) {
	p.out, p.ops, p.members = p.out[:m.out], m.ops, p.members[:m.members]
}

// keepLast forgets what was written between m and last and keeps what was
// written after last.
func (p *patcher) keepLast(m, last patchMark) {
	from := last.out
	if m.out == 1 && from < len(p.out) && p.out[from] == ',' {
		from++ // the first operation now
	}
	shift := from - m.out
	p.out = append(p.out[:m.out], p.out[from:]...)
	p.ops = m.ops + p.ops - last.ops
	kept := append(p.members[:m.members], p.members[last.members:]...)
	for i := m.members; i < len(kept); i++ {
		s := &kept[i].span
		s.start, s.end, s.pathStart, s.pathEnd = s.start-shift, s.end-shift, s.pathStart-shift, s.pathEnd-shift
	}
	p.members = kept
}

// moveMembers turns a removed member and an added one with the same value
// into one move operation (RFC 6902 A.6), written where the add was.
//
// That is sound because every recorded path stays valid for the whole
// patch: it runs through object members and through array elements that
// keep their index (member skips members below an array that shifts
// elements). Each such path is touched by one operation only, so the
// value stays at its "from" until the move whether the remove came before
// or after it; and "from" is never a prefix of "path", since the removed
// member is absent from after while the added one's parents are present.
func (p *patcher) moveMembers() {
	removes := 0
	for _, m := range p.members {
		if !m.add {
			removes++
		}
	}
	if removes == 0 || removes == len(p.members) {
		return
	}
	byValue := make(map[string][]int, removes) // removes by value
	for i, m := range p.members {
		if !m.add {
			byValue[string(m.value)] = append(byValue[string(m.value)], i)
		}
	}
	from := make(map[int]int) // add → remove
	moved := make(map[int]bool)
	for i, m := range p.members {
		if list := byValue[string(m.value)]; m.add && len(list) > 0 {
			from[i], moved[list[0]] = list[0], true
			byValue[string(m.value)] = list[1:]
		}
	}
	if len(from) == 0 {
		return
	}
	// Rewrite out: the operations between recorded ones are copied as
	// they are, a moved remove is dropped, its add becomes a move.
	out := make([]byte, 0, len(p.out))
	out = append(out, '[')
	next := 1
	write := func(ops []byte) {
		if len(ops) == 0 {
			return
		}
		if len(out) > 1 {
			out = append(out, ',')
		}
		out = append(out, ops...)
	}
	for i, m := range p.members {
		write(bytes.Trim(p.out[next:m.span.start], ","))
		next = m.span.end
		switch r, ok := from[i]; {
		case moved[i]: // dropped
		case ok:
			rs := p.members[r].span
			write(slices.Concat([]byte(`{"from":`), p.out[rs.pathStart:rs.pathEnd],
				[]byte(`,"op":"move","path":`), p.out[m.span.pathStart:m.span.pathEnd], []byte("}")))
		default:
			write(p.out[m.span.start:m.span.end])
		}
	}
	write(bytes.Trim(p.out[next:], ","))
	p.out = out
}

// index sets the path to the element i (or "-", the end, for i < 0) of the
// array at the path of length base.
func (p *patcher) index(base, i int) {
	p.path = append(p.path[:base], '/')
	if i < 0 {
		p.path = append(p.path, '-')
		return
	}
	p.path = strconv.AppendInt(p.path, int64(i), 10)
}

// move appends a move of the element from to the index to of the array at
// the path of length base.
func (p *patcher) move(base, from, to int) {
	p.begin()
	p.index(base, from)
	p.out = append(p.out, `{"from":`...)
	p.out = appendString(p.out, string(p.path))
	p.index(base, to)
	p.out = append(p.out, `,"op":"move","path":`...)
	p.out = appendString(p.out, string(p.path))
	p.out = append(p.out, '}')
}
