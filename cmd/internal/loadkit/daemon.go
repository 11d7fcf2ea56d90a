package loadkit

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"time"
)

// StopTimeout bounds the wait from SIGTERM to SIGKILL; pollhook's own
// shutdown is bounded at 8 s.
const StopTimeout = 15 * time.Second

// Daemon is the pollhook process under measurement.
type Daemon struct {
	cmd  *exec.Cmd
	pid  string
	log  *LogWatcher
	done chan struct{} // closed once the process exited and was waited for
	err  error         // cmd.Wait's, once done is closed
}

// Start runs `binary run --config config` with env added to the tool's
// environment, its output going to log.
func Start(binary, config string, env []string, log *LogWatcher) (*Daemon, error) {
	cmd := exec.Command(binary, "run", "--config", config, "--log-format", "json", "--log-level", "info")
	cmd.Env = append(os.Environ(), env...)
	// One writer for both: exec then never calls it from two goroutines at once.
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start pollhook: %w", err)
	}
	d := &Daemon{cmd: cmd, pid: strconv.Itoa(cmd.Process.Pid), log: log, done: make(chan struct{})}
	go func() {
		d.err = cmd.Wait()
		close(d.done)
	}()
	return d, nil
}

// PID is the process's id, as /proc names it.
func (d *Daemon) PID() string { return d.pid }

// Log is the watcher of the process's output.
func (d *Daemon) Log() *LogWatcher { return d.log }

// Done is closed once the process has exited.
func (d *Daemon) Done() <-chan struct{} { return d.done }

// Exited reports the process's end as an error, with the last lines of
// its log; nil while it runs.
func (d *Daemon) Exited() error {
	select {
	case <-d.done:
		return fmt.Errorf("pollhook exited (%v); last lines of its log:\n%s", d.err, d.log.LastLines())
	default:
		return nil
	}
}

// Wait waits for dur, but returns an error when pollhook exits or ctx
// ends first.
func (d *Daemon) Wait(ctx context.Context, dur time.Duration) error {
	t := time.NewTimer(dur)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-d.done:
		return d.Exited()
	case <-ctx.Done():
		return ctx.Err()
	}
}

// WaitReady waits until the admin listener's address is in the log and
// /readyz answers 200, asked with client every poll, and returns the
// address.
func (d *Daemon) WaitReady(ctx context.Context, client *http.Client, poll, timeout time.Duration) (string, error) {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	select {
	case <-d.log.started:
	case <-d.done:
		return "", d.Exited()
	case <-deadline.C:
		return "", fmt.Errorf("pollhook did not log its listener within %s", timeout)
	case <-ctx.Done():
		return "", ctx.Err()
	}
	addr := d.log.ListenAddr()
	tick := time.NewTicker(poll)
	defer tick.Stop()
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/readyz", nil)
		if err != nil {
			return "", err
		}
		if resp, err := client.Do(req); err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return addr, nil
			}
		}
		select {
		case <-tick.C:
		case <-d.done:
			return "", d.Exited()
		case <-deadline.C:
			return "", fmt.Errorf("pollhook's /readyz not 200 within %s", timeout)
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
}

// Shutdown is how the process ended.
type Shutdown struct {
	ExitCode int     `json:"exit_code"` // -1: killed by a signal
	Seconds  float64 `json:"seconds"`   // from SIGTERM to exit
	Killed   bool    `json:"killed"`    // it outlived the timeout and was sent SIGKILL
}

// Stop sends SIGTERM and waits up to timeout for the process to exit,
// then kills it.
func (d *Daemon) Stop(timeout time.Duration) Shutdown {
	start := time.Now()
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	var s Shutdown
	select {
	case <-d.done:
	case <-time.After(timeout):
		s.Killed = true
		_ = d.cmd.Process.Kill()
		<-d.done
	}
	s.Seconds = time.Since(start).Seconds()
	s.ExitCode = d.cmd.ProcessState.ExitCode()
	return s
}
