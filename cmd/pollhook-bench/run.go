package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// runner runs a plan's commands from the module's root.
type runner struct {
	plan     plan
	tmp      string // built binaries
	loadBin  string // cmd/pollhook-load
	pollhook string // cmd/pollhook, a plain build
	progress io.Writer
	timeout  time.Duration // of each command
}

// command runs name args with env added, and returns its standard
// output; its standard error goes to progress. On failure the error ends
// with the last lines of both.
func (r *runner) command(ctx context.Context, env []string, name string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	fmt.Fprintf(r.progress, "$ %s\n", shell(append(append(env, name), args...)...))
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = io.MultiWriter(&stderr, r.progress)
	err := cmd.Run()
	if err != nil {
		return stdout.Bytes(), fmt.Errorf("%s %s: %w%s", name, strings.Join(args, " "), err, tail(stdout.String()+stderr.String(), 5))
	}
	return stdout.Bytes(), nil
}

// tail returns the last n non-empty lines of s, each indented, for an error.
func tail(s string, n int) string {
	var lines []string
	for _, l := range strings.Split(s, "\n") {
		if strings.TrimSpace(l) != "" {
			lines = append(lines, l)
		}
	}
	lines = lines[max(0, len(lines)-n):]
	if len(lines) == 0 {
		return ""
	}
	return ": " + strings.Join(lines, " / ")
}

// build builds pollhook-load and pollhook.
func (r *runner) build(ctx context.Context) error {
	r.loadBin = filepath.Join(r.tmp, "pollhook-load")
	r.pollhook = filepath.Join(r.tmp, "pollhook")
	if _, err := r.command(ctx, nil, "go", "build", "-o", r.loadBin, "./cmd/pollhook-load"); err != nil {
		return err
	}
	_, err := r.command(ctx, nil, "go", "build", "-o", r.pollhook, "./cmd/pollhook")
	return err
}

// goBench runs go test -bench and parses its results.
func (r *runner) goBench(ctx context.Context, args []string) (benchRuns, error) {
	out, err := r.command(ctx, nil, "go", args...)
	if err != nil {
		return nil, err
	}
	b, err := parseBench(bytes.NewReader(out))
	if err == nil && len(b) == 0 {
		err = errors.New("no benchmark results in the output")
	}
	return b, err
}

// load runs pollhook-load and decodes the JSON line that ends its output
// into v. Exit 1 (a goal missed) still gives figures.
func (r *runner) load(ctx context.Context, args []string, v any) error {
	out, err := r.command(ctx, nil, r.loadBin, append([]string{"--binary", r.pollhook}, args...)...)
	var exit *exec.ExitError
	if err != nil && !(errors.As(err, &exit) && exit.ExitCode() == 1) {
		return err
	}
	line := lastJSONLine(out)
	if line == nil {
		return errors.New("pollhook-load printed no JSON report")
	}
	return json.Unmarshal(line, v)
}

// lastJSONLine returns the last line of out that holds a JSON object.
func lastJSONLine(out []byte) []byte {
	var last []byte
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
	for sc.Scan() {
		if l := bytes.TrimSpace(sc.Bytes()); len(l) > 0 && l[0] == '{' && json.Valid(l) {
			last = append([]byte(nil), l...)
		}
	}
	return last
}

// flatten lists the scalars of a JSON object in their order, with dotted
// paths ("latency.p50_ms"); arrays are indexed ("samples.0.x").
func flatten(b []byte) ([]keyValue, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var out []keyValue
	var walk func(prefix string) error
	walk = func(prefix string) error {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		switch t := tok.(type) {
		case json.Delim:
			switch t {
			case '{':
				for dec.More() {
					k, err := dec.Token()
					if err != nil {
						return err
					}
					if err := walk(join(prefix, k.(string))); err != nil {
						return err
					}
				}
			case '[':
				for i := 0; dec.More(); i++ {
					if err := walk(join(prefix, strconv.Itoa(i))); err != nil {
						return err
					}
				}
			}
			_, err := dec.Token() // the closing delimiter
			return err
		case nil:
			out = append(out, keyValue{prefix, "null"})
		case string:
			out = append(out, keyValue{prefix, t})
		case json.Number:
			out = append(out, keyValue{prefix, number(t)})
		default:
			out = append(out, keyValue{prefix, fmt.Sprint(t)})
		}
		return nil
	}
	if err := walk(""); err != nil {
		return nil, err
	}
	return out, nil
}

// number writes a JSON number for a reader: integers as they are, others
// to three decimals.
func number(n json.Number) string {
	if _, err := n.Int64(); err == nil {
		return n.String()
	}
	f, err := n.Float64()
	if err != nil {
		return n.String()
	}
	return strconv.FormatFloat(math.Round(f*1000)/1000, 'f', -1, 64)
}

func join(prefix, k string) string {
	if prefix == "" {
		return k
	}
	return prefix + "." + k
}

// maxStreamFigures bounds the streams section: a report with series in it
// would otherwise flood the page.
const maxStreamFigures = 60

// measureAll runs every section in turn; a section that fails says why
// and the others still run.
func (r *runner) measureAll(ctx context.Context, in *inputs) {
	p := r.plan
	errText := func(err error) string { return strings.ReplaceAll(err.Error(), "\n", " ") }
	buildErr := r.build(ctx)

	in.Diff.At = time.Now()
	if b, err := r.goBench(ctx, p.Diff); err != nil {
		in.Diff.Err = errText(err)
	} else {
		in.Diff.Value = b
	}

	in.DiffDoc.At = time.Now()
	if b, err := r.goBench(ctx, p.DiffDoc); err != nil {
		in.DiffDoc.Err = errText(err)
	} else {
		in.DiffDoc.Value = b
	}

	in.P2C.At = time.Now()
	in.P2C.Value = benchRuns{}
	for _, n := range p2cSizes {
		for range p.P2CRuns {
			b, err := r.goBench(ctx, p.P2C[n])
			if err != nil {
				in.P2C.Err = errText(err)
				break
			}
			in.P2C.Value.merge(b)
		}
	}

	loadSection := func(m *measured[loadResult], args []string) {
		m.At = time.Now()
		if buildErr != nil {
			m.Err = errText(buildErr)
			return
		}
		if err := r.load(ctx, args, &m.Value); err != nil {
			m.Err = errText(err)
		}
	}
	loadSection(&in.Load, p.Load)

	in.Deliver.At = time.Now()
	if b, err := r.goBench(ctx, p.Deliver); err != nil {
		in.Deliver.Err = errText(err)
	} else {
		in.Deliver.Value = b
	}

	loadSection(&in.Latency, p.Latency)
	loadSection(&in.Idle, p.Idle)

	in.Sizes.At = time.Now()
	plain, static := filepath.Join(r.tmp, "size-plain"), filepath.Join(r.tmp, "size-static")
	sizeOf := func(env, args []string, out string) (int64, error) {
		a := append([]string(nil), args...)
		for i := range a {
			if a[i] == "pollhook" && i > 0 && a[i-1] == "-o" {
				a[i] = out
			}
		}
		if _, err := r.command(ctx, env, "go", a...); err != nil {
			return 0, err
		}
		fi, err := os.Stat(out)
		if err != nil {
			return 0, err
		}
		return fi.Size(), nil
	}
	var err error
	if in.Sizes.Value.Plain, err = sizeOf(nil, p.Plain, plain); err == nil {
		in.Sizes.Value.Static, err = sizeOf(p.StaticE, p.Static, static)
	}
	if err != nil {
		in.Sizes.Err = errText(err)
	}

	in.Startup.At = time.Now()
	if buildErr != nil {
		in.Startup.Err = errText(buildErr)
	} else if err := r.load(ctx, p.Startup, &in.Startup.Value); err != nil {
		in.Startup.Err = errText(err)
	}

	in.Stream.At = time.Now()
	in.Stream.Value, in.Stream.Err = r.stream(ctx)
}

// stream runs the SSE scale tool when it is in the tree.
func (r *runner) stream(ctx context.Context) ([]keyValue, string) {
	if fi, err := os.Stat("cmd/pollhook-streamload"); err != nil || !fi.IsDir() {
		return nil, "cmd/pollhook-streamload is not in this tree"
	}
	out, err := r.command(ctx, nil, "go", r.plan.Stream...)
	// Like pollhook-load, it exits 1 when a goal was missed, report printed.
	var exit *exec.ExitError
	goalMissed := errors.As(err, &exit) && exit.ExitCode() == 1 && lastJSONLine(out) != nil
	if err != nil && !goalMissed {
		return nil, strings.ReplaceAll(err.Error(), "\n", " ")
	}
	line := lastJSONLine(out)
	if line == nil {
		if t := bytes.TrimSpace(out); json.Valid(t) && len(t) > 0 && t[0] == '{' {
			line = t
		} else {
			return nil, "cmd/pollhook-streamload printed no JSON object"
		}
	}
	kvs, err := flatten(line)
	if err != nil {
		return nil, "its JSON: " + err.Error()
	}
	if goalMissed {
		kvs = append([]keyValue{{"exit status", "1: the tool reports a goal missed"}}, kvs...)
	}
	if len(kvs) > maxStreamFigures {
		kvs = append(kvs[:maxStreamFigures], keyValue{"…", fmt.Sprintf("%d more figures in the tool's JSON", len(kvs)-maxStreamFigures)})
	}
	return kvs, ""
}
