package differ

import (
	"testing"
)

func TestParseItemsPath(t *testing.T) {
	tests := []struct {
		in   string
		want string // Path.String(), or the error
		err  bool
	}{
		{in: "data.orders", want: "data.orders"},
		{in: "$.data.orders", want: "data.orders"},
		{in: "$", want: "$"},
		{in: "data.groups[*].orders", want: "data.groups[*].orders"},
		{in: "$[*].items", want: "$[*].items"},
		{in: "[*].items", want: "$[*].items"},
		{in: "$.data[*][*].x", want: "data[*][*].x"},
		{in: " data.orders[*] ", want: "data.orders"}, // the elements of orders are the items anyway
		{in: "$[*]", want: "$"},
		{in: "m[*][*]", want: "m[*]"},
		{in: "", err: true, want: "empty path"},
		{in: "data..orders", err: true, want: `path "data..orders" has an empty segment`},
		{in: "data.orders[0]", err: true, want: `path "data.orders[0]": segment "orders[0]": only [*] (every element of an array) may follow a name`},
		{in: "data.*", err: true, want: `path "data.*": segment "*" may not contain '$', '[', ']', '*' or spaces`},
		{in: "data.[*].x", err: true, want: `path "data.[*].x": segment "[*]": [*] must follow a name, as in orders[*]`},
		{in: "data[*]x.y", err: true, want: `path "data[*]x.y": segment "data[*]x": only [*] (every element of an array) may follow a name`},
		{in: "a b[*]", err: true, want: `path "a b[*]": segment "a b[*]" may not contain '$', '[', ']', '*' or spaces`},
		{in: "$[*].", err: true, want: `path "$[*]." has an empty segment`},
	}
	for _, tt := range tests {
		p, err := ParseItemsPath(tt.in)
		switch {
		case tt.err && (err == nil || err.Error() != tt.want):
			t.Errorf("ParseItemsPath(%q) error = %v, want %q", tt.in, err, tt.want)
		case !tt.err && (err != nil || p.String() != tt.want):
			t.Errorf("ParseItemsPath(%q) = %q, %v; want %q", tt.in, p.String(), err, tt.want)
		}
	}
}

// TestItemsThroughArrays pins items paths that step through arrays: the
// items of every element, flattened in document order.
func TestItemsThroughArrays(t *testing.T) {
	groups := Spec{Items: "data.groups[*].orders", Key: []string{"id"}}
	tests := []struct {
		name string
		spec Spec
		prev string
		body string
		want string // changeList, or the error
		err  bool
	}{
		{name: "created updated deleted across groups", spec: groups,
			prev: `{"data":{"groups":[{"name":"a","orders":[{"id":1},{"id":2}]},{"name":"b","orders":[{"id":3}]}]}}`,
			body: `{"data":{"groups":[{"name":"b","orders":[{"id":3,"v":1}]},{"name":"c"},{"name":"a","orders":[{"id":2},{"id":4}]},{"orders":null}]}}`,
			want: "item.updated 3, item.created 4, item.deleted 1"},
		{name: "moved to another group is no change", spec: groups,
			prev: `{"data":{"groups":[{"orders":[{"id":1},{"id":2}]},{"orders":[]}]}}`,
			body: `{"data":{"groups":[{"orders":[{"id":2}]},{"orders":[{"id":1}]}]}}`},
		{name: "a later member of the same name wins inside an element", spec: groups,
			prev: `{"data":{"groups":[]}}`,
			body: `{"data":{"groups":[{"orders":[{"id":1},{"id":1}],"orders":[{"id":2}]},{"orders":[{"id":3}]}]}}`,
			want: "item.created 2, item.created 3"},
		{name: "root array", spec: Spec{Items: "$[*].items", Key: []string{"id"}},
			prev: `[{"items":[{"id":1}]},{"items":[{"id":2}]}]`,
			body: `[{"items":[{"id":2,"v":2}]},{"other":1},{"items":[{"id":3}]}]`,
			want: "item.updated 2, item.created 3, item.deleted 1"},
		{name: "nested arrays", spec: Spec{Items: "m[*][*]"},
			prev: `{"m":[[1,2],[3]]}`,
			body: `{"m":[[1],[],[3,4]]}`,
			want: "item.created 4b227777d4dd1fc6, item.deleted d4735e3a265e16ee"},
		{name: "null groups", spec: groups, prev: `{"data":{"groups":[{"orders":[{"id":1}]}]}}`, body: `{"data":{"groups":null}}`,
			want: "item.deleted 1"},
		{name: "same key in two groups", spec: groups, body: `{"data":{"groups":[{"orders":[{"id":1}]},{"orders":[{"id":2},{"id":1}]}]}}`,
			err: true, want: `items 0 and 2 have the same key "1"`},
		{name: "key missing counts flattened", spec: groups, body: `{"data":{"groups":[{"orders":[{"id":1}]},{"orders":[{"x":1}]}]}}`,
			err: true, want: `item 1: key field "id" is missing`},
		{name: "element not an object", spec: groups, body: `{"data":{"groups":[{"orders":[]},7]}}`,
			err: true, want: `items "data.groups[*].orders": "data.groups[1]" is a number, want an object`},
		{name: "items of an element not an array", spec: groups, body: `{"data":{"groups":[{"orders":[]},{"orders":{}}]}}`,
			err: true, want: `items "data.groups[*].orders": "data.groups[1].orders" is an object, want an array`},
		{name: "first misshapen element is reported", spec: Spec{Items: "$[*].a[*].b"}, body: `[{"a":[{"b":[]},{"b":1}]},{"a":2}]`,
			err: true, want: `items "$[*].a[*].b": "$[0].a[1].b" is a number, want an array`},
		{name: "groups not an array", spec: groups, body: `{"data":{"groups":{}}}`,
			err: true, want: `items "data.groups[*].orders": "data.groups" is an object, want an array`},
		{name: "groups missing", spec: groups, body: `{"data":{}}`,
			err: true, want: `items "data.groups[*].orders": no field "groups"`},
		{name: "syntax error after a misshapen element wins", spec: groups, body: `{"data":{"groups":[{"orders":1},{"orders":[}]}}`,
			err: true, want: `parse response: invalid character '}' looking for beginning of value at offset 43`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, prev := compileAfter(t, tt.spec, tt.prev)
			res, err := d.Diff(prev, []byte(tt.body))
			if tt.err {
				if err == nil || err.Error() != tt.want {
					t.Fatalf("Diff error = %v, want %q", err, tt.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := changeList(res.Changes); got != tt.want {
				t.Errorf("changes %q, want %q", got, tt.want)
			}
			checkPatches(t, res.Changes)
			checkStored(t, prev, res)
		})
	}
}

func TestCompileItemsPath(t *testing.T) {
	if _, err := Compile(Spec{Items: "data.*"}); err == nil || err.Error() != `items: path "data.*": segment "*" may not contain '$', '[', ']', '*' or spaces` {
		t.Errorf("Compile with a '*' in items: %v", err)
	}
	// A trailing [*] is the same rule as none: the state stays comparable.
	a, err := Compile(Spec{Items: "data.orders", Key: []string{"id"}})
	if err != nil {
		t.Fatal(err)
	}
	b, err := Compile(Spec{Items: "data.orders[*]", Key: []string{"id"}})
	if err != nil {
		t.Fatal(err)
	}
	prev := mustDiff(t, a, nil, `{"data":{"orders":[{"id":1}]}}`).Next
	if res := mustDiff(t, b, prev, `{"data":{"orders":[{"id":1},{"id":2}]}}`); res.Baseline || changeList(res.Changes) != "item.created 2" {
		t.Errorf("data.orders[*] after data.orders: baseline %v, changes %q", res.Baseline, changeList(res.Changes))
	}
}
