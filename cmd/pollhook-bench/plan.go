package main

import (
	"strconv"
	"strings"
)

// plan is every command of a report, so that what runs and what the
// report says ran are one and the same.
type plan struct {
	Quick   bool
	Diff    []string         // go test arguments
	DiffDoc []string         // go test arguments: document mode and XML
	P2C     map[int][]string // go test arguments by items, one process per run
	P2CRuns int              // runs of each size
	Deliver []string         // go test arguments
	Load    []string         // pollhook-load arguments: polling at scale
	Latency []string         // pollhook-load arguments: end-to-end latency at light load
	Idle    []string         // pollhook-load arguments: idle RSS
	Startup []string         // pollhook-load arguments: start-up mode
	Stream  []string         // go arguments: the SSE scale tool
	Plain   []string         // go build arguments, plain
	Static  []string         // go build arguments, as the Dockerfile builds
	StaticE []string         // environment of Static
}

// p2cSizes are the sizes of BenchmarkPollToCommit.
var p2cSizes = []int{1000, 10000, 100000}

func newPlan(quick bool) plan {
	p := plan{Quick: quick, P2C: map[int][]string{}}
	if quick {
		p.Diff = []string{"test", "-run", "^$", "-bench", "^BenchmarkDiff$/^items=/^(all|loaded)$", "-benchmem", "-benchtime", "2x", "-count", "1", "./differ/"}
		p.DiffDoc = []string{"test", "-run", "^$", "-bench", "^BenchmarkDiffResponse$", "-benchmem", "-benchtime", "1x", "-count", "1", "./differ/"}
		p.P2CRuns = 1
		for _, n := range p2cSizes {
			p.P2C[n] = []string{"test", "-run", "^$", "-bench", "^BenchmarkPollToCommit$/^items=" + strconv.Itoa(n) + "$", "-benchtime", "3x", "./scheduler/"}
		}
		p.Deliver = []string{"test", "-run", "^$", "-bench", "^BenchmarkDeliver$", "-benchtime", "1000x", "-count", "1", "./pusher/"}
		p.Load = []string{"--jobs", "200", "--duration", "5s", "--warmup", "3s"}
		p.Latency = []string{"--jobs", "20", "--jitter", "0", "--change-every", "2s", "--duration", "5s", "--warmup", "2s"}
		p.Idle = []string{"--jobs", "10", "--interval", "2s", "--jitter", "0", "--change-every", "0", "--warmup", "2s", "--duration", "4s", "--max-missed-jobs", "-1"}
		p.Startup = []string{"--startup-runs", "2", "--jobs", "10"}
	} else {
		p.Diff = []string{"test", "-run", "^$", "-bench", "^BenchmarkDiff$/^items=/^(all|loaded)$", "-benchmem", "-count", "5", "./differ/"}
		// The XML case at 100,000 items takes about 1.5 s an operation: at
		// the default -benchtime each run of it is one operation, and the
		// whole command stays well under a minute.
		p.DiffDoc = []string{"test", "-run", "^$", "-bench", "^BenchmarkDiffResponse$", "-benchmem", "-count", "3", "./differ/"}
		p.P2CRuns = 3
		for _, n := range p2cSizes {
			p.P2C[n] = []string{"test", "-run", "^$", "-bench", "^BenchmarkPollToCommit$/^items=" + strconv.Itoa(n) + "$", "-benchtime", "20x", "./scheduler/"}
		}
		p.Deliver = []string{"test", "-run", "^$", "-bench", "^BenchmarkDeliver$", "-benchtime", "20000x", "-count", "3", "./pusher/"}
		p.Load = []string{"--jobs", "2000", "--duration", "60s"}
		p.Latency = []string{"--jobs", "100", "--jitter", "0", "--change-every", "5s", "--duration", "60s", "--warmup", "5s"}
		p.Idle = []string{"--jobs", "10", "--interval", "10s", "--jitter", "0", "--change-every", "0", "--warmup", "10s", "--duration", "30s", "--max-missed-jobs", "-1"}
		p.Startup = []string{"--startup-runs", "5", "--jobs", "10"}
	}
	p.Stream = []string{"run", "./cmd/pollhook-streamload", "-json"}
	if quick {
		p.Stream = append(p.Stream, "-duration", "10s")
	}
	p.Plain = []string{"build", "-o", "pollhook", "./cmd/pollhook"}
	p.Static = []string{"build", "-trimpath", "-ldflags=-s -w", "-o", "pollhook", "./cmd/pollhook"}
	p.StaticE = []string{"CGO_ENABLED=0"}
	return p
}

// shell renders a command line as a reader would type it into a POSIX
// shell: arguments holding anything but plain characters single-quoted.
func shell(words ...string) string {
	out := make([]string, len(words))
	for i, w := range words {
		plain := w != ""
		for _, c := range w {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("-_./=:,+@%", c)) {
				plain = false
				break
			}
		}
		if plain {
			out[i] = w
		} else {
			out[i] = "'" + strings.ReplaceAll(w, "'", `'\''`) + "'"
		}
	}
	return strings.Join(out, " ")
}

// goCmd is the command line of `go args...` with env before it.
func goCmd(env []string, args []string) string {
	return shell(append(append(env, "go"), args...)...)
}

// loadCmd is the command line of a pollhook-load run.
func loadCmd(args []string) string {
	return goCmd(nil, append([]string{"run", "./cmd/pollhook-load"}, args...))
}
