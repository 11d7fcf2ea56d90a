package main

import (
	"bytes"
	"context"
	"flag"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(context.Background(), append([]string{"pollhook"}, args...), &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestUsage(t *testing.T) {
	tests := []struct {
		args       []string
		code       int
		stdoutHas  string
		stderrHas  string
		stdoutNone bool
	}{
		{args: nil, code: exitUsage, stderrHas: "Usage:\n  pollhook <command> [flags]", stdoutNone: true},
		{args: []string{"--help"}, code: exitOK, stdoutHas: "  validate      check a configuration file"},
		{args: []string{"frobnicate"}, code: exitUsage, stderrHas: `pollhook: unknown command "frobnicate"`, stdoutNone: true},
		{args: []string{"run", "--help"}, code: exitOK, stdoutHas: "Usage: pollhook run [flags] \n\nRun the daemon: poll, diff, store and push webhooks.\n\nFlags:\n  -config file"},
		{args: []string{"validate", "--help"}, code: exitOK, stdoutHas: "Usage: pollhook validate [flags]"},
		{args: []string{"demo", "--help"}, code: exitOK, stdoutHas: "-change-every duration"},
		{args: []string{"health", "--help"}, code: exitOK, stdoutHas: "Usage: pollhook health [flags] URL"},
		{args: []string{"version", "--help"}, code: exitOK, stdoutHas: "Usage: pollhook version"},
		{args: []string{"destinations", "--help"}, code: exitOK, stdoutHas: "Usage: pollhook destinations <command> [flags]\n\n" +
			"Show the destinations of a running pollhook, resume a paused one.\n\nCommands:\n" +
			"  list    list the destinations with their state and, per job, the events still to deliver\n" +
			"  resume  resume a destination paused because its receiver answered 410 Gone\n"},
		{args: []string{"destinations", "resume", "--help"}, code: exitOK, stdoutHas: "Usage: pollhook destinations resume [flags] NAME\n\n" +
			"Resume a destination paused because its receiver answered 410 Gone.\n\nFlags:\n  -addr address\n"},
		{args: []string{"deliveries", "retry", "-h"}, code: exitOK, stdoutHas: "Usage: pollhook deliveries retry [flags] DESTINATION EVENT_ID\n"},
		{args: []string{"deliveries", "list", "--help"}, code: exitOK, stdoutHas: "  -destination name\n    \tonly the dead letters of this destination name\n"},
		{args: []string{"destinations"}, code: exitUsage, stderrHas: "Usage: pollhook destinations <command> [flags]", stdoutNone: true},
		{args: []string{"destinations", "list", "--bogus"}, code: exitUsage, stderrHas: "flag provided but not defined: -bogus", stdoutNone: true},
		{args: []string{"version"}, code: exitOK, stdoutHas: "pollhook dev\n"},
		{args: []string{"--version"}, code: exitOK, stdoutHas: "pollhook dev\n"},
		{args: []string{"run", "--bogus"}, code: exitUsage, stderrHas: "flag provided but not defined: -bogus"},
		{args: []string{"run", "extra.yaml"}, code: exitUsage, stderrHas: `pollhook run: unexpected argument "extra.yaml" (did you mean --config extra.yaml?)`},
		{args: []string{"health"}, code: exitUsage, stderrHas: "pollhook health: expected one URL"},
		{args: []string{"run", "--log-level", "loud", "--config", "../../config.example.yaml"}, code: exitUsage, stderrHas: `--log-level "loud": expected debug, info, warn or error`},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			code, stdout, stderr := runCLI(t, tc.args...)
			if code != tc.code {
				t.Errorf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tc.code, stdout, stderr)
			}
			if !strings.Contains(stdout, tc.stdoutHas) {
				t.Errorf("stdout %q does not contain %q", stdout, tc.stdoutHas)
			}
			if !strings.Contains(stderr, tc.stderrHas) {
				t.Errorf("stderr %q does not contain %q", stderr, tc.stderrHas)
			}
			if tc.stdoutNone && stdout != "" {
				t.Errorf("stdout %q, want nothing", stdout)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("jobs:\n  - name: orders\n    schedule: \"every 5m\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := runCLI(t, "validate", "--config", bad)
	if code != exitBadConfig {
		t.Errorf("exit %d, want %d", code, exitBadConfig)
	}
	if stdout != "" {
		t.Errorf("stdout %q, want nothing", stdout)
	}
	want := bad + `:2:5: jobs[0].destinations: no destinations; a job needs at least one, and none are defined (add one under destinations:)
` + bad + `:2:5: jobs[0].request.url: missing; expected an absolute http or https URL such as https://api.example.com/orders
` + bad + `:3:5: jobs[0].schedule: "every 5m" is not a cron expression or @every duration (expected 5 to 6 fields, found 2: [every 5m])
` + bad + `: 3 errors
`
	if stderr != want {
		t.Errorf("stderr:\n%s\nwant:\n%s", stderr, want)
	}

	code, stdout, stderr = runCLI(t, "validate", "--config", "../../config.example.yaml")
	if code != exitOK || stdout != "../../config.example.yaml: valid (1 jobs, 1 destinations)\n" {
		t.Errorf("validate config.example.yaml = %d %q %q", code, stdout, stderr)
	}

	code, _, stderr = runCLI(t, "validate", "--config", filepath.Join(dir, "missing.yaml"))
	if code != exitBadConfig || !strings.Contains(stderr, "missing.yaml") {
		t.Errorf("missing file = %d %q", code, stderr)
	}
}

func TestHealth(t *testing.T) {
	tests := []struct {
		status    int
		code      int
		stdoutHas string
		stderrHas string
	}{
		{200, exitOK, "200 OK", ""},
		{204, exitOK, "204 No Content", ""},
		{503, exitFailure, "", "503 Service Unavailable"},
		{302, exitFailure, "", "302 Found"},
	}
	for _, tc := range tests {
		t.Run(http.StatusText(tc.status), func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if tc.status == 302 {
					http.Redirect(w, r, "/elsewhere", tc.status)
					return
				}
				w.WriteHeader(tc.status)
			}))
			defer srv.Close()
			code, stdout, stderr := runCLI(t, "health", srv.URL+"/readyz?token=hunter2")
			if code != tc.code || !strings.Contains(stdout, tc.stdoutHas) || !strings.Contains(stderr, tc.stderrHas) {
				t.Errorf("health = %d %q %q", code, stdout, stderr)
			}
			if strings.Contains(stdout+stderr, "hunter2") {
				t.Errorf("health printed the query secret: %q %q", stdout, stderr)
			}
		})
	}
	srv := httptest.NewServer(http.NotFoundHandler())
	addr := srv.URL
	srv.Close()
	code, _, stderr := runCLI(t, "health", addr+"/healthz")
	if code != exitFailure || !strings.Contains(stderr, "unreachable") {
		t.Errorf("health of a closed port = %d %q", code, stderr)
	}
}

// TestParseFlags: flags may come before, between or after the positional
// arguments; after "--" everything is positional.
func TestParseFlags(t *testing.T) {
	tests := []struct {
		args []string
		pos  []string
		json bool
	}{
		{[]string{"hook", "evt_1"}, []string{"hook", "evt_1"}, false},
		{[]string{"--json", "hook", "evt_1"}, []string{"hook", "evt_1"}, true},
		{[]string{"hook", "--json", "evt_1"}, []string{"hook", "evt_1"}, true},
		{[]string{"hook", "evt_1", "--json"}, []string{"hook", "evt_1"}, true},
		{[]string{"hook", "--", "--json"}, []string{"hook", "--json"}, false},
		{[]string{"--", "-x", "--json"}, []string{"-x", "--json"}, false},
		{nil, nil, false},
	}
	for _, tc := range tests {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		js := fs.Bool("json", false, "")
		pos, err := parseFlags(fs, tc.args)
		if err != nil || !slices.Equal(pos, tc.pos) || *js != tc.json {
			t.Errorf("parseFlags(%q) = %q, json %v, %v; want %q, json %v", tc.args, pos, *js, err, tc.pos, tc.json)
		}
	}
}
