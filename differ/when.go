package differ

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/vm"
)

// when is a compiled `when:` condition (github.com/expr-lang/expr) that an
// event must meet to be emitted. It is compiled once, at config load, and
// is safe for concurrent use. A nil *when lets every event through.
//
// The condition sees these variables:
//
//	type    string  the event type, "item.updated" say
//	key     string  the item key ("" in document mode)
//	job     string  the job name
//	before  any     the value before the change, nil for a creation
//	after   any     the value after it, nil for a deletion
//
// before and after are decoded JSON: objects are map[string]any, arrays
// []any, and a number is an int when it is an integer that fits (64 bits
// on the platforms pollhook ships for), a float64 otherwise: ids and
// counts compare exactly, an integer beyond ±9.2e18 loses digits. As the
// variable type shadows expr's builtin of that name, type(v) is not
// available.
//
// A condition that fails at run time, reading a member of a nil before
// (`before.stock` on a creation) or ordering nil against a number
// (`before?.stock >= 5` when before lacks stock), does not match: the event
// is dropped and match returns the error alongside, for the caller to log
// (once per poll is enough: the same condition fails the same way).
// Conditions that hold on creations too guard with the type or with
// `??`: `type == "item.updated" && before.stock >= 5`,
// `(before?.stock ?? 0) >= 5`.
type when struct {
	program *vm.Program
	// The condition reads before / after: only then are they decoded.
	before, after bool
}

// whenEnv is the environment a condition runs in.
type whenEnv struct {
	Type   string `expr:"type"`
	Key    string `expr:"key"`
	Job    string `expr:"job"`
	Before any    `expr:"before"`
	After  any    `expr:"after"`
}

// whenError is a condition that does not compile, or that failed on an
// event. Line and Column (1-based) locate the error in the condition's
// source, for the config loader to turn into a position in the file; they
// are 0 when expr gives no position (a condition that is no boolean).
type whenError struct {
	Msg          string
	Line, Column int
}

func (e *whenError) Error() string {
	return "when: " + e.detail()
}

func (e *whenError) detail() string {
	if e.Line == 0 {
		return e.Msg
	}
	return fmt.Sprintf("%s (%d:%d)", e.Msg, e.Line, e.Column)
}

// newWhenError turns an error of expr, which spells its position with a
// multi-line snippet of the source, into a one-line whenError.
func newWhenError(err error) *whenError {
	var fe *file.Error
	if !errors.As(err, &fe) {
		return &whenError{Msg: err.Error()}
	}
	we := &whenError{Msg: fe.Message}
	if fe.Line > 0 {
		we.Line, we.Column = fe.Line, fe.Column+1 // expr counts columns from 0
	}
	return we
}

// compileWhen compiles the condition src. An empty src gives a nil *when,
// which matches every event. The error is a *whenError.
func compileWhen(src string) (*when, error) {
	if src == "" {
		return nil, nil
	}
	program, err := expr.Compile(src, expr.Env(whenEnv{}), expr.AsBool())
	if err != nil {
		return nil, newWhenError(err)
	}
	w := &when{program: program}
	root := program.Node()
	ast.Find(root, func(n ast.Node) bool {
		if id, ok := n.(*ast.IdentifierNode); ok {
			switch id.Value {
			case "before":
				w.before = true
			case "after":
				w.after = true
			case "$env": // the whole environment, as a map
				w.before, w.after = true, true
			}
		}
		return false
	})
	return w, nil
}

// match reports whether the event meets the condition. before and after
// are the event's canonical JSON values, nil when absent. An error (a
// value that is not canonical JSON, or a condition failing at run time)
// comes with false.
func (w *when) match(typ, job, key string, before, after []byte) (bool, error) {
	if w == nil {
		return true, nil
	}
	env := whenEnv{Type: typ, Key: key, Job: job}
	var err error
	if w.before && before != nil {
		if env.Before, err = decodeWhenValue(before); err != nil {
			return false, fmt.Errorf("when: %s: before: %w", eventLabel(typ, key), err)
		}
	}
	if w.after && after != nil {
		if env.After, err = decodeWhenValue(after); err != nil {
			return false, fmt.Errorf("when: %s: after: %w", eventLabel(typ, key), err)
		}
	}
	out, err := expr.Run(w.program, env)
	if err != nil {
		return false, fmt.Errorf("when: %s: %s", eventLabel(typ, key), newWhenError(err).detail())
	}
	// expr.AsBool makes every result a bool.
	return out.(bool), nil
}

// eventLabel names an event in an error: its type and quoted key.
func eventLabel(typ, key string) string {
	if key == "" {
		return typ
	}
	return typ + " " + strconv.Quote(key)
}

// decodeWhenValue decodes a canonical JSON value with the number types of
// when: an int when the number is an integer that fits, a float64
// otherwise (±Inf beyond its range). Walking the canonical layout is four
// times faster than encoding/json and its json.Numbers, which matters when
// a condition reads the items of many events.
func decodeWhenValue(b []byte) (any, error) {
	v, end, err := whenValue(b, 0)
	if err == nil && end != len(b) {
		err = errNotCanonical
	}
	return v, err
}

func whenValue(b []byte, i int) (any, int, error) {
	if i >= len(b) {
		return nil, 0, errNotCanonical
	}
	switch b[i] {
	case '{':
		m := make(map[string]any)
		for i++; i < len(b) && b[i] == '"'; {
			nameEnd := endOfString(b, i)
			if nameEnd+1 >= len(b) || b[nameEnd+1] != ':' {
				return nil, 0, errNotCanonical
			}
			v, next, err := whenValue(b, nameEnd+2)
			if err != nil {
				return nil, 0, err
			}
			m[string(unquote(b[i+1:nameEnd]))] = v
			if i = next; i+1 < len(b) && b[i] == ',' && b[i+1] == '"' {
				i++
			}
		}
		if i >= len(b) || b[i] != '}' {
			return nil, 0, errNotCanonical
		}
		return m, i + 1, nil
	case '[':
		a := []any{}
		for i++; i < len(b) && b[i] != ']'; {
			v, next, err := whenValue(b, i)
			if err != nil {
				return nil, 0, err
			}
			a = append(a, v)
			if i = next; i < len(b) && b[i] == ',' {
				i++
			}
		}
		if i >= len(b) {
			return nil, 0, errNotCanonical
		}
		return a, i + 1, nil
	case '"':
		end := endOfString(b, i)
		if end >= len(b) {
			return nil, 0, errNotCanonical
		}
		return string(unquote(b[i+1 : end])), end + 1, nil
	case 't':
		return whenLiteral(b, i, "true", true)
	case 'f':
		return whenLiteral(b, i, "false", false)
	case 'n':
		return whenLiteral(b, i, "null", nil)
	}
	end := i
	for end < len(b) && b[end] != ',' && b[end] != '}' && b[end] != ']' {
		end++
	}
	lit := string(b[i:end])
	if n, err := strconv.ParseInt(lit, 10, strconv.IntSize); err == nil {
		return int(n), end, nil
	}
	f, err := strconv.ParseFloat(lit, 64)
	if err != nil && !errors.Is(err, strconv.ErrRange) {
		return nil, 0, errNotCanonical
	}
	return f, end, nil
}

func whenLiteral(b []byte, i int, lit string, v any) (any, int, error) {
	if !bytes.HasPrefix(b[i:], []byte(lit)) {
		return nil, 0, errNotCanonical
	}
	return v, i + len(lit), nil
}
