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

// pollhookPackage is built when no --binary is given; go build finds it
// from any directory inside the module.
const pollhookPackage = "github.com/pollhook/pollhook/cmd/pollhook"

// buildPollhook builds pollhook into dir, as a plain go build does. With
// pprof, an overlay adds one file to the main package (the repository is
// not touched) that serves net/http/pprof on a port of its own.
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
		return "", fmt.Errorf("go build %s (run from inside the module, or pass --binary): %w", pollhookPackage, err)
	}
	return bin, nil
}

// pprofEnv names the variable that switches the overlay's pprof listener
// on, so that the binary built with it behaves as the plain one without.
const pprofEnv = "POLLHOOK_LOAD_PPROF"

// pprofSource is the overlay's file. It announces its listener as a JSON
// log line, which logWatcher picks up. Block and mutex events are sampled
// (one per 10 ms spent blocked, one contention in 10) to show where polls
// wait without slowing them much.
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
		fmt.Fprintf(os.Stderr, "{\"level\":\"ERROR\",\"msg\":\"pollhook-load pprof: %v\"}\n", err)
		return
	}
	runtime.SetBlockProfileRate(10_000_000)
	runtime.SetMutexProfileFraction(10)
	fmt.Fprintf(os.Stderr, "{\"level\":\"INFO\",\"msg\":\"pollhook-load pprof\",\"listen\":%q}\n", ln.Addr().String())
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
	target := filepath.Join(strings.TrimSpace(string(out)), "zz_pollhook_load_pprof.go")
	b, err := json.Marshal(map[string]map[string]string{"Replace": {target: src}})
	if err != nil {
		return "", err
	}
	overlay := filepath.Join(dir, "overlay.json")
	return overlay, os.WriteFile(overlay, b, 0o600)
}

// writeConfig writes the configuration of the load: o.Jobs jobs, each
// polling its document on f's sources with items/key and sending to f's
// receiver.
func writeConfig(w io.Writer, o options, f *fleet, dataDir string) error {
	var b bytes.Buffer
	fmt.Fprintf(&b, "# Written by pollhook-load: %d jobs polling sources on 127.0.0.1.\n", o.Jobs)
	// A token only so that pollhook does not warn about an open admin API.
	fmt.Fprintf(&b, "server:\n  listen: \"127.0.0.1:0\"\n  admin_token: pollhook-load\n")
	fmt.Fprintf(&b, "store:\n  path: %s\n  sync_writes: %t\n", strconv.Quote(dataDir), o.SyncWrites)
	if o.MaxConcurrent > 0 {
		fmt.Fprintf(&b, "limits:\n  max_concurrent_polls: %d\n", o.MaxConcurrent)
	}
	fmt.Fprintf(&b, "destinations:\n")
	names := destinationNames(len(f.receiverURLs))
	for i, url := range f.receiverURLs {
		fmt.Fprintf(&b, "  %s:\n    url: %s\n", names[i], strconv.Quote(url))
	}
	fmt.Fprintf(&b, "jobs:\n")
	dests := "[" + strings.Join(names, ", ") + "]"
	schedule := strconv.Quote("@every " + o.Interval.String())
	width := len(strconv.Itoa(o.Jobs - 1))
	for i := range o.Jobs {
		fmt.Fprintf(&b, "  - name: load-%0*d\n    schedule: %s\n", width, i, schedule)
		if o.Jitter > 0 {
			fmt.Fprintf(&b, "    jitter: %s\n", o.Jitter)
		}
		fmt.Fprintf(&b, "    request: {url: %s}\n    items: items\n    key: id\n    destinations: %s\n", strconv.Quote(f.jobURL(i)), dests)
	}
	_, err := w.Write(b.Bytes())
	return err
}

// destinationNames names n destinations: "receiver" alone, else
// "receiver-0" to "receiver-(n-1)". Every job sends to all of them.
func destinationNames(n int) []string {
	if n == 1 {
		return []string{"receiver"}
	}
	names := make([]string, n)
	for i := range names {
		names[i] = "receiver-" + strconv.Itoa(i)
	}
	return names
}

// daemon is the pollhook process under load.
type daemon struct {
	cmd  *exec.Cmd
	pid  string
	log  *logWatcher
	done chan struct{} // closed once the process exited and was waited for
	err  error         // cmd.Wait's, once done is closed
}

// startDaemon runs `binary run --config config` with env added to the
// tool's environment, its output going to log.
func startDaemon(binary, config string, env []string, log *logWatcher) (*daemon, error) {
	cmd := exec.Command(binary, "run", "--config", config, "--log-format", "json", "--log-level", "info")
	cmd.Env = append(os.Environ(), env...)
	// One writer for both: exec then never calls it from two goroutines at once.
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

// waitReady waits until the admin listener's address is in the log and
// /readyz answers 200, and returns the address.
func (d *daemon) waitReady(ctx context.Context, client *http.Client, timeout time.Duration) (string, error) {
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
	// Fine enough to time a start-up of tens of milliseconds.
	tick := time.NewTicker(readyPoll)
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

// readyPoll is how often waitReady asks /readyz.
const readyPoll = 5 * time.Millisecond

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

// logWatcher receives pollhook's output: it copies every line to a file,
// finds the admin listener's address in the start-up line, and counts
// the lines above info by level and message.
type logWatcher struct {
	out     io.Writer
	started chan struct{} // closed once the listener's address is known

	mu      sync.Mutex
	partial []byte
	listen  string
	pprof   string         // the overlay's pprof listener, when built with it
	counts  map[string]int // "LEVEL: msg" of warnings, errors and lines that are not JSON
	last    []string       // the last lines
}

const logTail = 20

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
	l.partial = append(l.partial[:0:0], l.partial...) // let the lines handled go
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
		// A panic or a runtime error: not slog's.
		l.counts["OUTPUT: "+firstWords(string(line))]++
		return
	}
	if rec.Msg == "pollhook-load pprof" {
		l.pprof = rec.Listen
	}
	if rec.Msg == "pollhook started" && l.listen == "" && rec.Listen != "" {
		l.listen = rec.Listen
		close(l.started)
	}
	if rec.Level != "INFO" && rec.Level != "DEBUG" {
		l.counts[rec.Level+": "+rec.Msg]++
	}
}

// firstWords shortens a line that is not JSON to a key for counting.
func firstWords(s string) string {
	if len(s) > 60 {
		s = s[:60]
	}
	return strings.TrimSpace(s)
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
