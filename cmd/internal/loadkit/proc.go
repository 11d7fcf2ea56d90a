package loadkit

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"
)

// clockTicks is USER_HZ, the unit of the CPU times in /proc: the kernel
// reports them in 1/100 s on every architecture Go builds for Linux,
// whatever the kernel's internal HZ, so it is no sysconf away.
const clockTicks = 100

// CPUTime reads the user plus system CPU time of a process from
// /proc/PID/stat ("self" for this one), in seconds.
func CPUTime(pid string) (float64, error) {
	b, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return 0, err
	}
	return parseStat(b)
}

// parseStat returns utime+stime, in seconds, from the contents of
// /proc/PID/stat. The command name (field 2) is in parentheses and may
// itself hold spaces and parentheses, so fields are counted from the last
// ')' on.
func parseStat(b []byte) (float64, error) {
	end := bytes.LastIndexByte(b, ')')
	if end < 0 {
		return 0, errors.New("/proc stat: no ')' after the command name")
	}
	// After the name come field 3 (state) onwards: utime is field 14 and
	// stime field 15, so indexes 11 and 12 here.
	f := bytes.Fields(b[end+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc stat: %d fields after the command name, want at least 13", len(f))
	}
	utime, err := strconv.ParseUint(string(f[11]), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("/proc stat: utime: %w", err)
	}
	stime, err := strconv.ParseUint(string(f[12]), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("/proc stat: stime: %w", err)
	}
	return float64(utime+stime) / clockTicks, nil
}

// Memory is what /proc/PID/status says about a process's resident memory.
type Memory struct {
	RSSKB int64 // VmRSS: resident now
	HWMKB int64 // VmHWM: the most that was ever resident
}

// ReadMemory reads /proc/PID/status.
func ReadMemory(pid string) (Memory, error) {
	b, err := os.ReadFile("/proc/" + pid + "/status")
	if err != nil {
		return Memory{}, err
	}
	return parseStatus(b)
}

// parseStatus reads VmRSS and VmHWM ("VmRSS:\t   14400 kB") from the
// contents of /proc/PID/status; both must be there.
func parseStatus(b []byte) (Memory, error) {
	var m Memory
	found := 0
	for line := range bytes.Lines(b) {
		name, rest, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			continue
		}
		var dst *int64
		switch string(name) {
		case "VmRSS":
			dst = &m.RSSKB
		case "VmHWM":
			dst = &m.HWMKB
		default:
			continue
		}
		f := bytes.Fields(rest)
		if len(f) != 2 || string(f[1]) != "kB" {
			return Memory{}, fmt.Errorf("/proc status: %s: %q, want a number of kB", name, bytes.TrimSpace(rest))
		}
		n, err := strconv.ParseInt(string(f[0]), 10, 64)
		if err != nil {
			return Memory{}, fmt.Errorf("/proc status: %s: %w", name, err)
		}
		*dst = n
		found++
	}
	if found != 2 {
		return Memory{}, errors.New("/proc status: VmRSS or VmHWM missing (a kernel thread, or a process that exited?)")
	}
	return m, nil
}

// MachineCPU is the machine's CPU time from the "cpu" line of /proc/stat,
// in seconds summed over every core.
type MachineCPU struct {
	Busy, Total float64
	// IRQ is the part of Busy spent in interrupts and softirqs, which no
	// process is charged for: much of loopback TCP's receive path runs there.
	IRQ float64
}

// ReadMachineCPU reads /proc/stat.
func ReadMachineCPU() (MachineCPU, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return MachineCPU{}, err
	}
	return parseMachineStat(b)
}

// parseMachineStat reads the first line of /proc/stat, "cpu  user nice
// system idle iowait irq softirq steal guest guest_nice". Idle and iowait
// are not busy; guest time is already counted in user and nice, so it is
// left out rather than counted twice.
func parseMachineStat(b []byte) (MachineCPU, error) {
	line, _, _ := bytes.Cut(b, []byte("\n"))
	f := bytes.Fields(line)
	if len(f) < 5 || string(f[0]) != "cpu" {
		return MachineCPU{}, fmt.Errorf("/proc/stat: first line %q is not the cpu total", line)
	}
	var c MachineCPU
	for i, s := range f[1:min(len(f), 9)] { // user .. steal
		n, err := strconv.ParseUint(string(s), 10, 64)
		if err != nil {
			return MachineCPU{}, fmt.Errorf("/proc/stat: cpu field %d: %w", i+1, err)
		}
		v := float64(n) / clockTicks
		c.Total += v
		switch i {
		case 3, 4: // idle, iowait
		case 5, 6: // irq, softirq
			c.Busy += v
			c.IRQ += v
		default:
			c.Busy += v
		}
	}
	return c, nil
}

// CPUSample is the CPU time used until At.
type CPUSample struct {
	At       time.Time
	Pollhook float64 // seconds, user + system
	Tool     float64 // seconds, this process: its sources, receivers, clients, sampling
	Machine  MachineCPU
}

// SampleCPU reads the CPU time of pollhook (pid), of this process and of
// the machine.
func SampleCPU(pid string) (CPUSample, error) {
	s := CPUSample{At: time.Now()}
	var err error
	if s.Pollhook, err = CPUTime(pid); err != nil {
		return s, fmt.Errorf("pollhook's CPU time: %w", err)
	}
	if s.Tool, err = CPUTime("self"); err != nil {
		return s, fmt.Errorf("own CPU time: %w", err)
	}
	if s.Machine, err = ReadMachineCPU(); err != nil {
		return s, err
	}
	return s, nil
}

// CPUUse is the CPU spent between two samples: seconds, and cores (seconds
// per second of the window).
type CPUUse struct {
	PollhookS, PollhookCores float64
	ToolS, ToolCores         float64
	MachineBusy              float64 // cores
	IRQCores                 float64 // interrupts and softirqs, charged to no process
	OtherCores               float64 // machine busy minus pollhook, the tool and IRQ: other processes
}

// Since returns the CPU spent from start to s; all zero when the window
// is empty.
func (s CPUSample) Since(start CPUSample) CPUUse {
	var u CPUUse
	window := s.At.Sub(start.At).Seconds()
	if window <= 0 {
		return u
	}
	u.PollhookS = s.Pollhook - start.Pollhook
	u.PollhookCores = u.PollhookS / window
	u.ToolS = s.Tool - start.Tool
	u.ToolCores = u.ToolS / window
	u.MachineBusy = (s.Machine.Busy - start.Machine.Busy) / window
	u.IRQCores = (s.Machine.IRQ - start.Machine.IRQ) / window
	u.OtherCores = max(0, u.MachineBusy-u.IRQCores-u.PollhookCores-u.ToolCores)
	return u
}
