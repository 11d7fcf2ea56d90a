package loadkit

import (
	"bytes"
	"encoding/json"
	"io"
	"maps"
	"slices"
	"strings"
	"sync"
)

// LogWatcher receives pollhook's output: it copies every line to out,
// finds the admin listener's address in the start-up line (and the pprof
// overlay's in its own), and counts the lines above info by level and
// message.
type LogWatcher struct {
	out      io.Writer
	started  chan struct{} // closed once the listener's address is known
	pprofMsg string
	opts     LogOptions

	mu      sync.Mutex
	partial []byte
	listen  string
	pprof   string         // the overlay's pprof listener, when built with it
	counts  map[string]int // "LEVEL: msg" of warnings, errors and lines that are not JSON
	last    []string       // the last lines
}

// LogOptions say what a LogWatcher counts besides warnings and errors.
type LogOptions struct {
	// Info lists messages of info lines that are counted all the same
	// ("stream client dropped": a drop is what a run must not see).
	Info []string
	// OutputKey shortens a line that is not JSON (a panic, a runtime
	// error: not slog's) to its key for counting, after "OUTPUT: "; nil:
	// FirstWords.
	OutputKey func(line string) string
}

// logTail is how many lines LastLines keeps.
const logTail = 20

// NewLogWatcher returns a watcher of the pollhook t built (or any: the
// pprof line is only the overlay's), copying the output to out.
func (t Tool) NewLogWatcher(out io.Writer, o LogOptions) *LogWatcher {
	if o.OutputKey == nil {
		o.OutputKey = FirstWords
	}
	return &LogWatcher{out: out, started: make(chan struct{}), pprofMsg: t.pprofMsg(), opts: o, counts: map[string]int{}}
}

// Write takes output in pieces of any size and handles it line by line.
func (l *LogWatcher) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, err := l.out.Write(p); err != nil {
		return 0, err
	}
	l.partial = append(l.partial, p...)
	for {
		line, rest, ok := bytes.Cut(l.partial, []byte("\n"))
		if !ok {
			break
		}
		l.line(line)
		l.partial = rest
	}
	l.partial = append(l.partial[:0:0], l.partial...) // let the lines handled go
	return len(p), nil
}

func (l *LogWatcher) line(line []byte) {
	if len(bytes.TrimSpace(line)) == 0 {
		return
	}
	l.last = append(l.last, string(line))
	if len(l.last) > logTail {
		l.last = l.last[1:]
	}
	var rec struct {
		Level  string `json:"level"`
		Msg    string `json:"msg"`
		Listen string `json:"listen"`
	}
	if err := json.Unmarshal(line, &rec); err != nil {
		l.counts["OUTPUT: "+l.opts.OutputKey(string(line))]++
		return
	}
	if rec.Msg == l.pprofMsg {
		l.pprof = rec.Listen
	}
	if rec.Msg == "pollhook started" && l.listen == "" && rec.Listen != "" {
		l.listen = rec.Listen
		close(l.started)
	}
	if (rec.Level != "INFO" && rec.Level != "DEBUG") || slices.Contains(l.opts.Info, rec.Msg) {
		l.counts[rec.Level+": "+rec.Msg]++
	}
}

// FirstWords shortens a line that is not JSON to a key for counting: its
// first 60 bytes, trimmed.
func FirstWords(s string) string {
	if len(s) > 60 {
		s = s[:60]
	}
	return strings.TrimSpace(s)
}

// ListenAddr is the admin listener's address, from the first start-up
// line; empty before.
func (l *LogWatcher) ListenAddr() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.listen
}

// PprofAddr is the overlay's pprof listener; empty without one.
func (l *LogWatcher) PprofAddr() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.pprof
}

// LastLines returns the last lines that were not empty, for an error.
func (l *LogWatcher) LastLines() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.last, "\n")
}

// Problems returns the counts of warnings, errors and other output, by
// "LEVEL: msg" ("OUTPUT: ..." for lines that are not JSON).
func (l *LogWatcher) Problems() map[string]int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return maps.Clone(l.counts)
}
