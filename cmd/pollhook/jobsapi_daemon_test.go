package main

import (
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pollhook/pollhook/admin"
)

// TestDaemonServesJobs: the running daemon feeds the jobs API and the
// status page with its pipelines' outcomes (the start-up poll of job j)
// and its store (the snapshot that poll recorded).
func TestDaemonServesJobs(t *testing.T) {
	addr, _ := startDaemon(t, daemonConfig(t, ", admin_token: daemon-token"))
	get := func(path string) (int, []byte) {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, "http://"+addr+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer daemon-token")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, body
	}
	// The daemon polls every job once as it starts; wait for that poll to
	// be recorded (bounded: it is a local source).
	var job admin.JobStatus
	for deadline := time.Now().Add(20 * time.Second); job.LastResult == ""; {
		if time.Now().After(deadline) {
			t.Fatal("the start-up poll of job j was not recorded within 20s")
		}
		code, body := get("/api/v1/jobs/j")
		if code != http.StatusOK {
			t.Fatalf("GET /api/v1/jobs/j: %d %s", code, body)
		}
		if err := json.Unmarshal(body, &job); err != nil {
			t.Fatal(err)
		}
		if job.LastResult == "" {
			time.Sleep(20 * time.Millisecond) // polling an outside condition
		}
	}
	if job.Name != "j" || job.LastResult != "baseline" || job.Health != admin.HealthUp || job.Mode != "items" {
		t.Errorf("job j: %+v, want a baseline, up, items", job)
	}
	code, body := get("/api/v1/jobs/j/snapshot")
	var snap admin.Snapshot
	if err := json.Unmarshal(body, &snap); code != http.StatusOK || err != nil {
		t.Fatalf("snapshot: %d %s %v", code, body, err)
	}
	if snap.Count != 1 || len(snap.Items) != 1 || snap.Items[0].Key != "1" || string(snap.Items[0].Value) != `{"id":1}` {
		t.Errorf("snapshot %s, want the one item of the source", body)
	}
	code, body = get("/")
	if code != http.StatusOK || !strings.Contains(string(body), `id="job-j"`) || strings.Contains(string(body), "daemon-token") {
		t.Errorf("status page: %d\n%s", code, body)
	}
	// The running instance's metrics: the poll, the bytes it fetched (the
	// source's 10-byte body), the outbox read from the store, the config.
	code, body = get("/metrics")
	if code != http.StatusOK {
		t.Fatalf("/metrics: %d", code)
	}
	lines := strings.Split(string(body), "\n")
	for _, want := range []string{
		`pollhook_polls_total{job="j",result="baseline"} 1`,
		`pollhook_fetched_bytes_total{job="j"} 10`,
		`pollhook_outbox_depth{destination="hook"} 0`,
		`pollhook_outbox_oldest_pending_seconds{destination="hook"} 0`,
		`pollhook_dead_letters{destination="hook"} 0`,
		`pollhook_destination_paused{destination="hook"} 0`,
		`pollhook_config_reloads_total{result="success"} 0`,
		`pollhook_config_last_reload_successful 1`,
	} {
		if !slices.Contains(lines, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}
