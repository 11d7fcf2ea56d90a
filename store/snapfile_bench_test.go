package store

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"testing"
)

// benchSnapshot is a 20 MB snapshot, the size a 100,000-item job stores.
var benchSnapshot = bytes.Repeat([]byte(`{"id":12345,"name":"widget","price":9.99,"tags":["a","b"]},`), 20<<20/60)

// BenchmarkCommitSnapshot measures a commit of a 20 MB full snapshot and
// 2,000 events (a 1% change of a 100,000-item job), handed over as a
// []byte or streamed through a SnapshotWriter in 64 KB writes.
func BenchmarkCommitSnapshot(b *testing.B) {
	events := newEvents(2000, 300)
	for _, sync := range []bool{false, true} {
		for _, how := range []string{"bytes", "writer"} {
			b.Run(fmt.Sprintf("sync=%v/%s", sync, how), func(b *testing.B) {
				s := openTest(b, b.TempDir(), Options{SyncWrites: sync})
				ctx := context.Background()
				b.SetBytes(int64(len(benchSnapshot)))
				b.ReportAllocs()
				for v := uint64(0); b.Loop(); v++ {
					c := &Commit{Snapshot: benchSnapshot, Events: events, Destinations: []string{"hook"}}
					if how == "writer" {
						c.Snapshot, c.SnapshotWriter = nil, writeChunked(benchSnapshot, 64<<10)
					}
					if _, err := s.Commit(ctx, "orders", v, c); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// writeChunked is a SnapshotWriter that writes data in pieces of n bytes,
// as an encoder would.
func writeChunked(data []byte, n int) func(io.Writer) error {
	return func(w io.Writer) error {
		for off := 0; off < len(data); off += n {
			if _, err := w.Write(data[off:min(off+n, len(data))]); err != nil {
				return err
			}
		}
		return nil
	}
}

// BenchmarkCommitDelta measures a commit of a 300 KB snapshot delta and
// 2,000 events. Every 64 deltas (the differ's cap) a full snapshot, not
// timed, starts a new list.
func BenchmarkCommitDelta(b *testing.B) {
	delta := benchSnapshot[:300<<10]
	events := newEvents(2000, 300)
	for _, sync := range []bool{false, true} {
		b.Run(fmt.Sprintf("sync=%v", sync), func(b *testing.B) {
			s := openTest(b, b.TempDir(), Options{SyncWrites: sync})
			ctx := context.Background()
			if _, err := s.Commit(ctx, "orders", 0, &Commit{Snapshot: benchSnapshot}); err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(len(delta)))
			b.ReportAllocs()
			for v := uint64(1); b.Loop(); v++ {
				if v%65 == 0 {
					b.StopTimer()
					if _, err := s.Commit(ctx, "orders", v, &Commit{Snapshot: benchSnapshot}); err != nil {
						b.Fatal(err)
					}
					v++
					b.StartTimer()
				}
				c := &Commit{SnapshotDelta: delta, Events: events, Destinations: []string{"hook"}}
				if _, err := s.Commit(ctx, "orders", v, c); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkReadSnapshot measures ReadSnapshot of 1 KB at random offsets of
// a 20 MB snapshot (the differ fetching the stored form of a changed
// item), from one goroutine and from all.
func BenchmarkReadSnapshot(b *testing.B) {
	s := openTest(b, b.TempDir(), Options{})
	if _, err := s.Commit(context.Background(), "orders", 0, &Commit{Snapshot: benchSnapshot}); err != nil {
		b.Fatal(err)
	}
	last := int64(len(benchSnapshot) - 1024)
	read := func(p []byte, rng *rand.Rand) {
		if err := s.ReadSnapshot("orders", 1, 0, p, rng.Int64N(last)); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("serial", func(b *testing.B) {
		p, rng := make([]byte, 1024), rand.New(rand.NewPCG(1, 2))
		b.SetBytes(1024)
		b.ReportAllocs()
		for b.Loop() {
			read(p, rng)
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.SetBytes(1024)
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			p, rng := make([]byte, 1024), rand.New(rand.NewPCG(rand.Uint64(), 2))
			for pb.Next() {
				read(p, rng)
			}
		})
	})
}
