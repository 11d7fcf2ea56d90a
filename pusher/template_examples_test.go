package pusher

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pollhook/pollhook/store"
)

// exampleDir holds the templates docs/WEBHOOKS.md offers for chat services.
const exampleDir = "../docs/examples"

// exampleEvents are the events every example is rendered for: one of each
// kind, one whose data tries to notify everyone and break out of code
// blocks, and one far larger than any chat message may be.
func exampleEvents() map[string]store.Event {
	evs := make(map[string]store.Event, len(tmplEvents)+2)
	for name, ev := range tmplEvents {
		evs[name] = ev
	}
	evs["hostile"] = store.Event{ID: "evt_h", Seq: 5, Type: "item.created", Job: "orders", Key: "<!channel> & @everyone", Time: tmplAt,
		Data: json.RawMessage(`{"job":"orders","key":"<!channel> & @everyone","after":{"note":"` + "```" + `<script>@here"}}`)}
	big := strings.Repeat("é😀x", 20000)
	evs["huge"] = store.Event{ID: "evt_big", Seq: 6, Type: "item.updated", Job: "orders", Key: strings.Repeat("k", 3000), Time: tmplAt,
		Data: json.RawMessage(`{"job":"orders","key":"` + strings.Repeat("k", 3000) + `","before":{"text":""},"after":{"text":"` + big + `"},` +
			`"patch":[{"op":"replace","path":"/text","value":"` + big + `"}]}`)}
	return evs
}

// exampleServices describes, per example template, what the service
// accepts (check returns why it would refuse a body), how it answers, and
// the exact bodies of some events.
var exampleServices = map[string]struct {
	check  func(body []byte) error
	status int
	exact  map[string]string
}{
	"slack.tmpl": {checkSlack, http.StatusOK, map[string]string{
		"updated": `{"text":"item.updated in orders, key 1042","blocks":[` +
			`{"type":"section","text":{"type":"mrkdwn","text":"*item.updated in orders, key 1042*"}},` +
			`{"type":"section","text":{"type":"mrkdwn","text":"` + "```" + `[{\"op\":\"replace\",\"path\":\"/status\",\"value\":\"shipped\"}]` + "```" + `"}},` +
			`{"type":"context","elements":[{"type":"mrkdwn","text":"detected 2026-11-27T20:00:00.000Z"}]}]}`,
		"hostile": `{"text":"item.created in orders, key &lt;!channel&gt; &amp; @everyone","blocks":[` +
			`{"type":"section","text":{"type":"mrkdwn","text":"*item.created in orders, key &lt;!channel&gt; &amp; @everyone*"}},` +
			`{"type":"section","text":{"type":"mrkdwn","text":"` + "```" + `{\"note\":\"` + "`\u200b``" + `&lt;script&gt;@here\"}` + "```" + `"}},` +
			`{"type":"context","elements":[{"type":"mrkdwn","text":"detected 2026-11-27T20:00:00.000Z"}]}]}`,
	}},
	"discord.tmpl": {checkDiscord, http.StatusNoContent, map[string]string{
		"updated": `{"allowed_mentions":{"parse":[]},"embeds":[{"title":"item.updated in orders, key 1042",` +
			`"description":"` + "```" + `json\n[{\"op\":\"replace\",\"path\":\"/status\",\"value\":\"shipped\"}]\n` + "```" + `",` +
			`"fields":[{"name":"Job","value":"orders","inline":true},{"name":"Key","value":"1042","inline":true}],` +
			`"timestamp":"2026-11-27T20:00:00.000Z"}]}`,
		"document": `{"allowed_mentions":{"parse":[]},"embeds":[{"title":"document.changed in status",` +
			`"description":"` + "```" + `json\n[{\"op\":\"replace\",\"path\":\"/up\",\"value\":false}]\n` + "```" + `",` +
			`"fields":[{"name":"Job","value":"status","inline":true}],` +
			`"timestamp":"2026-11-27T20:00:00.000Z"}]}`,
		"hostile": `{"allowed_mentions":{"parse":[]},"embeds":[{"title":"item.created in orders, key <!channel> & @everyone",` +
			`"description":"` + "```" + `json\n{\"note\":\"` + "`\u200b``" + `<script>@here\"}\n` + "```" + `",` +
			`"fields":[{"name":"Job","value":"orders","inline":true},{"name":"Key","value":"<!channel> & @everyone","inline":true}],` +
			`"timestamp":"2026-11-27T20:00:00.000Z"}]}`,
	}},
	"teams.tmpl": {checkTeams, http.StatusAccepted, map[string]string{
		"updated": `{"type":"message","attachments":[{"contentType":"application/vnd.microsoft.card.adaptive","contentUrl":null,"content":{` +
			`"$schema":"http://adaptivecards.io/schemas/adaptive-card.json","type":"AdaptiveCard","version":"1.4","body":[` +
			`{"type":"TextBlock","text":"item.updated in orders","weight":"Bolder","size":"Medium","wrap":true},` +
			`{"type":"FactSet","facts":[{"title":"Job","value":"orders"},{"title":"Key","value":"1042"},{"title":"Detected","value":"2026-11-27T20:00:00.000Z"}]},` +
			`{"type":"TextBlock","text":"[{\"op\":\"replace\",\"path\":\"/status\",\"value\":\"shipped\"}]","fontType":"Monospace","wrap":true}]}}]}`,
		"text": `{"type":"message","attachments":[{"contentType":"application/vnd.microsoft.card.adaptive","contentUrl":null,"content":{` +
			`"$schema":"http://adaptivecards.io/schemas/adaptive-card.json","type":"AdaptiveCard","version":"1.4","body":[` +
			`{"type":"TextBlock","text":"document.changed in motd","weight":"Bolder","size":"Medium","wrap":true},` +
			`{"type":"FactSet","facts":[{"title":"Job","value":"motd"},{"title":"Detected","value":"2026-11-27T20:00:00.000Z"}]},` +
			`{"type":"TextBlock","text":"--- before\n+++ after\n@@ -1 +1 @@\n-hello\n+hello <world>\n","fontType":"Monospace","wrap":true}]}}]}`,
	}},
}

// TestExampleTemplates renders every docs/examples template for every
// sample event, checks each body against what its service accepts, pins
// some exactly, and posts them to a receiver that refuses what the
// service would refuse.
func TestExampleTemplates(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(exampleDir, "*.tmpl"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range files {
		names = append(names, filepath.Base(f))
	}
	want := []string{"discord.tmpl", "slack.tmpl", "teams.tmpl"}
	if !slices.Equal(names, want) {
		t.Fatalf("examples %q, want %q: every example needs a case here", names, want)
	}
	events := exampleEvents()
	for _, name := range names {
		svc := exampleServices[name]
		t.Run(name, func(t *testing.T) {
			text, err := os.ReadFile(filepath.Join(exampleDir, name))
			if err != nil {
				t.Fatal(err)
			}
			rc := newReceiver(t, func(h hit, w http.ResponseWriter, r *http.Request) {
				if ct := r.Header.Get("Content-Type"); ct != "application/json" {
					http.Error(w, "content type "+ct, http.StatusUnsupportedMediaType)
					return
				}
				if err := svc.check(h.Body); err != nil {
					http.Error(w, err.Error(), http.StatusBadRequest)
					return
				}
				w.WriteHeader(svc.status)
			})
			opts := testOptions().withDefaults()
			d, err := newDestination(Destination{Name: strings.TrimSuffix(name, ".tmpl"), URL: rc.URL, Template: string(text)}, opts)
			if err != nil {
				t.Fatal(err)
			}
			d.newClient(http.DefaultTransport, discardLogger(), opts)
			for _, evName := range slices.Sorted(maps.Keys(events)) {
				pl, err := d.render([]store.Event{events[evName]})
				if err != nil {
					t.Errorf("%s: render: %v", evName, err)
					continue
				}
				if want, ok := svc.exact[evName]; ok && string(pl.body) != want {
					t.Errorf("%s: body =\n%s\nwant\n%s", evName, pl.body, want)
				}
				if err := svc.check(pl.body); err != nil {
					t.Errorf("%s: %s would refuse it: %v", evName, name, err)
				}
				res := d.deliver(t.Context(), pl, "pollhook/test")
				h := rc.next(t)
				if res.outcome != delivered || res.status != svc.status || string(h.Body) != string(pl.body) {
					t.Errorf("%s: delivery %+v, receiver got %d bytes of %d", evName, res, len(h.Body), len(pl.body))
				}
			}
		})
	}
}

// decodeObject decodes body as a JSON object, as the services' parsers do.
func decodeObject(body []byte) (map[string]any, error) {
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		return nil, fmt.Errorf("not a JSON object: %w", err)
	}
	return m, nil
}

// checkSlack accepts what Slack's incoming webhooks accept: a non-empty
// text (the notification fallback, which Slack truncates past 40,000
// characters) and optional blocks, here section and context blocks whose
// mrkdwn texts stay within 3000 characters and hold no unescaped "<"
// (which would start a mention or a link).
func checkSlack(body []byte) error {
	m, err := decodeObject(body)
	if err != nil {
		return err
	}
	text, _ := m["text"].(string)
	if text == "" || utf16Len(text) > 40000 {
		return fmt.Errorf("text %q: missing or over 40000 characters", text)
	}
	var texts []string
	blocks, _ := m["blocks"].([]any)
	if len(blocks) > 50 {
		return errors.New("more than 50 blocks")
	}
	for i, b := range blocks {
		block, _ := b.(map[string]any)
		switch block["type"] {
		case "section":
			to, _ := block["text"].(map[string]any)
			s, _ := to["text"].(string)
			if to["type"] != "mrkdwn" && to["type"] != "plain_text" {
				return fmt.Errorf("block %d: text type %v", i, to["type"])
			}
			texts = append(texts, s)
		case "context":
			els, _ := block["elements"].([]any)
			if len(els) == 0 || len(els) > 10 {
				return fmt.Errorf("block %d: %d context elements", i, len(els))
			}
			for _, e := range els {
				el, _ := e.(map[string]any)
				s, _ := el["text"].(string)
				texts = append(texts, s)
			}
		default:
			return fmt.Errorf("block %d: type %v", i, block["type"])
		}
	}
	for _, s := range append(texts, text) {
		if s == "" || utf16Len(s) > 3000 && s != text {
			return fmt.Errorf("block text of %d characters", utf16Len(s))
		}
		if strings.Contains(s, "<") {
			return fmt.Errorf("unescaped < in %q", s)
		}
	}
	return nil
}

// checkDiscord accepts what Discord's execute-webhook accepts: content of
// at most 2000 characters or up to 10 embeds within Discord's limits, and
// here also requires that no mention is parsed.
func checkDiscord(body []byte) error {
	m, err := decodeObject(body)
	if err != nil {
		return err
	}
	am, _ := m["allowed_mentions"].(map[string]any)
	if parse, ok := am["parse"].([]any); !ok || len(parse) != 0 {
		return errors.New(`allowed_mentions.parse is not []: mentions in the data would notify people`)
	}
	content, _ := m["content"].(string)
	embeds, _ := m["embeds"].([]any)
	if utf16Len(content) > 2000 {
		return fmt.Errorf("content of %d characters", utf16Len(content))
	}
	if content == "" && len(embeds) == 0 {
		return errors.New("neither content nor embeds")
	}
	if len(embeds) > 10 {
		return fmt.Errorf("%d embeds", len(embeds))
	}
	for i, e := range embeds {
		em, _ := e.(map[string]any)
		title, _ := em["title"].(string)
		desc, _ := em["description"].(string)
		total := utf16Len(title) + utf16Len(desc)
		if utf16Len(title) > 256 || utf16Len(desc) > 4096 {
			return fmt.Errorf("embed %d: title %d, description %d characters", i, utf16Len(title), utf16Len(desc))
		}
		fields, _ := em["fields"].([]any)
		if len(fields) > 25 {
			return fmt.Errorf("embed %d: %d fields", i, len(fields))
		}
		for j, f := range fields {
			fm, _ := f.(map[string]any)
			name, _ := fm["name"].(string)
			value, _ := fm["value"].(string)
			if name == "" || value == "" || utf16Len(name) > 256 || utf16Len(value) > 1024 {
				return fmt.Errorf("embed %d field %d: name %d, value %d characters", i, j, utf16Len(name), utf16Len(value))
			}
			total += utf16Len(name) + utf16Len(value)
		}
		if total > 6000 {
			return fmt.Errorf("embed %d: %d characters in all", i, total)
		}
		if ts, ok := em["timestamp"].(string); ok {
			if _, err := time.Parse(time.RFC3339, ts); err != nil {
				return fmt.Errorf("embed %d: timestamp: %w", i, err)
			}
		}
	}
	return nil
}

// checkTeams accepts what a Teams Workflows webhook posts to a channel: a
// message of at most 28 KB whose attachment is an Adaptive Card made of
// TextBlocks with text and FactSets of titled values.
func checkTeams(body []byte) error {
	if len(body) > 28*1024 {
		return fmt.Errorf("%d bytes: Teams refuses messages over 28 KB", len(body))
	}
	m, err := decodeObject(body)
	if err != nil {
		return err
	}
	atts, _ := m["attachments"].([]any)
	if m["type"] != "message" || len(atts) != 1 {
		return fmt.Errorf("type %v with %d attachments, want a message with one", m["type"], len(atts))
	}
	att, _ := atts[0].(map[string]any)
	card, _ := att["content"].(map[string]any)
	if att["contentType"] != "application/vnd.microsoft.card.adaptive" || card["type"] != "AdaptiveCard" {
		return fmt.Errorf("attachment %v / %v is not an Adaptive Card", att["contentType"], card["type"])
	}
	if v, _ := card["version"].(string); v == "" {
		return errors.New("card without version")
	}
	items, _ := card["body"].([]any)
	if len(items) == 0 {
		return errors.New("empty card")
	}
	for i, it := range items {
		el, _ := it.(map[string]any)
		switch el["type"] {
		case "TextBlock":
			if s, _ := el["text"].(string); s == "" {
				return fmt.Errorf("body %d: TextBlock without text", i)
			}
		case "FactSet":
			facts, _ := el["facts"].([]any)
			for j, f := range facts {
				fm, _ := f.(map[string]any)
				title, ok1 := fm["title"].(string)
				_, ok2 := fm["value"].(string)
				if !ok1 || !ok2 || title == "" {
					return fmt.Errorf("body %d fact %d: %v", i, j, fm)
				}
			}
		default:
			return fmt.Errorf("body %d: element type %v", i, el["type"])
		}
	}
	return nil
}

// TestExampleCheckers shows that each service check refuses what the
// service refuses, so that the example test can fail.
func TestExampleCheckers(t *testing.T) {
	tests := []struct {
		name  string
		check func([]byte) error
		body  string
		want  string
	}{
		{"slack no text", checkSlack, `{"blocks":[]}`, `text "": missing or over 40000 characters`},
		{"slack mention", checkSlack, `{"text":"hi <!channel>"}`, `unescaped < in "hi <!channel>"`},
		{"slack long section", checkSlack, `{"text":"a","blocks":[{"type":"section","text":{"type":"mrkdwn","text":"` + strings.Repeat("x", 3001) + `"}}]}`, "block text of 3001 characters"},
		{"slack unknown block", checkSlack, `{"text":"a","blocks":[{"type":"video"}]}`, "block 0: type video"},
		{"slack not JSON", checkSlack, `{"text":`, "not a JSON object: unexpected end of JSON input"},
		{"discord mentions", checkDiscord, `{"content":"x"}`, "allowed_mentions.parse is not []: mentions in the data would notify people"},
		{"discord long content", checkDiscord, `{"allowed_mentions":{"parse":[]},"content":"` + strings.Repeat("😀", 1001) + `"}`, "content of 2002 characters"},
		{"discord empty", checkDiscord, `{"allowed_mentions":{"parse":[]}}`, "neither content nor embeds"},
		{"discord empty field", checkDiscord, `{"allowed_mentions":{"parse":[]},"embeds":[{"fields":[{"name":"a","value":""}]}]}`, "embed 0 field 0: name 1, value 0 characters"},
		{"discord total", checkDiscord, `{"allowed_mentions":{"parse":[]},"embeds":[{"description":"` + strings.Repeat("d", 4096) + `","fields":[{"name":"a","value":"` + strings.Repeat("v", 1024) + `"},{"name":"b","value":"` + strings.Repeat("v", 1024) + `"}]}]}`, "embed 0: 6146 characters in all"},
		{"teams not a card", checkTeams, `{"type":"message","attachments":[{"contentType":"text/plain","content":{}}]}`, "attachment text/plain / <nil> is not an Adaptive Card"},
		{"teams MessageCard", checkTeams, `{"@type":"MessageCard","text":"x"}`, "type <nil> with 0 attachments, want a message with one"},
		{"teams too big", checkTeams, `{"type":"message","x":"` + strings.Repeat("x", 28*1024) + `"}`, "28697 bytes: Teams refuses messages over 28 KB"},
	}
	for _, tt := range tests {
		if err := tt.check([]byte(tt.body)); err == nil || err.Error() != tt.want {
			t.Errorf("%s: %v, want %q", tt.name, err, tt.want)
		}
	}
}

// TestWebhooksDoc checks that the bodies docs/WEBHOOKS.md shows are what
// pollhook sends for its sample event: each appears as a code block, laid
// out on several lines at most.
func TestWebhooksDoc(t *testing.T) {
	doc, err := os.ReadFile("../docs/WEBHOOKS.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := docBlocks(string(doc))
	ev := tmplEvents["updated"]
	dests := map[string]Destination{"json": {}, "xml": {Format: "xml"}, "form": {Format: "form"}}
	for _, name := range []string{"slack", "teams", "discord"} {
		text, err := os.ReadFile(filepath.Join(exampleDir, name+".tmpl"))
		if err != nil {
			t.Fatal(err)
		}
		dests[name] = Destination{Template: string(text)}
	}
	for _, name := range slices.Sorted(maps.Keys(dests)) {
		pl, err := testDestination(t, dests[name]).render([]store.Event{ev})
		if err != nil {
			t.Fatal(err)
		}
		// The XML declaration keeps its own line in the document too.
		body := strings.ReplaceAll(string(pl.body), "\n", "")
		if !slices.Contains(blocks, body) {
			t.Errorf("docs/WEBHOOKS.md shows no %s body\n%s", name, body)
		}
	}
}

// docBlocks returns the fenced code blocks of a Markdown text, each with its
// lines trimmed and joined.
func docBlocks(doc string) []string {
	var blocks []string
	var cur *strings.Builder
	for line := range strings.Lines(doc) {
		line = strings.TrimSpace(line)
		switch {
		case cur == nil && strings.HasPrefix(line, "```"):
			cur = new(strings.Builder)
		case cur != nil && line == "```":
			blocks = append(blocks, cur.String())
			cur = nil
		case cur != nil:
			cur.WriteString(line)
		}
	}
	return blocks
}
