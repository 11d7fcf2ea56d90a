package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"strings"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = ""

// Exit codes.
const (
	exitOK        = 0
	exitFailure   = 1 // the command ran and failed
	exitUsage     = 2 // bad flags or arguments
	exitBadConfig = 3 // the configuration is invalid
)

type command struct {
	name  string
	args  string // synopsis of positional arguments
	short string
	run   func(ctx context.Context, env *cliEnv, fs *flag.FlagSet, args []string) int
	flags func(fs *flag.FlagSet)
	subs  []command // a group of commands (pollhook destinations list) instead of run
}

// cliEnv is what every command gets from run.
type cliEnv struct {
	name           string // the command as typed, "pollhook deliveries retry", for messages
	stdout, stderr io.Writer
	logLevel       string
	logFormat      string
	lookupEnv      func(string) (string, bool)
}

var commands = []command{
	{name: "run", short: "run the daemon: poll, diff, store and push webhooks", run: cmdRun, flags: configFlag},
	{name: "validate", short: "check a configuration file and print every error with its line", run: cmdValidate, flags: configFlag},
	{name: "once", args: "JOB", short: "poll one job once and print the events it would send, changing nothing", run: cmdOnce, flags: onceFlags},
	{name: "schema", short: "print the JSON Schema of the configuration file", run: cmdSchema},
	{name: "demo", short: "run a self-contained demo: a changing source, a job and a printing receiver", run: cmdDemo, flags: demoFlags},
	{name: "health", args: "URL", short: "exit 0 when URL answers 2xx (container health checks)", run: cmdHealth, flags: healthFlags},
	{name: "destinations", short: "show the destinations of a running pollhook, resume a paused one", subs: destinationsCommands},
	{name: "deliveries", short: "list, retry and replay the dead letters of a running pollhook", subs: deliveriesCommands},
	{name: "version", short: "print the version", run: cmdVersion},
}

func usage(w io.Writer) {
	fmt.Fprintf(w, "pollhook turns polling-only HTTP APIs into webhook event sources.\n\nUsage:\n  pollhook <command> [flags]\n\nCommands:\n")
	listCommands(w, commands)
	fmt.Fprintf(w, "\nRun 'pollhook <command> --help' for the flags of a command.\n")
}

// groupUsage describes a group of commands such as pollhook deliveries.
func groupUsage(w io.Writer, g command) {
	fmt.Fprintf(w, "Usage: pollhook %s <command> [flags]\n\n%s.\n\nCommands:\n", g.name, upperFirst(g.short))
	listCommands(w, g.subs)
	fmt.Fprintf(w, "\nRun 'pollhook %s <command> --help' for the flags of a command.\n", g.name)
}

func listCommands(w io.Writer, cs []command) {
	width := 0
	for _, c := range cs {
		width = max(width, len(c.name))
	}
	for _, c := range cs {
		fmt.Fprintf(w, "  %-*s  %s\n", width, c.name, c.short)
	}
}

// run is the whole program: it parses args and returns the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) < 2 {
		usage(stderr)
		return exitUsage
	}
	name := args[1]
	switch name {
	case "-h", "--help", "help":
		usage(stdout)
		return exitOK
	case "-v", "--version":
		name = "version"
	}
	c, ok := findCommand(commands, name)
	if !ok {
		fmt.Fprintf(stderr, "pollhook: unknown command %q\n\n", name)
		usage(stderr)
		return exitUsage
	}
	if c.subs == nil {
		return runCommand(ctx, "pollhook "+c.name, c, args[2:], stdout, stderr)
	}
	if len(args) < 3 {
		groupUsage(stderr, c)
		return exitUsage
	}
	switch args[2] {
	case "-h", "--help", "help":
		groupUsage(stdout, c)
		return exitOK
	}
	sub, ok := findCommand(c.subs, args[2])
	if !ok {
		fmt.Fprintf(stderr, "pollhook %s: unknown command %q\n\n", c.name, args[2])
		groupUsage(stderr, c)
		return exitUsage
	}
	return runCommand(ctx, "pollhook "+c.name+" "+sub.name, sub, args[3:], stdout, stderr)
}

func findCommand(cs []command, name string) (command, bool) {
	for _, c := range cs {
		if c.name == name {
			return c, true
		}
	}
	return command{}, false
}

// runCommand parses the flags of c, called full on the command line, and
// runs it.
func runCommand(ctx context.Context, full string, c command, args []string, stdout, stderr io.Writer) int {
	env := &cliEnv{name: full, stdout: stdout, stderr: stderr, lookupEnv: os.LookupEnv}
	fs := flag.NewFlagSet(full, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&env.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	fs.StringVar(&env.logFormat, "log-format", "auto", "log format: json, text, or auto (text on a terminal, JSON otherwise)")
	if c.flags != nil {
		c.flags(fs)
	}
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: %s [flags] %s\n\n%s.\n\nFlags:\n", full, c.args, upperFirst(c.short))
		fs.PrintDefaults()
	}
	pos, err := parseFlags(fs, args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(stdout)
			fs.Usage()
			return exitOK
		}
		return exitUsage
	}
	return c.run(ctx, env, fs, pos)
}

// parseFlags parses args, flags and positional arguments in any order
// (pollhook deliveries retry hook evt_1 --json), and returns the positional
// ones. The flag package alone stops at the first positional argument;
// after "--" everything is positional.
func parseFlags(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if n := len(args) - len(rest); n > 0 && args[n-1] == "--" {
			return append(pos, rest...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

func configFlag(fs *flag.FlagSet) {
	fs.String("config", "pollhook.yaml", "path to the YAML configuration `file`")
}

func flagString(fs *flag.FlagSet, name string) string {
	return fs.Lookup(name).Value.String()
}

func versionString() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

func cmdVersion(_ context.Context, env *cliEnv, _ *flag.FlagSet, args []string) int {
	if len(args) > 0 {
		fmt.Fprintf(env.stderr, "pollhook version: unexpected argument %q\n", args[0])
		return exitUsage
	}
	fmt.Fprintf(env.stdout, "pollhook %s\n", versionString())
	return exitOK
}
