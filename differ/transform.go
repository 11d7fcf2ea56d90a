package differ

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/itchyny/gojq"
)

// transform is a job's `transform:`, a jq expression (github.com/itchyny/gojq)
// that reshapes the response before items are selected and compared. It
// is compiled once, at config load, and is safe for concurrent use.
//
// Numbers keep every digit: they reach gojq as json.Number, which it
// passes through untouched and turns into an int, a *big.Int or a float64
// only for arithmetic (big integers stay exact there too, other numbers
// are computed as float64, as in jq). Environment variables are out of
// reach ($ENV and env are empty: gojq's default), and so are input,
// inputs and modules, so the expression depends on the document alone.
type transform struct {
	code *gojq.Code
}

// compileTransform parses and compiles the jq expression src.
func compileTransform(src string) (*transform, error) {
	q, err := gojq.Parse(src)
	if err != nil {
		return nil, fmt.Errorf("transform: %w", err)
	}
	code, err := gojq.Compile(q)
	if err != nil {
		return nil, fmt.Errorf("transform: %w", err)
	}
	return &transform{code: code}, nil
}

// apply runs the transform on the JSON document doc and returns the one
// value it produces, as JSON. The expression must produce exactly one
// value: none, or a second one, is an error (it stops at the second, so
// that an endless generator such as repeat(1) fails at once); halt ends
// the outputs, as in jq. A jq error fails the transform too, with jq's
// message. ctx bounds the run: jq can loop forever (def f: f; f), and gojq
// checks ctx at every step, so the poll's deadline stops it; the error
// then wraps ctx.Err(). Memory is not bounded: an expression that grows a
// value without end uses memory until the deadline.
func (t *transform) apply(ctx context.Context, doc []byte) ([]byte, error) {
	// A byte order mark is no JSON, but the canonicalizer accepts one.
	doc = bytes.TrimPrefix(doc, []byte("\ufeff"))
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	var in any
	if err := dec.Decode(&in); err != nil {
		return nil, fmt.Errorf("transform: decode document: %w", err)
	}
	if rest := bytes.TrimLeft(doc[dec.InputOffset():], " \t\r\n"); len(rest) > 0 {
		return nil, fmt.Errorf("transform: decode document: data after the JSON value at offset %d", len(doc)-len(rest))
	}
	iter := t.code.RunWithContext(ctx, in)
	var out any
	for n := 0; ; n++ {
		v, ok := iter.Next()
		if he := (*gojq.HaltError)(nil); ok && errors.As(asError(v), &he) && he.Value() == nil {
			ok = false // halt: the end of the outputs, as in jq
		}
		if !ok {
			if n == 0 {
				return nil, errors.New("transform: produced no value; expected exactly one")
			}
			break
		}
		if err := transformError(ctx, v); err != nil {
			return nil, err
		}
		if n == 1 {
			return nil, errors.New("transform: produced more than one value; expected exactly one (collect them in an array: [expression])")
		}
		out = v
	}
	// gojq values are nil, bool, int, float64, *big.Int, json.Number,
	// string, []any and map[string]any; Marshal writes all of them, big
	// integers and number literals digit for digit, NaN as null and the
	// infinities as ±1.7976931348623157e+308, as jq does.
	return gojq.Marshal(out)
}

// asError returns v as an error, or nil.
func asError(v any) error {
	err, _ := v.(error)
	return err
}

// transformError returns the error a value from gojq stands for, or nil.
func transformError(ctx context.Context, v any) error {
	err := asError(v)
	if err == nil {
		return nil
	}
	if ctxErr := ctx.Err(); ctxErr != nil && errors.Is(err, ctxErr) {
		return fmt.Errorf("transform: stopped: %w", err)
	}
	return fmt.Errorf("transform: %w", err)
}
