// Command pollhook-bench measures pollhook and writes docs/BENCHMARKS.md:
// the differ's and the scheduler's benchmarks, polling at scale, durable
// deliveries, end-to-end latency, memory, binary size, start-up time and,
// when cmd/pollhook-streamload is in the tree, SSE streams at scale. Each
// section gives its command and the machine. Run it from the module's
// root, as scripts/benchmarks does:
//
//	go run ./cmd/pollhook-bench            # full: about 15 minutes
//	go run ./cmd/pollhook-bench --quick    # short runs, to test the script
//
// It exits 0 when the report was written (sections that could not be
// measured say why in it), 2 on bad flags, 3 when it could not be written.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("pollhook-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	quick := fs.Bool("quick", false, "short runs, to test the script: the figures are not for comparison")
	out := fs.String("out", "", "where to write the report (default: docs/BENCHMARKS.md, or with --quick a file in the temporary directory)")
	timeout := fs.Duration("timeout", 20*time.Minute, "longest run of one command")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "pollhook-bench: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	if *out == "" {
		*out = filepath.Join("docs", "BENCHMARKS.md")
		if *quick {
			*out = filepath.Join(os.TempDir(), "BENCHMARKS.quick.md")
		}
	}
	if _, err := os.Stat("go.mod"); err != nil {
		fmt.Fprintln(stderr, "pollhook-bench: run it from the module's root (scripts/benchmarks does)")
		return 2
	}
	tmp, err := os.MkdirTemp("", "pollhook-bench-")
	if err != nil {
		fmt.Fprintf(stderr, "pollhook-bench: %v\n", err)
		return 3
	}
	defer os.RemoveAll(tmp)

	in := &inputs{Plan: newPlan(*quick), Machine: describeMachine(ctx)}
	r := &runner{plan: in.Plan, tmp: tmp, progress: stderr, timeout: *timeout}
	r.measureAll(ctx, in)
	if ctx.Err() != nil {
		fmt.Fprintln(stderr, "pollhook-bench: interrupted; the report was not written")
		return 3
	}
	if err := os.WriteFile(*out, []byte(render(in)), 0o644); err != nil {
		fmt.Fprintf(stderr, "pollhook-bench: %v\n", err)
		return 3
	}
	fmt.Fprintf(stdout, "wrote %s (started %s, took %s)\n", *out, in.Machine.Date.Format(time.RFC3339), time.Since(in.Machine.Date).Round(time.Second))
	return 0
}
