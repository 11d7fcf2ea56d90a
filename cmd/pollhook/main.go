// Command pollhook turns polling-only HTTP APIs into webhook event sources.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	// CRON_TZ= schedules need zone data, which a static image does not have.
	_ "time/tzdata"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
