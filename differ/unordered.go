package differ

import (
	"bytes"
	"slices"
)

// elemSpan locates one canonical element of a set in the output while the
// set is being sorted.
type elemSpan struct{ start, end int }

// openSet returns the reusable list for the element spans of a set opened
// at the nesting level.
func (c *canonicalizer) openSet(level int) []elemSpan {
	for len(c.sets) <= level {
		c.sets = append(c.sets, nil)
	}
	return c.sets[level][:0]
}

// sortSet rewrites the array written from start on (its '[' and its
// elements, the ']' not yet) with the elements sorted by their canonical
// bytes. Sorting the finished canonical bytes is what makes the order of
// the elements in the body irrelevant while a duplicate still counts: the
// elements are a multiset. Any nested set or ignored field inside an
// element was dealt with before, so they take part in the order as they
// are compared.
func (c *canonicalizer) sortSet(level, start int, spans []elemSpan) {
	c.sets[level] = spans // keep what the list grew to
	out := c.out
	cmp := func(a, b elemSpan) int { return bytes.Compare(out[a.start:a.end], out[b.start:b.end]) }
	// A set that is often polled unchanged tends to come sorted already:
	// checking costs one comparison per element and no copy.
	if slices.IsSortedFunc(spans, cmp) {
		return
	}
	slices.SortFunc(spans, cmp)
	base := start + 1
	c.scratch = append(c.scratch[:0], out[base:]...)
	out = out[:base]
	for i, sp := range spans {
		if i > 0 {
			out = append(out, ',')
		}
		out = append(out, c.scratch[sp.start-base:sp.end-base]...)
	}
	c.out = out
}
