package loadkit

import (
	"bytes"
	"reflect"
	"strings"
	"testing"
)

func TestLogWatcher(t *testing.T) {
	tests := []struct {
		name   string
		tool   Tool
		opts   LogOptions
		writes []string // each a call to Write: lines are cut anywhere
		listen string
		pprof  string
		counts map[string]int
		last   int // lines LastLines keeps
	}{
		{
			name: "defaults",
			tool: Tool{Name: "pollhook-load"},
			writes: []string{
				`{"level":"INFO","msg":"pollhook-load pprof","listen":"127.0.0.1:6060"}` + "\n" + `{"level":"INFO","msg":"pollhook st`,
				`arted","listen":"127.0.0.1:4242","jobs":2}` + "\n",
				`{"level":"WARN","msg":"slow"}` + "\n" + `{"level":"WARN","msg":"slow"}` + "\n\n",
				`{"level":"ERROR","msg":"broken","err":"x"}` + "\n" + "panic: runtime error: index out of range [3] with length 3\n",
				`{"level":"DEBUG","msg":"poll done"}` + "\n" + `{"level":"INFO","msg":"pollhook started","listen":"127.0.0.1:1"}` + "\n",
				// Cut at 60 bytes, the tab one of them, then trimmed.
				"\tgoroutine 1 [running]: main.main() /home/pollhook/cmd/pollhook/main.go:12 +0x1d\n",
			},
			listen: "127.0.0.1:4242", // the first start-up line's
			pprof:  "127.0.0.1:6060",
			counts: map[string]int{"WARN: slow": 2, "ERROR: broken": 1, "OUTPUT: panic: runtime error: index out of range [3] with length 3": 1,
				"OUTPUT: goroutine 1 [running]: main.main() /home/pollhook/cmd/pollh": 1},
			last: 9,
		},
		{
			name: "info counted, own output key",
			tool: Tool{Name: "pollhook-streamload"},
			opts: LogOptions{Info: []string{"stream client dropped"}, OutputKey: strings.ToUpper},
			writes: chop(`{"level":"INFO","msg":"pollhook started","listen":"127.0.0.1:4242"}
{"level":"INFO","msg":"stream client dropped","reason":"slow"}
{"level":"INFO","msg":"stream client dropped","reason":"slow"}
{"level":"INFO","msg":"poll"}
{"level":"WARN","msg":"poll failed"}
{"level":"INFO","msg":"pollhook-load pprof","listen":"127.0.0.1:6060"}
{"level":"INFO","msg":"pollhook-streamload pprof","listen":"127.0.0.1:5000"}
panic: boom
`, 7),
			listen: "127.0.0.1:4242",
			pprof:  "127.0.0.1:5000", // its own overlay's, not another tool's
			counts: map[string]int{"INFO: stream client dropped": 2, "WARN: poll failed": 1, "OUTPUT: PANIC: BOOM": 1},
			last:   8,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			l := tt.tool.NewLogWatcher(&out, tt.opts)
			for _, w := range tt.writes {
				if n, err := l.Write([]byte(w)); err != nil || n != len(w) {
					t.Fatalf("Write = %d, %v", n, err)
				}
			}
			select {
			case <-l.started:
			default:
				t.Fatal("started not closed")
			}
			if got := l.ListenAddr(); got != tt.listen {
				t.Errorf("listener %q, want %q", got, tt.listen)
			}
			if got := l.PprofAddr(); got != tt.pprof {
				t.Errorf("pprof listener %q, want %q", got, tt.pprof)
			}
			if got := l.Problems(); !reflect.DeepEqual(got, tt.counts) {
				t.Errorf("problems %v, want %v", got, tt.counts)
			}
			if out.String() != strings.Join(tt.writes, "") {
				t.Errorf("copied %q, want everything written", out.String())
			}
			if got := strings.Count(l.LastLines(), "\n") + 1; got != tt.last {
				t.Errorf("last lines: %d, want the %d non-empty lines:\n%s", got, tt.last, l.LastLines())
			}
		})
	}
}

// TestLogWatcherTail holds LastLines to the last logTail lines.
func TestLogWatcherTail(t *testing.T) {
	l := Tool{Name: "t"}.NewLogWatcher(&bytes.Buffer{}, LogOptions{})
	var want []string
	for i := range logTail + 5 {
		line := strings.Repeat("x", i+1)
		if _, err := l.Write([]byte(line + "\n")); err != nil {
			t.Fatal(err)
		}
		if i >= 5 {
			want = append(want, line)
		}
	}
	if got := l.LastLines(); got != strings.Join(want, "\n") {
		t.Errorf("last lines\n%s\nwant\n%s", got, strings.Join(want, "\n"))
	}
}

// chop cuts s into pieces of n bytes.
func chop(s string, n int) []string {
	var out []string
	for i := 0; i < len(s); i += n {
		out = append(out, s[i:min(i+n, len(s))])
	}
	return out
}

func TestFirstWords(t *testing.T) {
	tests := []struct{ in, want string }{
		{"panic: boom", "panic: boom"},
		{"  indented  ", "indented"},
		{strings.Repeat("a", 59) + " tail", strings.Repeat("a", 59)},
		{strings.Repeat("b", 70), strings.Repeat("b", 60)},
	}
	for _, tt := range tests {
		if got := FirstWords(tt.in); got != tt.want {
			t.Errorf("FirstWords(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
