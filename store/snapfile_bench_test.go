package store

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"syscall"
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

// BenchmarkReadSnapshotInline measures ReadSnapshot of 200 bytes (an
// item) at random offsets of an inline chunk the cache holds.
func BenchmarkReadSnapshotInline(b *testing.B) {
	s := openTest(b, b.TempDir(), Options{})
	if _, err := s.Commit(context.Background(), "orders", 0, &Commit{Snapshot: benchSnapshot[:inlineMax]}); err != nil {
		b.Fatal(err)
	}
	p, rng := make([]byte, 200), rand.New(rand.NewPCG(1, 2))
	b.SetBytes(200)
	b.ReportAllocs()
	for b.Loop() {
		if err := s.ReadSnapshot("orders", 1, 0, p, rng.Int64N(inlineMax-200)); err != nil {
			b.Fatal(err)
		}
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

// BenchmarkCommitSmallDelta measures the commit of a small job's changed
// poll with SyncWrites: a 30 KB snapshot delta and 20 events, on a 200 KB
// full snapshot (about a 1,000-item job), from one job and from 16 jobs
// committing at once (issue 5: thousands of small jobs on two cores).
// Every 64 deltas a job commits a full snapshot instead, as the differ does.
func BenchmarkCommitSmallDelta(b *testing.B) {
	for _, jobs := range []int{1, 16} {
		b.Run(fmt.Sprintf("jobs=%d", jobs), func(b *testing.B) {
			s := openTest(b, b.TempDir(), Options{SyncWrites: true})
			benchCommits(b, s, jobs, benchSnapshot[:200<<10], benchSnapshot[:30<<10])
		})
	}
}

// BenchmarkCommitChunk measures, with SyncWrites, commits of a snapshot
// delta of each size (and 20 events) kept inline or in a file, from one
// job and from 16 jobs committing at once; it is what inlineMax was chosen
// from. Every 64 deltas a job commits a full snapshot of the same size, in
// the same place, as the differ does. cpu-ns/op counts the whole process,
// Badger's flushes and compactions included.
func BenchmarkCommitChunk(b *testing.B) {
	for _, size := range []int{4 << 10, 8 << 10, 16 << 10, 32 << 10, 64 << 10} {
		for _, where := range []string{"inline", "file"} {
			for _, jobs := range []int{1, 16} {
				b.Run(fmt.Sprintf("size=%dK/%s/jobs=%d", size>>10, where, jobs), func(b *testing.B) {
					s := openTest(b, b.TempDir(), Options{SyncWrites: true})
					s.inlineMax = size
					if where == "file" {
						s.inlineMax = -1
					}
					benchCommits(b, s, jobs, benchSnapshot[:size], benchSnapshot[:size])
				})
			}
		}
	}
}

// benchCommits runs b.N commits of delta (and 20 events) spread over jobs
// committing at once, each job starting from full and committing full
// again after every 64 deltas.
func benchCommits(b *testing.B, s *Badger, jobs int, full, delta []byte) {
	ctx := context.Background()
	versions := make([]uint64, jobs)
	for j := range jobs {
		if _, err := s.Commit(ctx, fmt.Sprint("job", j), 0, &Commit{Snapshot: full}); err != nil {
			b.Fatal(err)
		}
		versions[j] = 1
	}
	events := make([][]Event, jobs)
	for j := range events {
		events[j] = newEvents(20, 300)
	}
	b.ReportAllocs()
	b.ResetTimer()
	cpu := processCPU(b)
	var wg sync.WaitGroup
	for j := range jobs {
		wg.Go(func() {
			job := fmt.Sprint("job", j)
			for i := j; i < b.N; i += jobs {
				c := &Commit{SnapshotDelta: delta, Events: events[j], Destinations: []string{"hook"}}
				if versions[j]%65 == 0 {
					c.SnapshotDelta, c.Snapshot = nil, full
				}
				if _, err := s.Commit(ctx, job, versions[j], c); err != nil {
					b.Error(err)
					return
				}
				versions[j]++
			}
		})
	}
	wg.Wait()
	b.ReportMetric(float64(processCPU(b)-cpu)/float64(b.N), "cpu-ns/op")
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "commits/s")
}

// processCPU is the CPU time the process has used, in nanoseconds.
func processCPU(b *testing.B) int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
