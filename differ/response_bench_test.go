package differ

import (
	"bytes"
	"context"
	"fmt"
	"testing"
)

// benchOrdersXML renders the orders of benchOrders as XML.
func benchOrdersXML(ids []int, tier func(id int) string) []byte {
	var b bytes.Buffer
	b.WriteString("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<response><data><orders>\n")
	for _, id := range ids {
		fmt.Fprintf(&b, `<order id="%d"><status>open</status><customer id="%d"><name>Customer %d</name><tier>%s</tier></customer>`+
			`<total currency="EUR">%d.%02d</total><lines><line><sku>SKU-%05d</sku><qty>%d</qty></line></lines>`+
			`<updated_at>2026-11-27T20:%02d:00Z</updated_at><note>handle with care</note></order>`+"\n",
			id, id%977, id%977, tier(id), id%500, id%100, id%10000, 1+id%7, id%60)
	}
	b.WriteString("</orders></data></response>\n")
	return b.Bytes()
}

// benchPairXML is benchPair in XML: 1% updated, 0.5% deleted, 0.5% created.
func benchPairXML(n int) (prev, next []byte) {
	var ids, nextIDs []int
	for id := 1; id <= n; id++ {
		ids = append(ids, id)
		if id%200 != 7 {
			nextIDs = append(nextIDs, id)
		}
		if id%200 == 11 {
			nextIDs = append(nextIDs, n+id)
		}
	}
	prev = benchOrdersXML(ids, func(int) string { return "gold" })
	next = benchOrdersXML(nextIDs, func(id int) string {
		if id%100 == 3 {
			return "silver"
		}
		return "gold"
	})
	return prev, next
}

// BenchmarkDiffResponse measures one changed poll through DiffResponse, as
// the daemon calls it, in the modes BenchmarkDiff does not cover: a whole
// JSON document (document mode) and XML items.
func BenchmarkDiffResponse(b *testing.B) {
	for _, n := range []int{1000, 10000, 100000} {
		for _, mode := range []struct {
			name        string
			spec        Spec
			contentType string
			pair        func(int) ([]byte, []byte)
			changes     int
		}{
			{"document/json", Spec{Ignore: []string{"data.orders.updated_at"}}, "application/json", benchPair, 1},
			{"items/xml", Spec{Items: "response.data.orders.order", Key: []string{"@id"}, Ignore: []string{"updated_at"}}, "application/xml", benchPairXML, n / 100 * 2},
		} {
			d, err := Compile(mode.spec)
			if err != nil {
				b.Fatal(err)
			}
			prevBody, next := mode.pair(n)
			ctx := context.Background()
			base, err := d.DiffResponse(ctx, nil, prevBody, mode.contentType)
			if err != nil {
				b.Fatal(err)
			}
			b.Run(fmt.Sprintf("items=%d/%s", n, mode.name), func(b *testing.B) {
				b.ReportAllocs()
				b.SetBytes(int64(len(next)))
				cpu := cpuTime(b)
				for b.Loop() {
					res, err := d.DiffResponse(ctx, base.Next, next, mode.contentType)
					if err != nil {
						b.Fatal(err)
					}
					if len(res.Changes) != mode.changes {
						b.Fatalf("%d changes, want %d", len(res.Changes), mode.changes)
					}
				}
				b.ReportMetric(float64(cpuTime(b)-cpu)/float64(b.N), "cpu-ns/op")
			})
		}
	}
}
