package pusher

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/pollhook/pollhook/store"
)

func TestRenderJSON(t *testing.T) {
	at := time.Date(2026, 11, 27, 21, 0, 0, 123456789, time.FixedZone("CET", 3600))
	tests := []struct {
		name string
		ev   store.Event
		want string
	}{
		{
			name: "item.updated, data compacted, time in UTC with milliseconds",
			ev: store.Event{Type: "item.updated", Time: at, Data: json.RawMessage(`{
				"job": "orders", "key": "1042",
				"before": {"id": 1042, "status": "open"},
				"after":  {"id": 1042, "status": "shipped"},
				"patch":  [{"op": "replace", "path": "/status", "value": "shipped"}]
			}`)},
			want: `{"type":"item.updated","timestamp":"2026-11-27T20:00:00.123Z","data":{"job":"orders","key":"1042","before":{"id":1042,"status":"open"},"after":{"id":1042,"status":"shipped"},"patch":[{"op":"replace","path":"/status","value":"shipped"}]}}`,
		},
		{
			name: "whole second still has three digits",
			ev:   store.Event{Type: "document.changed", Time: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Data: json.RawMessage(`{}`)},
			want: `{"type":"document.changed","timestamp":"2026-01-02T03:04:05.000Z","data":{}}`,
		},
		{
			name: "no HTML escaping of data",
			ev:   store.Event{Type: "item.created", Time: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Data: json.RawMessage(`{"note":"a<b & c>d"}`)},
			want: `{"type":"item.created","timestamp":"2026-01-02T03:04:05.000Z","data":{"note":"a<b & c>d"}}`,
		},
		{
			name: "empty data is null",
			ev:   store.Event{Type: "item.deleted", Time: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)},
			want: `{"type":"item.deleted","timestamp":"2026-01-02T03:04:05.000Z","data":null}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := renderJSON(tt.ev)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("renderJSON =\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}

func TestRenderJSONInvalidData(t *testing.T) {
	_, err := renderJSON(store.Event{Type: "item.created", Data: json.RawMessage(`{"a":`)})
	want := "render event data: unexpected end of JSON input"
	if err == nil || err.Error() != want {
		t.Errorf("renderJSON error = %v, want %q", err, want)
	}
}
