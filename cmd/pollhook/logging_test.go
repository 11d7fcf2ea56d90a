package main

import (
	"bytes"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestNewLogger pins the format each --log-format gives on each kind of
// stderr, and which levels pass each --log-level.
func TestNewLogger(t *testing.T) {
	tests := []struct {
		name, level, format string
		terminal            bool // write to /dev/null's kind of file: a character device
		want                string
	}{
		{name: "auto on a file is JSON", level: "info", format: "auto",
			want: `{"level":"INFO","msg":"info"}` + "\n" + `{"level":"WARN","msg":"warn","job":"orders"}` + "\n" + `{"level":"ERROR","msg":"error"}`},
		{name: "text forced", level: "warn", format: "text",
			want: `level=WARN msg=warn job=orders` + "\n" + `level=ERROR msg=error`},
		{name: "json forced, any case", level: "DEBUG", format: "JSON",
			want: `{"level":"DEBUG","msg":"debug"}` + "\n" + `{"level":"INFO","msg":"info"}` + "\n" + `{"level":"WARN","msg":"warn","job":"orders"}` + "\n" + `{"level":"ERROR","msg":"error"}`},
		{name: "error only", level: "error", format: "json", want: `{"level":"ERROR","msg":"error"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := os.Create(filepath.Join(t.TempDir(), "log"))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			l, err := newLogger(f, tt.level, tt.format)
			if err != nil {
				t.Fatal(err)
			}
			l.Debug("debug")
			l.Info("info")
			l.Warn("warn", "job", "orders")
			l.Error("error")
			out, err := os.ReadFile(f.Name())
			if err != nil {
				t.Fatal(err)
			}
			if got := dropTimes(string(out)); got != tt.want {
				t.Errorf("log =\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}

// dropTimes removes the time of each line, the one part not pinned.
func dropTimes(log string) string {
	log = regexp.MustCompile(`(?m)^\{"time":"[^"]+",`).ReplaceAllString(log, "{")
	log = regexp.MustCompile(`(?m)^time=\S+ `).ReplaceAllString(log, "")
	return strings.TrimSuffix(log, "\n")
}

func TestNewLoggerErrors(t *testing.T) {
	tests := []struct{ level, format, want string }{
		{"loud", "auto", `--log-level "loud": expected debug, info, warn or error`},
		{"info+2", "auto", `--log-level "info+2": expected debug, info, warn or error`},
		{"", "auto", `--log-level "": expected debug, info, warn or error`},
		{"info", "logfmt", `--log-format "logfmt": expected json, text or auto`},
	}
	for _, tt := range tests {
		if _, err := newLogger(&bytes.Buffer{}, tt.level, tt.format); err == nil || err.Error() != tt.want {
			t.Errorf("newLogger(%q, %q) error = %v, want %q", tt.level, tt.format, err, tt.want)
		}
	}
}

// TestIsTerminal: only a character device counts; /dev/null is one, and
// stands in for a terminal, which a test does not have.
func TestIsTerminal(t *testing.T) {
	file, err := os.Create(filepath.Join(t.TempDir(), "log"))
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	null, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer null.Close()
	tests := []struct {
		name string
		w    io.Writer
		want bool
	}{
		{"regular file", file, false},
		{"pipe", w, false},
		{"buffer", &bytes.Buffer{}, false},
		{"character device", null, true},
	}
	for _, tt := range tests {
		if got := isTerminal(tt.w); got != tt.want {
			t.Errorf("isTerminal(%s) = %v, want %v", tt.name, got, tt.want)
		}
	}
	// auto on a character device is text.
	l, err := newLogger(null, "info", "auto")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := l.Handler().(*slog.TextHandler); !ok {
		t.Errorf("auto on a character device: handler %T, want *slog.TextHandler", l.Handler())
	}
}
