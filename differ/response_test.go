package differ

import (
	"context"
	"fmt"
	"strings"
	"testing"
)

// step is one response of a sequence and the changes it must produce,
// each rendered as "type key before after patch merge_patch diff".
type step struct {
	contentType string
	body        string
	want        []string
	wantErr     string
}

func render(c Change) string {
	s := fmt.Sprintf("%s %s %s %s %s %s", c.Type, c.Key, c.Before, c.After, c.Patch, c.MergePatch)
	if c.Diff != "" {
		s += " diff:" + c.Diff
	}
	return s
}

// runSteps feeds the responses in order, each compared with the state the
// previous one left, and pins the changes of each.
func runSteps(t *testing.T, spec Spec, steps []step) {
	t.Helper()
	d, err := Compile(spec)
	if err != nil {
		t.Fatal(err)
	}
	var st *State
	for i, s := range steps {
		res, err := d.DiffResponse(context.Background(), st, []byte(s.body), s.contentType)
		if s.wantErr != "" {
			if err == nil || err.Error() != s.wantErr {
				t.Fatalf("step %d: error %v, want %q", i, err, s.wantErr)
			}
			continue
		}
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		var got []string
		for _, c := range res.Changes {
			got = append(got, render(c))
		}
		if strings.Join(got, "\n") != strings.Join(s.want, "\n") {
			t.Fatalf("step %d: changes\n%s\nwant\n%s", i, strings.Join(got, "\n"), strings.Join(s.want, "\n"))
		}
		st = res.Next
	}
}

func TestDiffResponseXML(t *testing.T) {
	runSteps(t, Spec{Items: "orders.order", Key: []string{"@id"}}, []step{
		{contentType: "application/xml", body: `<orders><order id="1"><status>open</status></order><order id="2"><status>open</status></order></orders>`},
		// One order left: XML makes it an object, which is still one item.
		{contentType: "text/xml; charset=utf-8", body: `<orders><order id="2"><status>paid</status></order></orders>`, want: []string{
			`item.updated 2 {"@id":"2","status":"open"} {"@id":"2","status":"paid"} [{"op":"replace","path":"/status","value":"paid"}] {"status":"paid"}`,
			`item.deleted 1 {"@id":"1","status":"open"}   `,
		}},
		{contentType: "application/xml", body: `<orders><order id="2">`, wantErr: "parse XML: line 1: unexpected end of document: <order> not closed"},
	})
}

func TestDiffResponseCSV(t *testing.T) {
	runSteps(t, Spec{Items: "$", Key: []string{"sku"}, Format: "csv"}, []step{
		{contentType: "text/plain", body: "sku,stock\r\nA1,5\r\nB2,7\r\n"},
		{contentType: "text/plain", body: "sku,stock\nB2,7\nA1,4\nC3,1\n", want: []string{
			`item.updated A1 {"sku":"A1","stock":"5"} {"sku":"A1","stock":"4"} [{"op":"replace","path":"/stock","value":"4"}] {"stock":"4"}`,
			`item.created C3  {"sku":"C3","stock":"1"}  `,
		}},
		{body: "sku,stock\nA1\n", wantErr: "parse CSV: line 2: 1 fields, header has 2"},
	})
}

func TestDiffResponseText(t *testing.T) {
	runSteps(t, Spec{Format: "text"}, []step{
		{contentType: "text/html", body: "<h1>Status</h1>\r\n<p>all good</p>\r\n"},
		{contentType: "text/html", body: "<h1>Status</h1>\n<p>degraded</p>\n", want: []string{
			`document.changed  "<h1>Status</h1>\n<p>all good</p>\n" "<h1>Status</h1>\n<p>degraded</p>\n"  ` +
				" diff:--- before\n+++ after\n@@ -1,2 +1,2 @@\n <h1>Status</h1>\n-<p>all good</p>\n+<p>degraded</p>\n",
		}},
	})
}

// TestDiffResponseJSONByDefault shows that text is never guessed: an HTML
// error page from a JSON API fails the poll instead of being compared.
func TestDiffResponseJSONByDefault(t *testing.T) {
	runSteps(t, Spec{Items: "$", Key: []string{"id"}}, []step{
		{contentType: "text/plain", body: `[{"id":1}]`},
		{contentType: "text/html", body: `<html>maintenance</html>`, wantErr: "parse response: invalid character '<' looking for beginning of value at offset 0"},
		{contentType: "application/json", body: `[{"id":1},{"id":2}]`, want: []string{`item.created 2  {"id":2}  `}},
	})
}

func TestDiffResponseTransformUnorderedIgnore(t *testing.T) {
	spec := Spec{
		Items:     "$",
		Key:       []string{"id"},
		Transform: `.data | map(select(.active) | del(.active))`,
		Ignore:    []string{"meta.*"},
		Unordered: []string{"tags"},
	}
	runSteps(t, spec, []step{
		{body: `{"data":[{"id":1,"active":true,"tags":["a","b"],"meta":{"seen":1}},{"id":2,"active":false}]}`},
		// Tags reordered, meta changed, an inactive item edited: nothing.
		{body: `{"data":[{"id":1,"active":true,"tags":["b","a"],"meta":{"seen":2}},{"id":2,"active":false,"x":1}]}`},
		{body: `{"data":[{"id":1,"active":true,"tags":["b","c"],"meta":{"seen":3}},{"id":2,"active":true}]}`, want: []string{
			`item.updated 1 {"id":1,"meta":{},"tags":["a","b"]} {"id":1,"meta":{},"tags":["b","c"]} [{"op":"remove","path":"/tags/0"},{"op":"add","path":"/tags/-","value":"c"}] {"tags":["b","c"]}`,
			`item.created 2  {"id":2}  `,
		}},
		{body: `{"data":{"not":"an array"}}`, wantErr: "transform: expected an object but got: string (\"an array\")"},
	})
}

func TestKeepWhen(t *testing.T) {
	d, err := Compile(Spec{Items: "$", Key: []string{"sku"}, When: `type == "item.updated" && after.stock < 5 && before.stock >= 5`})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		c       Change
		keep    bool
		wantErr string
	}{
		{Change{Type: TypeItemUpdated, Key: "A", Before: []byte(`{"stock":5}`), After: []byte(`{"stock":4}`)}, true, ""},
		{Change{Type: TypeItemUpdated, Key: "A", Before: []byte(`{"stock":4}`), After: []byte(`{"stock":3}`)}, false, ""},
		{Change{Type: TypeItemCreated, Key: "B", After: []byte(`{"stock":1}`)}, false, ""},
		{Change{Type: TypeItemUpdated, Key: "C", Before: []byte(`{"stock":"many"}`), After: []byte(`{"stock":1}`)}, false,
			`when: item.updated "C": invalid operation: string >= int (1:59)`},
	}
	for _, tt := range tests {
		keep, err := d.Keep("stock", tt.c)
		if keep != tt.keep || fmt.Sprint(err) != fmt.Sprint(errOrNil(tt.wantErr)) {
			t.Errorf("Keep(%s %s) = %v, %v; want %v, %q", tt.c.Type, tt.c.Key, keep, err, tt.keep, tt.wantErr)
		}
	}
	if keep, err := (&Differ{}).Keep("j", Change{Type: TypeItemDeleted}); !keep || err != nil {
		t.Errorf("Keep without when = %v, %v; want true", keep, err)
	}
}

func errOrNil(s string) error {
	if s == "" {
		return nil
	}
	return fmt.Errorf("%s", s)
}

// TestFormatChangeRebaselines shows that switching a job's format or
// transform records a new baseline instead of reporting every item.
func TestFormatChangeRebaselines(t *testing.T) {
	a, err := Compile(Spec{Items: "$", Key: []string{"id"}})
	if err != nil {
		t.Fatal(err)
	}
	res, err := a.DiffResponse(context.Background(), nil, []byte(`[{"id":1}]`), "application/json")
	if err != nil {
		t.Fatal(err)
	}
	b, err := Compile(Spec{Items: "$", Key: []string{"id"}, Transform: `map(.+{v:1})`})
	if err != nil {
		t.Fatal(err)
	}
	res, err = b.DiffResponse(context.Background(), res.Next, []byte(`[{"id":1},{"id":2}]`), "application/json")
	if err != nil {
		t.Fatal(err)
	}
	if !res.Baseline || len(res.Changes) != 0 {
		t.Errorf("after a transform was added: baseline %v, changes %d; want a silent new baseline", res.Baseline, len(res.Changes))
	}
}

func TestCompileOptionErrors(t *testing.T) {
	_, err := Compile(Spec{Items: "$", Format: "text", Transform: "map(", When: "a <", Unordered: []string{"x_*"}})
	want := strings.Join([]string{
		`unordered[0]: path "x_*": segment "x_*": '*' matches a whole segment only; globs such as x_* are not supported`,
		"format: text documents are compared whole; items does not apply",
		"transform: unexpected EOF",
		"when: unexpected token EOF (1:3)",
	}, "\n")
	if err == nil || err.Error() != want {
		t.Errorf("Compile errors:\n%v\nwant:\n%s", err, want)
	}
}
