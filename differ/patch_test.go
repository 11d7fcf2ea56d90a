package differ

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"
)

func TestPatch(t *testing.T) {
	tests := []struct {
		before, after, want string
	}{
		{`{"a":1}`, `{"a":2}`, `[{"op":"replace","path":"/a","value":2}]`},
		{`{"a":1,"c":3}`, `{"b":2,"c":3}`, `[{"op":"remove","path":"/a"},{"op":"add","path":"/b","value":2}]`},
		{`{"c":{"x":1,"y":[1]}}`, `{"c":{"x":1,"y":[2]}}`, `[{"op":"replace","path":"/c/y/0","value":2}]`},
		{`{"customer":{"tier":"gold"}}`, `{"customer":{"tier":"silver"}}`, `[{"op":"replace","path":"/customer/tier","value":"silver"}]`},
		{`{"a":{"b":1}}`, `{"a":[1]}`, `[{"op":"replace","path":"/a","value":[1]}]`},
		{`{"a":null}`, `{"a":false}`, `[{"op":"replace","path":"/a","value":false}]`},
		{`{"a":true}`, `{"a":false}`, `[{"op":"replace","path":"/a","value":false}]`},
		{`{"a":1}`, `[1]`, `[{"op":"add","path":"","value":[1]}]`},
		{`"x"`, `"y"`, `[{"op":"replace","path":"","value":"y"}]`},
		{`{"a/b":1,"m~n":1,"q\"":1}`, `{"a/b":2,"m~n":2,"q\"":2}`, `[{"op":"replace","path":"/a~1b","value":2},{"op":"replace","path":"/m~0n","value":2},{"op":"replace","path":"/q\"","value":2}]`},
		{`{"\u0001":1,"A":1}`, `{"\u0001":2,"B":2}`, `[{"op":"replace","path":"/\u0001","value":2},{"op":"remove","path":"/A"},{"op":"add","path":"/B","value":2}]`},
		{`{}`, `{"a":{"b":[]}}`, `[{"op":"add","path":"/a","value":{"b":[]}}]`},
		{`{"a":1,"b":2}`, `{}`, `[{"op":"remove","path":"/a"},{"op":"remove","path":"/b"}]`},
		{`{"":[]}`, `{"":[{}]}`, `[{"op":"add","path":"//-","value":{}}]`}, // the member named ""
	}
	for _, tt := range tests {
		wantPatch(t, tt.before, tt.after, tt.want)
	}
}

// TestPatchArrays pins the edit scripts of arrays: insertions, removals
// and moves at their index, replaces for paired elements, the patch of a
// paired element when it is shorter, and the comparison index by index
// when that is shorter.
func TestPatchArrays(t *testing.T) {
	tests := []patchCase{
		{"insert at the start", `[1,2,3]`, `[0,1,2,3]`, `[{"op":"add","path":"/0","value":0}]`},
		{"insert in the middle", `[1,2,3]`, `[1,2,9,3]`, `[{"op":"add","path":"/2","value":9}]`},
		{"insert at the end", `[1,2,3]`, `[1,2,3,4]`, `[{"op":"add","path":"/-","value":4}]`},
		{"insert into an empty array", `[]`, `[1,2]`, `[{"op":"add","path":"/-","value":1},{"op":"add","path":"/-","value":2}]`},
		{"insert a run", `[1,5]`, `[1,2,3,4,5]`, `[{"op":"add","path":"/1","value":2},{"op":"add","path":"/2","value":3},{"op":"add","path":"/3","value":4}]`},
		{"insert in two places", `[1,2,3]`, `[0,1,2,2.5,3]`, `[{"op":"add","path":"/0","value":0},{"op":"add","path":"/3","value":2.5}]`},
		{"remove the first", `[1,2,3]`, `[2,3]`, `[{"op":"remove","path":"/0"}]`},
		{"remove in the middle", `[1,2,3]`, `[1,3]`, `[{"op":"remove","path":"/1"}]`},
		{"remove the last", `[1,2,3]`, `[1,2]`, `[{"op":"remove","path":"/2"}]`},
		{"remove a run", `[1,2,3,4,5]`, `[1,5]`, `[{"op":"remove","path":"/1"},{"op":"remove","path":"/1"},{"op":"remove","path":"/1"}]`},
		{"remove everything", `[1,2]`, `[]`, `[{"op":"remove","path":"/0"},{"op":"remove","path":"/0"}]`},
		{"remove and insert", `["a","b"]`, `["b","c"]`, `[{"op":"remove","path":"/0"},{"op":"add","path":"/-","value":"c"}]`},
		{"move forward", `["a","b","c","d"]`, `["b","c","d","a"]`, `[{"from":"/0","op":"move","path":"/3"}]`},
		{"move back", `["a","b","c","d"]`, `["d","a","b","c"]`, `[{"from":"/3","op":"move","path":"/0"}]`},
		{"swap", `["a","b"]`, `["b","a"]`, `[{"from":"/0","op":"move","path":"/1"}]`},
		{"two moves forward", `["a","b","c","d","e"]`, `["c","a","d","e","b"]`, `[{"from":"/0","op":"move","path":"/2"},{"from":"/0","op":"move","path":"/4"}]`},
		{"moves both ways", `[1,2,3,4,5,6,7]`, `[5,1,3,4,6,7,2]`, `[{"from":"/4","op":"move","path":"/0"},{"from":"/2","op":"move","path":"/6"}]`},
		// 6 and 2 could move, but they share a hunk: two replaces there.
		{"moves through a hunk", `[1,2,3,4,5,6]`, `[6,1,3,4,5,2]`, `[{"op":"add","path":"/0","value":6},{"op":"remove","path":"/2"},{"op":"replace","path":"/5","value":2}]`},
		{"a move before another waits", `[0,"x","e","L","M","b",0]`, `[0,"L","e","M",0,"b"]`, `[{"op":"remove","path":"/1"},{"from":"/1","op":"move","path":"/2"},{"from":"/4","op":"move","path":"/5"}]`},
		{"move a run back", `["a","b","c","X","Y"]`, `["X","Y","a","b","c"]`, `[{"from":"/3","op":"move","path":"/0"},{"from":"/4","op":"move","path":"/1"}]`},
		{"move and edit", `[{"id":1},{"id":2},{"id":3}]`, `[{"id":2},{"id":3,"x":1},{"id":1}]`, `[{"op":"add","path":"/2/x","value":1},{"from":"/0","op":"move","path":"/2"}]`},
		{"replace a scalar", `[1,2,3]`, `[1,9,3]`, `[{"op":"replace","path":"/1","value":9}]`},
		{"replace with a surplus removed", `[1,2,3,4]`, `[1,5]`, `[{"op":"replace","path":"/1","value":5},{"op":"remove","path":"/2"},{"op":"remove","path":"/2"}]`},
		{"edit inside an element", `[{"id":1,"s":"open"},{"id":2,"s":"open"}]`, `[{"id":1,"s":"open"},{"id":2,"s":"paid"}]`, `[{"op":"replace","path":"/1/s","value":"paid"}]`},
		{"replace an element rewritten", `[{"a":1,"b":2},0]`, `[{"a":3,"b":4},0]`, `[{"op":"replace","path":"/0","value":{"a":3,"b":4}}]`},
		{"insert and edit", `[{"id":1},{"id":2,"s":"a"}]`, `[{"id":0},{"id":1},{"id":2,"s":"b"}]`, `[{"op":"add","path":"/0","value":{"id":0}},{"op":"replace","path":"/2/s","value":"b"}]`},
		{"nested arrays", `[[1,2,3],[4,5]]`, `[[0,1,2,3],[5]]`, `[{"op":"add","path":"/0/0","value":0},{"op":"remove","path":"/1/0"}]`},
		{"nested insertion shifts", `{"a":[[1],[2]]}`, `{"a":[[0],[1],[2,3]]}`, `[{"op":"add","path":"/a/0","value":[0]},{"op":"add","path":"/a/2/-","value":3}]`},
		{"duplicates, insert", `[1,1,1]`, `[1,1,1,1]`, `[{"op":"add","path":"/-","value":1}]`},
		{"duplicates, remove", `[0,1,0,1]`, `[0,1,1]`, `[{"op":"remove","path":"/2"}]`},
		{"duplicates, both ends", `["x","y","x"]`, `["y","x","y"]`, `[{"op":"remove","path":"/0"},{"op":"add","path":"/-","value":"y"}]`},
		{"shifted and every element edited", `["a","b","c","d"]`, `["d","x","y","z"]`, `[{"op":"replace","path":"/0","value":"d"},{"op":"replace","path":"/1","value":"x"},{"op":"replace","path":"/2","value":"y"},{"op":"replace","path":"/3","value":"z"}]`},
		// The script removes one and adds two; index by index, the second
		// elements are equal.
		{"index by index, an equal pair", `["e","c"]`, `["c","c","d"]`, `[{"op":"replace","path":"/0","value":"c"},{"op":"add","path":"/-","value":"d"}]`},
		// Index by index: a replace, two in /1, a replace, as many as the
		// script, which is kept.
		{"as short as index by index", `[0,{"a":1,"b":1,"k":"a long value kept as it is"},{"a":2,"b":2,"k":"a long value kept as it is"}]`, `[{"a":1,"b":1,"k":"a long value kept as it is"},{"a":3,"b":3,"k":"a long value kept as it is"},9]`, `[{"op":"remove","path":"/0"},{"op":"replace","path":"/1/a","value":3},{"op":"replace","path":"/1/b","value":3},{"op":"add","path":"/-","value":9}]`},
		{"nothing in common", `[1,2]`, `[3,4,5]`, `[{"op":"replace","path":"/0","value":3},{"op":"replace","path":"/1","value":4},{"op":"add","path":"/-","value":5}]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { wantPatch(t, tt.before, tt.after, tt.want) })
	}
}

func TestInPlace(t *testing.T) {
	tests := []struct {
		a, b string
		want bool
	}{
		{`[1,2,3]`, `[1,9,3]`, true},
		{`[1,2,1]`, `[1,3,1]`, true},
		{`[{"a":1},{"a":2}]`, `[{"a":3},{"a":4}]`, true},
		{`[1,2]`, `[2,1]`, false},         // a swap
		{`[1,2,3]`, `[3,9,1]`, false},     // 1 and 3 moved
		{`[5,2]`, `[5,5]`, false},         // the new 5 is an old one too
		{`[2,5,7]`, `[5,5,7]`, false},     // and an old 5 is still there
		{`[1,2,9]`, `[1,9,2]`, false},     // 2 and 9 moved
		{`[[1],[2]]`, `[[2],[3]]`, false}, // [2] moved
	}
	for _, tt := range tests {
		a, b := mustCanonical(t, tt.a), mustCanonical(t, tt.b)
		if got := inPlace(elementsOf(a), elementsOf(b)); got != tt.want {
			t.Errorf("inPlace(%s, %s) = %t, want %t", a, b, got, tt.want)
		}
	}
}

// TestPatchMovesBounded moves 1,500 elements of an array and expects
// maxMoves moves, the others removed and added.
func TestPatchMovesBounded(t *testing.T) {
	var before, after []int
	for i := range 3000 {
		before = append(before, i)
		if i%2 == 1 {
			after = append(after, i)
		}
	}
	for i := 0; i < 3000; i += 2 {
		after = append(after, i)
	}
	b, err1 := json.Marshal(before)
	a, err2 := json.Marshal(after)
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	got := patch(b, a)
	ops := map[string]int{}
	for _, op := range mustDecode(t, got).([]any) {
		ops[op.(map[string]any)["op"].(string)]++
	}
	if want := map[string]int{"move": maxMoves, "remove": 1500 - maxMoves, "add": 1500 - maxMoves}; !maps.Equal(ops, want) {
		t.Errorf("operations %v, want %v", ops, want)
	}
	checkPatch(t, b, a, got)
}

// TestPatchMoveMembers pins when a removed member and an added one with
// the same value become a move: wherever they are, unless an array on the
// way shifts its elements, which would change the paths.
func TestPatchMoveMembers(t *testing.T) {
	tests := []patchCase{
		{"renamed", `{"a":1,"b":{"c":[1,2]}}`, `{"a":1,"d":{"c":[1,2]}}`, `[{"from":"/b","op":"move","path":"/d"}]`},
		{"renamed, the new name first", `{"b":true}`, `{"a":true}`, `[{"from":"/b","op":"move","path":"/a"}]`},
		{"into another object", `{"x":{"v":"s"},"y":{}}`, `{"x":{},"y":{"w":"s"}}`, `[{"from":"/x/v","op":"move","path":"/y/w"}]`},
		{"two values, each moved once", `{"a":1,"b":1,"c":2}`, `{"c":2,"d":1,"e":1}`, `[{"from":"/a","op":"move","path":"/d"},{"from":"/b","op":"move","path":"/e"}]`},
		{"one of two adds", `{"a":1}`, `{"b":1,"c":1}`, `[{"from":"/a","op":"move","path":"/b"},{"op":"add","path":"/c","value":1}]`},
		{"other operations kept in order", `{"a":1,"b":2,"c":3,"d":4}`, `{"b":5,"c":3,"e":4,"f":6}`, `[{"op":"remove","path":"/a"},{"op":"replace","path":"/b","value":5},{"from":"/d","op":"move","path":"/e"},{"op":"add","path":"/f","value":6}]`},
		{"in array elements that keep their index", `[{"a":1,"n":"a name long enough to keep"},{"b":2}]`, `[{"c":1,"n":"a name long enough to keep"},{"b":3}]`, `[{"from":"/0/a","op":"move","path":"/0/c"},{"op":"replace","path":"/1/b","value":3}]`},
		{"not in an array that shifts", `[{"a":1,"n":"a name long enough to keep"},0]`, `[{"b":1,"n":"a name long enough to keep"}]`, `[{"op":"remove","path":"/0/a"},{"op":"add","path":"/0/b","value":1},{"op":"remove","path":"/1"}]`},
		// Compared index by index (shorter than the script: two removed,
		// two added), the array keeps its length: /arr/1/b moves.
		{"from an array compared index by index", `{"arr":[{"a":1},{"b":1,"k":"a long value kept as it is"},"w"],"z":2}`, `{"arr":["w",{"k":"a long value kept as it is"},{"c":3}],"y":1}`, `[{"op":"replace","path":"/arr/0","value":"w"},{"op":"replace","path":"/arr/2","value":{"c":3}},{"from":"/arr/1/b","op":"move","path":"/y"},{"op":"remove","path":"/z"}]`},
		{"the same value, nothing removed", `{"a":1}`, `{"a":1,"b":1}`, `[{"op":"add","path":"/b","value":1}]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { wantPatch(t, tt.before, tt.after, tt.want) })
	}
}

// FuzzPatch checks on arbitrary documents that the patch is canonical,
// turns before into after (applied with evanphx/json-patch and with
// applyPatchRFC) and has no more operations than jsondiff's.
func FuzzPatch(f *testing.F) {
	for _, s := range [][2]string{
		{`{"a":1,"b":[1,2,{"c":3}]}`, `{"b":[1,{"c":4}],"d":null}`},
		{`[[1],[2,3]]`, `[[1,2],[3]]`},
		{`{"a~/":{"é":"x"}}`, `{"a~/":{"é":"y","\u0000":1}}`},
		{`1`, `{"a":1}`},
		{`[1,2,3,4,5,6]`, `[6,1,3,4,5,2]`},
		{`["a","b","c","d"]`, `["d","x","y","z"]`},
		{`[{"id":1},{"id":2},{"id":3}]`, `[{"id":2},{"id":3,"x":1},{"id":1}]`},
		{`{"":{"a":[1]},"b":2}`, `{"":{"c":[1]},"d":2}`},
		{`[0,{"a":1},[2,{"b":3}]]`, `[{"c":1},[{"b":3},2],0]`},
	} {
		f.Add([]byte(s[0]), []byte(s[1]))
	}
	f.Fuzz(func(t *testing.T, a, b []byte) {
		before, err1 := canonicalize(a)
		after, err2 := canonicalize(b)
		if err1 != nil || err2 != nil {
			return
		}
		checkPatch(t, before, after, patch(before, after))
	})
}

// patchCase is a patch pinned: what patch(before, after) must be.
type patchCase struct{ name, before, after, want string }

// wantPatch checks the patch of the JSON documents before and after
// against want and with checkPatch, and returns it.
func wantPatch(t *testing.T, before, after, want string) []byte {
	t.Helper()
	b, a := mustCanonical(t, before), mustCanonical(t, after)
	got := patch(b, a)
	if string(got) != want {
		t.Errorf("patch(%s, %s) =\n %s\nwant\n %s", b, a, got, want)
	}
	checkPatch(t, b, a, got)
	return got
}

func mustCanonical(t *testing.T, s string) []byte {
	t.Helper()
	b, err := canonicalize([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// checkPatch checks the patch got from before to after: it is canonical,
// applyPatchRFC and (unless a path has an empty token) evanphx/json-patch
// turn before into after with it, and it has no more operations than
// github.com/wI2L/jsondiff's.
func checkPatch(t *testing.T, before, after, got []byte) {
	t.Helper()
	if c, err := canonicalize(got); err != nil || !bytes.Equal(c, got) {
		t.Fatalf("patch(%s, %s) = %s, not canonical (%s, %v)", before, after, got, c, err)
	}
	applied, err := applyPatchRFC(got, before)
	if err != nil {
		t.Fatalf("apply %s to %s: %v", got, before, err)
	}
	if !bytes.Equal(applied, after) {
		t.Fatalf("%s applied to %s gives %s, want %s", got, before, applied, after)
	}
	checkPatches(t, []Change{{Type: TypeItemUpdated, Before: before, After: after, Patch: got}})
	ref, err := jsondiffPatch(before, after)
	if err != nil {
		t.Fatal(err)
	}
	if ours, theirs := countOps(t, got), countOps(t, ref); ours > theirs {
		t.Errorf("patch(%s, %s) =\n %s\n%d operations, jsondiff's %d:\n %s", before, after, got, ours, theirs, ref)
	}
}

// applyPatchRFC applies the add, remove, replace and move operations of
// an RFC 6902 patch as Section 4 defines them, transcribed on decoded
// values, and returns the canonical result. Unlike evanphx/json-patch it
// reads the empty reference token as the member named "".
func applyPatchRFC(patch, doc []byte) ([]byte, error) {
	ops, err := decodeTree(patch)
	if err != nil {
		return nil, err
	}
	root, err := decodeTree(doc)
	if err != nil {
		return nil, err
	}
	for _, o := range ops.([]any) {
		op := o.(map[string]any)
		path := op["path"].(string)
		switch op["op"] {
		case "add":
			root, err = pointerAdd(root, path, op["value"])
		case "remove":
			root, _, err = pointerRemove(root, path)
		case "replace":
			if root, _, err = pointerRemove(root, path); err == nil {
				root, err = pointerAdd(root, path, op["value"])
			}
		case "move":
			from := op["from"].(string)
			if strings.HasPrefix(path, from+"/") {
				return nil, fmt.Errorf("move from %q into itself at %q", from, path)
			}
			var v any
			if root, v, err = pointerRemove(root, from); err == nil {
				root, err = pointerAdd(root, path, v)
			}
		default:
			err = fmt.Errorf("unexpected operation %v", op["op"])
		}
		if err != nil {
			return nil, fmt.Errorf("%v: %w", op, err)
		}
	}
	b, err := json.Marshal(root)
	if err != nil {
		return nil, err
	}
	return canonicalize(b)
}

// pointerAdd adds v at the JSON Pointer path of root and returns the new
// root.
func pointerAdd(root any, path string, v any) (any, error) {
	if path == "" {
		return v, nil
	}
	return pointerEdit(root, path, func(c any, last string) (any, error) {
		switch c := c.(type) {
		case map[string]any:
			c[last] = v
			return c, nil
		case []any:
			if last == "-" {
				return append(c, v), nil
			}
			i, err := arrayIndex(last, len(c)+1)
			if err != nil {
				return nil, err
			}
			return slices.Insert(c, i, v), nil
		}
		return nil, fmt.Errorf("add at %q: parent is no container", path)
	})
}

// pointerRemove removes the value at the JSON Pointer path of root and
// returns the new root and the value.
func pointerRemove(root any, path string) (any, any, error) {
	if path == "" {
		return nil, root, nil
	}
	var v any
	root, err := pointerEdit(root, path, func(c any, last string) (any, error) {
		switch c := c.(type) {
		case map[string]any:
			var ok bool
			if v, ok = c[last]; !ok {
				return nil, fmt.Errorf("remove %q: no such member", path)
			}
			delete(c, last)
			return c, nil
		case []any:
			i, err := arrayIndex(last, len(c))
			if err != nil {
				return nil, err
			}
			v = c[i]
			return slices.Delete(c, i, i+1), nil
		}
		return nil, fmt.Errorf("remove %q: parent is no container", path)
	})
	return root, v, err
}

// pointerEdit walks the JSON Pointer path (not "") from root to the
// container of its last token, replaces that container with what edit
// makes of it, and returns the new root.
func pointerEdit(root any, path string, edit func(container any, last string) (any, error)) (any, error) {
	if path[0] != '/' {
		return nil, fmt.Errorf("pointer %q does not start with /", path)
	}
	tokens := strings.Split(path[1:], "/")
	for i, tok := range tokens {
		tokens[i] = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
	}
	var walk func(v any, tokens []string) (any, error)
	walk = func(v any, tokens []string) (any, error) {
		if len(tokens) == 1 {
			return edit(v, tokens[0])
		}
		switch c := v.(type) {
		case map[string]any:
			child, ok := c[tokens[0]]
			if !ok {
				return nil, fmt.Errorf("pointer %q: no member %q", path, tokens[0])
			}
			child, err := walk(child, tokens[1:])
			c[tokens[0]] = child
			return c, err
		case []any:
			i, err := arrayIndex(tokens[0], len(c))
			if err != nil {
				return nil, err
			}
			c[i], err = walk(c[i], tokens[1:])
			return c, err
		}
		return nil, fmt.Errorf("pointer %q: %q is in no container", path, tokens[0])
	}
	return walk(root, tokens)
}

// arrayIndex parses an array index token, which must be below limit.
func arrayIndex(tok string, limit int) (int, error) {
	i, err := strconv.Atoi(tok)
	if err != nil || i < 0 || i >= limit || strconv.Itoa(i) != tok {
		return 0, fmt.Errorf("index %q: not in [0, %d)", tok, limit)
	}
	return i, nil
}

// TestPatchRandom checks patches between random documents and edits of
// them (insertions, removals, moves and changes in arrays, members added,
// removed and renamed), with few distinct values so that arrays repeat
// elements: what a fuzz target rarely builds.
func TestPatchRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(6902, 1))
	for range 3000 {
		before := randomJSON(r, 3)
		after := editJSON(r, before, 3)
		b, err1 := json.Marshal(before)
		a, err2 := json.Marshal(after)
		if err1 != nil || err2 != nil {
			t.Fatal(err1, err2)
		}
		bc, ac := mustCanonical(t, string(b)), mustCanonical(t, string(a))
		checkPatch(t, bc, ac, patch(bc, ac))
	}
}

// randomJSON returns a random value nested depth levels at most.
func randomJSON(r *rand.Rand, depth int) any {
	switch k := r.IntN(10); {
	case depth == 0 || k < 4:
		return []any{0, 1, "x", true, nil}[r.IntN(5)]
	case k < 7:
		arr := make([]any, r.IntN(8))
		for i := range arr {
			arr[i] = randomJSON(r, depth-1)
		}
		return arr
	default:
		obj := map[string]any{}
		for range r.IntN(4) {
			obj[[]string{"a", "b", "c", ""}[r.IntN(4)]] = randomJSON(r, depth-1)
		}
		return obj
	}
}

// editJSON returns v with random edits, v itself left as it is.
func editJSON(r *rand.Rand, v any, depth int) any {
	switch v := v.(type) {
	case []any:
		out := slices.Clone(v)
		for range r.IntN(4) {
			switch i := r.IntN(len(out) + 1); r.IntN(5) {
			case 0:
				out = slices.Insert(out, i, randomJSON(r, depth-1))
			case 1:
				if i < len(out) {
					out = slices.Delete(out, i, i+1)
				}
			case 2:
				if i < len(out) {
					e := out[i]
					out = slices.Delete(out, i, i+1)
					out = slices.Insert(out, r.IntN(len(out)+1), e)
				}
			case 3:
				if i < len(out) {
					out[i] = editJSON(r, out[i], depth-1)
				}
			}
		}
		return out
	case map[string]any:
		out := maps.Clone(v)
		for name, value := range v {
			switch r.IntN(4) {
			case 0:
				delete(out, name)
			case 1:
				delete(out, name)
				out[name+"'"] = value
			case 2:
				out[name] = editJSON(r, value, depth-1)
			}
		}
		if r.IntN(3) == 0 {
			out[[]string{"a", "d", ""}[r.IntN(3)]] = randomJSON(r, depth-1)
		}
		return out
	}
	if r.IntN(2) == 0 {
		return randomJSON(r, depth)
	}
	return v
}
