package differ

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
)

func TestPageItems(t *testing.T) {
	tests := []struct {
		name      string
		body      string
		path      string
		wantArray string   // body[Start:End]; "" when missing
		want      []string // the elements
		wantErr   string
	}{
		{name: "root array", body: ` [1, "a" ,{"b":[2]}] `, path: "$", wantArray: `[1, "a" ,{"b":[2]}]`, want: []string{`1`, `"a"`, `{"b":[2]}`}},
		{name: "nested path", body: `{"meta":{"next":"c2"},"data":{"orders":[{"id":1},{"id":2}]}}`, path: "data.orders", wantArray: `[{"id":1},{"id":2}]`, want: []string{`{"id":1}`, `{"id":2}`}},
		{name: "elements kept verbatim", body: "{\"o\":[ { \"id\" : 1 } ,\n\t{\"s\":\"],[\\\"}\"} ]}", path: "o", wantArray: "[ { \"id\" : 1 } ,\n\t{\"s\":\"],[\\\"}\"} ]", want: []string{`{ "id" : 1 }`, `{"s":"],[\"}"}`}},
		{name: "empty array", body: `{"o":[ ]}`, path: "o", wantArray: `[ ]`},
		{name: "null is no items", body: `{"o":null}`, path: "o", wantArray: `null`},
		{name: "missing member", body: `{"p":[1]}`, path: "o"},
		{name: "missing nested member", body: `{"data":{}}`, path: "data.orders"},
		{name: "last duplicate wins", body: `{"o":[1],"o":[2,3]}`, path: "o", wantArray: `[2,3]`, want: []string{`2`, `3`}},
		{name: "escaped member name", body: `{"\u006f":[1],"x\"":0}`, path: "o", wantArray: `[1]`, want: []string{`1`}},
		{name: "member name in a string value is not a member", body: `{"a":"\"o\":[9]","o":[1]}`, path: "o", wantArray: `[1]`, want: []string{`1`}},
		{name: "byte order mark", body: "\ufeff{\"o\":[1]}", path: "o", wantArray: `[1]`, want: []string{`1`}},
		{name: "[*] path merges at its first array", body: `{"data":{"groups":[{"orders":[1]},{"orders":[2]}]}}`, path: "data.groups[*].orders", wantArray: `[{"orders":[1]},{"orders":[2]}]`, want: []string{`{"orders":[1]}`, `{"orders":[2]}`}},
		{name: "$[*] path merges the document", body: `[{"items":[1]},{"items":[]}]`, path: "$[*].items", wantArray: `[{"items":[1]},{"items":[]}]`, want: []string{`{"items":[1]}`, `{"items":[]}`}},
		{name: "trailing [*] is the array itself", body: `{"o":[1,2]}`, path: "o[*]", wantArray: `[1,2]`, want: []string{`1`, `2`}},
		{name: "items not an array", body: `{"data":{"orders":{"id":1}}}`, path: "data.orders", wantErr: `"data.orders" is an object, want an array`},
		{name: "way not an object", body: `{"data":[{"orders":[]}]}`, path: "data.orders", wantErr: `"data" is an array, want an object`},
		{name: "null on the way", body: `{"data":null}`, path: "data.orders", wantErr: `"data" is null, want an object`},
		{name: "root not an array", body: `{"o":[]}`, path: "$", wantErr: `"$" is an object, want an array`},
		{name: "empty document", body: " ", path: "o", wantErr: "empty document"},
		{name: "invalid path", body: `[]`, path: "a..b", wantErr: `path "a..b" has an empty segment`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := []byte(tt.body)
			page, err := PageItems(body, tt.path)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("PageItems error = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("PageItems: %v", err)
			}
			if tt.wantArray == "" {
				if page.Start != -1 || page.End != -1 || page.Elements != nil {
					t.Errorf("PageItems = %+v, want missing (-1, -1, no elements)", page)
				}
				return
			}
			if got := string(body[page.Start:page.End]); got != tt.wantArray {
				t.Errorf("array = %q, want %q", got, tt.wantArray)
			}
			var got []string
			for _, e := range page.Elements {
				got = append(got, string(e))
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("elements = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestValueAt(t *testing.T) {
	tests := []struct {
		name      string
		body      string
		path      string
		want      string
		wantFound bool
		wantErr   string
	}{
		{name: "string", body: `{"meta":{"next":"c\"2"}}`, path: "meta.next", want: `"c\"2"`, wantFound: true},
		{name: "number", body: `{"meta":{"next": 1.50e3 }}`, path: "meta.next", want: `1.50e3`, wantFound: true},
		{name: "null value is found", body: `{"meta":{"next":null}}`, path: "meta.next", want: `null`, wantFound: true},
		{name: "with $ prefix", body: `{"next":"x"}`, path: "$.next", want: `"x"`, wantFound: true},
		{name: "root", body: ` 7 `, path: "$", want: `7`, wantFound: true},
		{name: "missing", body: `{"meta":{}}`, path: "meta.next"},
		{name: "null on the way", body: `{"meta":null}`, path: "meta.next"},
		{name: "scalar on the way", body: `{"meta":"x"}`, path: "meta.next", wantErr: `"meta" is a string, want an object`},
		{name: "root not an object", body: `[1]`, path: "next", wantErr: `"$" is an array, want an object`},
		{name: "[*] is no plain path", body: `{}`, path: "a[*]", wantErr: `path "a[*]": segment "a[*]" may not contain '$', '[', ']' or spaces`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, found, err := ValueAt([]byte(tt.body), tt.path)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("ValueAt error = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ValueAt: %v", err)
			}
			if string(got) != tt.want || found != tt.wantFound {
				t.Errorf("ValueAt = %q, %v; want %q, %v", got, found, tt.want, tt.wantFound)
			}
		})
	}
}

// FuzzPageItems checks PageItems and ValueAt against encoding/json: on
// any input they do not panic, and on valid JSON what they find decodes
// to what encoding/json finds at the same path.
func FuzzPageItems(f *testing.F) {
	for _, s := range []string{
		`{"o":[1,{"a":"]"},[2]]}`,
		`{"o":null}`,
		`{"o":[],"o":[3]}`,
		`{"\u006f":["x\\"]}`,
		`{"o":{"o":[1]}}`,
		`[1,2]`,
		`{"o`,
	} {
		f.Add([]byte(s), "o")
	}
	f.Add([]byte(`{"o":{"o":[true]}}`), "o.o")
	f.Fuzz(func(t *testing.T, body []byte, path string) {
		page, perr := PageItems(body, path)
		raw, found, verr := ValueAt(body, path)
		if !json.Valid(body) {
			return
		}
		p, err := ParsePath(path)
		if err != nil {
			return
		}
		doc, err := decodeTree(body)
		if err != nil {
			t.Fatalf("decodeTree of valid JSON: %v", err)
		}
		want, wantFound := lookup(doc, p)
		if verr == nil && found != wantFound {
			t.Fatalf("ValueAt(%q, %q) found = %v, want %v", body, path, found, wantFound)
		}
		if verr == nil && found {
			got, err := decodeTree(raw)
			if err != nil || !reflect.DeepEqual(got, want) {
				t.Fatalf("ValueAt(%q, %q) = %q (%v), want %#v", body, path, raw, err, want)
			}
		}
		arr, isArray := want.([]any)
		if perr != nil || page.Start < 0 {
			if perr == nil && wantFound {
				t.Fatalf("PageItems(%q, %q) missing, want %#v", body, path, want)
			}
			if perr != nil && isArray {
				t.Fatalf("PageItems(%q, %q) = %v, want the array", body, path, perr)
			}
			return
		}
		if !wantFound {
			t.Fatalf("PageItems(%q, %q) = %+v, want missing", body, path, page)
		}
		if want == nil {
			if !bytes.Equal(body[page.Start:page.End], []byte("null")) || page.Elements != nil {
				t.Fatalf("PageItems(%q, %q) = %+v, want null", body, path, page)
			}
			return
		}
		if len(page.Elements) != len(arr) {
			t.Fatalf("PageItems(%q, %q) has %d elements, want %d", body, path, len(page.Elements), len(arr))
		}
		for i, e := range page.Elements {
			got, err := decodeTree(e)
			if err != nil || !reflect.DeepEqual(got, arr[i]) {
				t.Fatalf("element %d = %q (%v), want %#v", i, e, err, arr[i])
			}
		}
	})
}

// lookup is rawValueAt for a decoded document, with a null on the way
// counted as missing.
func lookup(doc any, p Path) (any, bool) {
	for _, seg := range p {
		obj, ok := doc.(map[string]any)
		if !ok {
			return nil, false
		}
		if doc, ok = obj[seg]; !ok {
			return nil, false
		}
	}
	return doc, true
}
