package main

import (
	"io"
	"strings"

	"github.com/pollhook/pollhook/cmd/internal/loadkit"
)

// kit is this tool to the shared pieces: the name that marks its pprof
// overlay, and how its usage spells -binary.
var kit = loadkit.Tool{Name: "pollhook-streamload", BinaryFlag: "-binary"}

// The shared types, under the names this tool's code uses.
type (
	cpuSample   = loadkit.CPUSample
	memory      = loadkit.Memory
	machineInfo = loadkit.Machine
	shutdown    = loadkit.Shutdown
	daemon      = loadkit.Daemon
)

// buildPollhook builds pollhook into dir, with the pprof overlay when
// pprof.
var buildPollhook = kit.Build

// droppedMsg is the info line pollhook logs for each stream client it
// drops: counted with the warnings, since a drop is what the run must not see.
const droppedMsg = "stream client dropped"

func newLogWatcher(out io.Writer) *loadkit.LogWatcher {
	return kit.NewLogWatcher(out, loadkit.LogOptions{
		Info: []string{droppedMsg},
		// This tool trims a line before it cuts it to 60 bytes.
		OutputKey: func(line string) string {
			s := strings.TrimSpace(line)
			return s[:min(len(s), 60)]
		},
	})
}
