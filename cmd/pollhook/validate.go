package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strings"

	"github.com/pollhook/pollhook/config"
)

func cmdValidate(_ context.Context, env *cliEnv, fs *flag.FlagSet, args []string) int {
	if len(args) > 0 {
		fmt.Fprintf(env.stderr, "pollhook validate: unexpected argument %q (did you mean --config %s?)\n", args[0], args[0])
		return exitUsage
	}
	path := flagString(fs, "config")
	cfg, code := loadConfig(env, path)
	if cfg == nil {
		return code
	}
	fmt.Fprintf(env.stdout, "%s: valid (%d jobs, %d destinations)\n", path, len(cfg.Jobs), len(cfg.Destinations))
	return exitOK
}

// loadConfig loads and validates path, printing every error on failure.
func loadConfig(env *cliEnv, path string) (*config.Config, int) {
	cfg, err := config.Load(path)
	if err == nil {
		return cfg, exitOK
	}
	return nil, printConfigError(env, path, err)
}

// printConfigError prints why the configuration at path could not be
// loaded and returns the exit code for it.
func printConfigError(env *cliEnv, path string, err error) int {
	var errs config.Errors
	if errors.As(err, &errs) {
		fmt.Fprintln(env.stderr, err.Error())
		fmt.Fprintf(env.stderr, "%s: %d error%s\n", path, len(errs), plural(len(errs)))
		return exitBadConfig
	}
	fmt.Fprintf(env.stderr, "pollhook: %v\n", err)
	return exitBadConfig
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

func replaceAll(s, old, repl string) string {
	if old == "" {
		return s
	}
	return strings.ReplaceAll(s, old, repl)
}
