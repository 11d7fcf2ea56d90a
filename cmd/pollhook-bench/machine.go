package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/pollhook/pollhook/cmd/internal/loadkit"
)

// machine names what the figures were measured on.
type machine struct {
	CPUModel string
	Cores    int
	RAMGiB   float64
	OS       string
	Go       string
	Date     time.Time // when the run began
	Commit   string    // short hash, with "+ uncommitted changes" for a modified tree
}

// describeMachine reads /proc, `go env GOVERSION` and git.
func describeMachine(ctx context.Context) machine {
	m := machine{CPUModel: loadkit.CPUModel(), Cores: runtime.NumCPU(), OS: runtime.GOOS, Go: "unknown", Commit: "unknown", Date: time.Now().UTC()}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		if kb, err := strconv.ParseFloat(strings.TrimSuffix(loadkit.ProcField(b, "MemTotal", ":", ""), " kB"), 64); err == nil {
			m.RAMGiB = kb / (1 << 20)
		}
	}
	if b, err := os.ReadFile("/etc/os-release"); err == nil {
		if name := strings.Trim(loadkit.ProcField(b, "PRETTY_NAME", "=", ""), `"`); name != "" {
			m.OS = name
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.OS += ", Linux " + strings.TrimSpace(string(b))
	}
	if out, err := exec.CommandContext(ctx, "go", "env", "GOVERSION").Output(); err == nil {
		m.Go = strings.TrimSpace(string(out))
	}
	if out, err := exec.CommandContext(ctx, "git", "rev-parse", "--short=12", "HEAD").Output(); err == nil {
		m.Commit = strings.TrimSpace(string(out))
		if st, err := exec.CommandContext(ctx, "git", "status", "--porcelain", "--untracked-files=no").Output(); err == nil && len(bytes.TrimSpace(st)) > 0 {
			m.Commit += " + uncommitted changes"
		}
	}
	return m
}

// oneLine is the machine in one line, for each section.
func (m machine) oneLine(at time.Time) string {
	return fmt.Sprintf("%s, %d cores, %.1f GiB RAM, %s, %s, commit %s, %s", m.CPUModel, m.Cores, m.RAMGiB, m.OS, m.Go, m.Commit, at.UTC().Format("2006-01-02 15:04 UTC"))
}
