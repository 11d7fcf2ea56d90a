package differ

import (
	"bytes"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/wI2L/jsondiff"
)

// compileAfter compiles spec and, unless prev is empty, diffs prev as the
// first poll, returning the state to compare the next poll with.
func compileAfter(t *testing.T, spec Spec, prev string) (*Differ, *State) {
	t.Helper()
	d, err := Compile(spec)
	if err != nil {
		t.Fatal(err)
	}
	if prev == "" {
		return d, nil
	}
	res, err := d.Diff(nil, []byte(prev))
	if err != nil {
		t.Fatalf("Diff of the first poll: %v", err)
	}
	return d, res.Next
}

// canonicalize returns the canonical form of the JSON document b.
func canonicalize(b []byte) ([]byte, error) {
	c := canonicalizer{src: b, out: make([]byte, 0, len(b))}
	c.skipBOM()
	if err := c.value(nil); err != nil {
		return nil, err
	}
	if err := c.end(); err != nil {
		return nil, err
	}
	return c.out, nil
}

// decodeTree decodes JSON keeping numbers exact.
func decodeTree(b []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	return v, nil
}

// jsondiffPatch is the reference for patch: the canonical form of the
// patch github.com/wI2L/jsondiff computes with its default options.
func jsondiffPatch(before, after []byte) ([]byte, error) {
	src, err := decodeTree(before)
	if err != nil {
		return nil, err
	}
	tgt, err := decodeTree(after)
	if err != nil {
		return nil, err
	}
	ops, err := jsondiff.CompareWithoutMarshal(src, tgt)
	if err != nil {
		return nil, err
	}
	b, err := json.Marshal(ops)
	if err != nil {
		return nil, err
	}
	if len(ops) == 0 {
		b = []byte("[]")
	}
	return canonicalize(b)
}
