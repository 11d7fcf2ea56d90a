package differ

import (
	"bytes"
	"fmt"
	"testing"
)

// BenchmarkDiffStream measures DiffStream, which compares a body as it is
// read, on the polls BenchmarkDiff measures: "changed" is a changed poll
// against the state of the previous one; "unchanged" is the same body
// again, which is walked (each element recognised by the hash of its raw
// bytes) and found unchanged at its end, where DiffResponse, holding the
// whole body, compares its SHA-256 first and reads nothing.
func BenchmarkDiffStream(b *testing.B) {
	for _, n := range []int{1000, 10000, 100000} {
		prevBody, next := benchPair(n)
		d, err := Compile(Spec{Items: "data.orders", Key: []string{"id"}, Ignore: []string{"updated_at"}})
		if err != nil {
			b.Fatal(err)
		}
		first, err := d.Diff(nil, prevBody)
		if err != nil {
			b.Fatal(err)
		}
		changed, err := d.Diff(first.Next, next)
		if err != nil {
			b.Fatal(err)
		}
		for _, tc := range []struct {
			name string
			prev *State
			body []byte
		}{{"changed", first.Next, next}, {"unchanged", changed.Next, next}} {
			b.Run(fmt.Sprintf("items=%d/%s", n, tc.name), func(b *testing.B) {
				b.SetBytes(int64(len(tc.body)))
				b.ReportAllocs()
				cpu := cpuTime(b)
				for b.Loop() {
					res, err := d.DiffStream(tc.prev, bytes.NewReader(tc.body), int64(len(tc.body)))
					if err != nil || res.Unchanged != (tc.name == "unchanged") {
						b.Fatalf("%+v, %v", res, err)
					}
				}
				b.ReportMetric(float64(cpuTime(b)-cpu)/float64(b.N), "cpu-ns/op")
			})
		}
	}
}
