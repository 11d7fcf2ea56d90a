package loadkit

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
)

// Goal is one pass/fail check of a run.
type Goal struct {
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail"`
}

// Goals are a run's checks, in the order they were made.
type Goals []Goal

// Add appends a goal, its detail formatted.
func (g *Goals) Add(name string, ok bool, format string, args ...any) {
	*g = append(*g, Goal{Name: name, OK: ok, Detail: fmt.Sprintf(format, args...)})
}

// Met reports whether every goal was met.
func (g Goals) Met() bool {
	for _, x := range g {
		if !x.OK {
			return false
		}
	}
	return true
}

// Print writes one table row a goal: "goal: NAME\tok: DETAIL", MISSED for
// one that was not met.
func (g Goals) Print(tw io.Writer) {
	for _, x := range g {
		verdict := "ok"
		if !x.OK {
			verdict = "MISSED"
		}
		fmt.Fprintf(tw, "goal: %s\t%s: %s\n", x.Name, verdict, x.Detail)
	}
}

// SharedMachine is the CPU of other processes, in cores, above which a
// report warns that the machine was not quiet.
const SharedMachine = 0.2

// NoteOtherCores writes a table row that warns of other processes' CPU,
// in cores, when it is above SharedMachine.
func NoteOtherCores(tw io.Writer, cores float64) {
	if cores > SharedMachine {
		fmt.Fprintf(tw, "NOTE\tother processes used %.2f cores during the window: the figures are not those of a quiet machine\n", cores)
	}
}

// LogCounts writes LogWatcher.Problems for a report, by key.
func LogCounts(m map[string]int) string {
	if len(m) == 0 {
		return "no warnings or errors"
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%d × %s", m[k], k))
	}
	return strings.Join(parts, "; ")
}
