// Package differ turns a source response into a canonical document and
// compares it with the previous state, producing change events.
//
// A Differ is compiled once per job from a Spec and then called once per
// successful poll with the previous State and the response body. It keeps
// no state of its own: everything that must survive between polls, the
// guard's pending hold included, is in the returned State, whose stored
// form (a full snapshot, or a delta on the stored one) the store commits
// together with the changes. The caller keeps the State in memory between
// polls, and Load rebuilds it from the store after a restart.
//
// # Only new bytes are parsed
//
// An item whose raw bytes are those of an item of the previous poll is
// that item again: it is recognised by a hash of its bytes, without being
// parsed. Only the other items are canonicalized and compared, so a poll
// in which few items changed costs little more than hashing the body.
// Results and errors do not depend on it: a state loaded from the store,
// which does not know the raw bytes of its items, gives the same ones.
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
// every element is an item. The path may step into every element of an
// array with [*] ("data.groups[*].orders"): the items of all of them are
// taken, flattened in document order, and inside such an element a missing
// field or a null contributes no items. With Spec.Key items are matched by the key
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
// appear neither in Change.Before and Change.After nor in the state. An
// array on the way is transparent: "lines.updated_at" drops updated_at from
// every element of lines.
//
// # Baselines and the guard
//
// The first poll (no state) records a baseline and emits nothing unless
// Spec.EmitInitial is set. A state taken under different comparison
// rules (items, key or ignore changed since) is not compared either: the
// poll records a new baseline and emits nothing, even with EmitInitial, so
// that editing the config does not flood receivers with spurious updates.
//
// The guard holds a response in which more than Guard.MaxDeletedRatio of
// the previous items vanished. The state then keeps the previous items
// plus the number of consecutive polls that showed the same candidate (the
// same set of items, in any order); on the Guard.ConfirmPolls-th such poll
// the changes are applied against the items from before the hold. Any
// other response ends the hold.
//
// # Debounce
//
// With Spec.Debounce N of 2 or more, a change is applied and emitted only
// once N consecutive polls have shown it; until then the state keeps the
// value last applied, plus the pending change. Pending changes are kept
// per item key (the content key for items without a key) in items mode
// and for the document otherwise. The first poll showing a new value
// (a changed item, a new item, or an item's absence) counts 1, each
// following poll showing the same value (compared canonically, by hash)
// counts one more, and at N the change is emitted against the value last
// applied, so Before is the value from before the pending window. A poll
// showing the applied value again drops the pending change, and a third
// value starts a new count at 1; a poll in which the guard holds the
// response counts nothing and drops nothing. A response that differs from
// the state only by pending changes emits nothing and stores the pending
// set; the state then forgets the body hash, so that the very same body
// is parsed again and counts. Items not yet deleted stay in the state
// after the response's items. Pending changes are stored with the state
// (see debounce.go), so they survive restarts, and a state taken under
// other comparison rules starts a new baseline without them. The first
// poll is a baseline and is not debounced. N of 0 or 1 emits at once.
package differ

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"sync"
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

// Result is the outcome of comparing one response with the previous state.
//
// At most one of Snapshot and Delta is set: the store either replaces what
// it holds with the full Snapshot, or appends Delta to it. Neither is set
// when nothing needs storing (the very body of the last poll).
type Result struct {
	Snapshot []byte // the full encoded snapshot to store, replacing the stored one and its deltas
	// SnapshotTo, set instead of Snapshot when the state compared with is
	// lean (see State.Lean), writes the full snapshot to store, reading the
	// values it keeps from the store as it goes.
	SnapshotTo func(io.Writer) error
	plan       *fullPlan // what SnapshotTo writes
	Delta      []byte    // the change to append to the stored snapshot instead
	Next       *State    // the state after this poll, to compare the next poll with once the commit succeeded
	Changes    []Change  // in emission order
	Sum        [32]byte  // SHA-256 of the body
	Baseline   bool      // no comparable state (first poll, or rules changed): this poll recorded the baseline
	Held       bool      // the guard held the changes of this response
	Unchanged  bool      // the very body the previous state came from: nothing was parsed
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
	items       Path // nil in document mode; may step through arrays ([*])
	keys        []keyField
	ignore      *fieldTrie
	kind        byte
	keep        map[string]bool // event types kept; nil keeps all
	fingerprint [8]byte
	transform   *transform // nil without Spec.Transform
	when        *when      // nil without Spec.When
}

// Compile validates spec and prepares a Differ for it. Every problem is
// reported, each prefixed with the field it concerns ("key[1]: ...").
func Compile(spec Spec) (*Differ, error) {
	d := &Differ{spec: spec, kind: kindDocument}
	var errs []error
	if spec.Items != "" {
		p, err := ParseItemsPath(spec.Items)
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
		p, err := ParseIgnore(s)
		if err != nil {
			errs = append(errs, fmt.Errorf("ignore[%d]: %w", i, err))
			continue
		}
		if len(p) == 0 {
			errs = append(errs, fmt.Errorf("ignore[%d]: %q would drop everything", i, s))
			continue
		}
		for j, k := range keyPaths {
			if p.covers(k) {
				errs = append(errs, fmt.Errorf("ignore[%d]: %q would drop key field %q", i, s, spec.Key[j]))
			}
		}
		ignore = append(ignore, p)
	}
	unordered := make([]Path, 0, len(spec.Unordered))
	for i, s := range spec.Unordered {
		p, err := ParseUnordered(s)
		if err != nil {
			errs = append(errs, fmt.Errorf("unordered[%d]: %w", i, err))
			continue
		}
		unordered = append(unordered, p)
	}
	d.ignore = newPatternTrie(ignore, unordered)
	errs = append(errs, d.compileEvents()...)
	errs = append(errs, d.compileOptions()...)
	if spec.Debounce < 0 {
		errs = append(errs, fmt.Errorf("debounce: %d is negative, want the number of polls a change must persist (0 or 1: at once)", spec.Debounce))
	}
	if g := spec.Guard; math.IsNaN(g.MaxDeletedRatio) || g.MaxDeletedRatio < 0 || g.MaxDeletedRatio > 1 {
		errs = append(errs, fmt.Errorf("guard.max_deleted_ratio: %v is out of range, want 0 (off) to 1", g.MaxDeletedRatio))
	} else if g.MaxDeletedRatio > 0 && g.ConfirmPolls < 1 {
		errs = append(errs, fmt.Errorf("guard.confirm_polls: %d, want at least 1 when max_deleted_ratio is set", g.ConfirmPolls))
	}
	if g := spec.Guard; math.IsNaN(g.MaxChangedRatio) || g.MaxChangedRatio < 0 || g.MaxChangedRatio > 1 {
		errs = append(errs, fmt.Errorf("guard.max_changed_ratio: %v is out of range, want 0 (off) to 1", g.MaxChangedRatio))
	} else if g.MaxChangedRatio > 0 && g.ConfirmPolls < 1 {
		errs = append(errs, fmt.Errorf("guard.confirm_polls: %d, want at least 1 when max_changed_ratio is set", g.ConfirmPolls))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	d.fingerprint = fingerprint(d.kind, d.items, keyPaths, ignore, unordered, spec.Format, spec.Transform)
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
func fingerprint(kind byte, items Path, keys, ignore, unordered []Path, format, transform string) [8]byte {
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
	// The order of ignore and unordered paths does not matter.
	set := func(paths []Path) {
		h.Write([]byte{0})
		names := make([]string, len(paths))
		for i, p := range paths {
			names[i] = p.String()
		}
		slices.Sort(names)
		for _, n := range slices.Compact(names) {
			field(n)
		}
	}
	set(ignore)
	set(unordered)
	// XML and JSON map to the same trees only by convention, and a
	// transform reshapes the document: either changing re-baselines.
	h.Write([]byte{0})
	field(format)
	field(transform)
	var fp [8]byte
	copy(fp[:], h.Sum(nil))
	return fp
}

// Diff compares the response body with prev, the state after the last
// successful poll (Result.Next, or Load of what the store holds; nil when
// there is none). An error means a failed poll: the body is not JSON or
// not shaped as the spec says, and nothing must be stored. Otherwise the
// Result's Snapshot or Delta is to be committed together with its Changes,
// and its Next kept for the next poll once that commit succeeded. prev is
// never modified, and Change values never share memory with it.
func (d *Differ) Diff(prev *State, body []byte) (_ *Result, err error) {
	defer recoverRead(&err)
	old := d.comparable(prev)
	if old == nil || old.bodyLen < 0 || old.bodyLen == len(body) || d.kind == kindDocument || len(body) < parallelHashSize {
		return d.DiffSum(prev, body, sha256.Sum256(body))
	}
	// A body of another length than the last one is another body: hash
	// it on another core while it is parsed.
	var sum [32]byte
	var wg sync.WaitGroup
	wg.Go(func() { sum = sha256.Sum256(body) })
	res, err := d.diffItems(prev, old, body, false, func() [32]byte { wg.Wait(); return sum })
	wg.Wait()
	return res, err
}

// parallelHashSize is the body size from which Diff hashes the body while
// it parses it: below it, starting a goroutine costs more than it saves.
const parallelHashSize = 1 << 20

// DiffSum is Diff for a caller that has the SHA-256 of body already.
func (d *Differ) DiffSum(prev *State, body []byte, sum [32]byte) (*Result, error) {
	return d.diffSum(prev, body, sum, false)
}

// diffSum is DiffSum; single makes an object at the items path one item,
// for documents read from XML, which has no arrays of one.
func (d *Differ) diffSum(prev *State, body []byte, sum [32]byte, single bool) (_ *Result, err error) {
	defer recoverRead(&err)
	old := d.comparable(prev)
	if old != nil && old.body == sum {
		// The very bytes the items come from: nothing changed, and there
		// is nothing to parse.
		return d.unchanged(old, sum), nil
	}
	if d.kind == kindDocument {
		return d.diffDocument(old, prev == nil, body, sum)
	}
	return d.diffItems(prev, old, body, single, func() [32]byte { return sum })
}

// unchanged is the result of a body that is the very body old was read
// from. A pending hold ends.
func (d *Differ) unchanged(old *State, sum [32]byte) *Result {
	res := &Result{Next: old}
	if old.holdPolls > 0 {
		res = withPending(d.hold(old, 0, [32]byte{}), old, old.pending)
	}
	res.Sum, res.Unchanged = sum, true
	return res
}

// comparable returns prev when it was taken under the rules of d, else nil.
func (d *Differ) comparable(prev *State) *State {
	if prev != nil && prev.kind == d.kind && prev.spec == d.fingerprint {
		return prev
	}
	return nil
}

// diffItems compares the items of body with old, the comparable part of
// prev. sum returns the SHA-256 of body, waiting for it when it is being
// computed on the side.
func (d *Differ) diffItems(prev, old *State, body []byte, single bool, sum func() [32]byte) (*Result, error) {
	w, err := d.walk(old, body, single)
	if err != nil {
		return nil, err
	}
	return d.compareItems(prev, old, w, sum)
}

// compareItems compares the items w read with old, the comparable part
// of prev (phases 3 and on of an items-mode diff).
func (d *Differ) compareItems(prev, old *State, w *walker, sum func() [32]byte) (_ *Result, err error) {
	var p pairing
	if d.kind == kindKeyed {
		if p, err = w.pairKeyed(old); err != nil {
			return nil, err
		}
	} else {
		p = w.pairContent(old)
	}
	var res *Result
	switch {
	case old == nil:
		res = d.baseline(w, p, sum(), prev == nil)
	default:
		if res = d.guard(old, w, p); res != nil {
			// A held poll keeps what was pending, as it keeps the items.
			res = withPending(res, old, old.pending)
			break
		}
		var pend pendingSet
		if d.spec.Debounce > 1 {
			pend = d.debounce(old, w, &p)
		}
		res = &Result{Changes: d.changes(old, w, p)}
		res.Snapshot, res.plan, res.Delta, res.Next = d.advance(old, w, p, sum())
		if res.plan != nil {
			res.SnapshotTo = res.plan.writeTo
		}
		res = withPending(res, old, pend)
	}
	res.Sum = sum()
	return res, nil
}

// walk reads the items of body (phases 1 and 2 of an items-mode diff).
func (d *Differ) walk(old *State, body []byte, single bool) (*walker, error) {
	w := &walker{d: d, prev: old, single: single}
	// The buffer starts as a full snapshot would, so that a baseline's
	// buffer is its snapshot. Without a previous state every item is
	// canonicalized; with one, few usually are.
	size := headerSize + 1024
	if old == nil {
		size = headerSize + len(body) + len(body)/8 + 16
	} else {
		w.items = make([]pending, 0, len(old.items)+len(old.items)/16)
	}
	w.c = canonicalizer{src: body, out: make([]byte, headerSize, size)}
	if err := w.run(); err != nil {
		return nil, err
	}
	return w, nil
}

// run reads the items of the body from the canonicalizer's start to its
// end, then drops the body.
func (w *walker) run() error {
	c := &w.c
	c.fill(c.pos + len(utf8BOM))
	c.skipBOM()
	miss, err := w.locate(0, 0, false)
	if err == nil {
		err = c.end()
	}
	if c.in != nil && c.in.err != nil {
		// The body could not be read to its end: that, not what the
		// parser made of the part it had, is what went wrong.
		return c.in.err
	}
	if err != nil {
		return fmt.Errorf("parse response: %w", err)
	}
	if miss != "" {
		return fmt.Errorf("items %q: %s", w.d.spec.Items, miss)
	}
	if err := w.keys(); err != nil {
		return err
	}
	w.bodyLen, c.src = c.base+len(c.src), nil
	return nil
}

// diffDocument compares a whole document; its state is always stored in
// full.
func (d *Differ) diffDocument(old *State, fresh bool, body []byte, sum [32]byte) (*Result, error) {
	c := canonicalizer{src: body, out: make([]byte, headerSize+4, headerSize+4+len(body)+len(body)/8+16)}
	c.skipBOM()
	err := c.value(d.ignore)
	if err == nil {
		err = c.end()
	}
	if err != nil {
		return nil, fmt.Errorf("parse response: %w", err)
	}
	end := len(c.out)
	putUint32(c.out[headerSize:], end-headerSize-4)
	c.out = append(c.out, 0, 0, 0, 0) // the empty key
	writeHeader(c.out, kindDocument, d.fingerprint, sum, 0, [32]byte{}, 1)
	next := &State{kind: kindDocument, spec: d.fingerprint, body: sum, bodyLen: len(body), chunks: []chunk{wholeChunk(c.out)}, baseSize: len(c.out),
		items: []item{{val: ref{off: headerSize + 4, n: uint32(end - headerSize - 4)}, key: ref{off: uint32(len(c.out))}}}}
	res := &Result{Snapshot: c.out, Next: next, Sum: sum}
	after := next.value(0)
	if old != nil && d.spec.Debounce > 1 && !bytes.Equal(old.value(0), after) {
		if kept := d.debounceDocument(old, after, len(body)); kept != nil {
			kept.Sum = sum
			return kept, nil
		}
	}
	switch {
	case old == nil:
		res.Baseline = true
		if fresh && d.spec.EmitInitial && d.kept(TypeDocumentChanged) {
			res.Changes = []Change{{Type: TypeDocumentChanged, After: bytes.Clone(after)}}
		}
	case d.kept(TypeDocumentChanged) && !bytes.Equal(old.value(0), after):
		before := old.value(0)
		res.Changes = []Change{{Type: TypeDocumentChanged, Before: bytes.Clone(before), After: bytes.Clone(after), Patch: patch(before, after)}}
	}
	return res, nil
}

func (d *Differ) kept(typ string) bool { return d.keep == nil || d.keep[typ] }

// baseline records the first state. fresh is false when a state taken
// under other rules existed: then nothing is emitted.
func (d *Differ) baseline(w *walker, p pairing, sum [32]byte, fresh bool) *Result {
	res := &Result{Baseline: true}
	if fresh && d.spec.EmitInitial {
		// The items are reported as created, like any other change.
		res.Changes, res.Baseline = d.changes(nil, w, p), false
	}
	res.Snapshot, _, res.Next = d.full(w, nil, sum, p)
	return res
}

// changes emits creations and updates in the order of the response, then
// deletions in the order of old (nil: everything is created).
func (d *Differ) changes(old *State, w *walker, p pairing) []Change {
	var out []Change
	for j := range w.items {
		i := p.oldOf[j]
		switch {
		case i < 0:
			if d.kept(TypeItemCreated) {
				out = append(out, Change{Type: TypeItemCreated, Key: string(w.key(j)), After: bytes.Clone(w.value(j))})
			}
		case w.items[j].prev == i:
			// The same raw bytes: unchanged.
		case d.kept(TypeItemUpdated) && !bytes.Equal(w.oldValue(i), w.value(j)):
			before, after := w.oldValue(i), w.value(j)
			out = append(out, Change{Type: TypeItemUpdated, Key: string(w.key(j)),
				Before: bytes.Clone(before), After: bytes.Clone(after), Patch: patch(before, after)})
		}
	}
	if d.kept(TypeItemDeleted) {
		for i, j := range p.newOf {
			if j < 0 {
				out = append(out, Change{Type: TypeItemDeleted, Key: string(old.key(i)), Before: bytes.Clone(w.oldValue(int32(i)))})
			}
		}
	}
	return out
}
