package differ

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"
)

// cpuTime is the CPU time this process has used. Benchmarks report it per
// operation besides the wall time, which is meaningless on a busy machine.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// benchOrders renders a response of n orders of about 220 bytes each,
// shaped like a legacy order API (with a volatile updated_at).
func benchOrders(ids []int, tier func(id int) string) []byte {
	var b strings.Builder
	b.WriteString(`{"data":{"orders":[`)
	for i, id := range ids {
		if i > 0 {
			b.WriteString(",\n")
		}
		fmt.Fprintf(&b, `{"id":%d,"status":"open","customer":{"id":%d,"name":"Customer %d","tier":%q},`+
			`"total":%d.%02d,"currency":"EUR","lines":[{"sku":"SKU-%05d","qty":%d}],`+
			`"updated_at":"2026-11-27T20:%02d:00Z","note":"handle with care"}`,
			id, id%977, id%977, tier(id), id%500, id%100, id%10000, 1+id%7, id%60)
	}
	b.WriteString(`]}}`)
	return []byte(b.String())
}

// benchPair returns a baseline of n orders and a next response in which 1%
// are updated, 0.5% deleted and 0.5% created.
func benchPair(n int) (prev, next []byte) {
	ids := make([]int, n)
	for i := range ids {
		ids[i] = i + 1
	}
	prev = benchOrders(ids, func(int) string { return "gold" })
	var nextIDs []int
	for _, id := range ids {
		if id%200 != 7 { // 0.5% deleted
			nextIDs = append(nextIDs, id)
		}
		if id%200 == 11 { // 0.5% created
			nextIDs = append(nextIDs, n+id)
		}
	}
	next = benchOrders(nextIDs, func(id int) string {
		if id%100 == 3 { // 1% updated
			return "silver"
		}
		return "gold"
	})
	return prev, next
}

// BenchmarkDiff measures one changed poll of an items job against the
// state of the previous poll. "all" emits every change; "no-patch" drops
// updates by the events filter, so the difference is the cost of
// computing patches; "loaded" compares with a state loaded from its full
// snapshot, as after a restart, which does not know the raw bytes of the
// items and canonicalizes all of them.
func BenchmarkDiff(b *testing.B) {
	for _, n := range []int{1000, 10000, 100000} {
		prevBody, next := benchPair(n)
		for _, variant := range []struct {
			name   string
			events []string
			loaded bool
		}{{"all", nil, false}, {"no-patch", []string{"created", "deleted"}, false}, {"loaded", nil, true}} {
			d, err := Compile(Spec{Items: "data.orders", Key: []string{"id"}, Ignore: []string{"updated_at"}, Events: variant.events})
			if err != nil {
				b.Fatal(err)
			}
			base, err := d.Diff(nil, prevBody)
			if err != nil {
				b.Fatal(err)
			}
			prev := base.Next
			if variant.loaded {
				if prev, err = Load(base.Snapshot, nil); err != nil {
					b.Fatal(err)
				}
			}
			b.Run(fmt.Sprintf("items=%d/%s", n, variant.name), func(b *testing.B) {
				b.ReportAllocs()
				b.SetBytes(int64(len(next)))
				cpu := cpuTime(b)
				for b.Loop() {
					res, err := d.Diff(prev, next)
					if err != nil {
						b.Fatal(err)
					}
					if want := n / 100 * 2; variant.events == nil && len(res.Changes) != want {
						b.Fatalf("%d changes, want %d", len(res.Changes), want)
					}
				}
				b.ReportMetric(float64(cpuTime(b)-cpu)/float64(b.N), "cpu-ns/op")
			})
		}
	}
}

// BenchmarkDiffUnchanged measures a poll whose body is byte-identical to
// the last one, which skips parsing.
func BenchmarkDiffUnchanged(b *testing.B) {
	prevBody, _ := benchPair(100000)
	d, err := Compile(Spec{Items: "data.orders", Key: []string{"id"}, Ignore: []string{"updated_at"}})
	if err != nil {
		b.Fatal(err)
	}
	base, err := d.Diff(nil, prevBody)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(prevBody)))
	cpu := cpuTime(b)
	for b.Loop() {
		if _, err := d.Diff(base.Next, prevBody); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(cpuTime(b)-cpu)/float64(b.N), "cpu-ns/op")
}

// BenchmarkCanonicalize measures the canonicalizer alone on a 100k-item
// body, next to encoding/json validating and decoding the same body for
// scale.
func BenchmarkCanonicalize(b *testing.B) {
	_, body := benchPair(100000)
	for _, bm := range []struct {
		name string
		run  func() error
	}{
		{"canonicalize", func() error { _, err := canonicalize(body); return err }},
		{"json.Valid", func() error {
			if !json.Valid(body) {
				return errors.New("invalid")
			}
			return nil
		}},
		{"json.Decode", func() error { _, err := decodeTree(body); return err }},
	} {
		b.Run(bm.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			cpu := cpuTime(b)
			for b.Loop() {
				if err := bm.run(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(cpuTime(b)-cpu)/float64(b.N), "cpu-ns/op")
		})
	}
}

// BenchmarkPatch measures the patch of one typical updated item: patch
// walking the canonical bytes against jsondiff on decoded trees.
func BenchmarkPatch(b *testing.B) {
	before := []byte(`{"currency":"EUR","customer":{"id":3,"name":"Customer 3","tier":"gold"},"id":3,"lines":[{"qty":4,"sku":"SKU-00003"}],"note":"handle with care","status":"open","total":3.03}`)
	after := []byte(`{"currency":"EUR","customer":{"id":3,"name":"Customer 3","tier":"silver"},"id":3,"lines":[{"qty":4,"sku":"SKU-00003"}],"note":"handle with care","status":"open","total":3.03}`)
	b.Run("canonical-walk", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			patch(before, after)
		}
	})
	b.Run("jsondiff", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := jsondiffPatch(before, after); err != nil {
				b.Fatal(err)
			}
		}
	})
}
