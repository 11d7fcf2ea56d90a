package differ

import (
	"bytes"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// textDocument is the form in which a text or HTML response is compared
// as a whole: line endings become LF (CRLF and lone CR alike, so a server
// that switches platforms raises no alarm) and each byte that is not
// valid UTF-8 becomes U+FFFD, as in JSON strings. Nothing else changes:
// white space and markup are content.
func textDocument(body []byte) string {
	if bytes.IndexByte(body, '\r') < 0 && utf8.Valid(body) {
		return string(body)
	}
	var b strings.Builder
	b.Grow(len(body))
	for i := 0; i < len(body); {
		switch c := body[i]; {
		case c == '\r':
			b.WriteByte('\n')
			i++
			if i < len(body) && body[i] == '\n' {
				i++
			}
		case c < utf8.RuneSelf:
			b.WriteByte(c)
			i++
		default:
			r, size := utf8.DecodeRune(body[i:])
			b.WriteRune(r) // U+FFFD for a byte that starts no valid sequence
			i += size
		}
	}
	return b.String()
}

// diffContext is the number of unchanged lines shown around changes.
const diffContext = 3

// unifiedDiff returns the unified diff (as diff -u writes it, with the
// file names "before" and "after") that turns before into after, or ""
// when they are equal. The edit script is a shortest one, found with
// Myers' algorithm in linear space, with changes slid as GNU diff slides
// them; beyond a cost cap on very different inputs it settles for a good
// script rather than the shortest, so that time stays near linear.
func unifiedDiff(before, after string) string {
	if before == after {
		return ""
	}
	a, b := splitLines(before), splitLines(after)
	// Most documents change in a few places: the common head and tail
	// never reach the quadratic part.
	pre := 0
	for pre < len(a) && pre < len(b) && a[pre] == b[pre] {
		pre++
	}
	suf := 0
	for suf < len(a)-pre && suf < len(b)-pre && a[len(a)-1-suf] == b[len(b)-1-suf] {
		suf++
	}
	// Flags are padded with a false sentinel at each end (line i at i+1),
	// as shiftBoundaries expects.
	del := make([]bool, len(a)+2)
	ins := make([]bool, len(b)+2)
	newLineDiff(a[pre:len(a)-suf], b[pre:len(b)-suf], del[pre+1:], ins[pre+1:]).run()
	shiftBoundaries(a, del, ins)
	shiftBoundaries(b, ins, del)
	return writeUnified(a, b, del[1:len(a)+1], ins[1:len(b)+1])
}

// splitLines splits s after each LF; a last line without one is kept.
func splitLines(s string) []string {
	lines := make([]string, 0, strings.Count(s, "\n")+1)
	for len(s) > 0 {
		i := strings.IndexByte(s, '\n') + 1
		if i == 0 {
			i = len(s)
		}
		lines = append(lines, s[:i])
		s = s[i:]
	}
	return lines
}

// lineDiff finds which lines of a are deleted and which of b inserted.
// Lines are compared as small integers, and lines without an equal on the
// other side, which no common subsequence can use, are marked at once and
// left out of the search: a page whose content was replaced costs no more
// than one with a line changed.
type lineDiff struct {
	a, b       []int32 // the lines that have an equal on the other side
	aPos, bPos []int   // their indices in del and ins
	del, ins   []bool
	fd, bd     []int // furthest x reached on each diagonal k, at k+off
	off        int
	maxCost    int // edit cost beyond which a split point is estimated
}

func newLineDiff(a, b []string, del, ins []bool) *lineDiff {
	ids := make(map[string]int32, len(a))
	var count [2][]int32 // occurrences of each line in a and in b
	intern := func(side int, lines []string) []int32 {
		out := make([]int32, len(lines))
		for i, l := range lines {
			id, ok := ids[l]
			if !ok {
				id = int32(len(ids))
				ids[l] = id
				count[0], count[1] = append(count[0], 0), append(count[1], 0)
			}
			count[side][id]++
			out[i] = id
		}
		return out
	}
	ia, ib := intern(0, a), intern(1, b)
	d := &lineDiff{del: del, ins: ins}
	d.a, d.aPos = matched(ia, count[1], del)
	d.b, d.bPos = matched(ib, count[0], ins)
	d.off = len(d.b) + 1
	d.fd = make([]int, len(d.a)+len(d.b)+3)
	d.bd = make([]int, len(d.a)+len(d.b)+3)
	// Past maxCost edits a split is estimated, so that each costs at most
	// about maxCost² steps; scripts of up to 200 edits are always shortest.
	d.maxCost = max(200, int(math.Sqrt(float64(len(d.a)+len(d.b)))))
	return d
}

// matched returns the lines whose count on the other side is not zero and
// their positions, and flags the others as changed.
func matched(lines, other []int32, changed []bool) ([]int32, []int) {
	kept := make([]int32, 0, len(lines))
	pos := make([]int, 0, len(lines))
	for i, id := range lines {
		if other[id] == 0 {
			changed[i] = true
			continue
		}
		kept = append(kept, id)
		pos = append(pos, i)
	}
	return kept, pos
}

func (d *lineDiff) run() { d.compare(0, len(d.a), 0, len(d.b)) }

// compare marks the changes between a[xoff:xlim] and b[yoff:ylim].
func (d *lineDiff) compare(xoff, xlim, yoff, ylim int) {
	for xoff < xlim && yoff < ylim && d.a[xoff] == d.b[yoff] {
		xoff, yoff = xoff+1, yoff+1
	}
	for xoff < xlim && yoff < ylim && d.a[xlim-1] == d.b[ylim-1] {
		xlim, ylim = xlim-1, ylim-1
	}
	if xoff < xlim && yoff < ylim {
		x, y := d.split(xoff, xlim, yoff, ylim)
		// A split must leave two smaller problems, or the recursion
		// would not end; the algorithm guarantees it, this makes sure.
		if xoff <= x && x <= xlim && yoff <= y && y <= ylim &&
			(x > xoff || y > yoff) && (x < xlim || y < ylim) {
			d.compare(xoff, x, yoff, y)
			d.compare(x, xlim, y, ylim)
			return
		}
	}
	for x := xoff; x < xlim; x++ {
		d.del[d.aPos[x]] = true
	}
	for y := yoff; y < ylim; y++ {
		d.ins[d.bPos[y]] = true
	}
}

// split returns a point on a shortest edit path from (xoff, yoff) to
// (xlim, ylim): the middle snake of Myers' linear-space algorithm, as GNU
// diffutils' diffseq.h finds it. Forward paths grow from the start and
// backward paths from the end, one edit at a time, until they overlap.
// Past maxCost edits it returns the furthest-reaching point found, which
// keeps the script correct but perhaps longer than necessary.
func (d *lineDiff) split(xoff, xlim, yoff, ylim int) (x, y int) {
	fd, bd, off := d.fd, d.bd, d.off
	dmin, dmax := xoff-ylim, xlim-yoff // the diagonals in range
	fmid, bmid := xoff-yoff, xlim-ylim
	fmin, fmax, bmin, bmax := fmid, fmid, bmid, bmid
	odd := (fmid-bmid)&1 != 0
	fd[off+fmid] = xoff
	bd[off+bmid] = xlim
	for c := 1; ; c++ {
		if fmin > dmin {
			fmin--
			fd[off+fmin-1] = -1
		} else {
			fmin++
		}
		if fmax < dmax {
			fmax++
			fd[off+fmax+1] = -1
		} else {
			fmax--
		}
		for k := fmax; k >= fmin; k -= 2 {
			tlo, thi := fd[off+k-1], fd[off+k+1]
			x := thi
			if tlo >= thi {
				x = tlo + 1
			}
			y := x - k
			for x < xlim && y < ylim && d.a[x] == d.b[y] {
				x, y = x+1, y+1
			}
			fd[off+k] = x
			if odd && bmin <= k && k <= bmax && bd[off+k] <= x {
				return x, y
			}
		}
		if bmin > dmin {
			bmin--
			bd[off+bmin-1] = math.MaxInt
		} else {
			bmin++
		}
		if bmax < dmax {
			bmax++
			bd[off+bmax+1] = math.MaxInt
		} else {
			bmax--
		}
		for k := bmax; k >= bmin; k -= 2 {
			tlo, thi := bd[off+k-1], bd[off+k+1]
			x := thi - 1
			if tlo < thi {
				x = tlo
			}
			y := x - k
			for xoff < x && yoff < y && d.a[x-1] == d.b[y-1] {
				x, y = x-1, y-1
			}
			bd[off+k] = x
			if !odd && fmin <= k && k <= fmax && x <= fd[off+k] {
				return x, y
			}
		}
		if c >= d.maxCost {
			return d.estimate(xoff, xlim, yoff, ylim, fmin, fmax, bmin, bmax)
		}
	}
}

// estimate picks, among the forward and backward frontiers, the point that
// got furthest from its corner.
func (d *lineDiff) estimate(xoff, xlim, yoff, ylim, fmin, fmax, bmin, bmax int) (int, int) {
	fxy, fx := -1, 0
	for k := fmax; k >= fmin; k -= 2 {
		x := min(d.fd[d.off+k], xlim)
		y := x - k
		if y > ylim {
			x, y = ylim+k, ylim
		}
		if x+y > fxy {
			fxy, fx = x+y, x
		}
	}
	bxy, bx := math.MaxInt, 0
	for k := bmax; k >= bmin; k -= 2 {
		x := max(xoff, d.bd[d.off+k])
		y := x - k
		if y < yoff {
			x, y = yoff+k, yoff
		}
		if x+y < bxy {
			bxy, bx = x+y, x
		}
	}
	if (xlim+ylim)-bxy < fxy-(xoff+yoff) {
		return fx, fxy - fx
	}
	return bx, bxy - bx
}

// shiftBoundaries slides each run of changed lines of one side over equal
// lines, as GNU diffutils' analyze.c does: first back, then forward, to
// merge it with neighbouring runs; a run that merged with nothing ends as
// far down as it goes, or next to a run of changes of the other side.
// changed and other are the padded flags of lines and of the other side.
func shiftBoundaries(lines []string, changed, other []bool) {
	// Indices are into the padded flags: line p is lines[p-1].
	end := len(lines) + 1
	i, j := 1, 1
	for {
		for i < end && !changed[i] {
			for other[j] {
				j++
			}
			j++
			i++
		}
		if i == end {
			return
		}
		start := i
		for i++; changed[i]; i++ {
		}
		for other[j] {
			j++
		}
		var corresponding int
		for {
			run := i - start
			for start > 1 && lines[start-2] == lines[i-2] {
				start--
				changed[start] = true
				i--
				changed[i] = false
				for changed[start-1] {
					start--
				}
				for j--; other[j]; j-- {
				}
			}
			corresponding = end
			if other[j-1] {
				corresponding = i
			}
			for i != end && lines[start-1] == lines[i-1] {
				changed[start] = false
				start++
				changed[i] = true
				i++
				for changed[i] {
					i++
				}
				for j++; other[j]; j++ {
					corresponding = i
				}
			}
			if run == i-start {
				break
			}
		}
		for corresponding < i {
			start--
			changed[start] = true
			i--
			changed[i] = false
			for j--; other[j]; j-- {
			}
		}
	}
}

// writeUnified renders the changes flagged in del (lines of a) and ins
// (lines of b) as unified diff hunks.
func writeUnified(a, b []string, del, ins []bool) string {
	// Runs of changes: a[i0:i1] replaced by b[j0:j1].
	type change struct{ i0, i1, j0, j1 int }
	var changes []change
	for i, j := 0, 0; i < len(a) || j < len(b); {
		if (i < len(a) && del[i]) || (j < len(b) && ins[j]) {
			c := change{i0: i, j0: j}
			for i < len(a) && del[i] {
				i++
			}
			for j < len(b) && ins[j] {
				j++
			}
			c.i1, c.j1 = i, j
			changes = append(changes, c)
			continue
		}
		i, j = i+1, j+1
	}
	var w strings.Builder
	w.WriteString("--- before\n+++ after\n")
	for len(changes) > 0 {
		// A hunk takes changes while the lines between them would
		// otherwise be printed as context of both.
		n := 1
		for n < len(changes) && changes[n].i0-changes[n-1].i1 <= 2*diffContext {
			n++
		}
		hunk := changes[:n]
		changes = changes[n:]
		first, last := hunk[0], hunk[n-1]
		lead := min(diffContext, first.i0)
		trail := min(diffContext, len(a)-last.i1)
		ai, bj := first.i0-lead, first.j0-lead
		w.WriteString("@@ -")
		writeRange(&w, ai, last.i1+trail-ai)
		w.WriteString(" +")
		writeRange(&w, bj, last.j1+trail-bj)
		w.WriteString(" @@\n")
		for _, c := range hunk {
			for ; ai < c.i0; ai, bj = ai+1, bj+1 {
				writeLine(&w, ' ', a[ai])
			}
			for ; ai < c.i1; ai++ {
				writeLine(&w, '-', a[ai])
			}
			for ; bj < c.j1; bj++ {
				writeLine(&w, '+', b[bj])
			}
		}
		for end := ai + trail; ai < end; ai++ {
			writeLine(&w, ' ', a[ai])
		}
	}
	return w.String()
}

// writeRange writes a hunk range as diff -u does: the 1-based first line
// and the count, the count left out when 1, and for an empty range the
// line after which it lies.
func writeRange(w *strings.Builder, start, count int) {
	switch count {
	case 0:
		w.WriteString(strconv.Itoa(start))
		w.WriteString(",0")
	case 1:
		w.WriteString(strconv.Itoa(start + 1))
	default:
		w.WriteString(strconv.Itoa(start + 1))
		w.WriteByte(',')
		w.WriteString(strconv.Itoa(count))
	}
}

func writeLine(w *strings.Builder, prefix byte, line string) {
	w.WriteByte(prefix)
	w.WriteString(line)
	if !strings.HasSuffix(line, "\n") {
		w.WriteString("\n\\ No newline at end of file\n")
	}
}
