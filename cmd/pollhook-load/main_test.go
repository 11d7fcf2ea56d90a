package main

import (
	"io"
	"testing"
	"time"
)

func TestParseOptionsModes(t *testing.T) {
	tests := []struct {
		args []string
		ok   bool
	}{
		{[]string{"--soak", "--jobs", "500", "--destinations", "5", "--duration", "1h", "--sample-every", "30s"}, true},
		{[]string{"--soak", "--duration", "60s", "--sample-every", "30s"}, false}, // two samples cannot be judged
		{[]string{"--soak", "--sample-every", "0s"}, false},
		{[]string{"--startup-runs", "5", "--jobs", "10"}, true},
		{[]string{"--startup-runs", "-1"}, false},
		{[]string{"--startup-runs", "2", "--soak"}, false},
		{[]string{"--soak", "--profile", "p"}, false},
		{[]string{"--destinations", "0"}, false},
		{[]string{"--flat-tolerance", "-0.1"}, false},
	}
	for _, tt := range tests {
		o, err := parseOptions(tt.args, io.Discard)
		if (err == nil) != tt.ok {
			t.Errorf("parseOptions(%q): err %v, want ok %t", tt.args, err, tt.ok)
		}
		if err == nil && tt.args[0] == "--soak" && (o.Destinations != 5 || o.SampleEvery != 30*time.Second || o.FlatTolerance != 0.10) {
			t.Errorf("parseOptions(%q) = %+v", tt.args, o)
		}
	}
}
