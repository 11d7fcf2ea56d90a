package main

// Copied from cmd/pollhook-load/proc.go, so that the two tools stay
// independent of each other.

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
)

// clockTicks is USER_HZ, the unit of the CPU times in /proc: the kernel
// reports them in 1/100 s on every architecture Go builds for Linux,
// whatever the kernel's internal HZ, so it is no sysconf away.
const clockTicks = 100

// cpuTime reads the user plus system CPU time of a process from
// /proc/PID/stat ("self" for this one), in seconds.
func cpuTime(pid string) (float64, error) {
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

// memory is what /proc/PID/status says about a process's resident memory.
type memory struct {
	RSSKB int64 // VmRSS: resident now
	HWMKB int64 // VmHWM: the most that was ever resident
}

// readMemory reads /proc/PID/status.
func readMemory(pid string) (memory, error) {
	b, err := os.ReadFile("/proc/" + pid + "/status")
	if err != nil {
		return memory{}, err
	}
	return parseStatus(b)
}

// parseStatus reads VmRSS and VmHWM ("VmRSS:\t   14400 kB") from the
// contents of /proc/PID/status; both must be there.
func parseStatus(b []byte) (memory, error) {
	var m memory
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
			return memory{}, fmt.Errorf("/proc status: %s: %q, want a number of kB", name, bytes.TrimSpace(rest))
		}
		n, err := strconv.ParseInt(string(f[0]), 10, 64)
		if err != nil {
			return memory{}, fmt.Errorf("/proc status: %s: %w", name, err)
		}
		*dst = n
		found++
	}
	if found != 2 {
		return memory{}, errors.New("/proc status: VmRSS or VmHWM missing (a kernel thread, or a process that exited?)")
	}
	return m, nil
}

// machineCPU is the machine's CPU time from the "cpu" line of /proc/stat,
// in seconds summed over every core.
type machineCPU struct {
	Busy, Total float64
	// IRQ is the part of Busy spent in interrupts and softirqs, which no
	// process is charged for: much of loopback TCP's receive path runs there.
	IRQ float64
}

// readMachineCPU reads /proc/stat.
func readMachineCPU() (machineCPU, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return machineCPU{}, err
	}
	return parseMachineStat(b)
}

// parseMachineStat reads the first line of /proc/stat, "cpu  user nice
// system idle iowait irq softirq steal guest guest_nice". Idle and iowait
// are not busy; guest time is already counted in user and nice, so it is
// left out rather than counted twice.
func parseMachineStat(b []byte) (machineCPU, error) {
	line, _, _ := bytes.Cut(b, []byte("\n"))
	f := bytes.Fields(line)
	if len(f) < 5 || string(f[0]) != "cpu" {
		return machineCPU{}, fmt.Errorf("/proc/stat: first line %q is not the cpu total", line)
	}
	var c machineCPU
	for i, s := range f[1:min(len(f), 9)] { // user .. steal
		n, err := strconv.ParseUint(string(s), 10, 64)
		if err != nil {
			return machineCPU{}, fmt.Errorf("/proc/stat: cpu field %d: %w", i+1, err)
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
