// Package differ turns a source response into a canonical document and
// compares it with the previous snapshot, producing change events.
//
// A Differ is compiled once per job from a Spec and then called once per
// successful poll with the stored snapshot and the response body. It keeps
// no state of its own: everything that must survive between polls, the
// guard's pending hold included, is in the returned snapshot, which the
// store commits together with the changes.
//
// # Canonical JSON
//
// Responses are compared in canonical form: object members sorted by name
// (byte order of UTF-8, as encoding/json sorts map keys), no whitespace,
// string escapes reduced to \" \\ \b \f \n \r \t and \u00XX for other
// control characters, invalid UTF-8 replaced by U+FFFD, and numbers spelled
// one way per value (1.0, 1e0 and 10e-1 are all 1; -0 is 0; 1e2 is 100,
// 1e40 is 1e+40, 1e-7 is 1e-7). Numbers are normalised as exact decimals,
// never through float64, so large integers and long fractions keep every
// digit. String content is compared exactly. Of duplicate member names the
// last one wins, as in encoding/json. A leading UTF-8 byte order mark is
// skipped; nesting deeper than 1000 levels is rejected.
//
// # Modes
//
// Without Spec.Items the whole document is compared and a change yields one
// document.changed. With Items, a dotted path to an array ("$" is the root;
// null there counts as an empty array, as Go APIs encode empty slices),
// every element is an item. With Spec.Key items are matched by the key
// fields (dotted paths inside the item, compared by their canonical value:
// the string "1042" and the number 1042 are the same key) and yield
// item.created, item.updated and item.deleted; without a key, items are
// compared by content as a multiset and yield only created and deleted.
// Creations and updates come in the order of the new response, deletions
// after them in the order of the previous one. Item indexes in errors count
// from 0, like JSON Pointer.
//
// # Ignored fields
//
// Spec.Ignore paths (relative to each item in items mode, to the document
// otherwise) are dropped entirely: they take no part in the comparison and
// appear neither in Change.Before and Change.After nor in the snapshot. An
// array on the way is transparent: "lines.updated_at" drops updated_at from
// every element of lines.
//
// # Baselines and the guard
//
// The first poll (no snapshot) records a baseline and emits nothing unless
// Spec.EmitInitial is set. A snapshot taken under different comparison
// rules (items, key or ignore changed since) is not compared either: the
// poll records a new baseline and emits nothing, even with EmitInitial, so
// that editing the config does not flood receivers with spurious updates.
//
// The guard holds a response in which more than Guard.MaxDeletedRatio of
// the previous items vanished. The snapshot then keeps the previous items
// plus the number of consecutive polls that showed the same candidate (the
// same set of items, in any order); on the Guard.ConfirmPolls-th such poll
// the changes are applied against the items from before the hold. Any
// other response ends the hold.
package differ

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
)

// Event types produced by the differ.
const (
	TypeItemCreated     = "item.created"
	TypeItemUpdated     = "item.updated"
	TypeItemDeleted     = "item.deleted"
	TypeDocumentChanged = "document.changed"
)

// Spec configures how one job's responses are compared.
type Spec struct {
	Items       string   // dotted path to the item array; "" means document mode
	Key         []string // id field(s) of an item; empty compares items by content
	Ignore      []string // field paths dropped before comparing
	EmitInitial bool     // emit events for the first poll instead of a silent baseline
	Events      []string // short names kept: created, updated, deleted, changed; empty keeps all
	Guard       Guard

	// Issue 3 options; wired into Diff as each lands.
	Format    string   // json, xml, csv or text; "" picks by the response Content-Type
	Transform string   // jq expression (gojq) applied to the document before selection
	When      string   // expr-lang condition over type, key, before, after an event must meet
	Unordered []string // paths of arrays compared as sets (order ignored)
	Debounce  int      // consecutive polls a change must persist before it is emitted; 0 or 1: at once
}

// Guard holds suspicious mass deletions until they are confirmed.
type Guard struct {
	MaxDeletedRatio float64 // 0 disables the guard
	ConfirmPolls    int     // consecutive polls, the first included, that must show the same items
	MaxChangedRatio float64 // 0 disables; otherwise more than this share of items created, updated or deleted is held too
}

// Change is one detected change.
type Change struct {
	Type   string
	Key    string          // "" in document mode
	Before json.RawMessage // nil for created
	After  json.RawMessage // nil for deleted
	Patch  json.RawMessage // RFC 6902, for updated and document.changed (nil without Before)
	// MergePatch is the RFC 7386 merge patch from Before to After (JSON modes).
	MergePatch json.RawMessage
	// Diff is a unified diff from Before to After, instead of Patch, in text mode.
	Diff string
}

// Result is the outcome of comparing one response with the snapshot.
type Result struct {
	Snapshot []byte   // the encoded snapshot to store
	Changes  []Change // in emission order
	Baseline bool     // no comparable snapshot (first poll, or rules changed): this poll recorded the baseline
	Held     bool     // the guard held the changes of this response
}

// Short event names accepted in Spec.Events.
var eventTypes = map[string]string{
	"created": TypeItemCreated,
	"updated": TypeItemUpdated,
	"deleted": TypeItemDeleted,
	"changed": TypeDocumentChanged,
}

// Differ compares responses of one job. It is safe for concurrent use.
type Differ struct {
	spec        Spec
	items       Path // nil in document mode
	keys        []keyField
	ignore      *fieldTrie
	kind        byte
	keep        map[string]bool // event types kept; nil keeps all
	fingerprint [8]byte
}

// Compile validates spec and prepares a Differ for it. Every problem is
// reported, each prefixed with the field it concerns ("key[1]: ...").
func Compile(spec Spec) (*Differ, error) {
	d := &Differ{spec: spec, kind: kindDocument}
	var errs []error
	if spec.Items != "" {
		p, err := ParsePath(spec.Items)
		if err != nil {
			errs = append(errs, fmt.Errorf("items: %w", err))
		}
		d.items, d.kind = p, kindKeyless
		if len(spec.Key) > 0 {
			d.kind = kindKeyed
		}
	} else if len(spec.Key) > 0 {
		errs = append(errs, errors.New("key: set without items; a key names fields of the items of an array"))
	}
	keyPaths := make([]Path, 0, len(spec.Key))
	for i, k := range spec.Key {
		p, err := ParsePath(k)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("key[%d]: %w", i, err))
		case len(p) == 0:
			errs = append(errs, fmt.Errorf("key[%d]: %q is the whole item, want a field", i, k))
		default:
			f := keyField{name: k}
			for _, seg := range p {
				f.segs = append(f.segs, canonicalName(seg))
			}
			d.keys = append(d.keys, f)
			keyPaths = append(keyPaths, p)
		}
	}
	ignore := make([]Path, 0, len(spec.Ignore))
	for i, s := range spec.Ignore {
		p, err := ParsePath(s)
		if err != nil {
			errs = append(errs, fmt.Errorf("ignore[%d]: %w", i, err))
			continue
		}
		if len(p) == 0 {
			errs = append(errs, fmt.Errorf("ignore[%d]: %q would drop everything", i, s))
			continue
		}
		for j, k := range keyPaths {
			if len(p) <= len(k) && slices.Equal(p, k[:len(p)]) {
				errs = append(errs, fmt.Errorf("ignore[%d]: %q would drop key field %q", i, s, spec.Key[j]))
			}
		}
		ignore = append(ignore, p)
	}
	d.ignore = newFieldTrie(ignore)
	errs = append(errs, d.compileEvents()...)
	if g := spec.Guard; math.IsNaN(g.MaxDeletedRatio) || g.MaxDeletedRatio < 0 || g.MaxDeletedRatio > 1 {
		errs = append(errs, fmt.Errorf("guard.max_deleted_ratio: %v is out of range, want 0 (off) to 1", g.MaxDeletedRatio))
	} else if g.MaxDeletedRatio > 0 && g.ConfirmPolls < 1 {
		errs = append(errs, fmt.Errorf("guard.confirm_polls: %d, want at least 1 when max_deleted_ratio is set", g.ConfirmPolls))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	d.fingerprint = fingerprint(d.kind, d.items, keyPaths, ignore)
	return d, nil
}

func (d *Differ) compileEvents() []error {
	var errs []error
	for i, name := range d.spec.Events {
		typ, ok := eventTypes[name]
		switch {
		case !ok:
			errs = append(errs, fmt.Errorf("events[%d]: unknown event %q, want created, updated, deleted or changed", i, name))
			continue
		case d.kind == kindDocument && typ != TypeDocumentChanged:
			errs = append(errs, fmt.Errorf("events[%d]: %q never happens in document mode (without items), only \"changed\" does", i, name))
		case d.kind != kindDocument && typ == TypeDocumentChanged:
			errs = append(errs, fmt.Errorf("events[%d]: \"changed\" happens only in document mode (without items)", i))
		}
		// "updated" without a key is accepted although it never happens:
		// it is part of the default "all events" of every items job.
		if d.keep == nil {
			d.keep = make(map[string]bool)
		}
		d.keep[typ] = true
	}
	return errs
}

// fingerprint identifies the rules a snapshot was taken under, so that a
// snapshot is never compared under different ones.
func fingerprint(kind byte, items Path, keys, ignore []Path) [8]byte {
	h := sha256.New()
	field := func(s string) {
		h.Write(binary.AppendUvarint(nil, uint64(len(s))))
		h.Write([]byte(s))
	}
	h.Write([]byte{kind})
	field(items.String())
	for _, k := range keys {
		field(k.String())
	}
	h.Write([]byte{0})
	// The order of ignore paths does not matter.
	names := make([]string, len(ignore))
	for i, p := range ignore {
		names[i] = p.String()
	}
	slices.Sort(names)
	for _, n := range slices.Compact(names) {
		field(n)
	}
	var fp [8]byte
	copy(fp[:], h.Sum(nil))
	return fp
}

// Diff compares the response body with prev, the snapshot returned by the
// last successful Diff (nil or empty when there is none). An error means a
// failed poll: the body is not JSON or not shaped as the spec says (or prev
// is no snapshot this build can read), and nothing must be stored. Otherwise Result.Snapshot is to be committed
// together with Result.Changes. When nothing changed, Result.Snapshot may
// be prev itself. Change values never share memory with prev.
func (d *Differ) Diff(prev, body []byte) (*Result, error) {
	var old *snapshot
	if len(prev) > 0 {
		s, err := decodeSnapshot(prev)
		if err != nil {
			return nil, err
		}
		if s.kind == d.kind && s.spec == d.fingerprint {
			old = s
		}
	}
	sum := sha256.Sum256(body)
	if old != nil && old.body == sum {
		// The very bytes the stored items come from: nothing changed,
		// and there is nothing to parse. A pending hold ends.
		res := &Result{Snapshot: prev}
		if old.holdPolls > 0 {
			res.Snapshot = withHold(prev, 0, [32]byte{})
		}
		return res, nil
	}
	cur, err := d.parse(body, sum)
	if err != nil {
		return nil, err
	}
	var p pairing
	switch d.kind {
	case kindKeyed:
		if p, err = pairKeyed(old, cur); err != nil {
			return nil, err
		}
	case kindKeyless:
		p = pairContent(old, cur)
	}
	if old == nil {
		return d.baseline(cur, p, len(prev) == 0)
	}
	if d.kind == kindDocument {
		return d.diffDocument(old, cur)
	}
	if held := d.guard(old, cur, p); held != nil {
		return held, nil
	}
	return d.diffItems(old, cur, p)
}

// parse canonicalizes body into a new snapshot.
func (d *Differ) parse(body []byte, sum [32]byte) (*snapshot, error) {
	c := canonicalizer{src: body, out: make([]byte, headerSize, headerSize+len(body)+len(body)/8+16)}
	c.out[0] = formatVersion
	c.out[offKind] = d.kind
	copy(c.out[offSpec:], d.fingerprint[:])
	copy(c.out[offBody:], sum[:])
	c.skipBOM()
	var miss string
	var err error
	if d.kind == kindDocument {
		c.out = append(c.out, 0, 0, 0, 0)
		err = c.value(d.ignore)
		putUint32(c.out[headerSize:], len(c.out)-headerSize-4)
	} else {
		miss, err = c.locate(d.items, 0, d.ignore, headerSize)
	}
	if err == nil {
		err = c.end()
	}
	if err != nil {
		return nil, fmt.Errorf("parse response: %w", err)
	}
	if miss != "" {
		return nil, fmt.Errorf("items %q: %s", d.spec.Items, miss)
	}
	s := &snapshot{kind: d.kind, spec: d.fingerprint, body: sum}
	for pos := headerSize; pos < len(c.out); {
		end := pos + 4 + int(binary.LittleEndian.Uint32(c.out[pos:]))
		s.values = append(s.values, span{pos + 4, end})
		pos = end
	}
	putUint32(c.out[offCount:], len(s.values))
	s.keys = make([]span, len(s.values))
	for i, v := range s.values {
		frame := len(c.out)
		c.out = append(c.out, 0, 0, 0, 0)
		switch d.kind {
		case kindKeyed:
			if c.out, err = d.appendKey(c.out, i, c.out[v.off:v.end]); err != nil {
				return nil, err
			}
		case kindKeyless:
			c.out = appendContentKey(c.out, c.out[v.off:v.end])
		}
		putUint32(c.out[frame:], len(c.out)-frame-4)
		s.keys[i] = span{frame + 4, len(c.out)}
	}
	s.buf = c.out
	return s, nil
}

func (d *Differ) kept(typ string) bool { return d.keep == nil || d.keep[typ] }

// baseline records the first snapshot. fresh is false when an existing
// snapshot was taken under other rules: then nothing is emitted.
func (d *Differ) baseline(cur *snapshot, p pairing, fresh bool) (*Result, error) {
	res := &Result{Snapshot: cur.buf, Baseline: true}
	if !fresh || !d.spec.EmitInitial {
		return res, nil
	}
	if d.kind == kindDocument {
		if d.kept(TypeDocumentChanged) {
			res.Changes = []Change{{Type: TypeDocumentChanged, After: bytes.Clone(cur.value(0))}}
		}
		return res, nil
	}
	return d.diffItems(&snapshot{}, cur, p)
}

func (d *Differ) diffDocument(old, cur *snapshot) (*Result, error) {
	res := &Result{Snapshot: cur.buf}
	before, after := old.value(0), cur.value(0)
	if bytes.Equal(before, after) || !d.kept(TypeDocumentChanged) {
		return res, nil
	}
	res.Changes = []Change{{Type: TypeDocumentChanged, Before: bytes.Clone(before), After: bytes.Clone(after), Patch: patch(before, after)}}
	return res, nil
}

// diffItems emits creations and updates in the order of cur, then
// deletions in the order of old.
func (d *Differ) diffItems(old, cur *snapshot, p pairing) (*Result, error) {
	res := &Result{Snapshot: cur.buf}
	for j := range cur.values {
		i := p.oldOf[j]
		after := cur.value(j)
		switch {
		case i < 0:
			if d.kept(TypeItemCreated) {
				res.Changes = append(res.Changes, Change{Type: TypeItemCreated, Key: string(cur.key(j)), After: bytes.Clone(after)})
			}
		case d.kept(TypeItemUpdated) && !bytes.Equal(old.value(int(i)), after):
			before := old.value(int(i))
			res.Changes = append(res.Changes, Change{Type: TypeItemUpdated, Key: string(cur.key(j)),
				Before: bytes.Clone(before), After: bytes.Clone(after), Patch: patch(before, after)})
		}
	}
	if d.kept(TypeItemDeleted) {
		for i, j := range p.newOf {
			if j < 0 {
				res.Changes = append(res.Changes, Change{Type: TypeItemDeleted, Key: string(old.key(i)), Before: bytes.Clone(old.value(i))})
			}
		}
	}
	return res, nil
}
