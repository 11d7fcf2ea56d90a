package loadkit

import (
	"bufio"
	"bytes"
	"debug/buildinfo"
	"fmt"
	"os"
	"runtime"
	"strings"
)

// Machine names what the figures were measured on.
type Machine struct {
	CPUs      int    `json:"cpus"`
	CPUModel  string `json:"cpu_model"`
	GoVersion string `json:"go_version"` // the one pollhook was built with
	Revision  string `json:"revision"`   // pollhook's commit, "+changes" when built from a modified tree
}

// DescribeMachine reads the build info of the pollhook binary and the
// machine's CPUs.
func DescribeMachine(binary string) (Machine, error) {
	m := Machine{CPUs: runtime.NumCPU(), CPUModel: "unknown"}
	bi, err := buildinfo.ReadFile(binary)
	if err != nil {
		return m, fmt.Errorf("read the build info of %s: %w", binary, err)
	}
	m.GoVersion = bi.GoVersion
	var rev, modified string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			modified = s.Value
		}
	}
	m.Revision = "unknown"
	if rev != "" {
		m.Revision = rev[:min(len(rev), 12)]
		if modified == "true" {
			m.Revision += "+changes"
		}
	}
	m.CPUModel = CPUModel()
	return m, nil
}

// CPUModel is the first "model name" of /proc/cpuinfo; "unknown" when
// there is none.
func CPUModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown"
	}
	return ProcField(b, "model name", ":", "unknown")
}

// ProcField returns the value of the first line of b that reads
// "name<sep>value", both trimmed of white space (/proc/cpuinfo's
// "model name\t: ...", /etc/os-release's NAME=...); def when none does.
func ProcField(b []byte, name, sep, def string) string {
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), sep); ok && strings.TrimSpace(k) == name {
			return strings.TrimSpace(v)
		}
	}
	return def
}
