package loadkit

import (
	"bytes"
	"context"
	"encoding/json"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestToolNames(t *testing.T) {
	tests := []struct {
		name, env, msg string
	}{
		{"pollhook-load", "POLLHOOK_LOAD_PPROF", "pollhook-load pprof"},
		{"pollhook-streamload", "POLLHOOK_STREAMLOAD_PPROF", "pollhook-streamload pprof"},
	}
	for _, tt := range tests {
		tool := Tool{Name: tt.name}
		if got := tool.PprofEnv(); got != tt.env {
			t.Errorf("%s: PprofEnv %q, want %q", tt.name, got, tt.env)
		}
		if got := tool.pprofMsg(); got != tt.msg {
			t.Errorf("%s: pprof message %q, want %q", tt.name, got, tt.msg)
		}
	}
}

// TestPprofSource holds the overlay's file to Go that parses, switched on
// by the tool's variable and announcing its listener as the LogWatcher
// of the same tool expects it.
func TestPprofSource(t *testing.T) {
	tool := Tool{Name: "pollhook-load"}
	src := tool.pprofSource()
	if _, err := parser.ParseFile(token.NewFileSet(), "pprof.go", src, 0); err != nil {
		t.Fatalf("%v\n%s", err, src)
	}
	for _, want := range []string{
		`os.Getenv("POLLHOOK_LOAD_PPROF") == ""`,
		`fmt.Fprintf(os.Stderr, "{\"level\":\"INFO\",\"msg\":\"pollhook-load pprof\",\"listen\":%q}\n", ln.Addr().String())`,
		`net.Listen("tcp", "127.0.0.1:0")`,
	} {
		if !strings.Contains(src, want) {
			t.Errorf("overlay lacks %s:\n%s", want, src)
		}
	}
}

// TestWritePprofOverlay asks the go command where cmd/pollhook is, as a
// build does, and checks what the overlay replaces there.
func TestWritePprofOverlay(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list: not with -short")
	}
	dir := t.TempDir()
	overlay, err := Tool{Name: "pollhook-streamload"}.writePprofOverlay(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(overlay)
	if err != nil {
		t.Fatal(err)
	}
	var o struct{ Replace map[string]string }
	if err := json.Unmarshal(b, &o); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	// This package is cmd/internal/loadkit: cmd/pollhook is two up.
	target := filepath.Join(filepath.Dir(filepath.Dir(wd)), "pollhook", "zz_pollhook_streamload_pprof.go")
	if len(o.Replace) != 1 || o.Replace[target] != filepath.Join(dir, "pprof.go") {
		t.Errorf("overlay %v, want %s replaced by %s", o.Replace, target, filepath.Join(dir, "pprof.go"))
	}
	if src, err := os.ReadFile(filepath.Join(dir, "pprof.go")); err != nil || !bytes.Contains(src, []byte("POLLHOOK_STREAMLOAD_PPROF")) {
		t.Errorf("overlay's file: %v\n%s", err, src)
	}
}

func TestBinaryGiven(t *testing.T) {
	var progress bytes.Buffer
	got, err := Tool{}.Binary(context.Background(), "/usr/local/bin/pollhook", t.TempDir(), true, &progress)
	if err != nil || got != "/usr/local/bin/pollhook" || progress.Len() != 0 {
		t.Errorf("Binary = %q, %v, progress %q; want the binary given, nothing built", got, err, progress.String())
	}
}

func TestProfileEnv(t *testing.T) {
	tool := Tool{Name: "pollhook-load"}
	env := []string{"GOMAXPROCS=1"}
	got, err := tool.ProfileEnv(env, "")
	if err != nil || len(got) != 1 || got[0] != "GOMAXPROCS=1" {
		t.Errorf("no profile: %q, %v; want the environment unchanged", got, err)
	}
	dir := filepath.Join(t.TempDir(), "profiles", "run-1")
	got, err = tool.ProfileEnv(env, dir)
	if err != nil || strings.Join(got, " ") != "GOMAXPROCS=1 POLLHOOK_LOAD_PPROF=1" {
		t.Errorf("profile: %q, %v", got, err)
	}
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		t.Errorf("profile directory not created: %v", err)
	}
}
