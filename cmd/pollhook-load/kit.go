package main

import (
	"io"

	"github.com/pollhook/pollhook/cmd/internal/loadkit"
)

// kit is this tool to the shared pieces: the name that marks its pprof
// overlay, and how its usage spells --binary.
var kit = loadkit.Tool{Name: "pollhook-load", BinaryFlag: "--binary"}

// The shared types, under the names this tool's code uses.
type (
	cpuSample   = loadkit.CPUSample
	machineCPU  = loadkit.MachineCPU
	machineInfo = loadkit.Machine
	shutdown    = loadkit.Shutdown
	logWatcher  = loadkit.LogWatcher
	daemon      = loadkit.Daemon
)

func newLogWatcher(out io.Writer) *logWatcher { return kit.NewLogWatcher(out, loadkit.LogOptions{}) }
