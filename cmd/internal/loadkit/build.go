// Package loadkit holds what pollhook's measuring commands
// (cmd/pollhook-load, cmd/pollhook-streamload, cmd/pollhook-bench) share:
// building the pollhook binary, with a pprof overlay when asked, starting
// it and waiting for it to be ready, watching its log, reading process
// and machine figures from /proc, fetching profiles, and the pieces of
// their reports that read the same in every tool.
package loadkit

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// PollhookPackage is built when no binary is given; go build finds it
// from any directory inside the module.
const PollhookPackage = "github.com/pollhook/pollhook/cmd/pollhook"

// Tool is the command measuring pollhook. Its name marks what it adds to
// the pollhook it builds: the pprof overlay's file, the variable that
// switches it on and the log line announcing its listener.
type Tool struct {
	Name       string // "pollhook-load"
	BinaryFlag string // the flag naming a prebuilt binary as the tool's usage spells it ("--binary"), for errors
}

// PprofEnv names the variable that switches the overlay's pprof listener
// on ("POLLHOOK_LOAD_PPROF"), so that a binary built with it behaves as
// the plain one without.
func (t Tool) PprofEnv() string {
	return strings.ToUpper(t.snake()) + "_PPROF"
}

// pprofMsg is the message of the log line announcing the overlay's
// listener, which LogWatcher picks up.
func (t Tool) pprofMsg() string { return t.Name + " pprof" }

func (t Tool) snake() string { return strings.ReplaceAll(t.Name, "-", "_") }

// Build builds pollhook into dir, as a plain go build does, and returns
// the binary's path. With pprof, an overlay adds one file to the main
// package (the repository is not touched) that serves net/http/pprof on a
// port of its own. The go command's output goes to stderr.
func (t Tool) Build(ctx context.Context, dir string, pprof bool, stderr io.Writer) (string, error) {
	bin := filepath.Join(dir, "pollhook")
	args := []string{"build", "-o", bin}
	if pprof {
		overlay, err := t.writePprofOverlay(ctx, dir)
		if err != nil {
			return "", err
		}
		args = append(args, "-overlay", overlay)
	}
	cmd := exec.CommandContext(ctx, "go", append(args, PollhookPackage)...)
	cmd.Stdout, cmd.Stderr = stderr, stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go build %s (run from inside the module, or pass %s): %w", PollhookPackage, t.BinaryFlag, err)
	}
	return bin, nil
}

// Binary returns binary when it names one, else builds pollhook into dir
// and says so on progress.
func (t Tool) Binary(ctx context.Context, binary, dir string, pprof bool, progress io.Writer) (string, error) {
	if binary != "" {
		return binary, nil
	}
	fmt.Fprintf(progress, "building %s\n", PollhookPackage)
	return t.Build(ctx, dir, pprof, progress)
}

// ProfileEnv returns env with the overlay's pprof listener switched on,
// and creates profileDir, where the profiles will go; env unchanged when
// profileDir is empty.
func (t Tool) ProfileEnv(env []string, profileDir string) ([]string, error) {
	if profileDir == "" {
		return env, nil
	}
	if err := os.MkdirAll(profileDir, 0o755); err != nil {
		return nil, err
	}
	return append(env, t.PprofEnv()+"=1"), nil
}

// pprofSource is the overlay's file. It announces its listener as a JSON
// log line, which LogWatcher picks up. Block and mutex events are sampled
// (one per 10 ms spent blocked, one contention in 10) to show where polls
// wait without slowing them much.
func (t Tool) pprofSource() string {
	return `package main

import (
	"fmt"
	"net"
	"net/http"
	_ "net/http/pprof"
	"os"
	"runtime"
)

func init() {
	if os.Getenv("` + t.PprofEnv() + `") == "" {
		return
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintf(os.Stderr, "{\"level\":\"ERROR\",\"msg\":\"` + t.pprofMsg() + `: %v\"}\n", err)
		return
	}
	runtime.SetBlockProfileRate(10_000_000)
	runtime.SetMutexProfileFraction(10)
	fmt.Fprintf(os.Stderr, "{\"level\":\"INFO\",\"msg\":\"` + t.pprofMsg() + `\",\"listen\":%q}\n", ln.Addr().String())
	go http.Serve(ln, http.DefaultServeMux)
}
`
}

// writePprofOverlay writes the overlay's file and its -overlay JSON.
func (t Tool) writePprofOverlay(ctx context.Context, dir string) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "list", "-f", "{{.Dir}}", PollhookPackage).Output()
	if err != nil {
		return "", fmt.Errorf("go list %s: %w", PollhookPackage, err)
	}
	src := filepath.Join(dir, "pprof.go")
	if err := os.WriteFile(src, []byte(t.pprofSource()), 0o600); err != nil {
		return "", err
	}
	target := filepath.Join(strings.TrimSpace(string(out)), "zz_"+t.snake()+"_pprof.go")
	b, err := json.Marshal(map[string]map[string]string{"Replace": {target: src}})
	if err != nil {
		return "", err
	}
	overlay := filepath.Join(dir, "overlay.json")
	return overlay, os.WriteFile(overlay, b, 0o600)
}
