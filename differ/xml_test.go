package differ

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"reflect"
	"strings"
	"testing"
)

func TestXMLToJSON(t *testing.T) {
	checkConversions(t, xmlToJSON, []conversion{
		{"leaf is its text", `<status>open</status>`, `{"status":"open"}`},
		{"empty element", `<a/>`, `{"a":""}`},
		{"empty pair", `<a></a>`, `{"a":""}`},
		{"attributes", `<order id="7" state='open'/>`, `{"order":{"@id":"7","@state":"open"}}`},
		{"attribute and text", `<price currency="EUR">12.50</price>`, `{"price":{"@currency":"EUR","#text":"12.50"}}`},
		{"children", `<o><id>7</id><tags/></o>`, `{"o":{"id":"7","tags":""}}`},
		{"one child is no array", `<orders><order><id>1</id></order></orders>`,
			`{"orders":{"order":{"id":"1"}}}`},
		{"repeated children are an array", `<orders><order><id>1</id></order><order><id>2</id></order></orders>`,
			`{"orders":{"order":[{"id":"1"},{"id":"2"}]}}`},
		{"repeats apart join, in document order", `<r><a>1</a><b>x</b><a>2</a><b>y</b><a>3</a></r>`,
			`{"r":{"a":["1","2","3"],"b":["x","y"]}}`},
		{"indentation dropped", "<r>\n  <a>1</a>\n\t<b x=\"1\">\r\n  <c/>\n  </b>\n</r>\n", `{"r":{"a":"1","b":{"@x":"1","c":""}}}`},
		{"white space of a childless element kept", "<r><b x=\"1\">\n</b></r>", `{"r":{"b":{"@x":"1","#text":"\n"}}}`},
		{"text kept exactly", "<a>  two\n lines </a>", `{"a":"  two\n lines "}`},
		{"whitespace-only leaf kept", `<sep> </sep>`, `{"sep":" "}`},
		{"mixed content", `<p>Hello <b>world</b>, again <i/></p>`, `{"p":{"b":"world","i":"","#text":"Hello , again "}}`},
		{"CDATA is text", `<a><![CDATA[<x> & "y"]]></a>`, `{"a":"<x> & \"y\""}`},
		{"CDATA joins text", `<a>1<![CDATA[2]]>3</a>`, `{"a":"123"}`},
		{"entities and references", `<a>&lt;&gt;&amp;&apos;&quot;&#233;&#x41;</a>`, `{"a":"<>&'\"éA"}`},
		{"attribute entities", `<a v="&lt;1&amp;&#10;"/>`, `{"a":{"@v":"<1&\n"}}`},
		{"comment does not split text", `<a>x<!-- c -->y</a>`, `{"a":"xy"}`},
		{"prolog, comments, PIs and DOCTYPE ignored",
			`<?xml version="1.0" encoding="UTF-8"?>` + "\n<!DOCTYPE r>\n<!-- c -->\n<r><!-- x --><a>1</a><?pi x?></r>\n<!-- after -->\n",
			`{"r":{"a":"1"}}`},
		{"namespace prefixes kept", `<ns:feed xmlns:ns="urn:x" xmlns="urn:d"><ns:item>1</ns:item><item>2</item></ns:feed>`,
			`{"ns:feed":{"@xmlns:ns":"urn:x","@xmlns":"urn:d","ns:item":"1","item":"2"}}`},
		{"xml:lang attribute", `<t xml:lang="fr">oui</t>`, `{"t":{"@xml:lang":"fr","#text":"oui"}}`},
		{"numbers stay strings", `<n><a>1.0</a><b>1</b></n>`, `{"n":{"a":"1.0","b":"1"}}`},
		{"JSON escapes", "<a>\"\\\t\n\u007f</a>", `{"a":"\"\\\t\n` + "\u007f" + `"}`},
		{"line endings become LF", "<a>1\r\n2\r3</a>", `{"a":"1\n2\n3"}`},
		{"byte order mark", "\ufeff<a>1</a>", `{"a":"1"}`},
		{"ISO-8859-1", "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><a n=\"\xe9\">caf\xe9</a>", `{"a":{"@n":"é","#text":"café"}}`},
		{"windows-1252", "<?xml version=\"1.0\" encoding=\"windows-1252\"?><a>\x80 \x93q\x94 \xe9</a>", `{"a":"€ “q” é"}`},
		{"US-ASCII", `<?xml version="1.0" encoding="US-ASCII"?><a>x</a>`, `{"a":"x"}`},
		{"DOCTYPE with unused entities", `<!DOCTYPE r [<!ENTITY xxe SYSTEM "file:///etc/passwd"><!ENTITY a "aaaa">]><r>x</r>`,
			`{"r":"x"}`},
		{"attributes, children and text", `<o id="1">t1<a>x</a>t2<a>y</a></o>`, `{"o":{"@id":"1","a":["x","y"],"#text":"t1t2"}}`},
		{"element named like a member", `<r><text>1</text><_text>2</_text></r>`, `{"r":{"text":"1","_text":"2"}}`},
	})
}

func TestXMLToJSONErrors(t *testing.T) {
	checkConversionErrors(t, xmlToJSON, []conversion{
		{"empty", ``, `parse XML: no root element`},
		{"only a comment", `<!-- x -->`, `parse XML: no root element`},
		{"mismatched end", "<orders>\n  <order>\n</orders>", `parse XML: line 3: element <order> closed by </orders>`},
		{"not closed", "<a>\n<b>", `parse XML: line 2: unexpected end of document: <b> not closed`},
		{"end without start", `</a>`, `parse XML: line 1: unexpected end element </a>`},
		{"second root", "<a/>\n<b/>", `parse XML: line 2: second root element <b>`},
		{"text before root", `x<a/>`, `parse XML: line 1: text outside the root element`},
		{"text after root", "<a/>\nx", `parse XML: line 2: text outside the root element`},
		{"repeated attribute", `<a x="1" y="2" x="3"/>`, `parse XML: line 1: attribute x repeated in <a>`},
		{"unknown entity", `<a>&nbsp;</a>`, `parse XML: line 1: invalid character entity &nbsp;`},
		{"external entity not resolved", "<!DOCTYPE r [<!ENTITY xxe SYSTEM \"file:///etc/passwd\">]>\n<r>&xxe;</r>",
			`parse XML: line 2: invalid character entity &xxe;`},
		{"internal entity not expanded", `<!DOCTYPE r [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]><r>&b;</r>`,
			`parse XML: line 1: invalid character entity &b;`},
		{"invalid UTF-8", "<a>\n\xff</a>", `parse XML: line 2: invalid UTF-8`},
		{"unsupported encoding", `<?xml version="1.0" encoding="EBCDIC"?><a/>`,
			`parse XML: xml: opening charset "EBCDIC": unsupported encoding "EBCDIC"`},
		{"bad syntax", `<a><b x=1/></a>`, `parse XML: line 1: unquoted or missing attribute value in element`},
		{"truncated", `<a><b>x</b`, `parse XML: line 1: unexpected EOF`},
		{"JSON body", `{"a":1}`, `parse XML: line 1: text outside the root element`},
	})
}

// TestXMLToJSONDepth pins the nesting bound: what is accepted is within
// the canonicaliser's, and what is not is refused before it, elements that
// become arrays counting twice.
func TestXMLToJSONDepth(t *testing.T) {
	nest := func(n int, inner string) string {
		return strings.Repeat("<a>"+inner, n-1) + "<a/>" + strings.Repeat("</a>", n-1)
	}
	for _, tc := range []struct {
		name, xml, err string
	}{
		{"1000 elements", nest(maxDepth, ""), ""},
		{"1001 elements", nest(maxDepth+1, ""), "parse XML: line 1: nesting deeper than 1000 levels"},
		{"500 elements with arrays", nest(500, "<a/>"), ""},
		{"501 elements with arrays", nest(501, "<a/>"), "parse XML: line 1: nesting deeper than 1000 levels"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := xmlToJSON([]byte(tc.xml))
			if tc.err != "" {
				if err == nil || err.Error() != tc.err {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			c := canonicalizer{src: got}
			if err := c.value(nil); err != nil {
				t.Fatalf("the canonicaliser refuses the result: %v", err)
			}
		})
	}
}

// TestXMLReaderFiles converts realistic documents in testdata/readers and
// compares with the JSON beside them (indented there for reading).
func TestXMLReaderFiles(t *testing.T) {
	checkReaderFiles(t, "*.xml", xmlToJSON)
}

// FuzzXML checks that the XML reader never panics and, when it accepts a
// body, returns valid JSON, the same each time.
func FuzzXML(f *testing.F) {
	for _, s := range []string{
		`<r><a x="1">t</a><a/><b>&lt;<![CDATA[c]]></b></r>`,
		`<?xml version="1.0" encoding="ISO-8859-1"?><a>` + "\xe9</a>",
		`<!DOCTYPE r [<!ENTITY a "b">]><r>&a;</r>`,
		"<ns:r xmlns:ns='u'>\n <ns:i/>\n <!-- c --> <ns:i>x</ns:i>\n</ns:r>",
		`<a><b></a>`,
		`<a x="1" x="2"/>`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		got, err := convertChecked(t, xmlToJSON, body)
		if err != nil {
			return
		}
		checkXMLReference(t, body, got)
		c := canonicalizer{src: got}
		if err := c.value(nil); err != nil {
			t.Fatalf("xmlToJSON(%q) = %q: the canonicaliser refuses it: %v", body, got, err)
		}
	})
}

// TestXMLReference compares the streaming conversion with the plain one
// of xmlReference on documents that exercise its paths: arrays opened and
// closed, names that come back after others, text around children.
func TestXMLReference(t *testing.T) {
	for _, doc := range []string{
		`<r><a>1</a><a>2</a><b/><a x="y">3</a><c><d/><d><e/><e/><f/><e>t</e></d></c></r>`,
		"<r>\n <a/>\n <b>x</b>\n <a>t<a/> <b/>u<a/></a> <b/>\n</r>",
		`<r z="1"><b/><b/><b/><c/><b/>tail</r>`,
		`<r><a><b><c>deep</c></b></a><a/></r>`,
		strings.Repeat("<x>", 40) + strings.Repeat("<y/><z/><y/>", 3) + strings.Repeat("</x>", 40),
		string(benchXML(20)),
	} {
		got, err := xmlToJSON([]byte(doc))
		if err != nil {
			t.Fatalf("%q: %v", doc, err)
		}
		checkXMLReference(t, []byte(doc), got)
	}
}

// checkXMLReference fails unless got, the conversion of the well-formed
// body, denotes the value xmlReference builds.
func checkXMLReference(t *testing.T, body, got []byte) {
	t.Helper()
	want, err := xmlReference(body)
	if err != nil {
		t.Fatalf("reference of %q: %v", body, err)
	}
	var v any
	if err := json.Unmarshal(got, &v); err != nil {
		t.Fatalf("%q: %v", got, err)
	}
	if !reflect.DeepEqual(v, want) {
		t.Fatalf("xmlToJSON(%q) = %s, the reference gives %#v", body, got, want)
	}
}

// xmlNode is an element of xmlReference's tree.
type xmlNode struct {
	name     string
	attrs    []xml.Attr
	children []*xmlNode
	runs     []string // text between tags
}

// xmlReference maps a well-formed document the obvious way: a tree first,
// then its value, as the rules in xmlToJSON's comment say.
func xmlReference(body []byte) (map[string]any, error) {
	dec := xml.NewDecoder(bytes.NewReader(bytes.TrimPrefix(body, utf8BOM)))
	dec.CharsetReader = charsetReader
	var root *xmlNode
	var stack []*xmlNode
	var run strings.Builder
	endRun := func() {
		if len(stack) > 0 {
			top := stack[len(stack)-1]
			top.runs = append(top.runs, run.String())
		}
		run.Reset()
	}
	for {
		tok, err := dec.RawToken()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			endRun()
			n := &xmlNode{name: qualified(t.Name), attrs: t.Attr}
			if len(stack) == 0 {
				root = n
			} else {
				top := stack[len(stack)-1]
				top.children = append(top.children, n)
			}
			stack = append(stack, n)
		case xml.EndElement:
			endRun()
			stack = stack[:len(stack)-1]
		case xml.CharData:
			run.Write(t)
		}
	}
	return map[string]any{root.name: root.value()}, nil
}

func qualified(n xml.Name) string {
	if n.Space != "" {
		return n.Space + ":" + n.Local
	}
	return n.Local
}

func (n *xmlNode) value() any {
	var text strings.Builder
	for _, r := range n.runs {
		if len(n.children) == 0 || strings.Trim(r, xmlSpace) != "" {
			text.WriteString(r)
		}
	}
	if len(n.attrs) == 0 && len(n.children) == 0 {
		return text.String()
	}
	obj := make(map[string]any)
	for _, a := range n.attrs {
		obj["@"+qualified(a.Name)] = a.Value
	}
	groups := make(map[string][]any)
	for _, c := range n.children {
		groups[c.name] = append(groups[c.name], c.value())
	}
	for name, vals := range groups {
		obj[name] = vals[0]
		if len(vals) > 1 {
			obj[name] = vals
		}
	}
	if text.Len() > 0 {
		obj["#text"] = text.String()
	}
	return obj
}

// benchXML renders an order feed of n items of about 220 bytes of data
// each (the XML markup around it adds about as much again).
func benchXML(n int) []byte {
	var b bytes.Buffer
	b.WriteString("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<response><data><orders>\n")
	for i := range n {
		fmt.Fprintf(&b, `<order id="%d"><status>open</status><customer id="%d"><name>Customer %d</name><tier>gold</tier></customer>`+
			`<total currency="EUR">%d.%02d</total><lines><line><sku>SKU-%05d</sku><qty>%d</qty></line></lines>`+
			`<updated_at>2026-11-27T20:%02d:00Z</updated_at><note>handle with care</note></order>`+"\n",
			i, i%977, i%977, i%500, i%100, i%10000, 1+i%7, i%60)
	}
	b.WriteString("</orders></data></response>\n")
	return b.Bytes()
}

func BenchmarkXMLToJSON(b *testing.B) {
	benchConvert(b, xmlToJSON, benchXML)
}
