package config

import (
	"regexp"
	"strings"
)

// envName is what a shell accepts as a variable name.
var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// expand replaces ${NAME} and ${NAME:-default} in s with values from lookup,
// and turns $$ into a literal $. The default applies when the variable is
// unset or empty, as in a shell; it is taken literally up to the first "}".
// A $ followed by anything else stays as written, so URLs, prices and JSON
// bodies rarely need escaping. Every problem in s is returned, one message
// each, so a value naming two missing variables reports both.
func expand(s string, lookup func(string) (string, bool)) (string, []string) {
	if !strings.Contains(s, "$") {
		return s, nil
	}
	var b strings.Builder
	var problems []string
	for i := 0; i < len(s); i++ {
		if s[i] != '$' || i+1 == len(s) {
			b.WriteByte(s[i])
			continue
		}
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			i++
		case '{':
			end := strings.IndexByte(s[i+2:], '}')
			if end < 0 {
				problems = append(problems, `unterminated "${"; close it with "}" or write $$ for a literal $`)
				b.WriteString(s[i:])
				return b.String(), problems
			}
			ref := s[i+2 : i+2+end]
			i += 2 + end
			name, def, hasDef := strings.Cut(ref, ":-")
			if !envName.MatchString(name) {
				problems = append(problems, `"${`+ref+`}" is not a valid variable reference; expected ${NAME} or ${NAME:-default}`)
				continue
			}
			val, ok := lookup(name)
			switch {
			case ok && (val != "" || !hasDef):
				b.WriteString(val)
			case hasDef:
				b.WriteString(def)
			default:
				problems = append(problems, "environment variable "+name+" is not set (give it a value or write ${"+name+":-default})")
			}
		default:
			b.WriteByte('$')
		}
	}
	return b.String(), problems
}
