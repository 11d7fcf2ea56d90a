package differ

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	jsonpatch "github.com/evanphx/json-patch/v5"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/differ")

// goldenDir holds the expected results, shared with the rest of the
// project's test data.
var goldenDir = filepath.Join("..", "testdata", "differ")

var orders = Spec{Items: "data.orders", Key: []string{"id"}, Ignore: []string{"updated_at", "meta.request_id"}}

// TestDiffGolden diffs a previous response (recorded as a baseline first)
// against a new one and compares the outcome with a golden file.
func TestDiffGolden(t *testing.T) {
	tests := []struct {
		name string
		spec Spec
		prev string // "" = no previous poll
		body string
	}{
		{
			name: "baseline",
			spec: orders,
			body: `{"data":{"orders":[{"id":1,"status":"open"}]}}`,
		},
		{
			name: "emit-initial-items",
			spec: Spec{Items: "data.orders", Key: []string{"id"}, Ignore: []string{"updated_at"}, EmitInitial: true},
			body: `{"data":{"orders":[{"id":2,"updated_at":"t1"},{"id":1,"status":"open"}]}}`,
		},
		{
			name: "emit-initial-document",
			spec: Spec{EmitInitial: true, Ignore: []string{"generated"}},
			body: `{"version": 3.0, "generated": "t1", "flags": {"b": true, "a": false}}`,
		},
		{
			name: "items-created-updated-deleted",
			spec: orders,
			prev: `{"data":{"orders":[
				{"id":1,"status":"open","customer":{"name":"Ann","tier":"gold"}},
				{"id":2,"status":"open","lines":[{"sku":"a","qty":1}]},
				{"id":3,"status":"open","total":10},
				{"id":4,"status":"open"}]}}`,
			body: `{"data":{"orders":[
				{"id":5,"status":"new"},
				{"id":3,"status":"open","total":12.5},
				{"id":1,"status":"open","customer":{"name":"Ann","tier":"silver"}},
				{"id":6,"status":"new"},
				{"id":2,"status":"shipped","lines":[{"sku":"a","qty":1},{"sku":"b","qty":2}],"carrier":"DHL"}]}}`,
		},
		{
			name: "items-spelling-only",
			spec: orders,
			prev: `{"data":{"orders":[{"id":1,"price":12.50,"qty":1e2,"delta":-0,"name":"\u0041nn","tags":["x","y"]}]}}`,
			body: `{ "data" : { "orders" : [ { "tags" : [ "x" , "y" ] , "name" : "Ann" , "delta" : 0 , "qty" : 100 , "price" : 12.5 , "id" : 1.0 } ] } }`,
		},
		{
			name: "items-ignored-only",
			spec: Spec{Items: "data.orders", Key: []string{"id"}, Ignore: []string{"updated_at", "meta.request_id", "lines.updated_at"}},
			prev: `{"data":{"orders":[{"id":1,"updated_at":"t1","meta":{"request_id":"r1","source":"db"},"lines":[{"sku":"a","updated_at":"t1"}]}]}}`,
			body: `{"data":{"orders":[{"id":1,"updated_at":"t2","meta":{"request_id":"r2","source":"db"},"lines":[{"sku":"a","updated_at":"t2"}]}]}}`,
		},
		{
			name: "items-ignore-nested",
			spec: Spec{Items: "data.orders", Key: []string{"id"}, Ignore: []string{"updated_at", "meta.request_id", "lines.updated_at"}},
			prev: `{"data":{"orders":[{"id":1,"updated_at":"t1","meta":{"request_id":"r1","source":"db"},"lines":[{"sku":"a","updated_at":"t1"}]}]}}`,
			body: `{"data":{"orders":[{"id":1,"updated_at":"t2","meta":{"request_id":"r2","source":"cache"},"lines":[{"sku":"b","updated_at":"t2"}]}]}}`,
		},
		{
			name: "items-compound-key",
			spec: Spec{Items: "$", Key: []string{"region", "sku"}},
			prev: `[{"region":"eu","sku":"a|1","qty":1},{"region":"eu","sku":"b","qty":1},{"region":"us","sku":"b","qty":1}]`,
			body: `[{"region":"eu","sku":"a|1","qty":2},{"region":"us","sku":"b","qty":1},{"region":"us","sku":"c\\d","qty":1}]`,
		},
		{
			name: "items-number-key",
			spec: Spec{Items: "orders", Key: []string{"id"}},
			prev: `{"orders":[{"id":1042,"v":1},{"id":"7","v":1},{"id":1e3,"v":1}]}`,
			body: `{"orders":[{"id":1042.0,"v":1},{"id":7,"v":1},{"id":"1000","v":2}]}`,
		},
		{
			name: "items-nested-key",
			spec: Spec{Items: "$.rows", Key: []string{"customer.id"}},
			prev: `{"rows":[{"customer":{"id":"c1","name":"Ann"}},{"customer":{"id":"c2","name":"Bob"}}]}`,
			body: `{"rows":[{"customer":{"id":"c2","name":"Bob"}},{"customer":{"id":"c1","name":"Anne"}}]}`,
		},
		{
			name: "items-keyless",
			spec: Spec{Items: "$", Ignore: []string{"seen"}},
			prev: `["a",{"n":1,"seen":1},"a","b"]`,
			body: `[{"seen":2,"n":1.0},"c","a"]`,
		},
		{
			name: "items-null-array",
			spec: Spec{Items: "data.orders", Key: []string{"id"}},
			prev: `{"data":{"orders":[{"id":1}]}}`,
			body: `{"data":{"orders":null}}`,
		},
		{
			name: "items-events-filter",
			spec: Spec{Items: "$", Key: []string{"id"}, Events: []string{"created", "deleted"}},
			prev: `[{"id":1,"v":1},{"id":2,"v":1}]`,
			body: `[{"id":1,"v":2},{"id":3,"v":1}]`,
		},
		{
			name: "items-strings-exact",
			spec: Spec{Items: "$", Key: []string{"id"}},
			prev: `[{"id":1,"s":"Café"},{"id":2,"s":"a"},{"id":3,"s":"x "}]`,
			body: `[{"id":1,"s":"Cafe\u0301"},{"id":2,"s":"A"},{"id":3,"s":"x"}]`,
		},
		{
			name: "items-big-numbers",
			spec: Spec{Items: "$", Key: []string{"id"}},
			prev: `[{"id":12345678901234567890123,"n":9007199254740993,"f":0.1}]`,
			body: `[{"id":12345678901234567890123,"n":9007199254740992,"f":0.10000000000000000001}]`,
		},
		{
			name: "document-changed",
			spec: Spec{Ignore: []string{"meta.request_id"}},
			prev: `{"meta":{"request_id":"r1","count":2},"rates":{"EUR":1.0,"USD":1.08},"list":[1,2]}`,
			body: `{"list":[1,2,3],"rates":{"USD":1.09,"EUR":1},"meta":{"count":2,"request_id":"r2"}}`,
		},
		{
			name: "document-spelling-only",
			spec: Spec{},
			prev: `{"a":1.0,"b":[1e2,-0],"s":"\u0041"}`,
			body: `{ "s":"A", "b":[100, 0], "a":1 }`,
		},
		{
			name: "document-ignored-only",
			spec: Spec{Ignore: []string{"generated_at"}},
			prev: `{"generated_at":"t1","total":3}`,
			body: `{"total":3,"generated_at":"t2"}`,
		},
		{
			name: "document-type-changed",
			spec: Spec{},
			prev: `{"a":1}`,
			body: `[1]`,
		},
		{
			name: "document-events-filter",
			spec: Spec{Events: []string{"changed"}},
			prev: `"v1"`,
			body: `"v2"`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, prev := compileAfter(t, tt.spec, tt.prev)
			res := mustDiff(t, d, prev, tt.body)
			checkGolden(t, tt.name, res)
			checkPatches(t, res.Changes)
			checkStored(t, prev, res)
			if again := mustDiff(t, d, res.Next, tt.body); len(again.Changes) != 0 || again.Held || again.Baseline {
				t.Errorf("diff of the body against its own snapshot = %+v, want nothing", again)
			}
		})
	}
}

func mustDiff(t *testing.T, d *Differ, prev *State, body string) *Result {
	t.Helper()
	res, err := d.Diff(prev, []byte(body))
	if err != nil {
		t.Fatalf("Diff: %v", err)
	}
	return res
}

// golden is the stored form of a Result.
type golden struct {
	Baseline bool           `json:"baseline"`
	Held     bool           `json:"held"`
	Changes  []goldenChange `json:"changes"`
}

type goldenChange struct {
	Type   string          `json:"type"`
	Key    string          `json:"key,omitempty"`
	Before json.RawMessage `json:"before,omitempty"`
	After  json.RawMessage `json:"after,omitempty"`
	Patch  json.RawMessage `json:"patch,omitempty"`
}

func checkGolden(t *testing.T, name string, res *Result) {
	t.Helper()
	g := golden{Baseline: res.Baseline, Held: res.Held, Changes: []goldenChange{}}
	for _, c := range res.Changes {
		g.Changes = append(g.Changes, goldenChange{Type: c.Type, Key: c.Key, Before: c.Before, After: c.After, Patch: c.Patch})
	}
	got, err := json.MarshalIndent(g, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, '\n')
	path := filepath.Join(goldenDir, name+".json")
	if *update {
		if err := os.MkdirAll(goldenDir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./differ -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("result differs from %s:\ngot:\n%s\nwant:\n%s", path, got, want)
	}
}

// checkPatches applies every patch to its Before with an independent
// RFC 6902 implementation and expects After.
func checkPatches(t *testing.T, changes []Change) {
	t.Helper()
	for _, c := range changes {
		if c.Patch == nil {
			if c.Type == TypeItemUpdated || (c.Type == TypeDocumentChanged && c.Before != nil) {
				t.Errorf("%s %q has no patch", c.Type, c.Key)
			}
			continue
		}
		if emptyToken.Match(c.Patch) {
			// evanphx/json-patch reads an empty reference token (the
			// member named "") as the value itself, so it cannot apply
			// these; checkPatch applies them with applyPatchRFC.
			continue
		}
		out, err := applyPatch(c.Patch, c.Before)
		if err != nil {
			t.Errorf("%s %q: apply %s to %s: %v", c.Type, c.Key, c.Patch, c.Before, err)
			continue
		}
		if !bytes.Equal(out, c.After) {
			t.Errorf("%s %q: %s applied to %s gives %s, want %s", c.Type, c.Key, c.Patch, c.Before, out, c.After)
		}
	}
}

// emptyToken finds a JSON Pointer with an empty reference token in a
// patch: "/", "//…", "…//…" or "…/".
var emptyToken = regexp.MustCompile(`"(path|from)":"(/|[^"]*//[^"]*|[^"]*/)"`)

// applyPatch applies an RFC 6902 patch with evanphx/json-patch and returns
// the canonical result. That library only patches objects and arrays, so
// the document is wrapped in {"v": ...} and every path moved below /v.
func applyPatch(patch, doc []byte) ([]byte, error) {
	var ops []map[string]any
	dec := json.NewDecoder(bytes.NewReader(patch))
	dec.UseNumber() // keep every digit of the values
	if err := dec.Decode(&ops); err != nil {
		return nil, err
	}
	for _, op := range ops {
		for _, f := range []string{"path", "from"} {
			if s, ok := op[f].(string); ok {
				op[f] = "/v" + s
			}
		}
	}
	wrapped, err := json.Marshal(ops)
	if err != nil {
		return nil, err
	}
	p, err := jsonpatch.DecodePatch(wrapped)
	if err != nil {
		return nil, err
	}
	out, err := p.Apply([]byte(`{"v":` + string(doc) + `}`))
	if err != nil {
		return nil, err
	}
	var v struct{ V json.RawMessage }
	if err := json.Unmarshal(out, &v); err != nil {
		return nil, err
	}
	return canonicalize(v.V)
}

func TestDiffErrors(t *testing.T) {
	eight := func(mid string) string {
		items := []string{`{"id":1}`, `{"id":2}`, `{"id":1042}`, `{"id":4}`, `{"id":5}`, `{"id":6}`, `{"id":7}`, mid}
		return `{"data":{"orders":[` + strings.Join(items, ",") + `]}}`
	}
	tests := []struct {
		name string
		spec Spec
		body string
		want string
	}{
		{"not JSON", orders, `<html>`, `parse response: invalid character '<' looking for beginning of value at offset 0`},
		{"empty body", orders, ``, `parse response: unexpected end of JSON input at offset 0`},
		{"truncated", orders, `{"data":{"orders":[{"id":1}`, `parse response: unexpected end of JSON input at offset 27`},
		{"trailing data", orders, `{"data":{"orders":[]}} {}`, `parse response: invalid character '{' after top-level value at offset 23`},
		{"syntax error wins over a missing path", orders, `{"x":1,}`, `parse response: invalid character '}' looking for beginning of object key string at offset 7`},
		{"syntax error after the items", orders, `{"data":{"orders":[]},"x":[1,}`, `parse response: invalid character '}' looking for beginning of value at offset 29`},
		{"items path missing", orders, `{"data":{"order":[]}}`, `items "data.orders": no field "orders"`},
		{"items parent missing", orders, `{"meta":{}}`, `items "data.orders": no field "data"`},
		{"items parent not an object", orders, `{"data":[1]}`, `items "data.orders": "data" is an array, want an object`},
		{"root not an object", orders, `[]`, `items "data.orders": "$" is an array, want an object`},
		{"items not an array", orders, `{"data":{"orders":{"id":1}}}`, `items "data.orders": found an object, want an array`},
		{"items a string", orders, `{"data":{"orders":"none"}}`, `items "data.orders": found a string, want an array`},
		{"root items not an array", Spec{Items: "$"}, `{"a":1}`, `items "$": found an object, want an array`},
		{"duplicate member: the last one counts", orders, `{"data":{"orders":[]},"data":{}}`, `items "data.orders": no field "orders"`},
		{"item not an object", orders, `{"data":{"orders":[{"id":1},2]}}`, `item 1: found a number, want an object`},
		{"key missing", orders, `{"data":{"orders":[{"id":1},{"id":2},{"id":3},{"ID":4}]}}`, `item 3: key field "id" is missing`},
		{"key null", orders, `{"data":{"orders":[{"id":null}]}}`, `item 0: key field "id" is null`},
		{"key an object", orders, `{"data":{"orders":[{"id":{"n":1}}]}}`, `item 0: key field "id" is an object, want a string, number or boolean`},
		{"key an array", orders, `{"data":{"orders":[{"id":[1]}]}}`, `item 0: key field "id" is an array, want a string, number or boolean`},
		{"nested key missing", Spec{Items: "$", Key: []string{"customer.id"}}, `[{"customer":"c1"}]`, `item 0: key field "customer.id" is missing`},
		{"second key field missing", Spec{Items: "$", Key: []string{"a", "b"}}, `[{"a":1,"b":2},{"a":1}]`, `item 1: key field "b" is missing`},
		{"duplicate key", orders, eight(`{"id":1042.0}`), `items 2 and 7 have the same key "1042"`},
		{"duplicate key, string and number", orders, eight(`{"id":"1042"}`), `items 2 and 7 have the same key "1042"`},
		{"duplicate compound key", Spec{Items: "$", Key: []string{"a", "b"}}, `[{"a":"x","b":1},{"a":"x","b":2},{"b":1,"a":"x"}]`, `items 0 and 2 have the same key "x|1"`},
		{"too deep", Spec{}, strings.Repeat(`{"a":`, 1001), `parse response: exceeded max depth 1000 at offset 5000`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := Compile(tt.spec)
			if err != nil {
				t.Fatal(err)
			}
			res, err := d.Diff(nil, []byte(tt.body))
			if err == nil || err.Error() != tt.want {
				t.Fatalf("Diff error = %v, want %q", err, tt.want)
			}
			if res != nil {
				t.Errorf("Diff returned a result with its error: %+v", res)
			}
		})
	}
}

// TestDiffErrorKeepsSnapshotUsable checks that a failed poll between two
// good ones does not disturb the comparison.
func TestDiffErrorKeepsSnapshotUsable(t *testing.T) {
	d, err := Compile(orders)
	if err != nil {
		t.Fatal(err)
	}
	snap := mustDiff(t, d, nil, `{"data":{"orders":[{"id":1,"v":1}]}}`).Next
	if _, err := d.Diff(snap, []byte(`{"data":{"orders":[{"v":2}]}}`)); err == nil {
		t.Fatal("want an error for an item without a key")
	}
	res := mustDiff(t, d, snap, `{"data":{"orders":[{"id":1,"v":2}]}}`)
	if got := changeList(res.Changes); got != "item.updated 1" {
		t.Errorf("changes = %q, want item.updated 1", got)
	}
}

func TestCompileErrors(t *testing.T) {
	tests := []struct {
		name string
		spec Spec
		want string
	}{
		{"bad items path", Spec{Items: "data..orders"}, `items: path "data..orders" has an empty segment`},
		{"key without items", Spec{Key: []string{"id"}}, `key: set without items; a key names fields of the items of an array`},
		{"empty key", Spec{Items: "$", Key: []string{""}}, `key[0]: empty path`},
		{"root key", Spec{Items: "$", Key: []string{"id", "$"}}, `key[1]: "$" is the whole item, want a field`},
		{"bad key", Spec{Items: "$", Key: []string{"a[0]"}}, `key[0]: path "a[0]": segment "a[0]" may not contain '$', '[', ']' or spaces`},
		{"bad ignore", Spec{Ignore: []string{"a.", "ok"}}, `ignore[0]: path "a." has an empty segment`},
		{"ignore root", Spec{Ignore: []string{"$"}}, `ignore[0]: "$" would drop everything`},
		{"ignore the key", Spec{Items: "$", Key: []string{"customer.id"}, Ignore: []string{"customer"}}, `ignore[0]: "customer" would drop key field "customer.id"`},
		{"unknown event", Spec{Items: "$", Events: []string{"created", "removed"}}, `events[1]: unknown event "removed", want created, updated, deleted or changed`},
		{"item event in document mode", Spec{Events: []string{"created"}}, `events[0]: "created" never happens in document mode (without items), only "changed" does`},
		{"changed in items mode", Spec{Items: "$", Key: []string{"id"}, Events: []string{"changed"}}, `events[0]: "changed" happens only in document mode (without items)`},
		{"ratio too large", Spec{Guard: Guard{MaxDeletedRatio: 1.5, ConfirmPolls: 3}}, `guard.max_deleted_ratio: 1.5 is out of range, want 0 (off) to 1`},
		{"ratio negative", Spec{Guard: Guard{MaxDeletedRatio: -0.1}}, `guard.max_deleted_ratio: -0.1 is out of range, want 0 (off) to 1`},
		{"no confirm polls", Spec{Guard: Guard{MaxDeletedRatio: 0.5}}, `guard.confirm_polls: 0, want at least 1 when max_deleted_ratio is set`},
		{"every problem at once", Spec{Items: "a..b", Events: []string{"x"}, Guard: Guard{MaxDeletedRatio: 2}},
			"items: path \"a..b\" has an empty segment\nevents[0]: unknown event \"x\", want created, updated, deleted or changed\nguard.max_deleted_ratio: 2 is out of range, want 0 (off) to 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := Compile(tt.spec)
			if err == nil || err.Error() != tt.want {
				t.Fatalf("Compile error = %v, want %q", err, tt.want)
			}
			if d != nil {
				t.Error("Compile returned a Differ with its error")
			}
		})
	}
}

// TestCompileAccepts pins specs that must stay valid, the config's default
// guard on a document job among them.
func TestCompileAccepts(t *testing.T) {
	for _, spec := range []Spec{
		{},
		{Guard: Guard{MaxDeletedRatio: 0.5, ConfirmPolls: 3}},
		{Items: "$", Key: []string{"id"}, Events: []string{"created", "updated", "deleted"}},
		{Items: "$.data.orders", Key: []string{"region", "sku"}, Ignore: []string{"meta.request_id", "region_name"}},
		{Items: "$", Events: []string{"created", "deleted"}, Guard: Guard{MaxDeletedRatio: 1, ConfirmPolls: 1}},
		{Items: "$", Events: []string{"created", "updated", "deleted"}}, // the config's default without a key
		{Events: []string{"changed"}},
	} {
		if _, err := Compile(spec); err != nil {
			t.Errorf("Compile(%+v): %v", spec, err)
		}
	}
}

// TestUnchangedBody pins the shortcut for a body identical to the last one:
// the state comes back as it is, with nothing to store.
func TestUnchangedBody(t *testing.T) {
	d, err := Compile(orders)
	if err != nil {
		t.Fatal(err)
	}
	body := `{"data":{"orders":[{"id":1}]}}`
	snap := mustDiff(t, d, nil, body).Next
	res := mustDiff(t, d, snap, body)
	if res.Next != snap || res.Snapshot != nil || res.Delta != nil || res.Changes != nil || res.Held || res.Baseline ||
		!res.Unchanged || res.Sum != sha256.Sum256([]byte(body)) {
		t.Errorf("Diff of the same body = %+v, want the same state, Unchanged and nothing else", res)
	}
}

// TestRulesChanged checks that a snapshot taken under other comparison
// rules yields a silent new baseline, even with EmitInitial, while rules
// that do not shape the snapshot keep it.
func TestRulesChanged(t *testing.T) {
	body := `{"data":{"orders":[{"id":1,"updated_at":"t1"}]}}`
	first, err := Compile(Spec{Items: "data.orders", Key: []string{"id"}})
	if err != nil {
		t.Fatal(err)
	}
	snap := mustDiff(t, first, nil, body).Next
	tests := []struct {
		name     string
		spec     Spec
		baseline bool
	}{
		{"ignore added", Spec{Items: "data.orders", Key: []string{"id"}, Ignore: []string{"updated_at"}, EmitInitial: true}, true},
		{"key changed", Spec{Items: "data.orders", Key: []string{"updated_at"}}, true},
		{"key dropped", Spec{Items: "data.orders"}, true},
		{"document mode", Spec{}, true},
		{"same path spelled otherwise", Spec{Items: "$.data.orders", Key: []string{"id"}, Events: []string{"created"}}, false},
		{"guard added", Spec{Items: "data.orders", Key: []string{"id"}, Guard: Guard{MaxDeletedRatio: 1, ConfirmPolls: 2}, EmitInitial: true}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := Compile(tt.spec)
			if err != nil {
				t.Fatal(err)
			}
			res := mustDiff(t, d, snap, `{"data":{"orders":[{"id":2,"updated_at":"t2"}]}}`)
			if res.Baseline != tt.baseline {
				t.Errorf("Baseline = %v, want %v", res.Baseline, tt.baseline)
			}
			if tt.baseline && len(res.Changes) != 0 {
				t.Errorf("changes = %q, want none on a new baseline", changeList(res.Changes))
			}
			if !tt.baseline && len(res.Changes) == 0 {
				t.Error("no changes: the snapshot was not compared")
			}
		})
	}
}

// TestKeys pins how keys render in Change.Key.
func TestKeys(t *testing.T) {
	tests := []struct {
		key  []string
		item string
		want string
	}{
		{[]string{"id"}, `{"id":1042}`, "1042"},
		{[]string{"id"}, `{"id":1042.000}`, "1042"},
		{[]string{"id"}, `{"id":1.5e3}`, "1500"},
		{[]string{"id"}, `{"id":"A-7"}`, "A-7"},
		{[]string{"id"}, `{"id":"a|b\\c"}`, `a|b\c`},
		{[]string{"id"}, `{"id":"tab\there\u0001"}`, "tab\there\x01"},
		{[]string{"id"}, `{"id":true}`, "true"},
		{[]string{"region", "sku"}, `{"sku":"x1","region":"eu"}`, "eu|x1"},
		{[]string{"region", "sku"}, `{"sku":"x|1","region":"e\\u"}`, `e\\u|x\|1`},
		{[]string{"region", "n"}, `{"n":-0.0,"region":"eu"}`, "eu|0"},
		{[]string{"a.b", "c"}, `{"a":{"b":"x"},"c":2}`, "x|2"},
		{nil, `{"id":1,"v":"x"}`, "6bc87549b96fb78d"}, // echo -n '{"id":1,"v":"x"}' | sha256sum | cut -c1-16
	}
	for _, tt := range tests {
		d, err := Compile(Spec{Items: "$", Key: tt.key, EmitInitial: true})
		if err != nil {
			t.Fatal(err)
		}
		res := mustDiff(t, d, nil, "["+tt.item+"]")
		if len(res.Changes) != 1 || res.Changes[0].Key != tt.want {
			t.Errorf("key %v of %s: changes %q, want key %q", tt.key, tt.item, changeList(res.Changes), tt.want)
		}
	}
}

// changeList renders changes as "type key" lines for compact assertions.
func changeList(changes []Change) string {
	var b strings.Builder
	for i, c := range changes {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s %s", c.Type, c.Key)
	}
	return b.String()
}
