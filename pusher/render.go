package pusher

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/pollhook/pollhook/store"
)

// timestampLayout is RFC 3339 in UTC with exactly three fractional digits,
// the shape the Standard Webhooks payload examples use.
const timestampLayout = "2006-01-02T15:04:05.000Z"

// renderJSON builds the Standard Webhooks payload envelope
// {"type":…,"timestamp":…,"data":…} with its keys in that order. The data
// is compacted but otherwise passed through as stored (no HTML escaping).
func renderJSON(ev store.Event) ([]byte, error) {
	typ, err := json.Marshal(ev.Type)
	if err != nil {
		return nil, fmt.Errorf("render event type: %w", err)
	}
	var b bytes.Buffer
	b.Grow(len(ev.Data) + len(typ) + 64)
	b.WriteString(`{"type":`)
	b.Write(typ)
	b.WriteString(`,"timestamp":"`)
	b.WriteString(ev.Time.UTC().Format(timestampLayout))
	b.WriteString(`","data":`)
	if len(bytes.TrimSpace(ev.Data)) == 0 {
		b.WriteString("null")
	} else if err := json.Compact(&b, ev.Data); err != nil {
		return nil, fmt.Errorf("render event data: %w", err)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}
