package main

import (
	"bytes"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/pollhook/pollhook/config"
)

// TestWriteConfig holds the generated configuration to what pollhook's
// own loader accepts.
func TestWriteConfig(t *testing.T) {
	tests := []struct {
		name      string
		o         options
		receivers []string
		dests     []string
	}{
		{"defaults", options{Jobs: 12, Interval: time.Second, Jitter: 200 * time.Millisecond, SyncWrites: true},
			[]string{"http://127.0.0.1:1003/hook"}, []string{"receiver"}},
		{"no jitter, limits, no fsync, 3 destinations", options{Jobs: 3, Interval: 2 * time.Second, MaxConcurrent: 16},
			[]string{"http://127.0.0.1:1003/hook", "http://127.0.0.1:1004/hook", "http://127.0.0.1:1005/hook"},
			[]string{"receiver-0", "receiver-1", "receiver-2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fleet{sourceURLs: []string{"http://127.0.0.1:1001", "http://127.0.0.1:1002"}, receiverURLs: tt.receivers}
			var b bytes.Buffer
			data := filepath.Join(t.TempDir(), "data")
			if err := writeConfig(&b, tt.o, f, data); err != nil {
				t.Fatal(err)
			}
			cfg, err := config.Parse("load.yaml", b.Bytes(), nil)
			if err != nil {
				t.Fatalf("%v\n%s", err, b.String())
			}
			if cfg.Store.Path != data || cfg.Store.SyncWrites == nil || *cfg.Store.SyncWrites != tt.o.SyncWrites {
				t.Errorf("store %+v, want path %s, sync_writes %t", cfg.Store, data, tt.o.SyncWrites)
			}
			if cfg.Limits.MaxConcurrentPolls != tt.o.MaxConcurrent {
				t.Errorf("max_concurrent_polls %d, want %d", cfg.Limits.MaxConcurrentPolls, tt.o.MaxConcurrent)
			}
			if len(cfg.Jobs) != tt.o.Jobs {
				t.Fatalf("%d jobs, want %d", len(cfg.Jobs), tt.o.Jobs)
			}
			if len(cfg.Destinations) != len(tt.dests) {
				t.Errorf("destinations %v, want %v", cfg.Destinations, tt.dests)
			}
			for i, name := range tt.dests {
				if d := cfg.Destinations[name]; d == nil || d.URL != tt.receivers[i] {
					t.Errorf("destination %s = %+v, want %s", name, d, tt.receivers[i])
				}
			}
			last := tt.o.Jobs - 1
			for _, i := range []int{0, last} {
				j := cfg.Jobs[i]
				if j.Schedule != "@every "+tt.o.Interval.String() || time.Duration(j.Jitter) != tt.o.Jitter ||
					j.Request.URL != f.jobURL(i) || j.Items != "items" || !reflect.DeepEqual([]string(j.Key), []string{"id"}) ||
					!reflect.DeepEqual(j.Destinations, tt.dests) {
					t.Errorf("job %d: %+v", i, j)
				}
			}
			// Names are zero-padded, so that they sort as they are numbered.
			if want := "load-" + strings.Repeat("0", len(cfg.Jobs[last].Name)-len("load-")); cfg.Jobs[0].Name != want {
				t.Errorf("first job %q, want %q (last %q)", cfg.Jobs[0].Name, want, cfg.Jobs[last].Name)
			}
		})
	}
}
