package pusher

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/pollhook/pollhook/store"
)

var xmlAt = time.Date(2026, 11, 27, 21, 0, 0, 123456789, time.FixedZone("CET", 3600))

// TestRenderXML pins the XML mapping: one case per rule of the mapping.
func TestRenderXML(t *testing.T) {
	const head = xml.Header + `<event><type>item.updated</type><timestamp>2026-11-27T20:00:00.123Z</timestamp>`
	tests := []struct {
		name string
		data string
		want string // after head, before </event>
	}{
		{
			name: "the envelope of an update, members in their JSON order",
			data: `{"job":"orders","key":"1042","before":{"id":1042,"status":"open"},"after":{"id":1042,"status":"shipped"},"patch":[{"op":"replace","path":"/status","value":"shipped"}]}`,
			want: `<data type="object"><job>orders</job><key>1042</key>` +
				`<before type="object"><id type="number">1042</id><status>open</status></before>` +
				`<after type="object"><id type="number">1042</id><status>shipped</status></after>` +
				`<patch type="array"><item type="object"><op>replace</op><path>/status</path><value>shipped</value></item></patch></data>`,
		},
		{
			name: "scalars are typed, numbers keep their exact text",
			data: `{"s":"42","n":42,"f":-1.50e+3,"big":123456789012345678901234567890,"t":true,"f2":false,"z":null,"e":""}`,
			want: `<data type="object"><s>42</s><n type="number">42</n><f type="number">-1.50e+3</f>` +
				`<big type="number">123456789012345678901234567890</big><t type="boolean">true</t>` +
				`<f2 type="boolean">false</f2><z type="null"/><e></e></data>`,
		},
		{
			name: "empty containers and nested arrays",
			data: `{"o":{},"a":[],"m":[[1,"x"],[],{}]}`,
			want: `<data type="object"><o type="object"/><a type="array"/>` +
				`<m type="array"><item type="array"><item type="number">1</item><item>x</item></item>` +
				`<item type="array"/><item type="object"/></m></data>`,
		},
		{
			name: "keys that are not XML names become field elements",
			data: `{"1st":1,"a b":2,"ns:x":3,"xmlns":4,"XmlThing":5,"":6,"<&\"\n>":7,"-x":8}`,
			want: `<data type="object"><field name="1st" type="number">1</field>` +
				`<field name="a b" type="number">2</field><field name="ns:x" type="number">3</field>` +
				`<field name="xmlns" type="number">4</field><field name="XmlThing" type="number">5</field>` +
				`<field name="" type="number">6</field><field name="&lt;&amp;&quot;&#xA;&gt;" type="number">7</field>` +
				`<field name="-x" type="number">8</field></data>`,
		},
		{
			name: "ASCII XML names are used as they are",
			data: `{"_id":1,"a-b.c_d9":2,"item":3,"field":4,"xm":5}`,
			want: `<data type="object"><_id type="number">1</_id><a-b.c_d9 type="number">2</a-b.c_d9>` +
				`<item type="number">3</item><field type="number">4</field><xm type="number">5</xm></data>`,
		},
		{
			name: "non-ASCII keys become field elements",
			data: `{"größe":1,"名前":2,"\ufffd":3}`,
			want: `<data type="object"><field name="größe" type="number">1</field><field name="名前" type="number">2</field>` +
				`<field name="` + "\uFFFD" + `" type="number">3</field></data>`,
		},
		{
			name: "text is escaped; newlines and tabs stay, CR is a reference",
			data: `{"note":"a<b & c>d \"q\" 'a'\n\tend\r\n","html":"\u003cb\u003e"}`,
			want: `<data type="object"><note>a&lt;b &amp; c&gt;d "q" 'a'` + "\n\tend&#xD;\n" + `</note><html>&lt;b&gt;</html></data>`,
		},
		{
			name: "characters XML cannot carry become U+FFFD",
			data: `{"ctl":"a\u0000b\u001fc\ufffed","ok":"\ud83d\ude00 é"}`,
			want: `<data type="object"><ctl>a` + "\uFFFD" + `b` + "\uFFFD" + `c` + "\uFFFD" + `d</ctl><ok>😀 é</ok></data>`,
		},
		{
			name: "data that is not an object is still typed",
			data: ` [1, "two"] `,
			want: `<data type="array"><item type="number">1</item><item>two</item></data>`,
		},
		{
			name: "no data is null, as in JSON",
			data: ``,
			want: `<data type="null"/>`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev := store.Event{ID: "evt_1", Type: "item.updated", Time: xmlAt, Data: json.RawMessage(tt.data)}
			got, err := renderXML([]store.Event{ev}, false)
			if err != nil {
				t.Fatal(err)
			}
			if want := head + tt.want + "</event>"; string(got) != want {
				t.Errorf("renderXML =\n%s\nwant\n%s", got, want)
			}
			checkXMLRoundTrip(t, got, tt.data)
		})
	}
}

func TestRenderXMLEscapesEnvelope(t *testing.T) {
	ev := store.Event{ID: "evt_<1>", Type: "a&b\xff", Time: xmlAt, Data: json.RawMessage(`{}`)}
	got, err := renderXML([]store.Event{ev, ev}, true)
	if err != nil {
		t.Fatal(err)
	}
	one := `<event><id>evt_&lt;1&gt;</id><type>a&amp;b` + "\uFFFD" + `</type><timestamp>2026-11-27T20:00:00.123Z</timestamp><data type="object"/></event>`
	if want := xml.Header + "<events>" + one + one + "</events>"; string(got) != want {
		t.Errorf("renderXML =\n%s\nwant\n%s", got, want)
	}
}

func TestRenderXMLInvalidData(t *testing.T) {
	tests := []struct{ data, want string }{
		{`{"a":`, "render event data: unexpected EOF"},
		{`{"a":1}{}`, "render event data: data after the JSON value"},
		{`{"a":tru}`, "render event data: invalid character '}' in literal true (expecting 'e')"},
		{`{"a" 1}`, "render event data: invalid character '1' after object key"},
		{`{"a":1} x`, "render event data: data after the JSON value"},
	}
	for _, tt := range tests {
		ev := store.Event{ID: "evt_9", Type: "item.created", Data: json.RawMessage(tt.data)}
		if _, err := renderXML([]store.Event{ev}, false); err == nil || err.Error() != tt.want {
			t.Errorf("renderXML(%s) error = %v, want %q", tt.data, err, tt.want)
		}
		if _, err := renderXML([]store.Event{ev}, true); err == nil || err.Error() != "event evt_9: "+tt.want {
			t.Errorf("renderXML(%s) batched error = %v, want %q", tt.data, err, "event evt_9: "+tt.want)
		}
	}
}

func TestIsXMLName(t *testing.T) {
	tests := []struct {
		name string
		want bool
	}{
		{"a", true}, {"_", true}, {"A9-._", true}, {"Z_z", true}, {"xm", true}, {"xmx", true},
		{"", false}, {"9a", false}, {"-a", false}, {".a", false}, {"a:b", false}, {":a", false},
		{"xml", false}, {"XML-1", false}, {"xMl", false}, {"a b", false}, {"a/b", false},
		{"é", false}, {"aé", false}, {"a\u0301", false}, {"a\x00", false}, {"a\xff", false},
	}
	for _, tt := range tests {
		if got := isXMLName(tt.name); got != tt.want {
			t.Errorf("isXMLName(%q) = %v, want %v", tt.name, got, tt.want)
		}
	}
}

// FuzzRenderXML checks that any JSON data renders as well-formed XML that
// maps back to the same JSON value (control characters aside).
func FuzzRenderXML(f *testing.F) {
	for _, s := range []string{`{"job":"orders","after":{"id":1,"tags":["a","b"]}}`, `{"a b":{"":[null,true,1e5]}}`, `"x"`, `[]`, `{"<":"\u0007&"}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data string) {
		if !json.Valid([]byte(data)) || strings.TrimSpace(data) == "" {
			return
		}
		got, err := renderXML([]store.Event{{Type: "t", Data: json.RawMessage(data)}}, false)
		if err != nil {
			t.Fatalf("renderXML(%q): %v", data, err)
		}
		checkXMLRoundTrip(t, got, data)
	})
}

// checkXMLRoundTrip parses body with encoding/xml, maps its <data> back to
// JSON by the documented rules and compares the value with data's (with
// the characters XML cannot carry replaced, as the mapping does).
func checkXMLRoundTrip(t *testing.T, body []byte, data string) {
	t.Helper()
	dec := xml.NewDecoder(bytes.NewReader(body))
	var back any
	found := false
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("not well-formed XML: %v\n%s", err, body)
		}
		if se, ok := tok.(xml.StartElement); ok && se.Name.Local == "data" {
			if back, err = xmlValue(dec, se); err != nil {
				t.Fatalf("map XML back: %v\n%s", err, body)
			}
			found = true
		}
	}
	if !found {
		t.Fatalf("no <data> element in\n%s", body)
	}
	var want any
	if strings.TrimSpace(data) != "" {
		d := json.NewDecoder(strings.NewReader(data))
		d.UseNumber()
		if err := d.Decode(&want); err != nil {
			t.Fatal(err)
		}
		want = xmlSafe(want)
	}
	if !reflect.DeepEqual(back, want) {
		t.Errorf("XML maps back to\n%#v\nwant\n%#v", back, want)
	}
}

// xmlValue reads the value of the element se (whose start was just read)
// by the mapping's rules: the inverse of appendXMLValue.
func xmlValue(dec *xml.Decoder, se xml.StartElement) (any, error) {
	typ := ""
	for _, a := range se.Attr {
		if a.Name.Local == "type" {
			typ = a.Value
		}
	}
	var text strings.Builder
	var obj map[string]any
	var arr []any
	if typ == "object" {
		obj = map[string]any{}
	}
	if typ == "array" {
		arr = []any{}
	}
	for {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		switch tok := tok.(type) {
		case xml.CharData:
			text.Write(tok)
		case xml.StartElement:
			v, err := xmlValue(dec, tok)
			if err != nil {
				return nil, err
			}
			switch typ {
			case "object":
				key := tok.Name.Local
				if key == "field" {
					for _, a := range tok.Attr {
						if a.Name.Local == "name" {
							key = a.Value
						}
					}
				}
				obj[key] = v
			case "array":
				if tok.Name.Local != "item" {
					return nil, fmt.Errorf("<%s> in an array", tok.Name.Local)
				}
				arr = append(arr, v)
			default:
				return nil, fmt.Errorf("<%s> inside a %q value", tok.Name.Local, typ)
			}
		case xml.EndElement:
			switch typ {
			case "object":
				return obj, nil
			case "array":
				return arr, nil
			case "number":
				return json.Number(text.String()), nil
			case "boolean":
				return text.String() == "true", nil
			case "null":
				return nil, nil
			case "":
				return text.String(), nil
			}
			return nil, fmt.Errorf("type %q", typ)
		}
	}
}

// xmlSafe replaces, in every string of v, the characters XML cannot carry
// by U+FFFD, as the mapping does.
func xmlSafe(v any) any {
	fix := func(s string) string {
		return strings.Map(func(r rune) rune {
			if !isXMLChar(r) {
				return '\uFFFD'
			}
			return r
		}, s)
	}
	switch v := v.(type) {
	case string:
		return fix(v)
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, x := range v {
			out[fix(k)] = xmlSafe(x)
		}
		return out
	case []any:
		for i, x := range v {
			v[i] = xmlSafe(x)
		}
	}
	return v
}
