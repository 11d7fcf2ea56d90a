package poller

import "strings"

// nextLink returns the target of the first link whose relation types
// include "next" in the values of Link header fields (RFC 8288 section
// 3): `<https://api/orders?page=2>; rel="next", <...>; rel="last"`. The
// target is as written, to be resolved against the page's URL. A
// malformed link is skipped rather than failing the poll: a later one may
// still be fine.
func nextLink(values []string) (string, bool) {
	for _, v := range values {
		l := linkScanner{s: v}
		for l.i < len(l.s) {
			if target, rel, ok := l.link(); ok && hasRel(rel, "next") {
				return target, true
			}
		}
	}
	return "", false
}

// hasRel reports whether the rel parameter value rel, a list of relation
// types separated by spaces, holds want, which relation types match
// case-insensitively.
func hasRel(rel, want string) bool {
	for r := range strings.FieldsSeq(rel) {
		if strings.EqualFold(r, want) {
			return true
		}
	}
	return false
}

// linkScanner reads the link-values of one Link field value.
type linkScanner struct {
	s string
	i int
}

// link reads one link-value, `<target>` and its ";"-separated parameters,
// and the comma after it. Only the first rel parameter counts (RFC 8288
// section 3.3). ok is false for a link-value that does not start with a
// target, which is skipped up to the next comma.
func (l *linkScanner) link() (target, rel string, ok bool) {
	l.space()
	if l.i >= len(l.s) {
		return "", "", false
	}
	if l.s[l.i] != '<' {
		l.skip(",")
		l.i = min(l.i+1, len(l.s))
		return "", "", false
	}
	end := strings.IndexByte(l.s[l.i:], '>')
	if end < 0 {
		l.i = len(l.s)
		return "", "", false
	}
	target = l.s[l.i+1 : l.i+end]
	l.i += end + 1
	relSeen := false
	for {
		l.space()
		if l.i >= len(l.s) {
			return target, rel, true
		}
		switch l.s[l.i] {
		case ',':
			l.i++
			return target, rel, true
		case ';':
			l.i++
		default:
			// Junk between parameters: skip to the next separator.
			l.skip(";,")
			continue
		}
		l.space()
		start := l.i
		l.skip("=;, \t")
		name := l.s[start:l.i]
		l.space()
		var value string
		if l.i < len(l.s) && l.s[l.i] == '=' {
			l.i++
			l.space()
			value = l.value()
		}
		if strings.EqualFold(name, "rel") && !relSeen {
			rel, relSeen = value, true
		}
	}
}

// value reads a parameter value: a quoted string, whose backslash escapes
// are undone, or a token.
func (l *linkScanner) value() string {
	if l.i >= len(l.s) || l.s[l.i] != '"' {
		start := l.i
		l.skip(";, \t")
		return l.s[start:l.i]
	}
	var b strings.Builder
	for l.i++; l.i < len(l.s); l.i++ {
		switch c := l.s[l.i]; c {
		case '"':
			l.i++
			return b.String()
		case '\\':
			if l.i+1 < len(l.s) {
				l.i++
				b.WriteByte(l.s[l.i])
			}
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// space skips optional whitespace.
func (l *linkScanner) space() {
	for l.i < len(l.s) && (l.s[l.i] == ' ' || l.s[l.i] == '\t') {
		l.i++
	}
}

// skip advances to the next byte that is one of stop, or to the end.
func (l *linkScanner) skip(stop string) {
	if k := strings.IndexAny(l.s[l.i:], stop); k >= 0 {
		l.i += k
		return
	}
	l.i = len(l.s)
}
