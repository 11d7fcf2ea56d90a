package loadkit

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

func TestProcField(t *testing.T) {
	cpuinfo := []byte("processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 7B13\nprocessor\t: 1\nmodel name\t: other\n")
	osRelease := []byte("NAME=\"Debian GNU/Linux\"\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n")
	tests := []struct {
		b              []byte
		name, sep, def string
		want           string
	}{
		{cpuinfo, "model name", ":", "unknown", "AMD EPYC 7B13"}, // the first
		{cpuinfo, "flags", ":", "unknown", "unknown"},
		{osRelease, "PRETTY_NAME", "=", "", `"Debian GNU/Linux 12 (bookworm)"`},
		{[]byte("MemTotal:       24558888 kB\n"), "MemTotal", ":", "", "24558888 kB"},
		{nil, "MemTotal", ":", "-", "-"},
	}
	for _, tt := range tests {
		if got := ProcField(tt.b, tt.name, tt.sep, tt.def); got != tt.want {
			t.Errorf("ProcField(%q, %q) = %q, want %q", tt.b, tt.name, got, tt.want)
		}
	}
}

// TestDescribeMachine reads the test binary's own build info.
func TestDescribeMachine(t *testing.T) {
	m, err := DescribeMachine(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	if m.CPUs != runtime.NumCPU() || m.GoVersion != runtime.Version() || m.Revision == "" || m.CPUModel == "" {
		t.Errorf("machine %+v", m)
	}
	if _, err := os.Stat("/proc/cpuinfo"); err == nil && m.CPUModel != CPUModel() {
		t.Errorf("CPU model %q, /proc/cpuinfo's %q", m.CPUModel, CPUModel())
	}
	notBinary := filepath.Join(t.TempDir(), "pollhook")
	if err := os.WriteFile(notBinary, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := DescribeMachine(notBinary); err == nil || !strings.HasPrefix(err.Error(), "read the build info of "+notBinary+": ") {
		t.Errorf("not a Go binary: %v", err)
	}
}
