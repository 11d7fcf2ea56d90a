package e2e

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// relConfigTimeout bounds one run of pollhook on a malformed
// configuration: it must refuse it at once, never start.
const relConfigTimeout = 20 * time.Second

// relMalformed are malformed configurations beyond the pinned corpus of
// testdata/config/invalid-*.yaml: damaged files rather than broken rules.
var relMalformed = map[string]string{
	"empty":            "",
	"binary":           "\xff\xfe\x00\x01garbage\x02\x03\n",
	"invalid-utf8":     "server:\n  listen: \"\xc3(\"\n",
	"tabs":             "jobs:\n\t- name: x\n",
	"json-trailing":    `{"jobs": [{"name": "x",}]}`,
	"unclosed-quote":   "server:\n  listen: \"127.0.0.1:0\n",
	"flow-unclosed":    "jobs: [{name: x, schedule: \"@every 1s\"\n",
	"deep-nesting":     strings.Repeat("[", 5000) + strings.Repeat("]", 5000) + "\n",
	"billion-laughs":   relLaughs(),
	"null-jobs":        "jobs: ~\n",
	"scalar-root":      "just a string\n",
	"list-root":        "- jobs\n- destinations\n",
	"duplicate-keys":   "server:\n  listen: \":1\"\n  listen: \":2\"\n",
	"huge-line":        "server:\n  listen: \"" + strings.Repeat("x", 1<<20) + "\"\n",
	"anchor-undefined": "jobs: *nowhere\n",
	"truncated":        "destinations:\n  hook:\n    url: http://127.0.0.1:9/hook\njobs:\n  - name: orders\n    schedule: \"@every 1s\"\n    request:\n      url: http://127.0.0.1:9/api\n    items: data.\n",
}

// relLaughs is a YAML alias bomb: nine levels of nine aliases.
func relLaughs() string {
	var b strings.Builder
	b.WriteString("a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n")
	prev := "a"
	for _, n := range []string{"b", "c", "d", "e", "f", "g", "h", "i"} {
		fmt.Fprintf(&b, "%s: &%s [*%s,*%s,*%s,*%s,*%s,*%s,*%s,*%s,*%s]\n", n, n, prev, prev, prev, prev, prev, prev, prev, prev, prev)
		prev = n
	}
	b.WriteString("jobs: *i\n")
	return b.String()
}

// relBadConfigs runs `pollhook validate` and `pollhook run` on every
// malformed configuration: each must exit non-zero, within
// relConfigTimeout, with a FILE:LINE:COL message, and never panic.
func relBadConfigs(t *testing.T, table *relTable) {
	corpus, err := filepath.Abs("../testdata/config")
	if err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob(filepath.Join(corpus, "invalid-*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 30 {
		t.Fatalf("%d files match testdata/config/invalid-*.yaml, want at least 30", len(files))
	}
	dir := t.TempDir()
	for _, name := range slices.Sorted(maps.Keys(relMalformed)) {
		path := filepath.Join(dir, "malformed-"+name+".yaml")
		writeFile(t, path, relMalformed[name])
		files = append(files, path)
	}
	row := relRow{scenario: "bad config: validate and run", note: fmt.Sprintf("%d files (%d of the pinned corpus, %d damaged); "+
		"false events here: a file accepted, hung, panicked or refused without FILE:LINE", len(files), len(files)-len(relMalformed), len(relMalformed))}
	var slowest time.Duration
	for _, f := range files {
		for _, verb := range []string{"validate", "run"} {
			row.operations++
			row.faults++
			took, problem := relRunBadConfig(verb, f, dir)
			slowest = max(slowest, took)
			if problem != "" {
				row.falseEvts++ // a config that is not refused clearly
				t.Errorf("pollhook %s --config %s: %s", verb, filepath.Base(f), problem)
			}
		}
	}
	row.note += fmt.Sprintf("; slowest %s", slowest.Round(time.Millisecond))
	table.add(row)
}

// relRunBadConfig runs one command on a malformed configuration and says
// what is wrong with how pollhook refused it ("" when nothing).
func relRunBadConfig(verb, path, dir string) (time.Duration, string) {
	ctx, cancel := context.WithTimeout(context.Background(), relConfigTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, verb, "--config", path)
	// No variable of the corpus is set: ${VAR} without a default must
	// fail as it would in production.
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	cmd.Dir = dir // where a store path the file names would be
	began := time.Now()
	out, err := cmd.CombinedOutput()
	took := time.Since(began)
	text := string(out)
	var exit *exec.ExitError
	switch {
	case ctx.Err() != nil:
		return took, fmt.Sprintf("still running after %s:\n%s", relConfigTimeout, lastLines(text, 10))
	case err == nil:
		return took, fmt.Sprintf("exit status 0:\n%s", lastLines(text, 10))
	case !errors.As(err, &exit):
		return took, err.Error()
	case strings.Contains(text, "panic:") || strings.Contains(text, "goroutine "):
		return took, fmt.Sprintf("panicked:\n%s", lastLines(text, 30))
	}
	// FILE:LINE:COL: for every rule; YAML syntax errors have a line and
	// no column (yaml.v3's scanner gives none).
	if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(path) + `:\d+(:\d+)?: \S`).MatchString(text) {
		return took, fmt.Sprintf("exit %d without a %s:LINE[:COL]: message:\n%s", exit.ExitCode(), path, lastLines(text, 10))
	}
	return took, ""
}
