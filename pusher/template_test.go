package pusher

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/pollhook/pollhook/store"
)

var tmplAt = time.Date(2026, 11, 27, 21, 0, 0, 0, time.FixedZone("CET", 3600))

// tmplEvents are one event of each kind, as the scheduler writes their data.
var tmplEvents = map[string]store.Event{
	"updated": {ID: "evt_u", Seq: 7, Type: "item.updated", Job: "orders", Key: "1042", Time: tmplAt, Data: json.RawMessage(
		`{"job":"orders","key":"1042","before":{"id":1042,"status":"open"},"after":{"id":1042,"status":"shipped"},` +
			`"patch":[{"op":"replace","path":"/status","value":"shipped"}],"merge_patch":{"status":"shipped"}}`)},
	"created": {ID: "evt_c", Seq: 8, Type: "item.created", Job: "orders", Key: "1043", Time: tmplAt, Data: json.RawMessage(
		`{"job":"orders","key":"1043","after":{"id":1043,"status":"open","total":19.90}}`)},
	"deleted": {ID: "evt_d", Seq: 9, Type: "item.deleted", Job: "orders", Key: "1041", Time: tmplAt, Data: json.RawMessage(
		`{"job":"orders","key":"1041","before":{"id":1041,"status":"cancelled"}}`)},
	"document": {ID: "evt_doc", Seq: 3, Type: "document.changed", Job: "status", Time: tmplAt, Data: json.RawMessage(
		`{"job":"status","before":{"up":true},"after":{"up":false},"patch":[{"op":"replace","path":"/up","value":false}],"merge_patch":{"up":false}}`)},
	"text": {ID: "evt_txt", Seq: 4, Type: "document.changed", Job: "motd", Time: tmplAt, Data: json.RawMessage(
		`{"job":"motd","before":"hello\n","after":"hello <world>\n","diff":"--- before\n+++ after\n@@ -1 +1 @@\n-hello\n+hello <world>\n"}`)},
}

func mustTemplate(t *testing.T, text, contentType string) *bodyTemplate {
	t.Helper()
	bt, err := parseTemplate(text, contentType)
	if err != nil {
		t.Fatalf("parseTemplate: %v", err)
	}
	return bt
}

func TestParseTemplateErrors(t *testing.T) {
	tests := []struct {
		name, text, contentType, want string
	}{
		{"unknown function", "{\n  \"a\": {{jsn .Key}}\n}", "",
			`template line 2: function "jsn" not defined`},
		{"unclosed action", "{{if .Key}}\n\n{{.Key}", "",
			`template line 3: bad character U+007D '}'`},
		{"missing end", "{{if .Key}}\n{{.Key}}", "",
			`template line 2: unexpected EOF`},
		{"bad content type", "{}", "json",
			`content_type "json" is not a media type`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseTemplate(tt.text, tt.contentType)
			if err == nil || err.Error() != tt.want {
				t.Errorf("parseTemplate error = %v, want %q", err, tt.want)
			}
		})
	}
}

// TestTemplateData pins what a template sees of each kind of event.
func TestTemplateData(t *testing.T) {
	const text = `ID={{.ID}} Type={{.Type}} Time={{.Time.Format "15:04 MST"}} Timestamp={{.Timestamp}} Job={{.Job}} Key={{printf "%q" .Key}}
Before={{json .Before}} After={{json .After}} Patch={{json .Patch}} MergePatch={{json .MergePatch}} Diff={{printf "%q" .Diff}}
Data={{json .Data}} Events={{len .Events}} first={{(index .Events 0).ID}}{{if eq .Type "item.updated" "item.created"}} id={{.After.id}}{{end}}`
	bt := mustTemplate(t, text, "text/plain")
	tests := []struct{ event, want string }{
		{"updated", `ID=evt_u Type=item.updated Time=20:00 UTC Timestamp=2026-11-27T20:00:00.000Z Job=orders Key="1042"
Before={"id":1042,"status":"open"} After={"id":1042,"status":"shipped"} Patch=[{"op":"replace","path":"/status","value":"shipped"}] MergePatch={"status":"shipped"} Diff=""
Data={"after":{"id":1042,"status":"shipped"},"before":{"id":1042,"status":"open"},"job":"orders","key":"1042","merge_patch":{"status":"shipped"},"patch":[{"op":"replace","path":"/status","value":"shipped"}]} Events=1 first=evt_u id=1042`},
		{"created", `ID=evt_c Type=item.created Time=20:00 UTC Timestamp=2026-11-27T20:00:00.000Z Job=orders Key="1043"
Before=null After={"id":1043,"status":"open","total":19.90} Patch=null MergePatch=null Diff=""
Data={"after":{"id":1043,"status":"open","total":19.90},"job":"orders","key":"1043"} Events=1 first=evt_c id=1043`},
		{"deleted", `ID=evt_d Type=item.deleted Time=20:00 UTC Timestamp=2026-11-27T20:00:00.000Z Job=orders Key="1041"
Before={"id":1041,"status":"cancelled"} After=null Patch=null MergePatch=null Diff=""
Data={"before":{"id":1041,"status":"cancelled"},"job":"orders","key":"1041"} Events=1 first=evt_d`},
		{"text", `ID=evt_txt Type=document.changed Time=20:00 UTC Timestamp=2026-11-27T20:00:00.000Z Job=motd Key=""
Before="hello\n" After="hello <world>\n" Patch=null MergePatch=null Diff="--- before\n+++ after\n@@ -1 +1 @@\n-hello\n+hello <world>\n"
Data={"after":"hello <world>\n","before":"hello\n","diff":"--- before\n+++ after\n@@ -1 +1 @@\n-hello\n+hello <world>\n","job":"motd"} Events=1 first=evt_txt`},
	}
	for _, tt := range tests {
		t.Run(tt.event, func(t *testing.T) {
			got, err := bt.render([]store.Event{tmplEvents[tt.event]})
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("render =\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}

func TestTemplateBatch(t *testing.T) {
	bt := mustTemplate(t, `{"first": {{json .ID}}, "items": [{{range $i, $e := .Events}}{{if $i}}, {{end}}{"id": {{json $e.ID}}, "type": {{json $e.Type}}, "key": {{json $e.Key}}}{{end}}]}`, "")
	got, err := bt.render([]store.Event{tmplEvents["updated"], tmplEvents["created"], tmplEvents["deleted"]})
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"first":"evt_u","items":[{"id":"evt_u","type":"item.updated","key":"1042"},{"id":"evt_c","type":"item.created","key":"1043"},{"id":"evt_d","type":"item.deleted","key":"1041"}]}`
	if string(got) != want {
		t.Errorf("render =\n%s\nwant\n%s", got, want)
	}
}

func TestTemplateRenderErrors(t *testing.T) {
	tests := []struct {
		name, text, contentType string
		events                  []string
		want                    string
	}{
		{"field of a missing value", "{\n\"s\": {{json .After.status}}}", "", []string{"deleted"},
			`render: template line 2:18: executing "body" at <.After.status>: nil pointer evaluating interface {}.status`},
		{"unknown field", `{{.Status}}`, "text/plain", []string{"updated"},
			`render: template line 1:2: executing "body" at <.Status>: can't evaluate field Status in type pusher.templateData`},
		{"helper error", `{{replace "a" .Key}}`, "text/plain", []string{"updated"},
			`render: template line 1:2: executing "body" at <replace "a" .Key>: error calling replace: replace wants pairs of old and new strings, then the text; got 2 arguments`},
		{"output is not JSON", "{\"key\": {{.Key}}x}", "", []string{"updated"},
			`render: template output is not valid JSON (content type application/json): invalid character 'x' after object key:value pair after 13 bytes`},
		{"output is not JSON, +json type", `{"key": {{.Key}}`, "application/vnd.acme+json; charset=utf-8", []string{"updated"},
			`render: template output is not valid JSON (content type application/vnd.acme+json; charset=utf-8): unexpected end of JSON input after 12 bytes`},
		{"data is not JSON", `{}`, "", []string{"broken"},
			`render event data: unexpected EOF`},
		{"data is not JSON, in a batch", `{}`, "", []string{"updated", "broken"},
			`event evt_bad: render event data: unexpected EOF`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bt := mustTemplate(t, tt.text, tt.contentType)
			var evs []store.Event
			for _, name := range tt.events {
				ev, ok := tmplEvents[name]
				if name == "broken" {
					ev, ok = store.Event{ID: "evt_bad", Type: "item.created", Data: json.RawMessage(`{"job":`)}, true
				}
				if !ok {
					t.Fatalf("no event %q", name)
				}
				evs = append(evs, ev)
			}
			_, err := bt.render(evs)
			if err == nil || err.Error() != tt.want {
				t.Errorf("render error =\n%v\nwant\n%s", err, tt.want)
			}
		})
	}
}

func TestTemplateContentTypes(t *testing.T) {
	tests := []struct {
		name, text, contentType, want string
	}{
		{"JSON is compacted", "{\n  \"text\": {{json .Key}},\n  \"n\": [ 1, 2 ]\n}\n", "", `{"text":"1042","n":[1,2]}`},
		{"+json is compacted", "{ \"a\" : 1 }", "application/cloudevents+json", `{"a":1}`},
		{"other types are sent as rendered", "key={{.Key}} \n", "text/plain; charset=utf-8", "key=1042 \n"},
		{"form body via urlquery", `key={{urlquery .Key}}&status={{urlquery .After.status}}`, mediaForm, "key=1042&status=shipped"},
		{"empty output of a non-JSON type", `{{/* nothing */}}`, "text/plain", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bt := mustTemplate(t, tt.text, tt.contentType)
			got, err := bt.render([]store.Event{tmplEvents["updated"]})
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("render = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestTemplateJSON(t *testing.T) {
	tests := []struct {
		v    any
		want string
	}{
		{"a \"q\" <b> & \u2028", `"a \"q\" <b> & \u2028"`},
		{nil, "null"},
		{json.Number("1.50"), "1.50"},
		{map[string]any{"b": 1, "a": []any{true, nil}}, `{"a":[true,null],"b":1}`},
		{"bad \xff utf-8", `"bad \ufffd utf-8"`},
	}
	for _, tt := range tests {
		got, err := templateJSON(tt.v)
		if err != nil || got != tt.want {
			t.Errorf("json(%#v) = %s, %v; want %s", tt.v, got, err, tt.want)
		}
	}
	if _, err := templateJSON(func() {}); err == nil || err.Error() != "json: unsupported type: func()" {
		t.Errorf("json(func) error = %v", err)
	}
}

func TestTruncate(t *testing.T) {
	tests := []struct {
		n    int
		s    string
		want string
	}{
		{5, "hello", "hello"},
		{4, "hello", "hel…"},
		{1, "hello", "…"},
		{0, "hello", ""},
		{-1, "hello", ""},
		{3, "", ""},
		{3, "héé", "héé"},
		{2, "héé", "h…"},
		// 😀 is two UTF-16 units: "a😀" is 3 units and fits 3, not 2.
		{3, "a😀", "a😀"},
		{2, "a😀", "a…"},
		{3, "a😀b", "a…"},
		{4, "a😀b", "a😀b"},
	}
	for _, tt := range tests {
		if got := truncate(tt.n, tt.s); got != tt.want {
			t.Errorf("truncate(%d, %q) = %q, want %q", tt.n, tt.s, got, tt.want)
		}
		if got := truncate(tt.n, tt.s); tt.n > 0 && utf16Len(got) > tt.n {
			t.Errorf("truncate(%d, %q) = %q is %d UTF-16 units long", tt.n, tt.s, got, utf16Len(got))
		}
	}
}

func TestReplace(t *testing.T) {
	tests := []struct {
		args []string
		want string
		err  string
	}{
		{[]string{"&", "&amp;", "<", "&lt;", ">", "&gt;", "a<b>&<!here>"}, "a&lt;b&gt;&amp;&lt;!here&gt;", ""},
		{[]string{"a", "b", "banana"}, "bbnbnb", ""},
		{[]string{"x"}, "", "replace wants pairs of old and new strings, then the text; got 1 arguments"},
		{[]string{"a", "b"}, "", "replace wants pairs of old and new strings, then the text; got 2 arguments"},
		{[]string{"a", "b", "c", "abc"}, "", "replace wants pairs of old and new strings, then the text; got 4 arguments"},
	}
	for _, tt := range tests {
		got, err := replace(tt.args...)
		if tt.err != "" {
			if err == nil || err.Error() != tt.err {
				t.Errorf("replace(%q) error = %v, want %q", tt.args, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("replace(%q) = %q, %v; want %q", tt.args, got, err, tt.want)
		}
	}
	// Piped, the text comes last.
	bt := mustTemplate(t, `{{.Key | replace "1" "one"}}`, "text/plain")
	if got, err := bt.render([]store.Event{tmplEvents["updated"]}); err != nil || string(got) != "one042" {
		t.Errorf("piped replace = %q, %v", got, err)
	}
}
