package config

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// The decoder walks the yaml.Node tree itself instead of calling node.Decode:
// yaml.v3 does not reject unknown fields inside a node, stops at the first
// type error, and forgets positions. Walking by hand rejects unknown fields
// at every level, reports every problem, expands ${VAR} per scalar (after
// parsing, so positions stay true), and remembers where each field path is
// so that validation can point at it too.

// maxNodes bounds how many values one file may expand to. Aliases can make a
// small file describe an exponentially large tree ("billion laughs"); no real
// configuration comes near this.
const maxNodes = 100_000

// position is a 1-based line and column in the file.
type position struct{ line, col int }

// field is what the decoder learned about one field path.
type field struct {
	pos    position
	parent string // path of the enclosing field; walked to suppress follow-up errors
	given  bool   // a non-empty value was written (after ${VAR} expansion)
	failed bool   // the value could not be decoded; later errors on it or below it are noise
}

// tracker records every field path's position and collects errors.
type tracker struct {
	file   string
	fields map[string]*field
	errs   Errors
}

func newTracker(file string) *tracker {
	return &tracker{file: file, fields: map[string]*field{"": {pos: position{1, 1}}}}
}

// record notes that path (inside parent) sits at pos.
func (t *tracker) record(path, parent string, pos position) {
	t.fields[path] = &field{pos: pos, parent: parent}
}

// pos is where path is written. Fields the file leaves out are recorded at
// their parent's position (see absentFields); a path never recorded at all
// falls back to the start of the document.
func (t *tracker) pos(path string) position {
	if f, ok := t.fields[path]; ok {
		return f.pos
	}
	return t.fields[""].pos
}

// given reports whether a non-empty value was written for path; defaults
// apply where it was not.
func (t *tracker) given(path string) bool {
	f, ok := t.fields[path]
	return ok && f.given
}

// errorf reports a problem with path at its position, unless path or one of
// its parents already failed to decode: a field that could not be read would
// otherwise also be reported as missing or invalid.
func (t *tracker) errorf(path, format string, args ...any) {
	for p := path; ; {
		f, ok := t.fields[p]
		if !ok {
			break
		}
		if f.failed {
			return
		}
		if p == "" {
			break
		}
		p = f.parent
	}
	t.errorAt(path, t.pos(path), fmt.Sprintf(format, args...))
}

// fail reports that the value at path could not be decoded.
func (t *tracker) fail(path, format string, args ...any) {
	t.errorf(path, format, args...)
	if f, ok := t.fields[path]; ok {
		f.failed = true
	}
}

func (t *tracker) errorAt(path string, pos position, msg string) {
	t.errs = append(t.errs, Error{File: t.file, Line: pos.line, Column: pos.col, Path: path, Msg: msg})
}

// keyPath is the path of key inside parent: parent.key, or parent["key"]
// when the key holds characters that would make the path ambiguous.
func keyPath(parent, key string) string {
	simple := key != ""
	for _, r := range key {
		if !(r == '_' || r == '-' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			simple = false
			break
		}
	}
	switch {
	case !simple:
		return parent + "[" + strconv.Quote(key) + "]"
	case parent == "":
		return key
	default:
		return parent + "." + key
	}
}

// indexPath is the path of element i of the list at parent.
func indexPath(parent string, i int) string {
	return parent + "[" + strconv.Itoa(i) + "]"
}

func nodePos(n *yaml.Node) position { return position{n.Line, n.Column} }

// decoder fills Go values from yaml.Node trees.
type decoder struct {
	*tracker
	env    func(string) (string, bool)
	budget int
	// exhausted is set when budget runs out; it is then the only error
	// worth reporting, since most of the file was not decoded.
	exhausted *Error
	// active holds the container nodes being decoded; meeting one again
	// means an alias or merge refers to its own ancestor.
	active map[*yaml.Node]bool
}

var (
	durationType = reflect.TypeFor[Duration]()
	byteSizeType = reflect.TypeFor[ByteSize]()
	keyListType  = reflect.TypeFor[KeyList]()
)

// value decodes n into v; path has already been recorded by the caller.
func (d *decoder) value(path string, n *yaml.Node, v reflect.Value) {
	if v.Kind() == reflect.Pointer {
		// Allocate only when a value was really given, so an absent or empty
		// value leaves nil and the default applies.
		p := reflect.New(v.Type().Elem())
		d.value(path, n, p.Elem())
		if d.given(path) {
			v.Set(p)
		}
		return
	}
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if d.active[n] {
		d.fail(path, "alias refers to a value that contains it; YAML aliases must not form a cycle")
		d.absentFields(path, v.Type())
		return
	}
	if d.budget--; d.budget < 0 {
		if d.budget == -1 {
			d.exhausted = &Error{File: d.file, Line: d.pos(path).line, Column: d.pos(path).col,
				Msg: fmt.Sprintf("the file expands to more than %d values through aliases; simplify its anchors", maxNodes)}
		}
		return
	}
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" {
		d.absentFields(path, v.Type())
		return
	}
	d.active[n] = true
	defer delete(d.active, n)

	t := v.Type()
	switch {
	case t == keyListType && n.Kind != yaml.SequenceNode:
		if s, ok := d.scalar(path, n, "a field name or a list of field names"); ok {
			v.Set(reflect.ValueOf(KeyList{s}))
			// Validation checks key[0] whichever way the key was written.
			d.record(indexPath(path, 0), path, nodePos(n))
		}
	case t.Kind() == reflect.Struct:
		d.structure(path, n, v)
	case t.Kind() == reflect.Map:
		d.mapping(path, n, v)
	case t.Kind() == reflect.Slice:
		d.sequence(path, n, v)
	default:
		k := scalarKindOf(t)
		if s, ok := d.scalar(path, n, k.want); ok && !k.set(v, s) {
			d.fail(path, k.invalid, s)
		}
	}
}

// scalarKind says how to read one type of single value.
type scalarKind struct {
	want    string                               // what a value looks like, for "expected X, got a list"
	invalid string                               // the message for unreadable text, %q being the text
	set     func(v reflect.Value, s string) bool // stores s in v; false when s is not readable
}

// scalarKindOf returns how to read a value of type t. Text is taken as
// written whatever YAML thinks its type is, so quoted numbers ("15") and
// ${VAR} expansions read the same as plain ones.
func scalarKindOf(t reflect.Type) scalarKind {
	switch {
	case t == durationType:
		return scalarKind{"a duration", "%q is not a duration; expected e.g. 30s, 5m, 1h", func(v reflect.Value, s string) bool {
			dur, err := parseDuration(s)
			v.SetInt(int64(dur))
			return err == nil
		}}
	case t == byteSizeType:
		return scalarKind{"a size", "%q is not a size; expected e.g. 1048576, 512KiB, 10MiB or 1MB", func(v reflect.Value, s string) bool {
			size, err := parseByteSize(s)
			v.SetInt(int64(size))
			return err == nil
		}}
	case t.Kind() == reflect.String:
		return scalarKind{"a string", "", func(v reflect.Value, s string) bool {
			v.SetString(s)
			return true
		}}
	case t.Kind() == reflect.Bool:
		return scalarKind{"true or false", "%q is not a boolean; expected true or false", func(v reflect.Value, s string) bool {
			b, err := parseBool(s)
			v.SetBool(b)
			return err == nil
		}}
	case t.Kind() == reflect.Int:
		return scalarKind{"a whole number", "%q is not a whole number; expected e.g. 3", func(v reflect.Value, s string) bool {
			i, err := strconv.ParseInt(s, 10, 0)
			v.SetInt(i)
			return err == nil
		}}
	case t.Kind() == reflect.Float64:
		return scalarKind{"a number", "%q is not a number; expected e.g. 0.5", func(v reflect.Value, s string) bool {
			f, err := strconv.ParseFloat(s, 64)
			v.SetFloat(f)
			return err == nil
		}}
	}
	// Only reachable if a field of an unsupported type is added to the schema.
	panic(fmt.Sprintf("config: no decoder for %s", t))
}

// scalar returns the expanded text of a scalar node. ok is false when the
// node is not a scalar, expansion failed, or the text is empty: an empty
// value (often an unset ${VAR:-}) means "not given", so the default applies.
func (d *decoder) scalar(path string, n *yaml.Node, want string) (string, bool) {
	if n.Kind != yaml.ScalarNode {
		d.fail(path, "expected %s, got %s", want, kindName(n))
		return "", false
	}
	s, problems := expand(n.Value, d.env)
	if len(problems) > 0 {
		for _, p := range problems {
			d.errorf(path, "%s", p)
		}
		d.fields[path].failed = true
		return "", false
	}
	if s == "" {
		return "", false
	}
	d.fields[path].given = true
	return s, true
}

// kindName names a node's kind for "expected X, got Y" messages without
// echoing its value, which could be a secret written in the wrong place.
func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	default:
		return "a single value"
	}
}

// structure decodes a mapping into a struct, field by field, by yaml tag.
func (d *decoder) structure(path string, n *yaml.Node, v reflect.Value) {
	defer d.absentFields(path, v.Type())
	if n.Kind != yaml.MappingNode {
		d.fail(path, "expected a mapping with fields %s, got %s", strings.Join(fieldNames(v.Type()), ", "), kindName(n))
		return
	}
	d.fields[path].given = true
	for _, kv := range d.pairs(path, n) {
		name, p, ok := d.key(path, kv)
		if !ok {
			continue
		}
		i, known := fieldIndex(v.Type(), name)
		if !known {
			d.fail(p, "unknown field; expected one of: %s", strings.Join(fieldNames(v.Type()), ", "))
			continue
		}
		d.value(p, kv.value, v.Field(i))
	}
}

// mapping decodes a mapping into a map keyed by string.
func (d *decoder) mapping(path string, n *yaml.Node, v reflect.Value) {
	if n.Kind != yaml.MappingNode {
		d.fail(path, "expected a mapping, got %s", kindName(n))
		return
	}
	d.fields[path].given = true
	if v.IsNil() {
		v.Set(reflect.MakeMap(v.Type()))
	}
	for _, kv := range d.pairs(path, n) {
		name, p, ok := d.key(path, kv)
		if !ok {
			continue
		}
		v.SetMapIndex(reflect.ValueOf(name).Convert(v.Type().Key()), d.element(p, kv.value, v.Type().Elem()))
	}
}

// sequence decodes a list into a slice.
func (d *decoder) sequence(path string, n *yaml.Node, v reflect.Value) {
	if n.Kind != yaml.SequenceNode {
		d.fail(path, "expected a list, got %s", kindName(n))
		return
	}
	d.fields[path].given = true
	out := reflect.MakeSlice(v.Type(), 0, len(n.Content))
	for i, e := range n.Content {
		if d.exhausted != nil {
			return
		}
		p := indexPath(path, i)
		d.record(p, path, nodePos(e))
		out = reflect.Append(out, d.element(p, e, v.Type().Elem()))
	}
	v.Set(out)
}

// element decodes one map or list element of type t. Pointer elements
// (jobs, destinations) are always allocated, even for an empty entry, so the
// Config never holds nil and validation reports what the entry lacks.
func (d *decoder) element(path string, n *yaml.Node, t reflect.Type) reflect.Value {
	if t.Kind() == reflect.Pointer {
		p := reflect.New(t.Elem())
		d.value(path, n, p.Elem())
		return p
	}
	e := reflect.New(t).Elem()
	d.value(path, n, e)
	return e
}

// key checks a mapping key, records the field it introduces and reports a
// key given twice. ok is false when the pair must be skipped.
func (d *decoder) key(parent string, kv pair) (name, path string, ok bool) {
	if kv.key.Kind != yaml.ScalarNode {
		d.errorAt(parent, nodePos(kv.key), "a key must be a plain name, got "+kindName(kv.key))
		return "", "", false
	}
	name = kv.key.Value
	path = keyPath(parent, name)
	if first, dup := d.fields[path]; dup {
		d.errorAt(path, nodePos(kv.key), fmt.Sprintf("given twice; the first is at line %d", first.pos.line))
		return "", "", false
	}
	d.record(path, parent, nodePos(kv.key))
	return name, path, true
}

// pair is one key and value of a mapping.
type pair struct {
	key, value *yaml.Node
}

// pairs lists a mapping's keys and values with YAML merge keys (<<: *anchor)
// resolved: keys written in the mapping come first and win; merged keys
// follow, the first merged mapping winning, as the merge spec says.
func (d *decoder) pairs(path string, n *yaml.Node) []pair {
	var own, merged []pair
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge" {
			merged = append(merged, d.merge(path, k, v)...)
			continue
		}
		own = append(own, pair{key: k, value: v})
	}
	if len(merged) == 0 {
		return own
	}
	seen := map[string]bool{}
	for _, p := range own {
		seen[p.key.Value] = true
	}
	out := own
	for _, p := range merged {
		if !seen[p.key.Value] {
			seen[p.key.Value] = true
			out = append(out, p)
		}
	}
	return out
}

// merge returns the pairs a << key brings in: from a mapping or from a list
// of mappings, usually given as aliases.
func (d *decoder) merge(path string, k, v *yaml.Node) []pair {
	sources := []*yaml.Node{v}
	if v.Kind == yaml.SequenceNode {
		sources = v.Content
	}
	var out []pair
	for _, s := range sources {
		if s.Kind == yaml.AliasNode {
			s = s.Alias
		}
		if s.Kind != yaml.MappingNode || d.active[s] {
			d.errorAt(path, nodePos(k), "<< must merge a mapping or a list of mappings that does not contain it")
			continue
		}
		d.active[s] = true
		out = append(out, d.pairs(path, s)...)
		delete(d.active, s)
	}
	return out
}

// absentFields records the fields of a struct type that were not written,
// at the position of the enclosing field, so that "missing" errors point at
// the section that lacks them and defaults know what was not given.
func (d *decoder) absentFields(path string, t reflect.Type) {
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return
	}
	at := d.pos(path)
	for _, name := range fieldNames(t) {
		p := keyPath(path, name)
		if _, ok := d.fields[p]; ok {
			continue
		}
		d.record(p, path, at)
		i, _ := fieldIndex(t, name)
		d.absentFields(p, t.Field(i).Type)
	}
}

// fieldNames lists a struct's YAML field names in declaration order.
func fieldNames(t reflect.Type) []string {
	var names []string
	for i := range t.NumField() {
		if name := yamlName(t.Field(i)); name != "" {
			names = append(names, name)
		}
	}
	return names
}

// fieldIndex finds the struct field whose YAML name is name.
func fieldIndex(t reflect.Type, name string) (int, bool) {
	for i := range t.NumField() {
		if yamlName(t.Field(i)) == name {
			return i, true
		}
	}
	return 0, false
}

func yamlName(f reflect.StructField) string {
	name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
	if name == "-" || !f.IsExported() {
		return ""
	}
	return name
}

// parseBool accepts the YAML 1.2 spellings of true and false; yes/no/on/off
// are rejected because YAML 1.1 and 1.2 disagree on them.
func parseBool(s string) (bool, error) {
	switch s {
	case "true", "True", "TRUE":
		return true, nil
	case "false", "False", "FALSE":
		return false, nil
	}
	return false, fmt.Errorf("not a boolean")
}
