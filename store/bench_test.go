package store

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
)

// BenchmarkCommit measures one poll's commit of a small change set: ten
// events of ~300 bytes and a 20 KB snapshot.
func BenchmarkCommit(b *testing.B) {
	snap := []byte(strings.Repeat("s", 20<<10))
	for _, sync := range []bool{false, true} {
		b.Run(fmt.Sprintf("sync=%v", sync), func(b *testing.B) {
			s := openTest(b, b.TempDir(), Options{SyncWrites: sync})
			ctx := context.Background()
			b.ReportAllocs()
			for v := uint64(0); b.Loop(); v++ {
				c := &Commit{Snapshot: snap, Events: newEvents(10, 300), Destinations: []string{"hook"}}
				if _, err := s.Commit(ctx, "orders", v, c); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkAck measures acknowledging one event, pruning included.
func BenchmarkAck(b *testing.B) {
	for _, sync := range []bool{false, true} {
		b.Run(fmt.Sprintf("sync=%v", sync), func(b *testing.B) {
			s := openTest(b, b.TempDir(), Options{SyncWrites: sync})
			const perCommit = 1000
			for v := uint64(0); v*perCommit < uint64(b.N); v++ {
				c := &Commit{Events: newEvents(perCommit, 300), Destinations: []string{"hook"}}
				if _, err := s.Commit(context.Background(), "orders", v, c); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportAllocs()
			b.ResetTimer()
			for seq := uint64(1); seq <= uint64(b.N); seq++ {
				if err := s.Ack("hook", "orders", seq); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkPending measures reading the next ten events of a lane whose
// cursor is in the middle of a long log.
func BenchmarkPending(b *testing.B) {
	s := openTest(b, b.TempDir(), Options{})
	c := &Commit{Events: newEvents(20_000, 300), Destinations: []string{"hook"}}
	if _, err := s.Commit(context.Background(), "orders", 0, c); err != nil {
		b.Fatal(err)
	}
	if err := s.Ack("hook", "orders", 10_000); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		events, err := s.Pending("hook", "orders", 10)
		if err != nil || len(events) != 10 {
			b.Fatal(len(events), err)
		}
	}
}

// BenchmarkSettleParallel measures durable acks (SyncWrites) of eight lanes
// acking at once, one event per Settle: Badger commits concurrent
// transactions with one fsync, so together they pass the rate of one
// lane's synced acks (BenchmarkAck/sync=true).
func BenchmarkSettleParallel(b *testing.B) {
	s := openTest(b, b.TempDir(), Options{SyncWrites: true})
	const lanes = 8
	per := b.N/lanes + 1
	for i := range lanes {
		job := fmt.Sprintf("job%d", i)
		for v := uint64(0); v*1000 < uint64(per); v++ {
			c := &Commit{Events: newEvents(1000, 300), Destinations: []string{"hook"}}
			if _, err := s.Commit(context.Background(), job, v, c); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ResetTimer()
	var wg sync.WaitGroup
	for i := range lanes {
		job := fmt.Sprintf("job%d", i)
		wg.Go(func() {
			for seq := uint64(1); seq <= uint64(per); seq++ {
				if err := s.Settle(Settlement{Destination: "hook", Job: job, Ack: seq}); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	b.ReportMetric(float64(lanes*per)/b.Elapsed().Seconds(), "acks/s")
}
