package pusher

import (
	"encoding/json"
	"net/url"
	"testing"
	"time"

	"github.com/pollhook/pollhook/store"
)

func TestAppendForm(t *testing.T) {
	at := time.Date(2026, 11, 27, 21, 0, 0, 5e6, time.FixedZone("CET", 3600))
	const stamp = "type=item.updated&timestamp=2026-11-27T20%3A00%3A00.005Z"
	tests := []struct {
		name string
		data string
		want string
	}{
		{
			name: "update: before and after as compact JSON, patches left out",
			data: `{"job":"orders","key":"1042","before":{"id":1042, "status":"open"},"after":{"id":1042,"status":"shipped"},"patch":[{"op":"replace","path":"/status","value":"shipped"}],"merge_patch":{"status":"shipped"}}`,
			want: stamp + "&job=orders&key=1042" +
				"&before=%7B%22id%22%3A1042%2C%22status%22%3A%22open%22%7D" +
				"&after=%7B%22id%22%3A1042%2C%22status%22%3A%22shipped%22%7D",
		},
		{
			name: "document mode has no key",
			data: `{"job":"status-page","before":{"up":true},"after":{"up":false},"patch":[]}`,
			want: stamp + "&job=status-page&before=%7B%22up%22%3Atrue%7D&after=%7B%22up%22%3Afalse%7D",
		},
		{
			name: "created: no before; text mode: diff left out",
			data: `{"job":"j","key":"","after":"line 1\n","diff":"--- a\n+++ b\n"}`,
			want: stamp + "&job=j&key=&after=%22line+1%5Cn%22",
		},
		{
			name: "null values are kept as JSON null",
			data: `{"job":"j","key":"k","before":null}`,
			want: stamp + "&job=j&key=k&before=null",
		},
		{
			name: "reserved characters are escaped, HTML escapes in the JSON stay",
			data: `{"job":"a&b=c d","key":"ü/+?#","after":{"n":"\u003cb\u003e"}}`,
			want: stamp + "&job=a%26b%3Dc+d&key=%C3%BC%2F%2B%3F%23&after=%7B%22n%22%3A%22%5Cu003cb%5Cu003e%22%7D",
		},
		{
			name: "no data: type and timestamp only",
			data: ``,
			want: stamp,
		},
		{
			name: "null data: type and timestamp only",
			data: `null`,
			want: stamp,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := appendForm(nil, store.Event{Type: "item.updated", Time: at, Data: json.RawMessage(tt.data)})
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("appendForm =\n%s\nwant\n%s", got, tt.want)
			}
			// What a receiver's form parser reads back.
			if _, err := url.ParseQuery(string(got)); err != nil {
				t.Errorf("not a valid form body: %v", err)
			}
		})
	}
}

func TestAppendFormInvalidData(t *testing.T) {
	tests := []struct{ data, want string }{
		{`{"job":`, "render event data: unexpected end of JSON input"},
		{`{"job":7}`, "render event data: json: cannot unmarshal number into Go struct field formData.job of type string"},
		{`[1]`, "render event data: json: cannot unmarshal array into Go value of type pusher.formData"},
	}
	for _, tt := range tests {
		_, err := appendForm(nil, store.Event{Type: "item.created", Data: json.RawMessage(tt.data)})
		if err == nil || err.Error() != tt.want {
			t.Errorf("appendForm(%s) error = %v, want %q", tt.data, err, tt.want)
		}
	}
}
