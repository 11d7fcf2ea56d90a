package differ

import (
	"fmt"
	"strings"
)

// Path is a parsed dotted field path; an empty Path is the document root.
type Path []string

// ParsePath parses a dotted field path such as "data.orders". "$" is the
// root, and a leading "$." is optional, so "data.orders" and "$.data.orders"
// are the same path.
func ParsePath(s string) (Path, error) {
	t := strings.TrimSpace(s)
	switch {
	case t == "":
		return nil, fmt.Errorf("empty path")
	case t == "$":
		return Path{}, nil
	case strings.HasPrefix(t, "$."):
		t = t[2:]
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

// String renders the path in dotted form ("$" for the root).
func (p Path) String() string {
	if len(p) == 0 {
		return "$"
	}
	return strings.Join(p, ".")
}

// fieldTrie is a set of field paths arranged by segment, consulted while an
// object is canonicalized to drop ignored fields. A nil trie drops nothing.
type fieldTrie struct {
	children []trieChild
}

type trieChild struct {
	name []byte // canonical string content of the segment
	drop bool   // the path ends here: the field is dropped with its value
	next *fieldTrie
}

// newFieldTrie builds the trie of paths; it is nil when there are none.
func newFieldTrie(paths []Path) *fieldTrie {
	var root *fieldTrie
	for _, p := range paths {
		if len(p) == 0 {
			continue
		}
		if root == nil {
			root = &fieldTrie{}
		}
		t := root
		for i, seg := range p {
			ch := t.child(seg)
			if i == len(p)-1 {
				ch.drop = true
				break
			}
			if ch.next == nil {
				ch.next = &fieldTrie{}
			}
			t = ch.next
		}
	}
	return root
}

func (t *fieldTrie) child(seg string) *trieChild {
	name := canonicalName(seg)
	for i := range t.children {
		if string(t.children[i].name) == string(name) {
			return &t.children[i]
		}
	}
	t.children = append(t.children, trieChild{name: name})
	return &t.children[len(t.children)-1]
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
	return false, nil
}

// canonicalName is a field name as it appears, unquoted, in canonical JSON.
func canonicalName(s string) []byte {
	b := appendString(nil, s)
	return b[1 : len(b)-1]
}
