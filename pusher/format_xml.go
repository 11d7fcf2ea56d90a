package pusher

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/pollhook/pollhook/store"
)

// The XML format is the JSON envelope written as XML, one element per
// member, so that XPath such as /event/data/after/status reads what
// data.after.status holds in JSON:
//
//   - the envelope is <event><type>…</type><timestamp>…</timestamp><data>…</data></event>,
//     a batch <events><event><id>…</id>…</event>…</events>;
//   - an object member is an element named after its key, holding its
//     value; members keep the order they have in the JSON;
//   - a key that is not a plain ASCII XML name (see isXMLName) becomes
//     <field name="the key">, so any key survives;
//   - an array's elements are <item> elements in order;
//   - a string is the element's text; every other value says its JSON type
//     in a type attribute: type="object", "array", "number" (the number's
//     exact JSON text), "boolean" (true or false) or "null" (an empty
//     element), so the mapping can be reversed without guessing whether
//     "42" was a string;
//   - text is escaped; characters that XML 1.0 cannot carry at all (most
//     control characters) become U+FFFD, the only loss.

// renderXML writes events as the XML envelope, or batched as <events>.
func renderXML(events []store.Event, batch bool) ([]byte, error) {
	var b bytes.Buffer
	b.WriteString(xml.Header)
	if !batch {
		if err := appendXMLEvent(&b, events[0], false); err != nil {
			return nil, err
		}
		return b.Bytes(), nil
	}
	b.WriteString("<events>")
	for _, ev := range events {
		if err := appendXMLEvent(&b, ev, true); err != nil {
			return nil, fmt.Errorf("event %s: %w", ev.ID, err)
		}
	}
	b.WriteString("</events>")
	return b.Bytes(), nil
}

// appendXMLEvent writes one <event>, with its id first when withID is set
// (in a batch, whose webhook-id does not name the events).
func appendXMLEvent(b *bytes.Buffer, ev store.Event, withID bool) error {
	b.WriteString("<event>")
	if withID {
		b.WriteString("<id>")
		appendXMLText(b, ev.ID, false)
		b.WriteString("</id>")
	}
	b.WriteString("<type>")
	appendXMLText(b, ev.Type, false)
	b.WriteString("</type><timestamp>")
	b.WriteString(ev.Time.UTC().Format(timestampLayout))
	b.WriteString("</timestamp>")
	if len(bytes.TrimSpace(ev.Data)) == 0 {
		b.WriteString(`<data type="null"/>`)
	} else {
		dec := json.NewDecoder(bytes.NewReader(ev.Data))
		dec.UseNumber() // numbers keep their exact text
		if err := appendXMLValue(b, dec, xmlElement{open: "<data", close: "</data>"}); err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF // the value began but did not end
			}
			return fmt.Errorf("render event data: %w", err)
		}
		if _, err := dec.Token(); err != io.EOF {
			return errDataAfterValue
		}
	}
	b.WriteString("</event>")
	return nil
}

// errDataAfterValue reports an event's data that holds more than one JSON
// value (or trailing garbage): the JSON format's json.Compact refuses it
// too.
var errDataAfterValue = errors.New("render event data: data after the JSON value")

// xmlElement is the element a value is written as: open is its start tag
// without the closing ">" (attributes may follow), close its end tag.
type xmlElement struct{ open, close string }

var xmlItem = xmlElement{open: "<item", close: "</item>"}

// xmlElementFor names the element of the object member key.
func xmlElementFor(key string) xmlElement {
	if isXMLName(key) {
		return xmlElement{open: "<" + key, close: "</" + key + ">"}
	}
	var b bytes.Buffer
	b.WriteString(`<field name="`)
	appendXMLText(&b, key, true)
	b.WriteByte('"')
	return xmlElement{open: b.String(), close: "</field>"}
}

// appendXMLValue reads one JSON value from dec and writes it as el.
func appendXMLValue(b *bytes.Buffer, dec *json.Decoder, el xmlElement) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	b.WriteString(el.open)
	switch v := tok.(type) {
	case json.Delim:
		typ, child := ` type="object"`, xmlItem
		if v == '[' {
			typ = ` type="array"`
		}
		b.WriteString(typ)
		if !dec.More() {
			b.WriteString("/>")
			_, err := dec.Token() // the closing delimiter
			return err
		}
		b.WriteByte('>')
		for dec.More() {
			if v == '{' {
				key, err := dec.Token()
				if err != nil {
					return err
				}
				// The decoder hands out object keys as strings only.
				child = xmlElementFor(key.(string))
			}
			if err := appendXMLValue(b, dec, child); err != nil {
				return err
			}
		}
		if _, err := dec.Token(); err != nil {
			return err
		}
	case string:
		b.WriteByte('>')
		appendXMLText(b, v, false)
	case json.Number:
		b.WriteString(` type="number">`)
		b.WriteString(v.String())
	case bool:
		b.WriteString(` type="boolean">`)
		if v {
			b.WriteString("true")
		} else {
			b.WriteString("false")
		}
	case nil:
		b.WriteString(` type="null"/>`)
		return nil
	}
	b.WriteString(el.close)
	return nil
}

// appendXMLText escapes s as element text or, with attr, as a double-quoted
// attribute value. Unlike xml.EscapeText it leaves newlines and tabs in
// element text as they are (they survive parsing there); in an attribute
// they are escaped because parsers would turn them into spaces.
func appendXMLText(b *bytes.Buffer, s string, attr bool) {
	last := 0
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		var esc string
		switch {
		case r == '&':
			esc = "&amp;"
		case r == '<':
			esc = "&lt;"
		case r == '>':
			esc = "&gt;"
		case r == '\r':
			esc = "&#xD;" // a raw CR would be normalised to LF
		case attr && r == '"':
			esc = "&quot;"
		case attr && r == '\n':
			esc = "&#xA;"
		case attr && r == '\t':
			esc = "&#x9;"
		case !isXMLChar(r) || r == utf8.RuneError && size == 1: // or not UTF-8
			esc = "\uFFFD"
		default:
			i += size
			continue
		}
		b.WriteString(s[last:i])
		b.WriteString(esc)
		i += size
		last = i
	}
	b.WriteString(s[last:])
}

// isXMLChar reports whether r may appear in an XML 1.0 document at all.
func isXMLChar(r rune) bool {
	return r == '\t' || r == '\n' || r == '\r' ||
		r >= 0x20 && r <= 0xD7FF ||
		r >= 0xE000 && r <= 0xFFFD ||
		r >= 0x10000 && r <= 0x10FFFF
}

// isXMLName reports whether key can be used as an element name as it is:
// ASCII letters, digits, '-', '.' and '_', starting with a letter or '_',
// and not starting with "xml" in any case, which XML reserves. Colons are
// left out because namespaces would give them a meaning, and non-ASCII
// letters because the editions of XML 1.0 disagree on them (the fourth,
// which encoding/xml and many older parsers follow, refuses letters added
// to Unicode since 2.0): a name every parser accepts is worth more than a
// readable one.
func isXMLName(key string) bool {
	if key == "" || len(key) >= 3 && strings.EqualFold(key[:3], "xml") {
		return false
	}
	for i := 0; i < len(key); i++ {
		c := key[i]
		letter := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_'
		if !letter && (i == 0 || !(c >= '0' && c <= '9' || c == '-' || c == '.')) {
			return false
		}
	}
	return true
}
