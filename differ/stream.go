package differ

import (
	"crypto/sha256"
	"errors"
	"hash"
	"io"
)

// Reading a body as it is parsed.
//
// A large response held whole is most of a poll's memory, and the garbage
// collector lets the heap grow to twice what is live: 22 MB of body cost
// about 44 MB of peak. With a state at hand, an items job needs the body
// only one element at a time: it recognises most elements by the hash of
// their raw bytes and canonicalizes the others into its own buffer. So the
// walker reads the body through a window: the canonicalizer's src holds
// the bytes from base on, more are read when the parser reaches the end of
// what it has (fill), and between two elements of the item array, where
// nothing refers to earlier bytes, the bytes before the element are dropped
// (compact). Every value the canonicalizer parses as a whole (a member
// name, a value skipped, an item) is read whole into the window before it
// is parsed (whole), so the canonicalizer itself never meets the end of
// the window inside a value: it parses exactly what it parses when it has
// the whole body, and reports the same errors at the same offsets.

// Window sizes: reads ask for at least minRead bytes, and the bytes before
// the element at hand are dropped once that is at least compactAt bytes
// into the window.
const (
	minRead   = 32 << 10
	compactAt = 64 << 10
	// firstWindow is the window's first size when the body's length is
	// unknown; a body announced as shorter gets a window of its length.
	firstWindow = 128 << 10
)

// source is the part of a body not read yet, with what has been read of it:
// its length and its SHA-256, which the next poll's "unchanged?" check
// compares. Beyond parallelHashSize bytes the hash is computed on another
// goroutine (see sideHash) while the parser goes on: it takes about as long
// as the walk, so the two run side by side, and the comparison after the
// walk runs while the hash finishes.
type source struct {
	r    io.Reader
	n    int   // bytes read so far
	err  error // the read error that ended the body; nil at EOF
	done bool  // nothing more to read

	h    hash.Hash
	side *sideHash
}

func newSource(r io.Reader) *source { return &source{r: r, h: sha256.New()} }

// hash adds b, just read, to the body's hash.
func (s *source) hash(b []byte) {
	switch {
	case s.side != nil:
		s.side.add(b)
	case s.n >= parallelHashSize:
		s.side = newSideHash(s.h)
		s.side.add(b)
	default:
		s.h.Write(b)
	}
}

// sum is the SHA-256 of the whole body; it ends the side hasher.
func (s *source) sum() (out [32]byte) {
	s.stop()
	s.h.Sum(out[:0])
	return out
}

// stop ends the side hasher, if it runs; the source is done with.
func (s *source) stop() {
	if s.side != nil {
		s.side.stop()
		s.side = nil
	}
}

// sideHash hashes what the parser hands it on a goroutine of its own. It
// hashes copies, so that the window may be compacted under it, and may fall
// behind the parser by up to hashChunks chunks of hashChunk bytes: the
// parser waits only when it is that far ahead.
type sideHash struct {
	full chan []byte // chunks to hash, in order
	free chan []byte // chunks hashed, to fill again (nil: not allocated yet)
	cur  []byte      // the chunk being filled
	done chan struct{}
}

const (
	hashChunk  = 128 << 10
	hashChunks = 8
)

func newSideHash(h hash.Hash) *sideHash {
	s := &sideHash{full: make(chan []byte, hashChunks), free: make(chan []byte, hashChunks), done: make(chan struct{})}
	for range hashChunks {
		s.free <- nil
	}
	go func() {
		defer close(s.done)
		for b := range s.full {
			h.Write(b)
			s.free <- b[:0]
		}
	}()
	return s
}

func (s *sideHash) add(b []byte) {
	for len(b) > 0 {
		if s.cur == nil {
			if s.cur = <-s.free; s.cur == nil {
				s.cur = make([]byte, 0, hashChunk)
			}
		}
		n := copy(s.cur[len(s.cur):cap(s.cur)], b)
		s.cur, b = s.cur[:len(s.cur)+n], b[n:]
		if len(s.cur) == cap(s.cur) {
			s.full <- s.cur
			s.cur = nil
		}
	}
}

// stop hashes what is left and waits until every byte handed over is.
func (s *sideHash) stop() {
	if len(s.cur) > 0 {
		s.full <- s.cur
	}
	s.cur = nil
	close(s.full)
	<-s.done
}

// fill reads until the window holds at least n bytes, and reports whether
// it does: false means the body has fewer (or src is the whole body).
// Reading may move the window to a larger buffer; positions in it stay
// valid.
func (c *canonicalizer) fill(n int) bool {
	in := c.in
	for len(c.src) < n {
		if in == nil || in.done {
			return false
		}
		if cap(c.src)-len(c.src) < minRead {
			grown := make([]byte, len(c.src), max(2*cap(c.src), n+minRead))
			copy(grown, c.src)
			c.src = grown
		}
		k, err := in.r.Read(c.src[len(c.src):cap(c.src)])
		if k > 0 {
			in.hash(c.src[len(c.src) : len(c.src)+k])
			in.n += k
			c.src = c.src[:len(c.src)+k]
		}
		if err != nil {
			in.done = true
			if !errors.Is(err, io.EOF) {
				in.err = err
			}
		}
	}
	return true
}

// whole makes the value at the next non-space byte whole in the window:
// it reads until the value's end, as scanValue finds it, and one byte
// more are in, or the body ends. Each read at least doubles what is
// scanned, so a large value costs its length, not its square.
func (c *canonicalizer) whole() {
	if c.in == nil {
		return
	}
	c.skipSpace()
	from := c.pos
	for {
		if end := scanValue(c.src, from); end > from && end < len(c.src) {
			return
		}
		if !c.fill(len(c.src)+max(len(c.src)-from, minRead)) && c.in.done {
			return
		}
	}
}

// compact drops the window's bytes before c.pos. Only the walker calls it,
// between two elements of the item array, where nothing refers to them.
func (c *canonicalizer) compact() {
	if c.in == nil || c.pos < compactAt || c.pos < cap(c.src)/2 {
		return
	}
	n := copy(c.src, c.src[c.pos:])
	c.src = c.src[:n]
	c.base += c.pos
	c.pos = 0
}

// CanStream reports whether a response of contentType, compared with prev,
// can be read as it is compared (DiffStream): JSON items without a
// transform, compared with a state taken under the job's present rules.
// Anything else needs the whole body: a baseline canonicalizes all of it,
// XML, CSV and text are converted first, a transform and document mode
// read the whole document.
func (d *Differ) CanStream(prev *State, contentType string) bool {
	return d.kind != kindDocument && d.transform == nil && d.format(contentType) == "json" && d.comparable(prev) != nil
}

// DiffStream is DiffResponse for a body read from body as it is compared,
// so that a large response is never held whole; size is its length when
// known, else -1. It must only be called when CanStream holds. An error
// from body ends the comparison and is returned as it is, without the
// "parse response" that a body which is not JSON gets.
//
// A body identical to the last one is still walked (each element is
// recognised by the hash of its raw bytes, nothing is canonicalized), and
// found unchanged once its SHA-256 is known, at its end.
func (d *Differ) DiffStream(prev *State, body io.Reader, size int64) (_ *Result, err error) {
	defer recoverRead(&err)
	old := d.comparable(prev)
	if old == nil || d.kind == kindDocument {
		return nil, errors.New("differ: DiffStream without a comparable state of an items job")
	}
	in := newSource(body)
	defer in.stop()
	window := firstWindow
	if size >= 0 {
		window = min(window, int(size)+minRead)
	}
	w := &walker{d: d, prev: old, items: make([]pending, 0, len(old.items)+len(old.items)/16)}
	w.c = canonicalizer{src: make([]byte, 0, window), out: make([]byte, headerSize, headerSize+1024), in: in}
	if err := w.run(); err != nil {
		return nil, err
	}
	// The hash of a large body finishes on the side while the items are
	// compared, unless the body looks like the last one: every element
	// the item it was, in order, and the same length. Then it probably is
	// the very same body, which takes no comparison once the hash says so.
	if w.bodyLen == old.bodyLen && w.sameItems() {
		if sum := in.sum(); old.body == sum {
			return d.unchanged(old, sum), nil
		}
	}
	// The very same bytes are the same items in order, so the check above
	// saw every body that is unchanged.
	return d.finish(d.compareItems(prev, old, w, in.sum))
}

// sameItems reports whether the walker found exactly the items of the
// state it compared with, each recognised by its raw bytes, in order.
func (w *walker) sameItems() bool {
	if len(w.items) != len(w.prev.items) {
		return false
	}
	for j := range w.items {
		if w.items[j].prev != int32(j) {
			return false
		}
	}
	return true
}
