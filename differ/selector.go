package differ

import (
	"strconv"
	"strings"
)

// ParseItemsPath parses the items path of a job: a dotted path as for
// ParsePath in which "[*]" after a segment (or after "$", or alone at the
// start) steps into every element of an array, so that
// "data.groups[*].orders" selects the orders of every group, flattened in
// document order, and "$[*].items" the items of every element of a
// top-level array. A trailing "[*]" selects the elements of the array it
// follows, which are the items anyway: "data.orders[*]" is "data.orders".
// No other bracket form and no '*' wildcard is accepted.
func ParseItemsPath(s string) (Path, error) {
	t := strings.TrimSpace(s)
	if !strings.ContainsAny(t, "[]*") {
		// A plain path: exactly ParsePath, errors included.
		return ParsePath(s)
	}
	p, err := parseSteps(s, false)
	if err != nil {
		return nil, err
	}
	// The items are the elements of the array the path ends at: a final
	// [*] says the same once more.
	if n := len(p); n > 0 && p[n-1] == elemStep {
		p = p[:n-1]
	}
	return p, nil
}

// wildcards reports whether the items path steps into array elements.
func (p Path) wildcards() bool {
	for _, seg := range p {
		if seg == elemStep {
			return true
		}
	}
	return false
}

// render writes the first n segments of the items path p with the [*]
// steps replaced by the indexes in at, the element being walked at each
// (for errors that name one place: "data.groups[2].orders").
func (p Path) render(n int, at []int) string {
	if n == 0 {
		return "$"
	}
	var b strings.Builder
	k := 0
	for i, seg := range p[:n] {
		if seg == elemStep {
			if i == 0 {
				b.WriteByte('$')
			}
			b.WriteByte('[')
			b.WriteString(strconv.Itoa(at[k]))
			b.WriteByte(']')
			k++
			continue
		}
		if i > 0 {
			b.WriteByte('.')
		}
		b.WriteString(seg)
	}
	return b.String()
}
