package main

import (
	"flag"
	"os"
	"path/filepath"
	"testing"
)

var updateSchema = flag.Bool("update", false, "rewrite docs/config.schema.json from pollhook schema")

// schemaFile is the schema editors read, through the yaml-language-server
// line of config.example.yaml.
var schemaFile = filepath.Join("..", "..", "docs", "config.schema.json")

// TestSchemaCommand checks that docs/config.schema.json is what pollhook
// schema prints (go test ./cmd/pollhook -run TestSchemaCommand -update
// rewrites it), and that the example configuration points editors at it.
func TestSchemaCommand(t *testing.T) {
	code, stdout, stderr := runCLI(t, "schema")
	if code != exitOK || stderr != "" {
		t.Fatalf("pollhook schema = %d, stderr %q", code, stderr)
	}
	if *updateSchema {
		if err := os.WriteFile(schemaFile, []byte(stdout), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(schemaFile)
	if err != nil {
		t.Fatal(err)
	}
	if stdout != string(want) {
		t.Errorf("%s is not what pollhook schema prints; run go test ./cmd/pollhook -run TestSchemaCommand -update", schemaFile)
	}

	example, err := os.ReadFile(filepath.Join("..", "..", "config.example.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	const line = "# yaml-language-server: $schema=docs/config.schema.json\n"
	if got := string(example[:min(len(line), len(example))]); got != line {
		t.Errorf("config.example.yaml starts with %q, want %q", got, line)
	}

	code, stdout, stderr = runCLI(t, "schema", "extra")
	if code != exitUsage || stdout != "" || stderr != "pollhook schema: unexpected argument \"extra\"\n" {
		t.Errorf("pollhook schema extra = %d %q %q", code, stdout, stderr)
	}
}
