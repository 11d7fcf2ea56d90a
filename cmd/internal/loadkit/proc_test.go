package loadkit

import (
	"math"
	"os"
	"strconv"
	"testing"
	"time"
)

func TestParseStat(t *testing.T) {
	// Fields 3..17 after the name: state ppid pgrp session tty tpgid flags
	// minflt cminflt majflt cmajflt utime stime cutime cstime.
	const tail = " S 1 2 3 0 -1 4194560 100 0 0 0 1234 567 8 9 20 0 12 0 345 1000 200\n"
	tests := []struct {
		name, stat string
		want       float64
		err        string
	}{
		{name: "plain", stat: "4242 (pollhook)" + tail, want: 18.01},
		{name: "name with spaces and parentheses", stat: "4242 (a) b (c))" + tail, want: 18.01},
		{name: "no name", stat: "4242 pollhook S 1", err: "/proc stat: no ')' after the command name"},
		{name: "cut short", stat: "4242 (pollhook) S 1 2 3 0 -1 4194560 100 0 0 0 1234", err: "/proc stat: 12 fields after the command name, want at least 13"},
		{name: "bad utime", stat: "4242 (pollhook) S 1 2 3 0 -1 4194560 100 0 0 0 x 567 8", err: `/proc stat: utime: strconv.ParseUint: parsing "x": invalid syntax`},
		{name: "bad stime", stat: "4242 (pollhook) S 1 2 3 0 -1 4194560 100 0 0 0 1 -5 8", err: `/proc stat: stime: strconv.ParseUint: parsing "-5": invalid syntax`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseStat([]byte(tt.stat))
			if msg := errString(err); msg != tt.err {
				t.Fatalf("error %q, want %q", msg, tt.err)
			}
			if got != tt.want {
				t.Errorf("got %v s, want %v s", got, tt.want)
			}
		})
	}
}

func TestParseStatus(t *testing.T) {
	tests := []struct {
		name, status string
		want         Memory
		err          string
	}{
		{
			name:   "both",
			status: "Name:\tpollhook\nVmPeak:\t 1996188 kB\nVmHWM:\t  204800 kB\nVmRSS:\t  150016 kB\nThreads:\t9\n",
			want:   Memory{RSSKB: 150016, HWMKB: 204800},
		},
		{name: "kernel thread", status: "Name:\tkthreadd\nThreads:\t1\n", err: "/proc status: VmRSS or VmHWM missing (a kernel thread, or a process that exited?)"},
		{name: "only RSS", status: "VmRSS:\t 1 kB\n", err: "/proc status: VmRSS or VmHWM missing (a kernel thread, or a process that exited?)"},
		{name: "other unit", status: "VmHWM:\t 2 MB\nVmRSS:\t 1 kB\n", err: `/proc status: VmHWM: "2 MB", want a number of kB`},
		{name: "not a number", status: "VmHWM:\t 2x kB\nVmRSS:\t 1 kB\n", err: `/proc status: VmHWM: strconv.ParseInt: parsing "2x": invalid syntax`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseStatus([]byte(tt.status))
			if msg := errString(err); msg != tt.err {
				t.Fatalf("error %q, want %q", msg, tt.err)
			}
			if got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestParseMachineStat(t *testing.T) {
	tests := []struct {
		name, stat string
		want       MachineCPU
		err        string
	}{
		{
			// user nice system idle iowait irq softirq steal guest guest_nice
			name: "every field",
			stat: "cpu  1000 100 500 8000 300 20 80 0 400 0\ncpu0 500 50 250 4000 150 10 40 0 200 0\n",
			// busy: user+nice+system+irq+softirq+steal; guest is in user already.
			want: MachineCPU{Busy: 17, Total: 100, IRQ: 1},
		},
		{name: "old kernel", stat: "cpu  100 0 100 800 0\n", want: MachineCPU{Busy: 2, Total: 10}},
		{name: "not the total", stat: "cpu0 1 2 3 4 5\n", err: `/proc/stat: first line "cpu0 1 2 3 4 5" is not the cpu total`},
		{name: "bad field", stat: "cpu  1 2 x 4 5\n", err: `/proc/stat: cpu field 3: strconv.ParseUint: parsing "x": invalid syntax`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseMachineStat([]byte(tt.stat))
			if msg := errString(err); msg != tt.err {
				t.Fatalf("error %q, want %q", msg, tt.err)
			}
			if got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

// TestReadOwnProc reads this very process's files, so that the parsers
// are held to what the kernel writes, not only to the samples above.
func TestReadOwnProc(t *testing.T) {
	pid := strconv.Itoa(os.Getpid())
	if _, err := os.Stat("/proc/" + pid + "/stat"); err != nil {
		t.Skip("no /proc:", err)
	}
	cpu, err := CPUTime(pid)
	if err != nil {
		t.Fatal(err)
	}
	if cpu < 0 {
		t.Errorf("CPU time %v s", cpu)
	}
	m, err := ReadMemory(pid)
	if err != nil {
		t.Fatal(err)
	}
	if m.RSSKB <= 0 || m.HWMKB < m.RSSKB {
		t.Errorf("memory %+v: want 0 < VmRSS <= VmHWM", m)
	}
	c, err := ReadMachineCPU()
	if err != nil {
		t.Fatal(err)
	}
	if c.Busy <= 0 || c.Total < c.Busy || c.IRQ > c.Busy {
		t.Errorf("machine CPU %+v: want IRQ <= busy <= total and busy > 0", c)
	}
}

func TestCPUSince(t *testing.T) {
	t0 := time.Unix(1700000000, 0)
	start := CPUSample{At: t0, Pollhook: 100, Tool: 10, Machine: MachineCPU{Busy: 1000, IRQ: 50}}
	round := func(u CPUUse) CPUUse {
		r := func(v float64) float64 { return math.Round(v*1e9) / 1e9 }
		return CPUUse{r(u.PollhookS), r(u.PollhookCores), r(u.ToolS), r(u.ToolCores), r(u.MachineBusy), r(u.IRQCores), r(u.OtherCores)}
	}
	tests := []struct {
		name string
		end  CPUSample
		want CPUUse
	}{
		// Busy 0.4 cores: pollhook 0.2, tool 0.05, IRQ 0.05, so 0.1 for others.
		{"10 s", CPUSample{At: t0.Add(10 * time.Second), Pollhook: 102, Tool: 10.5, Machine: MachineCPU{Busy: 1004, IRQ: 50.5}},
			CPUUse{PollhookS: 2, PollhookCores: 0.2, ToolS: 0.5, ToolCores: 0.05, MachineBusy: 0.4, IRQCores: 0.05, OtherCores: 0.1}},
		// /proc/stat and /proc/PID/stat are read at slightly different
		// instants: the others' share cannot go below zero.
		{"others clamped", CPUSample{At: t0.Add(time.Second), Pollhook: 101, Tool: 10, Machine: MachineCPU{Busy: 1000.9, IRQ: 50}},
			CPUUse{PollhookS: 1, PollhookCores: 1, MachineBusy: 0.9}},
		{"empty window", CPUSample{At: t0, Pollhook: 102, Tool: 11, Machine: MachineCPU{Busy: 1004}}, CPUUse{}},
	}
	for _, tt := range tests {
		if got := round(tt.end.Since(start)); got != tt.want {
			t.Errorf("%s: got %+v, want %+v", tt.name, got, tt.want)
		}
	}
}

func TestSampleCPU(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no /proc:", err)
	}
	s, err := SampleCPU(strconv.Itoa(os.Getpid()))
	if err != nil {
		t.Fatal(err)
	}
	// Both times are this process's, read one after the other.
	if s.At.IsZero() || s.Pollhook > s.Tool || s.Machine.Busy <= 0 {
		t.Errorf("sample %+v: want the pid's CPU time at most the later own one, and a busy machine", s)
	}
	if _, err := SampleCPU("0"); err == nil || err.Error() != "pollhook's CPU time: open /proc/0/stat: no such file or directory" {
		t.Errorf("pid 0: error %v", err)
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
