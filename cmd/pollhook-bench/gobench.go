package main

import (
	"bufio"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
)

// benchRuns holds the results of `go test -bench` by benchmark name
// (without the -GOMAXPROCS suffix): one map of unit to value per run, in
// the order they came.
type benchRuns map[string][]map[string]float64

// parseBench reads the output of `go test -bench`: a result line is the
// name, the iterations, then value-unit pairs ("402351 ns/op", "167
// allocs/op", custom metrics alike). Other lines are skipped.
func parseBench(r io.Reader) (benchRuns, error) {
	out := benchRuns{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") || len(f)%2 != 0 {
			continue
		}
		if _, err := strconv.ParseInt(f[1], 10, 64); err != nil {
			continue
		}
		name := f[0]
		if i := strings.LastIndexByte(name, '-'); i > 0 {
			if _, err := strconv.Atoi(name[i+1:]); err == nil {
				name = name[:i]
			}
		}
		m := map[string]float64{}
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				return nil, fmt.Errorf("benchmark %s: value %q: %w", name, f[i], err)
			}
			m[f[i+1]] = v
		}
		out[name] = append(out[name], m)
	}
	return out, sc.Err()
}

// median returns the median of unit over name's runs, and whether any run
// reported it.
func (b benchRuns) median(name, unit string) (float64, bool) {
	var v []float64
	for _, run := range b[name] {
		if x, ok := run[unit]; ok {
			v = append(v, x)
		}
	}
	if len(v) == 0 {
		return 0, false
	}
	slices.Sort(v)
	if len(v)%2 == 1 {
		return v[len(v)/2], true
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2, true
}

// merge adds other's runs to b.
func (b benchRuns) merge(other benchRuns) {
	for k, v := range other {
		b[k] = append(b[k], v...)
	}
}
