package differ

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// benchOrderArray renders a canonical array of orders, one per id, each
// with the status status(id).
func benchOrderArray(ids []int, status func(id int) string) []byte {
	var b strings.Builder
	b.WriteByte('[')
	for i, id := range ids {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"currency":"EUR","id":%d,"lines":[{"qty":%d,"sku":"SKU-%05d"}],"status":%q,"total":%d.%02d}`,
			id, 1+id%7, id%10000, status(id), id%500, 1+id%99)
	}
	b.WriteByte(']')
	return []byte(b.String())
}

// patchArrayCases are arrays of orders before and after the edits that
// polls of a list see: an insertion, a removal, a move, edits in place,
// everything changed, and a shuffle.
func patchArrayCases() []struct {
	name          string
	before, after []byte
} {
	ids := func(n int) []int {
		s := make([]int, n)
		for i := range s {
			s[i] = i + 1
		}
		return s
	}
	open := func(int) string { return "open" }
	every := func(k int) func(id int) string {
		return func(id int) string {
			if id%k == 0 {
				return "paid"
			}
			return "open"
		}
	}
	k, m := ids(1000), ids(100_000)
	moved := slices.Insert(slices.Delete(slices.Clone(k), 10, 11), 899, k[10])
	shuffled := slices.Clone(k)
	rand.New(rand.NewPCG(1, 2)).Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	return []struct {
		name          string
		before, after []byte
	}{
		{"insert-front-1k", benchOrderArray(k, open), benchOrderArray(append([]int{0}, k...), open)},
		{"remove-middle-1k", benchOrderArray(k, open), benchOrderArray(slices.Delete(slices.Clone(k), 500, 501), open)},
		{"move-1k", benchOrderArray(k, open), benchOrderArray(moved, open)},
		{"edit-10-1k", benchOrderArray(k, open), benchOrderArray(k, every(100))},
		{"edit-all-1k", benchOrderArray(k, open), benchOrderArray(k, every(1))},
		{"shuffle-1k", benchOrderArray(k, open), benchOrderArray(shuffled, open)},
		{"insert-front-edit-100-100k", benchOrderArray(m, open), benchOrderArray(append([]int{0}, m...), every(1000))},
	}
}

// BenchmarkPatchArrays measures patch on arrays of 1,000 and 100,000
// orders (about 100 bytes each) for the edits of patchArrayCases, and
// reports how many operations the patch has.
func BenchmarkPatchArrays(b *testing.B) {
	for _, c := range patchArrayCases() {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(c.before) + len(c.after)))
			var p []byte
			for b.Loop() {
				p = patch(c.before, c.after)
			}
			var ops []json.RawMessage
			if err := json.Unmarshal(p, &ops); err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(len(ops)), "ops")
		})
	}
}
