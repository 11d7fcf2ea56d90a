package main

import (
	"os"
	"strconv"
	"testing"
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
		want         memory
		err          string
	}{
		{
			name:   "both",
			status: "Name:\tpollhook\nVmPeak:\t 1996188 kB\nVmHWM:\t  204800 kB\nVmRSS:\t  150016 kB\nThreads:\t9\n",
			want:   memory{RSSKB: 150016, HWMKB: 204800},
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
		want       machineCPU
		err        string
	}{
		{
			// user nice system idle iowait irq softirq steal guest guest_nice
			name: "every field",
			stat: "cpu  1000 100 500 8000 300 20 80 0 400 0\ncpu0 500 50 250 4000 150 10 40 0 200 0\n",
			// busy: user+nice+system+irq+softirq+steal; guest is in user already.
			want: machineCPU{Busy: 17, Total: 100, IRQ: 1},
		},
		{name: "old kernel", stat: "cpu  100 0 100 800 0\n", want: machineCPU{Busy: 2, Total: 10}},
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
	cpu, err := cpuTime(pid)
	if err != nil {
		t.Fatal(err)
	}
	if cpu < 0 {
		t.Errorf("CPU time %v s", cpu)
	}
	m, err := readMemory(pid)
	if err != nil {
		t.Fatal(err)
	}
	if m.RSSKB <= 0 || m.HWMKB < m.RSSKB {
		t.Errorf("memory %+v: want 0 < VmRSS <= VmHWM", m)
	}
	c, err := readMachineCPU()
	if err != nil {
		t.Fatal(err)
	}
	if c.Busy <= 0 || c.Total < c.Busy || c.IRQ > c.Busy {
		t.Errorf("machine CPU %+v: want IRQ <= busy <= total and busy > 0", c)
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
