package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// The pieces below that build, start and watch pollhook follow
// cmd/pollhook-load/daemon.go; they are copied rather than shared so that
// each tool can change without the other.

// pollhookPackage is built when no -binary is given; go build finds it
// from any directory inside the module.
const pollhookPackage = "github.com/pollhook/pollhook/cmd/pollhook"

// buildPollhook builds pollhook into dir. With pprof, an overlay adds one
// file to the main package (the repository is not touched) that serves
// net/http/pprof on a port of its own.
func buildPollhook(ctx context.Context, dir string, pprof bool, stderr io.Writer) (string, error) {
	bin := filepath.Join(dir, "pollhook")
	args := []string{"build", "-o", bin}
	if pprof {
		overlay, err := writePprofOverlay(ctx, dir)
		if err != nil {
			return "", err
		}
		args = append(args, "-overlay", overlay)
	}
	cmd := exec.CommandContext(ctx, "go", append(args, pollhookPackage)...)
	cmd.Stdout, cmd.Stderr = stderr, stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go build %s (run from inside the module, or pass -binary): %w", pollhookPackage, err)
	}
	return bin, nil
}

// pprofEnv switches the overlay's pprof listener on.
const pprofEnv = "POLLHOOK_STREAMLOAD_PPROF"

// pprofMsg is the log message announcing the overlay's listener.
const pprofMsg = "pollhook-streamload pprof"

// pprofSource is the overlay's file.
const pprofSource = `package main

import (
	"fmt"
	"net"
	"net/http"
	_ "net/http/pprof"
	"os"
	"runtime"
)

func init() {
	if os.Getenv("` + pprofEnv + `") == "" {
		return
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintf(os.Stderr, "{\"level\":\"ERROR\",\"msg\":\"` + pprofMsg + `: %v\"}\n", err)
		return
	}
	runtime.SetBlockProfileRate(10_000_000)
	runtime.SetMutexProfileFraction(10)
	fmt.Fprintf(os.Stderr, "{\"level\":\"INFO\",\"msg\":\"` + pprofMsg + `\",\"listen\":%q}\n", ln.Addr().String())
	go http.Serve(ln, http.DefaultServeMux)
}
`

// writePprofOverlay writes the overlay's file and its -overlay JSON.
func writePprofOverlay(ctx context.Context, dir string) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "list", "-f", "{{.Dir}}", pollhookPackage).Output()
	if err != nil {
		return "", fmt.Errorf("go list %s: %w", pollhookPackage, err)
	}
	src := filepath.Join(dir, "pprof.go")
	if err := os.WriteFile(src, []byte(pprofSource), 0o600); err != nil {
		return "", err
	}
	target := filepath.Join(strings.TrimSpace(string(out)), "zz_pollhook_streamload_pprof.go")
	b, err := json.Marshal(map[string]map[string]string{"Replace": {target: src}})
	if err != nil {
		return "", err
	}
	overlay := filepath.Join(dir, "overlay.json")
	return overlay, os.WriteFile(overlay, b, 0o600)
}

// streamSettings are the streams: section of the configuration.
type streamSettings struct {
	MaxClients int
	Buffer     int
	Heartbeat  time.Duration
	Retention  time.Duration
}

// writeConfig writes pollhook's configuration: one job per job of the
// schedule polling src, every poll interval; the streams section; and,
// since a job needs a destination, src's receiver taking batches.
func writeConfig(w io.Writer, s *schedule, src *source, poll time.Duration, st streamSettings, token, dataDir string) error {
	var b bytes.Buffer
	fmt.Fprintf(&b, "# Written by pollhook-streamload: %d jobs, %g events/s between them, for SSE clients.\n", s.jobs, s.rate())
	fmt.Fprintf(&b, "server:\n  listen: \"127.0.0.1:0\"\n  admin_token: %s\n", strconv.Quote(token))
	fmt.Fprintf(&b, "store:\n  path: %s\n", strconv.Quote(dataDir))
	fmt.Fprintf(&b, "streams:\n  retention: %s\n  max_clients: %d\n  buffer: %d\n  heartbeat: %s\n", st.Retention, st.MaxClients, st.Buffer, st.Heartbeat)
	// Batches keep the webhooks cheap: the stream is what is measured.
	fmt.Fprintf(&b, "destinations:\n  receiver:\n    url: %s\n    batch: {max_events: 1000, max_wait: 1s}\n", strconv.Quote(src.hookURL()))
	fmt.Fprintf(&b, "jobs:\n")
	schedule := strconv.Quote("@every " + poll.String())
	for j := range s.jobs {
		fmt.Fprintf(&b, "  - name: %s\n    schedule: %s\n    request: {url: %s}\n    items: items\n    key: id\n    emit_initial: true\n    destinations: [receiver]\n",
			s.names[j], schedule, strconv.Quote(src.jobURL(j)))
	}
	_, err := w.Write(b.Bytes())
	return err
}

// daemon is the pollhook process.
type daemon struct {
	cmd  *exec.Cmd
	pid  string
	log  *logWatcher
	done chan struct{} // closed once the process exited and was waited for
	err  error         // cmd.Wait's, once done is closed
}

// startDaemon runs `binary run --config config` with env added.
func startDaemon(binary, config string, env []string, log *logWatcher) (*daemon, error) {
	cmd := exec.Command(binary, "run", "--config", config, "--log-format", "json", "--log-level", "info")
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start pollhook: %w", err)
	}
	d := &daemon{cmd: cmd, pid: strconv.Itoa(cmd.Process.Pid), log: log, done: make(chan struct{})}
	go func() {
		d.err = cmd.Wait()
		close(d.done)
	}()
	return d, nil
}

// exited reports the process's end as an error, nil while it runs.
func (d *daemon) exited() error {
	select {
	case <-d.done:
		return fmt.Errorf("pollhook exited (%v); last lines of its log:\n%s", d.err, d.log.lastLines())
	default:
		return nil
	}
}

// waitReady waits until the listener's address is in the log and
// /readyz answers 200, and returns the address.
func (d *daemon) waitReady(ctx context.Context, timeout time.Duration) (string, error) {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	select {
	case <-d.log.started:
	case <-d.done:
		return "", d.exited()
	case <-deadline.C:
		return "", fmt.Errorf("pollhook did not log its listener within %s", timeout)
	case <-ctx.Done():
		return "", ctx.Err()
	}
	addr := d.log.listenAddr()
	client := &http.Client{Timeout: 10 * time.Second}
	tick := time.NewTicker(50 * time.Millisecond)
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
			return "", d.exited()
		case <-deadline.C:
			return "", fmt.Errorf("pollhook's /readyz not 200 within %s", timeout)
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
}

// shutdown is how the process ended.
type shutdown struct {
	ExitCode int     `json:"exit_code"` // -1: killed by a signal
	Seconds  float64 `json:"seconds"`   // from SIGTERM to exit
	Killed   bool    `json:"killed"`    // it outlived the timeout and was sent SIGKILL
}

// stop sends SIGTERM and waits up to timeout for the process to exit,
// then kills it.
func (d *daemon) stop(timeout time.Duration) shutdown {
	start := time.Now()
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	var s shutdown
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

// logWatcher receives pollhook's output: it copies every line to out,
// finds the listener's address in the start-up line, and counts the lines
// above info by level and message.
type logWatcher struct {
	out     io.Writer
	started chan struct{} // closed once the listener's address is known

	mu      sync.Mutex
	partial []byte
	listen  string
	pprof   string
	counts  map[string]int
	last    []string
}

const logTail = 20

// droppedMsg is the info line pollhook logs for each stream client it
// drops: counted with the warnings, since a drop is what the run must not see.
const droppedMsg = "stream client dropped"

func newLogWatcher(out io.Writer) *logWatcher {
	return &logWatcher{out: out, started: make(chan struct{}), counts: map[string]int{}}
}

// Write takes output in pieces of any size and handles it line by line.
func (l *logWatcher) Write(p []byte) (int, error) {
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
	l.partial = append(l.partial[:0:0], l.partial...)
	return len(p), nil
}

func (l *logWatcher) line(line []byte) {
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
		s := strings.TrimSpace(string(line))
		l.counts["OUTPUT: "+s[:min(len(s), 60)]]++
		return
	}
	if rec.Msg == pprofMsg {
		l.pprof = rec.Listen
	}
	if rec.Msg == "pollhook started" && l.listen == "" && rec.Listen != "" {
		l.listen = rec.Listen
		close(l.started)
	}
	if (rec.Level != "INFO" && rec.Level != "DEBUG") || rec.Msg == droppedMsg {
		l.counts[rec.Level+": "+rec.Msg]++
	}
}

func (l *logWatcher) listenAddr() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.listen
}

func (l *logWatcher) pprofAddr() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.pprof
}

func (l *logWatcher) lastLines() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.last, "\n")
}

// problems returns the counts of warnings, errors and other output.
func (l *logWatcher) problems() map[string]int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return maps.Clone(l.counts)
}
