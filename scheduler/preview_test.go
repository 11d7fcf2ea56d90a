package scheduler

import (
	"encoding/json"
	"log/slog"
	"testing"

	"github.com/pollhook/pollhook/differ"
)

// TestPreview pins that Preview applies when: and encodes the events as a
// tick commits them.
func TestPreview(t *testing.T) {
	df, err := differ.Compile(differ.Spec{Items: "$", Key: []string{"id"}, When: `after.n > 1`})
	if err != nil {
		t.Fatal(err)
	}
	p := &Pipeline{Job: "j<1>", Differ: df, Logger: slog.New(slog.DiscardHandler)}
	events, err := p.Preview([]differ.Change{
		{Type: differ.TypeItemCreated, Key: "1", After: json.RawMessage(`{"id":1,"n":1}`)},
		{Type: differ.TypeItemCreated, Key: "2", After: json.RawMessage(`{"id":2,"n":2,"s":"<&>"}`)},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != 1 {
		t.Fatalf("%d events, want 1", len(events))
	}
	ev := events[0]
	const data = `{"job":"j\u003c1\u003e","key":"2","after":{"id":2,"n":2,"s":"\u003c\u0026\u003e"}}`
	if ev.Type != differ.TypeItemCreated || ev.Job != "j<1>" || ev.Key != "2" || string(ev.Data) != data || ev.ID != "" || ev.Seq != 0 || !ev.Time.IsZero() {
		t.Errorf("event %+v, data %s; want item.created of key 2 with data %s", ev, ev.Data, data)
	}
}
