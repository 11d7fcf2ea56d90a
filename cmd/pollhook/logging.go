package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
)

// logger builds the process logger from --log-level and --log-format,
// writing to the command's stderr.
func (e *cliEnv) logger() (*slog.Logger, error) {
	return newLogger(e.stderr, e.logLevel, e.logFormat)
}

// newLogger returns a logger writing to w at level (debug, info, warn or
// error, in any case) in format: json, text, or auto, which is text when w
// is a terminal and JSON otherwise, since a terminal has a person in front
// of it and anything else (a pipe to Docker or journald, a file) a log
// collector that parses JSON.
func newLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	var lv slog.Level
	switch strings.ToLower(level) {
	case "debug":
		lv = slog.LevelDebug
	case "info":
		lv = slog.LevelInfo
	case "warn":
		lv = slog.LevelWarn
	case "error":
		lv = slog.LevelError
	default:
		return nil, fmt.Errorf("--log-level %q: expected debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch f := strings.ToLower(format); {
	case f == "json", f == "auto" && !isTerminal(w):
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	case f == "text", f == "auto":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format %q: expected json, text or auto", format)
}

// isTerminal reports whether w is a character device, which is what a
// terminal is. golang.org/x/term would ask the tty driver itself; the mode
// bit is enough to tell a terminal from the pipes and files logs go to in
// production, and /dev/null, the one other character device stderr meets,
// discards the format anyway.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
