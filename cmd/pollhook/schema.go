package main

import (
	"context"
	"flag"
	"fmt"

	"github.com/pollhook/pollhook/config"
)

// cmdSchema prints the JSON Schema of the configuration file, which
// docs/config.schema.json holds for editors (config.example.yaml points
// yaml-language-server at it).
func cmdSchema(_ context.Context, env *cliEnv, _ *flag.FlagSet, args []string) int {
	if len(args) > 0 {
		fmt.Fprintf(env.stderr, "pollhook schema: unexpected argument %q\n", args[0])
		return exitUsage
	}
	schema, err := config.JSONSchema()
	if err != nil {
		fmt.Fprintf(env.stderr, "pollhook schema: %v\n", err)
		return exitFailure
	}
	if _, err := env.stdout.Write(schema); err != nil {
		fmt.Fprintf(env.stderr, "pollhook schema: %v\n", err)
		return exitFailure
	}
	return exitOK
}
