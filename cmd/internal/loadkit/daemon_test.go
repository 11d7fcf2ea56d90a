package loadkit

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// fakeEnv makes the test binary a fake pollhook (TestMain), in the mode
// it names.
const fakeEnv = "LOADKIT_FAKE_POLLHOOK"

func TestMain(m *testing.M) {
	if mode := os.Getenv(fakeEnv); mode != "" {
		os.Exit(fakePollhook(mode))
	}
	os.Exit(m.Run())
}

// fakePollhook logs its start-up as pollhook does and serves /readyz:
//   - ready: 503 once, then 200; exits 0 on SIGTERM
//   - stubborn: as ready, but ignores SIGTERM
//   - unready: /readyz is always 503
//   - silent: never logs its listener
//   - exit: writes a line and exits 3
func fakePollhook(mode string) int {
	switch mode {
	case "exit":
		fmt.Fprintln(os.Stderr, "config: no such file")
		return 3
	}
	term := make(chan os.Signal, 1)
	if mode == "stubborn" {
		signal.Ignore(syscall.SIGTERM)
	} else {
		signal.Notify(term, syscall.SIGTERM)
	}
	if mode == "silent" {
		<-term
		return 0
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	var asked atomic.Int64
	go http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/readyz" || mode == "unready" || asked.Add(1) == 1 {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	fmt.Fprintf(os.Stdout, "{\"level\":\"INFO\",\"msg\":\"pollhook started\",\"listen\":%q,\"args\":%q}\n", ln.Addr(), strings.Join(os.Args[1:], " "))
	<-term
	return 0
}

// startFake starts the test binary as a fake pollhook in mode.
func startFake(t *testing.T, mode string) *Daemon {
	t.Helper()
	// Without the race detector's second of sleep at exit.
	env := []string{fakeEnv + "=" + mode, "GORACE=atexit_sleep_ms=0"}
	d, err := Start(os.Args[0], "pollhook.yaml", env, Tool{Name: "test"}.NewLogWatcher(io.Discard, LogOptions{}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		select {
		case <-d.Done():
		default:
			d.Stop(StopTimeout)
		}
	})
	return d
}

func TestDaemonReadyAndStop(t *testing.T) {
	d := startFake(t, "ready")
	if d.PID() == "" || d.Exited() != nil {
		t.Fatalf("pid %q, exited %v", d.PID(), d.Exited())
	}
	addr, err := d.WaitReady(context.Background(), &http.Client{Timeout: 10 * time.Second}, time.Millisecond, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if addr == "" || addr != d.Log().ListenAddr() {
		t.Errorf("address %q, the log's %q", addr, d.Log().ListenAddr())
	}
	if !strings.Contains(d.Log().LastLines(), `"args":"run --config pollhook.yaml --log-format json --log-level info"`) {
		t.Errorf("started with other arguments: %s", d.Log().LastLines())
	}
	if err := d.Wait(context.Background(), time.Millisecond); err != nil {
		t.Errorf("Wait on a running process: %v", err)
	}
	s := d.Stop(StopTimeout)
	if s.ExitCode != 0 || s.Killed || s.Seconds <= 0 {
		t.Errorf("shutdown %+v, want exit 0, not killed", s)
	}
	if err := d.Exited(); err == nil || !strings.HasPrefix(err.Error(), "pollhook exited (<nil>); last lines of its log:\n{") {
		t.Errorf("after Stop: %v", err)
	}
}

func TestDaemonKilled(t *testing.T) {
	d := startFake(t, "stubborn")
	if _, err := d.WaitReady(context.Background(), &http.Client{Timeout: 10 * time.Second}, time.Millisecond, time.Minute); err != nil {
		t.Fatal(err)
	}
	if s := d.Stop(50 * time.Millisecond); s.ExitCode != -1 || !s.Killed {
		t.Errorf("shutdown %+v, want killed", s)
	}
}

func TestDaemonNotReady(t *testing.T) {
	client := &http.Client{Timeout: 10 * time.Second}
	const exited = "pollhook exited (exit status 3); last lines of its log:\nconfig: no such file"
	tests := []struct {
		mode    string
		started bool          // wait for the listener before WaitReady, so that the timeout is /readyz's
		timeout time.Duration // of WaitReady: short only where it must run out
		err     string
	}{
		{"exit", false, time.Minute, exited},
		{"silent", false, 300 * time.Millisecond, "pollhook did not log its listener within 300ms"},
		{"unready", true, 300 * time.Millisecond, "pollhook's /readyz not 200 within 300ms"},
	}
	for _, tt := range tests {
		t.Run(tt.mode, func(t *testing.T) {
			d := startFake(t, tt.mode)
			if tt.started {
				select {
				case <-d.log.started:
				case <-d.Done():
					t.Fatal(d.Exited())
				}
			}
			_, err := d.WaitReady(context.Background(), client, 5*time.Millisecond, tt.timeout)
			if errString(err) != tt.err {
				t.Errorf("error %q, want %q", errString(err), tt.err)
			}
		})
	}
	t.Run("exit, waiting", func(t *testing.T) {
		d := startFake(t, "exit")
		if err := d.Wait(context.Background(), time.Hour); errString(err) != exited {
			t.Errorf("error %q, want %q", errString(err), exited)
		}
	})
	t.Run("cancelled", func(t *testing.T) {
		d := startFake(t, "silent")
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := d.WaitReady(ctx, client, time.Millisecond, time.Hour); err != context.Canceled {
			t.Errorf("WaitReady: %v, want context.Canceled", err)
		}
		if err := d.Wait(ctx, time.Hour); err != context.Canceled {
			t.Errorf("Wait: %v, want context.Canceled", err)
		}
	})
}

func TestStartError(t *testing.T) {
	_, err := Start("/nonexistent/pollhook", "c.yaml", nil, Tool{}.NewLogWatcher(&bytes.Buffer{}, LogOptions{}))
	if errString(err) != "start pollhook: fork/exec /nonexistent/pollhook: no such file or directory" {
		t.Errorf("error %v", err)
	}
}
