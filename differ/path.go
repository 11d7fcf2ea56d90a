package differ

import (
	"errors"
	"fmt"
	"strings"
)

// Path is a parsed dotted field path; an empty Path is the document root.
type Path []string

// ParsePath parses a dotted field path such as "data.orders". "$" is the
// root, and a leading "$." is optional, so "data.orders" and "$.data.orders"
// are the same path.
func ParsePath(s string) (Path, error) {
	t, root, err := trimRoot(s)
	if err != nil || root {
		return rootOrNil(err)
	}
	segs := strings.Split(t, ".")
	for _, seg := range segs {
		if seg == "" {
			return nil, fmt.Errorf("path %q has an empty segment", s)
		}
		if strings.ContainsAny(seg, "$[] ") {
			return nil, fmt.Errorf("path %q: segment %q may not contain '$', '[', ']' or spaces", s, seg)
		}
	}
	return Path(segs), nil
}

// trimRoot trims the spaces around s and its optional "$." prefix, and
// tells whether s is the root ("$") itself.
func trimRoot(s string) (t string, root bool, err error) {
	t = strings.TrimSpace(s)
	switch {
	case t == "":
		return "", false, errors.New("empty path")
	case t == "$":
		return "", true, nil
	case strings.HasPrefix(t, "$."):
		t = t[2:]
	}
	return t, false, nil
}

// rootOrNil is what a parser returns when trimRoot found the root or an
// error.
func rootOrNil(err error) (Path, error) {
	if err != nil {
		return nil, err
	}
	return Path{}, nil
}

// Segments of a field pattern (see ParseIgnore) with a meaning of their
// own. Neither can name a field: ParsePath rejects '[' and ']', and
// ParsePattern lets '*' stand only for a whole segment.
const (
	anyName  = "*"   // every member name at its level
	elemStep = "[*]" // every element of an array; kept only at the end of a pattern
)

// ParseIgnore parses an entry of ignore: a field pattern (ParsePattern)
// that does not end in [*], since ignore drops fields, not array elements.
// "$" parses (as the empty Path) but would drop everything: callers reject it.
func ParseIgnore(s string) (Path, error) {
	p, err := ParsePattern(s)
	if err == nil && len(p) > 0 && p[len(p)-1] == elemStep {
		return nil, fmt.Errorf("path %q ends in [*]: ignore drops fields, not array elements; name the array itself or a field of its elements", s)
	}
	return p, err
}

// ParseUnordered parses an entry of unordered: a field pattern
// (ParsePattern) naming arrays compared as sets. "$" is the document (or
// the item) itself, and a trailing [*] names the arrays nested in an
// array: "matrix[*]" makes every element of matrix a set, not matrix.
func ParseUnordered(s string) (Path, error) {
	return ParsePattern(s)
}

// ParsePattern parses a field pattern, the form of ignore and unordered
// entries: a dotted path as for ParsePath, in which
//
//   - a whole segment "*" matches every member name at its level
//     ("meta.*" names each member of meta, not meta itself, so with ignore
//     meta stays, as {});
//   - "[*]" after a segment's name steps into every element of an array
//     ("items[*].seen_at"). Arrays are transparent to patterns anyway
//     ("items.seen_at" names the same fields), so a [*] followed by more
//     segments is dropped from the result; only a trailing run of [*]s,
//     which names nested arrays, is kept, one elemStep segment each.
//     "$[*]" or "[*]" steps into the elements of the root.
//
// A '*' inside a name is not a glob ("x_*" is rejected, not a prefix
// match): a pattern that silently matched nothing would hide noise
// instead of removing it. A member literally named "*" cannot be named.
func ParsePattern(s string) (Path, error) {
	p, err := parseSteps(s, true)
	if err != nil {
		return nil, err
	}
	return normalize(p), nil
}

// parseSteps parses a dotted path whose segments may carry [*] steps after
// their name, each of which becomes an elemStep segment: the syntax field
// patterns and items paths (ParseItemsPath) share. With wildcard set, a
// whole segment "*" is allowed and becomes anyName; otherwise a '*' is
// refused like '$'. "$[*]" and "[*]" step into the root's elements.
func parseSteps(s string, wildcard bool) (Path, error) {
	t, root, err := trimRoot(s)
	if err != nil || root {
		return rootOrNil(err)
	}
	if strings.HasPrefix(t, "$[") {
		t = t[1:]
	}
	forbidden, what := "$[]* ", "'$', '[', ']', '*' or spaces"
	if wildcard {
		forbidden, what = "$[] ", "'$', '[', ']' or spaces"
	}
	var p Path
	for _, seg := range strings.Split(t, ".") {
		name, steps := seg, ""
		if b := strings.IndexByte(seg, '['); b >= 0 {
			name, steps = seg[:b], seg[b:]
		}
		switch {
		case seg == "":
			return nil, fmt.Errorf("path %q has an empty segment", s)
		case strings.ContainsAny(name, forbidden):
			return nil, fmt.Errorf("path %q: segment %q may not contain %s", s, seg, what)
		case strings.ReplaceAll(steps, elemStep, "") != "":
			return nil, fmt.Errorf("path %q: segment %q: only [*] (every element of an array) may follow a name", s, seg)
		case name == "" && len(p) > 0:
			return nil, fmt.Errorf("path %q: segment %q: [*] must follow a name, as in orders[*]", s, seg)
		case name != anyName && strings.Contains(name, anyName):
			return nil, fmt.Errorf("path %q: segment %q: '*' matches a whole segment only; globs such as x_* are not supported", s, seg)
		}
		if name != "" {
			p = append(p, name)
		}
		for range strings.Count(steps, elemStep) {
			p = append(p, elemStep)
		}
	}
	return p, nil
}

// normalize drops the [*] steps that more segments follow: arrays are
// transparent, so they change nothing, and dropping them gives equivalent
// patterns one form.
func normalize(p Path) Path {
	last := len(p)
	for last > 0 && p[last-1] == elemStep {
		last--
	}
	out := p[:0:0]
	for i, seg := range p {
		if seg != elemStep || i >= last {
			out = append(out, seg)
		}
	}
	return out
}

// String renders the path in dotted form ("$" for the root), [*] steps
// attached to the segment before them ("matrix[*]", "$[*]").
func (p Path) String() string {
	if len(p) == 0 {
		return "$"
	}
	var b strings.Builder
	for i, seg := range p {
		switch {
		case seg == elemStep && i == 0:
			b.WriteString("$")
		case seg != elemStep && i > 0:
			b.WriteString(".")
		}
		b.WriteString(seg)
	}
	return b.String()
}

// covers reports whether the ignore pattern p drops the field at the plain
// path k: p names k or one of its ancestors, "*" matching any name. The
// core uses it to refuse an ignore entry that would drop a key field.
func (p Path) covers(k Path) bool {
	if len(p) > len(k) {
		return false
	}
	for i, seg := range p {
		if seg != anyName && seg != k[i] {
			return false
		}
	}
	return true
}

// fieldTrie is the compiled form of the ignore and unordered patterns,
// consulted while the canonicalizer walks the body, so that both cost one
// look-up per member and no second pass. A trie applies to a value: its
// children to the members of an object, and to an array as described at
// elems. A nil trie does nothing.
type fieldTrie struct {
	children []trieChild
	// anyChild applies to every member not among children; every child
	// includes its rules too, so a look-up stops at the first match.
	anyChild *trieChild
	// set sorts an array reached with this trie: its elements are
	// compared as a multiset.
	set bool
	// elems applies to the elements of an array reached with this trie;
	// nil means this trie itself, which is what makes arrays transparent
	// to field names. It is set when this trie sorts (the elements are not
	// sets themselves) or a pattern steps into the elements with [*].
	elems *fieldTrie
}

type trieChild struct {
	name []byte     // canonical string content of the segment
	drop bool       // an ignore pattern ends here: the field is dropped with its value
	next *fieldTrie // the trie of the member's value; nil when dropped
}

// fieldRule is a pattern on the way through the trie being built: the
// segments still to match from the current value, and what to do at the
// end.
type fieldRule struct {
	rest Path
	set  bool // unordered; otherwise ignore
}

// newFieldTrie builds the trie of ignore paths; it is nil when there are
// none. It is newPatternTrie without unordered paths.
func newFieldTrie(paths []Path) *fieldTrie {
	return newPatternTrie(paths, nil)
}

// newPatternTrie builds the trie of the ignore and unordered patterns
// (from ParseIgnore and ParseUnordered); it is nil when there are none,
// which keeps the canonicalizer on its fast path. An ignore pattern for
// the root is skipped: dropping the root is no comparison at all.
func newPatternTrie(ignore, unordered []Path) *fieldTrie {
	var rules []fieldRule
	for _, p := range ignore {
		if len(p) > 0 {
			rules = append(rules, fieldRule{rest: normalize(p)})
		}
	}
	for _, p := range unordered {
		rules = append(rules, fieldRule{rest: normalize(p), set: true})
	}
	if len(rules) == 0 {
		return nil
	}
	return buildTrie(rules)
}

// buildTrie builds the trie of the rules left at one value. Rules are
// few, so the trie is built by brute force: each named child collects the
// rules of its name and of "*", which is how a wildcard merges into the
// names listed beside it.
func buildTrie(rules []fieldRule) *fieldTrie {
	t := &fieldTrie{}
	var inElems []fieldRule // the rules for the elements of an array
	stepsIn := false
	for _, r := range rules {
		switch {
		case len(r.rest) == 0:
			t.set = t.set || r.set
		case r.rest[0] == elemStep:
			// An ignore rule ending in [*] would drop elements; ParseIgnore
			// refuses it and it is skipped here.
			stepsIn = true
			if r.set {
				inElems = append(inElems, fieldRule{rest: r.rest[1:], set: true})
			}
		default:
			inElems = append(inElems, r) // arrays are transparent to names
			if r.rest[0] != anyName && t.find(canonicalName(r.rest[0])) == nil {
				name := r.rest[0]
				t.children = append(t.children, childOf(rules, canonicalName(name), func(seg string) bool { return seg == name || seg == anyName }))
			}
		}
	}
	for _, r := range rules {
		if len(r.rest) > 0 && r.rest[0] == anyName {
			c := childOf(rules, nil, func(seg string) bool { return seg == anyName })
			t.anyChild = &c
			break
		}
	}
	if t.set || stepsIn {
		t.elems = buildTrie(inElems)
	}
	return t
}

// childOf builds the child that the rules whose next segment matches lead
// to.
func childOf(rules []fieldRule, name []byte, match func(seg string) bool) trieChild {
	c := trieChild{name: name}
	var sub []fieldRule
	for _, r := range rules {
		if len(r.rest) == 0 || !match(r.rest[0]) {
			continue
		}
		if len(r.rest) == 1 && !r.set {
			c.drop = true
		}
		sub = append(sub, fieldRule{rest: r.rest[1:], set: r.set})
	}
	if !c.drop && len(sub) > 0 {
		c.next = buildTrie(sub)
	}
	return c
}

func (t *fieldTrie) find(name []byte) *trieChild {
	for i := range t.children {
		if string(t.children[i].name) == string(name) {
			return &t.children[i]
		}
	}
	return nil
}

// lookup tells whether the field with the canonical name is dropped, and
// otherwise which trie applies inside its value.
func (t *fieldTrie) lookup(name []byte) (drop bool, next *fieldTrie) {
	if t == nil {
		return false, nil
	}
	for i := range t.children {
		if string(t.children[i].name) == string(name) {
			return t.children[i].drop, t.children[i].next
		}
	}
	if t.anyChild != nil {
		return t.anyChild.drop, t.anyChild.next
	}
	return false, nil
}

// elemTrie is the trie for the elements of an array reached with t.
func (t *fieldTrie) elemTrie() *fieldTrie {
	if t.elems != nil {
		return t.elems
	}
	return t
}

// canonicalName is a field name as it appears, unquoted, in canonical JSON.
func canonicalName(s string) []byte {
	b := appendString(nil, s)
	return b[1 : len(b)-1]
}
