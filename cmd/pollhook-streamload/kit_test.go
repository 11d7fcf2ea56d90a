package main

import (
	"io"
	"reflect"
	"strings"
	"testing"
)

// TestNewLogWatcher holds this tool's watcher to what it counts besides
// warnings: the stream clients pollhook dropped, and other output keyed by
// its first 60 bytes once trimmed.
func TestNewLogWatcher(t *testing.T) {
	l := newLogWatcher(io.Discard)
	trace := "\t/home/pollhook/stream/hub.go:120 +0x1d5 " + strings.Repeat("x", 40)
	lines := `{"level":"INFO","msg":"stream client dropped","reason":"slow"}
{"level":"INFO","msg":"stream client dropped","reason":"slow"}
{"level":"INFO","msg":"poll"}
` + trace + "\n"
	if _, err := l.Write([]byte(lines)); err != nil {
		t.Fatal(err)
	}
	want := map[string]int{"INFO: stream client dropped": 2, "OUTPUT: " + strings.TrimSpace(trace)[:60]: 1}
	if got := l.Problems(); !reflect.DeepEqual(got, want) {
		t.Errorf("problems %v, want %v", got, want)
	}
}
