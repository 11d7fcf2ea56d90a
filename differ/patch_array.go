package differ

import (
	"bytes"
	"hash/maphash"
	"slices"
)

// arrays writes the operations turning the canonical array a into b.
//
// Elements are canonical, so equal elements are equal bytes. The common
// prefix and suffix are dropped first, which leaves one hunk for the
// usual single insertion or removal. What remains is diffed as text mode
// diffs lines (lineDiff, Myers' algorithm, with runs slid as GNU diff
// slides them) into hunks: runs of removed elements and of added ones
// between runs of equal elements, so that the fewest elements are removed
// and added. Within a hunk, removed and added elements are paired in order
// and each pair becomes a replace, or the pair's own patch when that is
// shorter; the surplus is removed, or added (at "-" at the end). An
// element a hunk removes beyond what it adds, equal to one another hunk
// adds beyond what it removes, is moved instead (RFC 6902 A.7). The
// operations are written from the first index to the last, each index
// counted in the array as the operations before it left it.
//
// The search is skipped when the arrays only differ by elements replaced
// in place (see inPlace), the usual edit of a list. Otherwise it costs
// O((n+m)·D) for n and m elements and D removed and added ones, and is
// exact while a split needs at most max(200, √(n+m)) edits; past that cap
// it estimates the split point, as text mode does, which keeps a very
// different array near linear and the script correct, if perhaps not
// shortest. Elements without an equal on the other side never enter it.
//
// Fewest elements removed and added is not always fewest operations: a
// replace stands for a pair, so an edit of every element of a shifted
// array is shorter compared index by index. Such a script is therefore
// checked against the bound jsondiff's index-by-index patch cannot beat
// (one operation per index whose elements differ, the operations of the
// pairs both compare the same way, and the difference in length); above
// it, the array is also compared index by index below the common prefix
// and suffix, and the shorter of the two is kept. So a patch never has
// more operations than jsondiff's. That second writing compares nested
// arrays index by index too, so it costs a linear walk per level of
// nesting at most, never a search.
func (p *patcher) arrays(a, b []byte) {
	ea, eb := elementsOf(a), elementsOf(b)
	pre := 0
	for pre < len(ea) && pre < len(eb) && bytes.Equal(ea[pre], eb[pre]) {
		pre++
	}
	a1, b1 := len(ea), len(eb)
	for a1 > pre && b1 > pre && bytes.Equal(ea[a1-1], eb[b1-1]) {
		a1, b1 = a1-1, b1-1
	}
	n, m := a1-pre, b1-pre
	base := len(p.path)
	byIndex := arrayEdit{a: ea, b: eb, hunks: []hunk{{pre, a1, pre, b1}}}
	if p.byIndex || n == 0 || m == 0 || (n == m && inPlace(ea[pre:a1], eb[pre:b1])) {
		p.edit(&byIndex, base)
		return
	}
	sa, sb := elementStrings(a, ea, pre, a1), elementStrings(b, eb, pre, b1)
	e := arrayEdit{a: ea, b: eb, hunks: diffElements(sa, sb)}
	if len(e.hunks) == 1 {
		p.edit(&byIndex, base) // nothing in common, or one hunk anyway
		return
	}
	for i := range e.hunks {
		h := &e.hunks[i]
		h.a0, h.a1, h.b0, h.b1 = h.a0+pre, h.a1+pre, h.b0+pre, h.b1+pre
	}
	e.pairMoves(sa, sb, pre)
	start := p.mark()
	same, pairs := p.edit(&e, base)
	if p.over() {
		return // cut short: the element around replaced whole
	}
	bound := same - pairs + max(n-m, m-n)
	for k := range min(n, m) {
		if sa[k] != sb[k] {
			bound++
		}
	}
	if p.ops-start.ops <= bound {
		return
	}
	last := p.mark()
	p.byIndex = true
	p.edit(&byIndex, base)
	p.byIndex = false
	if !p.over() && p.ops-last.ops < last.ops-start.ops {
		p.keepLast(start, last)
	} else {
		p.rollback(last)
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

// inPlace reports whether the arrays a and b, of one length, differ by
// elements replaced in place: no element at an index where they differ
// has an equal on the other side. A common subsequence can then pair only
// equal elements at the same index, and comparing index by index is the
// shortest script, found without a search: the common case of items
// edited in place costs a hash per element.
func inPlace(a, b [][]byte) bool {
	var changed []int
	for k := range a {
		if !bytes.Equal(a[k], b[k]) {
			changed = append(changed, k)
		}
	}
	removed, added := make(map[uint64]bool, len(changed)), make(map[uint64]bool, len(changed))
	for _, k := range changed {
		removed[maphash.Bytes(elementSeed, a[k])] = true
		added[maphash.Bytes(elementSeed, b[k])] = true
	}
	for k := range a {
		if removed[maphash.Bytes(elementSeed, b[k])] || added[maphash.Bytes(elementSeed, a[k])] {
			return false // perhaps equal (or a collision): search
		}
	}
	return true
}

// elementSeed hashes elements for inPlace.
var elementSeed = maphash.MakeSeed()

// elementStrings returns the elements els[from:to] of the canonical array
// arr as strings sharing one copy of their bytes: what lineDiff compares.
func elementStrings(arr []byte, els [][]byte, from, to int) []string {
	at := 1 // after '['
	for _, e := range els[:from] {
		at += len(e) + 1 // and the comma
	}
	end := at
	for _, e := range els[from:to] {
		end += len(e) + 1
	}
	s := string(arr[at:end]) // and a comma or ']'
	out := make([]string, to-from)
	at = 0
	for i, e := range els[from:to] {
		out[i] = s[at : at+len(e)]
		at += len(e) + 1
	}
	return out
}

// hunk is a run of elements a0..a1 of the old array replaced by the
// elements b0..b1 of the new one, between runs of equal elements.
type hunk struct{ a0, a1, b0, b1 int }

// diffElements returns the hunks turning a into b.
func diffElements(a, b []string) []hunk {
	// Flags are padded with a false sentinel at each end (element i at
	// i+1), as shiftBoundaries expects.
	del, ins := make([]bool, len(a)+2), make([]bool, len(b)+2)
	newLineDiff(a, b, del[1:], ins[1:]).run()
	shiftBoundaries(a, del, ins)
	shiftBoundaries(b, ins, del)
	del, ins = del[1:len(a)+1], ins[1:len(b)+1]
	var hunks []hunk
	for i, j := 0, 0; ; i, j = i+1, j+1 { // past a pair of equal elements
		h := hunk{a0: i, b0: j}
		for i < len(a) && del[i] {
			i++
		}
		for j < len(b) && ins[j] {
			j++
		}
		if h.a1, h.b1 = i, j; i > h.a0 || j > h.b0 {
			hunks = append(hunks, h)
		}
		if i == len(a) || j == len(b) {
			return hunks
		}
	}
}

// arrayEdit is the edit script of two arrays: hunks in order and the
// elements moved from one hunk to another.
type arrayEdit struct {
	a, b     [][]byte
	hunks    []hunk
	moved    map[int]bool // old indexes of the moved elements
	moveFrom map[int]int  // new index of a moved element → its old index
}

// pairMoves pairs an element removed by one hunk with an equal one added
// by another into a move. Only a hunk's surplus takes part: a hunk that
// removes r elements and adds s < r has r-s removals to give, each worth
// a remove and an add saved for a move; a removal paired with an addition
// of its own hunk is a replace already. a and b are the elements from
// index off on. At most maxMoves are paired, which bounds the cost of
// writing them (quadratic in their number) on an array shuffled whole.
func (e *arrayEdit) pairMoves(a, b []string, off int) {
	type source struct{ old, hunk int }
	spare := make([]int, len(e.hunks)) // removals to give (< 0: additions to take)
	var sources map[string][]source
	takers := false
	for k, h := range e.hunks {
		spare[k] = (h.a1 - h.a0) - (h.b1 - h.b0)
		switch {
		case spare[k] > 0:
			if sources == nil {
				sources = make(map[string][]source)
			}
			for i := h.a0; i < h.a1; i++ {
				sources[a[i-off]] = append(sources[a[i-off]], source{i, k})
			}
		case spare[k] < 0:
			takers = true
		}
	}
	if sources == nil || !takers {
		return
	}
	for k, h := range e.hunks {
		for j := h.b0; j < h.b1 && spare[k] < 0 && len(e.moveFrom) < maxMoves; j++ {
			list := sources[b[j-off]]
			s := slices.IndexFunc(list, func(src source) bool { return spare[src.hunk] > 0 })
			if s < 0 {
				continue
			}
			if e.moved == nil {
				e.moved, e.moveFrom = make(map[int]bool), make(map[int]int)
			}
			e.moved[list[s].old], e.moveFrom[j] = true, list[s].old
			spare[list[s].hunk]--
			spare[k]++
			sources[b[j-off]] = slices.Delete(list, s, s+1)
		}
	}
}

// maxMoves bounds the moves of an array's edit script.
const maxMoves = 1024

// pendingMove is an element that stays where it is until it is moved to
// a later index: at is its index.
type pendingMove struct {
	old, at int
	done    bool
}

// edit writes the operations of e for the array at the path of length
// base. It returns how many elements at the same index in both arrays it
// paired, and the operations it wrote for them.
func (p *patcher) edit(e *arrayEdit, base int) (same, pairs int) {
	shifts := false
	for _, h := range e.hunks {
		shifts = shifts || h.a1-h.a0 != h.b1-h.b0
	}
	if shifts {
		p.shifting++
	}
	pair := func(i, j, at int) {
		p.index(base, at)
		ops := p.ops
		p.element(e.a[i], e.b[j])
		if i == j && p.ops > ops {
			same, pairs = same+p.ops-ops, pairs+1
		}
	}
	// at is the index of the next element in the array as the operations
	// so far left it: the elements of after before it, and those waiting
	// to be moved further on. length is that array's length.
	at, length, next := 0, len(e.a), 0
	var waiting []pendingMove
	var gone []int // old indexes of elements moved to an earlier index
	for _, h := range e.hunks {
		if p.over() {
			break
		}
		at += h.a0 - next // equal elements
		if h.a1-h.a0 >= h.b1-h.b0 {
			j := h.b0
			for i := h.a0; i < h.a1 && !p.over(); i++ {
				switch moved := e.moved[i]; {
				case moved && slices.Contains(gone, i):
				case moved:
					waiting = append(waiting, pendingMove{old: i, at: at})
					at++
				case j < h.b1:
					pair(i, j, at)
					j++
					at++
				default:
					p.index(base, at)
					p.op("remove", nil)
					length--
				}
			}
		} else {
			i := h.a0
			for j := h.b0; j < h.b1 && !p.over(); j++ {
				old, moved := e.moveFrom[j]
				switch {
				case moved && old < h.a0:
					// It waited before at: once it is taken out, at-1
					// is the end of what is placed.
					p.move(base, takeWaiting(waiting, old), at-1)
					continue
				case moved:
					// It is further on, past the elements from i not
					// moved away yet.
					skipped := 0
					for _, g := range gone {
						if i <= g && g < old {
							skipped++
						}
					}
					p.move(base, at+old-i-skipped, at)
					gone = append(gone, old)
				case i < h.a1:
					pair(i, j, at)
					i++
				default:
					if at == length {
						p.index(base, -1)
					} else {
						p.index(base, at)
					}
					p.op("add", e.b[j])
					length++
				}
				at++
			}
		}
		next = h.a1
	}
	p.path = p.path[:base]
	if shifts {
		p.shifting--
	}
	return same, pairs
}

// takeWaiting marks the waiting element old as moved and returns its
// index. Taking it out moves the elements waiting after it back by one;
// nothing else moves a waiting element, since every other operation is at
// the current index or further on.
func takeWaiting(waiting []pendingMove, old int) int {
	k := slices.IndexFunc(waiting, func(w pendingMove) bool { return w.old == old })
	at := waiting[k].at
	waiting[k].done = true
	for i := range waiting {
		if !waiting[i].done && waiting[i].at > at {
			waiting[i].at--
		}
	}
	return at
}

// element writes the operations turning the element a into b, which the
// edit script paired: a replace of the whole element, or the patch of its
// members or elements when that is shorter in bytes (so never more
// operations). Paired elements may be unrelated (the pairing is by
// position in a hunk), and a patch that rewrites most of an element says
// less than its new value.
func (p *patcher) element(a, b []byte) {
	if bytes.Equal(a, b) {
		return
	}
	k := canonicalKind(a[0])
	if k != canonicalKind(b[0]) || (k != '{' && k != '[') {
		p.op("replace", b)
		return
	}
	// The patch is given up once it is as long as the replace: only its
	// length matters then.
	start, limit := p.mark(), p.limit
	p.scratch = appendString(p.scratch[:0], string(p.path))
	end := start.out + len(`,{"op":"replace","path":,"value":}`) + len(p.scratch) + len(b)
	if start.out == 1 {
		end-- // the first operation, after no comma
	}
	if limit == 0 || end < limit {
		p.limit = end
	}
	p.diff(a, b, false)
	p.limit = limit
	if len(p.out) < end {
		return
	}
	p.rollback(start)
	p.op("replace", b)
}
