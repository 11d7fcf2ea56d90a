package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// Load reads the configuration file at path with the process environment.
// See Parse.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	return Parse(path, data, os.LookupEnv)
}

// Parse decodes, expands, defaults and validates a configuration. filename
// names the file in errors, and relative secret_file, template_file and
// admin_token_file paths are read from its directory. lookupEnv resolves ${VAR} (pass
// os.LookupEnv, or a fake in tests; nil means an empty environment).
//
// On failure the error is an Errors holding every problem found, in file
// order, and the Config is nil: a configuration is used whole or not at all.
func Parse(filename string, data []byte, lookupEnv func(string) (string, bool)) (*Config, error) {
	c, t, err := decode(filename, data, lookupEnv, nil)
	if err != nil {
		return nil, err
	}
	readFiles(c, t, filepath.Dir(filename))
	applyDefaults(c, t)
	validate(c, t)
	if len(t.errs) > 0 {
		sortErrors(t.errs)
		return nil, t.errs
	}
	return c, nil
}

// decode parses data and decodes it into a Config, with no files read, no
// defaults and no validation yet. pick, when not nil, selects the part of
// the document's top node to decode. Problems are left in the tracker,
// except a syntax error or an exhausted node budget, which end it at once.
func decode(filename string, data []byte, lookupEnv func(string) (string, bool), pick func(*yaml.Node) *yaml.Node) (*Config, *tracker, error) {
	doc, err := parseYAML(filename, data)
	if err != nil {
		return nil, nil, err
	}
	d := newDecoder(filename, lookupEnv)
	var c Config
	cv := reflect.ValueOf(&c).Elem()
	if doc != nil {
		if pick != nil {
			doc = pick(doc)
		}
		d.fields[""].pos = nodePos(doc)
		d.value("", doc, cv)
	}
	if d.exhausted != nil {
		return nil, nil, Errors{*d.exhausted}
	}
	d.absentFields("", cv.Type())
	return &c, d.tracker, nil
}

// newDecoder returns a decoder for the file filename, resolving ${VAR}
// with lookupEnv (nil: an empty environment).
func newDecoder(filename string, lookupEnv func(string) (string, bool)) *decoder {
	if lookupEnv == nil {
		lookupEnv = func(string) (string, bool) { return "", false }
	}
	return &decoder{
		tracker: newTracker(filename),
		env:     lookupEnv,
		budget:  maxNodes,
		active:  map[*yaml.Node]bool{},
	}
}

// parseYAML returns the content of the file's single document, nil for a
// file without one (empty, or comments only).
func parseYAML(filename string, data []byte) (*yaml.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); errors.Is(err, io.EOF) {
		return nil, nil
	} else if err != nil {
		return nil, Errors{yamlError(filename, data, err)}
	}
	var extra yaml.Node
	switch err := dec.Decode(&extra); {
	case errors.Is(err, io.EOF):
	case err != nil:
		return nil, Errors{yamlError(filename, data, err)}
	default:
		// yaml.v3 does not tell where the second document starts; its first node does.
		at := position{extra.Line, extra.Column}
		if len(extra.Content) > 0 {
			at = nodePos(extra.Content[0])
		}
		return nil, Errors{{File: filename, Line: at.line, Column: at.col,
			Msg: "a second YAML document; a configuration file holds exactly one (remove the ---)"}}
	}
	if len(doc.Content) == 0 {
		return nil, nil
	}
	return doc.Content[0], nil
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// yamlParserProblems are the problems yaml.v3's parser (as opposed to its
// scanner) reports. For them yaml.v3 prints a 0-based line, the line where
// the unfinished construct starts; scanner errors carry a 1-based line.
var yamlParserProblems = []string{
	"did not find expected <stream-start>",
	"did not find expected <document start>",
	"found undefined tag handle",
	"did not find expected node content",
	"did not find expected '-' indicator",
	"did not find expected key",
	"did not find expected ',' or ']'",
	"did not find expected ',' or '}'",
	"found duplicate %YAML directive",
	"found incompatible YAML document",
	"found duplicate %TAG directive",
}

// yamlError positions a yaml.v3 syntax error. yaml.v3 leaves the line out
// when it would be the first one (its 0-based line is 0); for the few errors
// that carry no position at all, the offending text is found in the data.
// The column is unknown and left out.
func yamlError(filename string, data []byte, err error) Error {
	e := Error{File: filename, Line: 1}
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
		e.Line, _ = strconv.Atoi(m[1])
		msg = m[2]
		if slices.Contains(yamlParserProblems, msg) {
			e.Line++
		}
	} else if anchor, ok := strings.CutPrefix(msg, "unknown anchor '"); ok {
		anchor, _, _ = strings.Cut(anchor, "' referenced")
		if i := bytes.Index(data, []byte("*"+anchor)); i >= 0 {
			e.Line, e.Column = offsetPos(data, i)
		}
	} else if strings.Contains(msg, "control characters") || strings.Contains(msg, "UTF-8") || strings.Contains(msg, "Unicode") {
		if i := firstUnprintable(data); i >= 0 {
			e.Line, e.Column = offsetPos(data, i)
		}
	}
	e.Msg = "malformed YAML: " + msg
	return e
}

// firstUnprintable returns the offset of the first byte YAML rejects
// (invalid UTF-8 or a control character), or -1.
func firstUnprintable(data []byte) int {
	for i := 0; i < len(data); {
		r, size := utf8.DecodeRune(data[i:])
		ok := r == '\t' || r == '\n' || r == '\r' || r >= 0x20 && r <= 0x7e || r == 0x85 ||
			r >= 0xa0 && r <= 0xd7ff || r >= 0xe000 && r <= 0xfffd || r >= 0x10000 && r <= 0x10ffff
		if r == utf8.RuneError && size == 1 {
			ok = false // invalid UTF-8, not a literal U+FFFD
		}
		if !ok && !(r == 0xfeff && i == 0) {
			return i
		}
		i += size
	}
	return -1
}

// offsetPos converts a byte offset into a 1-based line and column (in runes).
func offsetPos(data []byte, off int) (line, col int) {
	before := data[:off]
	line = bytes.Count(before, []byte("\n")) + 1
	col = utf8.RuneCount(before[bytes.LastIndexByte(before, '\n')+1:]) + 1
	return line, col
}

// readFiles reads admin_token_file, every destination's secret_file and
// template_file, and every job's credential files and TLS files. Errors name the file but never show what a secret file holds.
func readFiles(c *Config, t *tracker, dir string) {
	readSecretFile(t, "server", "admin_token", &c.Server.AdminToken, c.Server.AdminTokenFile, dir)
	for name, d := range c.Destinations {
		p := keyPath("destinations", name)
		readSecretFile(t, p, "secret", &d.Secret, d.SecretFile, dir)
		// A template is used exactly as written: its last newline may matter.
		if data, ok := readFieldFile(t, p, "template", d.Template != "", d.TemplateFile, dir); ok {
			d.Template = string(data)
		}
	}
	for i, j := range c.Jobs {
		readJobFiles(t, indexPath("jobs", i), j, dir)
	}
	readStreamFiles(c, t, dir)
}

// readSecretFile fills *s from file, the value of the field secretField+"_file"
// in section. A trailing newline, which editors and `echo` add, is dropped.
func readSecretFile(t *tracker, section, secretField string, s *Secret, file, dir string) {
	if data, ok := readFieldFile(t, section, secretField, *s != "", file, dir); ok {
		*s = Secret(strings.TrimRight(string(data), "\r\n"))
	}
}

// readFieldFile reads file, the value of the field field+"_file" in section,
// which stands for field; set says whether field was also given. It reports
// a problem and returns false when both are set or the file cannot be read
// or holds nothing but line breaks. A relative file is read from dir.
func readFieldFile(t *tracker, section, field string, set bool, file, dir string) ([]byte, bool) {
	if file == "" {
		return nil, false
	}
	path := keyPath(section, field+"_file")
	if set {
		t.errorf(path, "%s and %s_file are both set; keep one", field, field)
		return nil, false
	}
	if !filepath.IsAbs(file) {
		file = filepath.Join(dir, file)
	}
	what := strings.ReplaceAll(field, "_", " ")
	data, err := readSmallFile(file, what)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err // the path is already in the message
		}
		t.errorf(path, "cannot read %q: %v", file, err)
		return nil, false
	}
	if strings.TrimRight(string(data), "\r\n") == "" {
		t.errorf(path, "%q is empty; expected the %s in it", file, what)
		return nil, false
	}
	return data, true
}

// maxSecretFile bounds a secret or template file; a larger one is a wrong
// path (a log, a device), and reading it whole would only waste memory.
const maxSecretFile = 64 << 10

// readSmallFile reads a regular file of at most maxSecretFile bytes, which
// should hold only what (a secret, a template). Devices and FIFOs are
// refused because reading them may never end.
func readSmallFile(name, what string) ([]byte, error) {
	return readFileLimited(name, what, maxSecretFile)
}

// readFileLimited reads a regular file of at most limit bytes, which should
// hold only what.
func readFileLimited(name, what string, limit int64) ([]byte, error) {
	// Stat before Open: opening a FIFO blocks until someone writes to it.
	info, err := os.Stat(name)
	if err != nil {
		return nil, err
	}
	if !info.Mode().IsRegular() {
		return nil, errors.New("not a regular file")
	}
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("larger than %d KiB; expected a file holding only the %s", limit>>10, what)
	}
	return data, nil
}
