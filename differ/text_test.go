package differ

import (
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func TestTextDocument(t *testing.T) {
	for _, tc := range []struct {
		name, body, want string
	}{
		{"empty", "", ""},
		{"unchanged", "<p>a  b</p>\n\tc \n", "<p>a  b</p>\n\tc \n"},
		{"CRLF", "a\r\nb\r\n", "a\nb\n"},
		{"lone CR", "a\rb\r", "a\nb\n"},
		{"CR CR LF", "a\r\r\nb", "a\n\nb"},
		{"LF CR", "a\n\rb", "a\n\nb"},
		{"invalid byte", "caf\xe9 ok", "caf\ufffd ok"},
		{"each invalid byte", "\xff\xfe", "\ufffd\ufffd"},
		{"truncated sequence", "a\xe2\x82", "a\ufffd\ufffd"},
		{"valid multibyte", "€ 😀\r\n", "€ 😀\n"},
		{"BOM and NUL kept", "\ufeffa\x00b", "\ufeffa\x00b"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := textDocument([]byte(tc.body)); got != tc.want {
				t.Errorf("textDocument(%q) = %q, want %q", tc.body, got, tc.want)
			}
		})
	}
}

// numbered returns lines "1\n" to "n\n".
func numbered(n int) []string {
	lines := make([]string, n)
	for i := range lines {
		lines[i] = strconv.Itoa(i+1) + "\n"
	}
	return lines
}

// edited returns the lines of numbered(n) with line i (1-based) replaced
// by repl for each entry, "" deleting it.
func edited(n int, repl map[int]string) string {
	var b strings.Builder
	for i, l := range numbered(n) {
		if r, ok := repl[i+1]; ok {
			l = r
		}
		b.WriteString(l)
	}
	return b.String()
}

var twenty = strings.Join(numbered(20), "")

// diffCases are pinned exactly and compared with GNU diff -u.
var diffCases = []struct {
	name, before, after, want string
}{
	{"equal", "a\nb\n", "a\nb\n", ""},
	{"equal empty", "", "", ""},
	{"one line changed", twenty, edited(20, map[int]string{10: "ten\n"}), `@@ -7,7 +7,7 @@
 7
 8
 9
-10
+ten
 11
 12
 13
`},
	{"insert at start", "a\nb\n", "new\na\nb\n", `@@ -1,2 +1,3 @@
+new
 a
 b
`},
	{"delete at end", "a\nb\nc\n", "a\nb\n", `@@ -1,3 +1,2 @@
 a
 b
-c
`},
	{"from empty", "", "a\nb\n", `@@ -0,0 +1,2 @@
+a
+b
`},
	{"to empty", "a\nb\n", "", `@@ -1,2 +0,0 @@
-a
-b
`},
	{"newline added at end", "a\nb", "a\nb\n", `@@ -1,2 +1,2 @@
 a
-b
\ No newline at end of file
+b
`},
	{"newline removed at end", "a\nb\n", "a\nb", `@@ -1,2 +1,2 @@
 a
-b
+b
\ No newline at end of file
`},
	{"last line changed, no newline", "a\nb", "a\nc", `@@ -1,2 +1,2 @@
 a
-b
\ No newline at end of file
+c
\ No newline at end of file
`},
	{"insert into empty line set", "", "\n", `@@ -0,0 +1 @@
+
`},
	{"context without newline", "a\nb\nc", "x\nb\nc", `@@ -1,3 +1,3 @@
-a
+x
 b
 c
\ No newline at end of file
`},
	{"changes 6 apart share a hunk", twenty, edited(20, map[int]string{5: "five\n", 12: "twelve\n"}), `@@ -2,14 +2,14 @@
 2
 3
 4
-5
+five
 6
 7
 8
 9
 10
 11
-12
+twelve
 13
 14
 15
`},
	{"changes 7 apart get two hunks", twenty, edited(20, map[int]string{5: "five\n", 13: "thirteen\n"}), `@@ -2,7 +2,7 @@
 2
 3
 4
-5
+five
 6
 7
 8
@@ -10,7 +10,7 @@
 10
 11
 12
-13
+thirteen
 14
 15
 16
`},
	{"deletions and insertions grouped", "a\nb\nc\nd\n", "a\nx\ny\nz\nd\n", `@@ -1,4 +1,5 @@
 a
-b
-c
+x
+y
+z
 d
`},
	{"repeated block slides down", "a\nb\na\nb\n", "a\nb\na\nb\na\nb\n", `@@ -2,3 +2,5 @@
 b
 a
 b
+a
+b
`},
	{"html", "<ul>\n  <li>one</li>\n  <li>two</li>\n</ul>\n", "<ul>\n  <li>one</li>\n  <li>2</li>\n  <li>three</li>\n</ul>\n", `@@ -1,4 +1,5 @@
 <ul>
   <li>one</li>
-  <li>two</li>
+  <li>2</li>
+  <li>three</li>
 </ul>
`},
	{"line moved", edited(12, nil), edited(12, map[int]string{2: "", 9: "9\n2\n"}), `@@ -1,5 +1,4 @@
 1
-2
 3
 4
 5
@@ -7,6 +6,7 @@
 7
 8
 9
+2
 10
 11
 12
`},
	{"blank lines", "a\n\n\nb\n", "a\n\nb\n\n", `@@ -1,4 +1,4 @@
 a
 
-
 b
+
`},
}

func TestUnifiedDiff(t *testing.T) {
	for _, tc := range diffCases {
		t.Run(tc.name, func(t *testing.T) {
			got := unifiedDiff(tc.before, tc.after)
			want := tc.want
			if want != "" {
				want = "--- before\n+++ after\n" + want
			}
			if got != want {
				t.Fatalf("unifiedDiff(%q, %q) =\n%s\nwant\n%s", tc.before, tc.after, got, want)
			}
			checkUnified(t, tc.before, tc.after, got)
		})
	}
}

// TestUnifiedDiffMatchesGNU checks the hunks against those of diff -u.
func TestUnifiedDiffMatchesGNU(t *testing.T) {
	diff, err := exec.LookPath("diff")
	if err != nil {
		t.Skip("no diff command on this machine:", err)
	}
	dir := t.TempDir()
	for _, tc := range diffCases {
		t.Run(tc.name, func(t *testing.T) {
			files := [2]string{filepath.Join(dir, "before"), filepath.Join(dir, "after")}
			for i, s := range [2]string{tc.before, tc.after} {
				if err := os.WriteFile(files[i], []byte(s), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			out, err := exec.Command(diff, "-u", files[0], files[1]).Output()
			// Status 1 means "differ"; anything else is trouble.
			if ee, ok := err.(*exec.ExitError); err != nil && (!ok || ee.ExitCode() != 1) {
				t.Fatalf("diff -u: %v", err)
			}
			if got, want := hunks(unifiedDiff(tc.before, tc.after)), hunks(string(out)); got != want {
				t.Errorf("hunks:\n%s\ndiff -u:\n%s", got, want)
			}
		})
	}
}

// hunks is a unified diff from its first hunk on, without the headers.
func hunks(d string) string {
	if i := strings.Index(d, "@@"); i >= 0 {
		return d[i:]
	}
	return d
}

// TestUnifiedDiffShortest checks that the edit script is a shortest one:
// it changes as many lines as the longest common subsequence leaves.
func TestUnifiedDiffShortest(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for n := range 2000 {
		a, b := randomLines(r, 1+n%4), randomLines(r, 1+n%4)
		d := unifiedDiff(a, b)
		checkUnified(t, a, b, d)
		if changed, want := changedLines(d), len(splitLines(a))+len(splitLines(b))-2*lcs(splitLines(a), splitLines(b)); changed != want {
			t.Fatalf("diff of %q and %q changes %d lines, want %d:\n%s", a, b, changed, want, d)
		}
	}
}

// changedLines counts the deleted and inserted lines of a unified diff.
func changedLines(d string) int {
	n := 0
	for _, l := range strings.SplitAfter(hunks(d), "\n") {
		if strings.HasPrefix(l, "-") || strings.HasPrefix(l, "+") {
			n++
		}
	}
	return n
}

// randomLines returns up to 20 lines over an alphabet of k letters, the
// last one without a newline at times.
func randomLines(r *rand.Rand, k int) string {
	var b strings.Builder
	n := r.IntN(20)
	for i := range n {
		b.WriteByte(byte('a' + r.IntN(k)))
		if i < n-1 || r.IntN(4) > 0 {
			b.WriteByte('\n')
		}
	}
	return b.String()
}

// lcs is the length of a longest common subsequence, by dynamic programming.
func lcs(a, b []string) int {
	row := make([]int, len(b)+1)
	for i := range a {
		diag := 0
		for j := range b {
			next := row[j+1]
			if a[i] == b[j] {
				row[j+1] = diag + 1
			} else {
				row[j+1] = max(row[j+1], row[j])
			}
			diag = next
		}
	}
	return row[len(b)]
}

// TestLineDiffCostCap forces the estimate that bounds the work on very
// different inputs: the script stays correct, only longer.
func TestLineDiffCostCap(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	longer := 0
	for n := range 1000 {
		a, b := splitLines(randomLines(r, 2+n%5)), splitLines(randomLines(r, 2+n%5))
		del, ins := make([]bool, len(a)+2), make([]bool, len(b)+2)
		d := newLineDiff(a, b, del[1:], ins[1:])
		d.maxCost = 1 + n%3
		d.run()
		got := writeUnified(a, b, del[1:len(a)+1], ins[1:len(b)+1])
		before, after := strings.Join(a, ""), strings.Join(b, "")
		if before != after {
			checkUnified(t, before, after, got)
		}
		if changedLines(got) > len(a)+len(b)-2*lcs(a, b) {
			longer++
		}
	}
	if longer == 0 {
		t.Error("the cost cap never took effect")
	}
}

// TestUnifiedDiffLarge diffs 1 MB documents: with a few lines changed, and
// with every line changed, and reversed (where the cost cap keeps the time
// in check).
func TestUnifiedDiffLarge(t *testing.T) {
	for _, edit := range largeEdits {
		before, after := largeTexts(edit)
		d := unifiedDiff(before, after)
		checkUnified(t, before, after, d)
		if edit == "4-lines" {
			if got := strings.Count(d, "\n@@ "); got != 4 {
				t.Errorf("%d hunks, want 4", got)
			}
		}
	}
}

// largeTexts returns two ~1 MB texts of 16-byte lines: after differs from
// before in four lines, or in every line, or has its lines in reverse
// order (the worst case of the search: every line has an equal, but only
// one of them can be kept).
func largeTexts(edit string) (before, after string) {
	var a, b strings.Builder
	const n = 1 << 16
	for i := range n {
		fmt.Fprintf(&a, "line %010d\n", i)
		switch {
		case edit == "all":
			fmt.Fprintf(&b, "LINE %010d\n", i)
		case edit == "reverse":
			fmt.Fprintf(&b, "line %010d\n", n-1-i)
		case i == 0 || i == n/3 || i == n/2 || i == n-1:
			fmt.Fprintf(&b, "edit %010d\n", i)
		default:
			fmt.Fprintf(&b, "line %010d\n", i)
		}
	}
	return a.String(), b.String()
}

// largeEdits name the cases of largeTexts.
var largeEdits = []string{"4-lines", "all", "reverse"}

func BenchmarkUnifiedDiff(b *testing.B) {
	for _, edit := range largeEdits {
		before, after := largeTexts(edit)
		b.Run("1MB/"+edit, func(b *testing.B) {
			b.SetBytes(int64(len(before) + len(after)))
			b.ReportAllocs()
			cpu := cpuTime(b)
			for b.Loop() {
				unifiedDiff(before, after)
			}
			b.ReportMetric(float64(cpuTime(b)-cpu)/float64(b.N), "cpu-ns/op")
		})
	}
}

// FuzzUnifiedDiff checks that applying the diff of a and b to a gives b,
// and that a document diffed with itself gives nothing.
func FuzzUnifiedDiff(f *testing.F) {
	for _, tc := range diffCases {
		f.Add(tc.before, tc.after)
	}
	f.Add("a\r\nb\rc", "a\nb\r\n\xffc")
	f.Fuzz(func(t *testing.T, a, b string) {
		if d := unifiedDiff(a, a); d != "" {
			t.Fatalf("diff of %q with itself: %q", a, d)
		}
		d := unifiedDiff(a, b)
		if d != unifiedDiff(a, b) {
			t.Fatal("not deterministic")
		}
		if a != b {
			checkUnified(t, a, b, d)
		}
	})
}

// checkUnified fails unless applying d to before gives after.
func checkUnified(t *testing.T, before, after, d string) {
	t.Helper()
	if before == after {
		return
	}
	got, err := applyUnified(before, d)
	if err != nil {
		t.Fatalf("apply %q to %q: %v", d, before, err)
	}
	if got != after {
		t.Fatalf("applying %q to %q gives %q, want %q", d, before, got, after)
	}
}

// applyUnified applies the unified diff d to before, checking the context,
// the deleted lines and the hunk ranges against it as patch(1) does.
func applyUnified(before, d string) (string, error) {
	if !strings.HasPrefix(d, "--- before\n+++ after\n") {
		return "", fmt.Errorf("no header")
	}
	src := splitLines(before)
	diff := splitLines(d)[2:]
	var out strings.Builder
	pos := 0 // next line of src
	for len(diff) > 0 {
		var oldStart, oldCount, newStart, newCount int
		if err := parseHunkHeader(diff[0], &oldStart, &oldCount, &newStart, &newCount); err != nil {
			return "", err
		}
		diff = diff[1:]
		// Body lines, with a "\ No newline" marker folded into its line.
		var body []string
		for len(diff) > 0 && !strings.HasPrefix(diff[0], "@@") {
			if diff[0] == "\\ No newline at end of file\n" {
				if len(body) == 0 || !strings.HasSuffix(body[len(body)-1], "\n") {
					return "", fmt.Errorf("misplaced no-newline marker")
				}
				body[len(body)-1] = strings.TrimSuffix(body[len(body)-1], "\n")
			} else {
				body = append(body, diff[0])
			}
			diff = diff[1:]
		}
		start := oldStart - 1
		if oldCount == 0 {
			start = oldStart
		}
		if start < pos || start > len(src) {
			return "", fmt.Errorf("hunk at line %d out of order", oldStart)
		}
		for ; pos < start; pos++ {
			out.WriteString(src[pos])
		}
		var olds, news int
		for _, l := range body {
			op, text := l[0], l[1:]
			if op == ' ' || op == '-' {
				if pos >= len(src) || src[pos] != text {
					return "", fmt.Errorf("hunk at line %d: %q does not match line %d", oldStart, l, pos+1)
				}
				pos++
				olds++
			}
			if op == ' ' || op == '+' {
				out.WriteString(text)
				news++
			}
			if op != ' ' && op != '-' && op != '+' {
				return "", fmt.Errorf("bad line %q", l)
			}
		}
		if olds != oldCount || news != newCount {
			return "", fmt.Errorf("hunk %d,%d %d,%d has %d old and %d new lines", oldStart, oldCount, newStart, newCount, olds, news)
		}
	}
	for ; pos < len(src); pos++ {
		out.WriteString(src[pos])
	}
	return out.String(), nil
}

// parseHunkHeader reads "@@ -l[,s] +l[,s] @@\n".
func parseHunkHeader(h string, oldStart, oldCount, newStart, newCount *int) error {
	fields := strings.Fields(h)
	if len(fields) != 4 || fields[0] != "@@" || fields[3] != "@@" || !strings.HasSuffix(h, " @@\n") {
		return fmt.Errorf("bad hunk header %q", h)
	}
	for i, dst := range [][2]*int{{oldStart, oldCount}, {newStart, newCount}} {
		r, ok := strings.CutPrefix(fields[1+i], string("-+"[i]))
		if !ok {
			return fmt.Errorf("bad hunk header %q", h)
		}
		start, count, hasCount := strings.Cut(r, ",")
		var err error
		if *dst[0], err = strconv.Atoi(start); err != nil {
			return fmt.Errorf("bad hunk header %q", h)
		}
		*dst[1] = 1
		if hasCount {
			if *dst[1], err = strconv.Atoi(count); err != nil || *dst[1] == 1 {
				return fmt.Errorf("bad hunk header %q", h) // diff -u never writes ",1"
			}
		}
	}
	return nil
}
