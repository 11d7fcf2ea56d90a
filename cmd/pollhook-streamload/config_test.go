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
	s, err := newSchedule(12, 120, time.Second, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	src := &source{sched: s, url: "http://127.0.0.1:1001"}
	st := streamSettings{MaxClients: 1100, Buffer: 512, Heartbeat: 5 * time.Second, Retention: 2 * time.Hour}
	var b bytes.Buffer
	data := filepath.Join(t.TempDir(), "data")
	if err := writeConfig(&b, s, src, 2*time.Second, st, "secret-token", data); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse("streamload.yaml", b.Bytes(), nil)
	if err != nil {
		t.Fatalf("%v\n%s", err, b.String())
	}
	if cfg.Store.Path != data || cfg.Server.Listen != "127.0.0.1:0" || string(cfg.Server.AdminToken) != "secret-token" {
		t.Errorf("store %+v, server listen %q", cfg.Store, cfg.Server.Listen)
	}
	if cfg.Streams == nil {
		t.Fatal("no streams section")
	}
	if got := *cfg.Streams; got.MaxClients != 1100 || got.Buffer != 512 || time.Duration(got.Heartbeat) != 5*time.Second || time.Duration(got.Retention) != 2*time.Hour {
		t.Errorf("streams %+v, want %+v", got, st)
	}
	if d := cfg.Destinations["receiver"]; d == nil || d.URL != src.hookURL() || d.Batch.MaxEvents != 1000 {
		t.Errorf("destinations %+v, want the receiver at %s taking batches", cfg.Destinations, src.hookURL())
	}
	if len(cfg.Jobs) != 12 {
		t.Fatalf("%d jobs, want 12", len(cfg.Jobs))
	}
	for _, j := range []int{0, 11} {
		job := cfg.Jobs[j]
		if job.Name != s.names[j] || job.Schedule != "@every 2s" || job.Request.URL != src.jobURL(j) || job.Items != "items" ||
			!reflect.DeepEqual([]string(job.Key), []string{"id"}) || !job.EmitInitial || !reflect.DeepEqual(job.Destinations, []string{"receiver"}) {
			t.Errorf("job %d: %+v", j, job)
		}
	}
	if !strings.HasPrefix(cfg.Jobs[0].Name, "stream-00") {
		t.Errorf("first job %q: names are zero-padded", cfg.Jobs[0].Name)
	}
}
