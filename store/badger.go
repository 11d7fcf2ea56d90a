package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"
)

// ErrClosed is returned by every method of a Badger store after Close.
var ErrClosed = errors.New("store: closed")

// ErrLocked is matched (errors.Is) by the error Open returns when another
// process holds the store's directory.
var ErrLocked = errors.New("store is locked by another process")

// Defaults sized for a sidecar. Measured when snapshots were still kept in
// Badger, on 1,500 commits of a 200 KB snapshot and 20 events, each
// delivered and acked: Badger's own defaults (five 64 MiB memtables, a 256
// MiB block cache) ended at 735 MB RSS, 1.7 GB at peak; 8 MiB memtables at
// 80 MB, 141 MB at peak. An idle process with the store open takes 12-14 MB
// (9 MB without it). With a 20 MB snapshot and 2,000 events per commit,
// Badger's table builders kept 64-256 MB with 8 MiB memtables and 256 KiB
// parts, 20 MB with 4 MiB memtables and the sizes of maxPartSize and
// baseTableSize. Snapshots now live in files (snapfile.go), so Badger only
// carries events and small records; these sizes bound what a burst of
// events costs. With snapshots out, 2 MiB memtables instead of 4 took the
// peak RSS of the 100,000-item poll-to-commit benchmark (2,000 events a
// tick) from 135-158 MB to 130-135 MB at the same speed; 1 MiB gained
// nothing more.
const (
	DefaultMemTableSize   = 2 << 20
	DefaultNumMemtables   = 2
	DefaultBlockCacheSize = 4 << 20 // used only with Compression
	DefaultGCInterval     = 5 * time.Minute
)

// maxValueThreshold is Badger's largest value kept in the LSM tree. Every
// value is kept there (see badgerOptions), below it.
const maxValueThreshold = 1 << 20

// valueLogFileSize is small because the value log stays (nearly) empty.
const valueLogFileSize = 16 << 20

// maxConflictRetries bounds the retries of a transaction that lost a race
// (badger.ErrConflict) against a concurrent one touching the same keys.
const maxConflictRetries = 16

// Options configures Open. The zero value is a working sidecar configuration.
type Options struct {
	// SyncWrites makes every write durable (fsynced) before it returns:
	// Commit (its snapshot file and that file's directory included), Ack,
	// SetRetry and DeadLetter. Without it a process crash loses nothing the
	// OS was handed, but a power loss can lose recent writes and tear a
	// commit that was being written (a snapshot file cut short is then
	// reported when read).
	SyncWrites bool
	// InMemory keeps the database in memory and the snapshot files in a
	// temporary directory that Close removes, for tests where persistence
	// is not the point; the path given to Open is ignored.
	InMemory bool
	// Logger receives Badger's warnings and errors; its informational
	// chatter (compactions, flushes) is logged at debug level. Pass a logger
	// scoped with component=store. Nil discards everything.
	Logger *slog.Logger

	// MemTableSize is the size of one memtable (default 2 MiB). Badger
	// caps one transaction at 15% of it; Commit stages large change sets
	// across several transactions, so it only affects throughput.
	MemTableSize int64
	// NumMemtables is how many memtables may be in memory at once (default 2).
	NumMemtables int
	// Compression compresses tables with zstd (level 1). Off by default:
	// measured, it saved 10% of disk on JSON snapshots and cost 40% more
	// RSS for its buffers and block cache.
	Compression bool
	// BlockCacheSize is the cache of decompressed table blocks; Badger
	// requires one when Compression is on (default 4 MiB then, else 0).
	BlockCacheSize int64
	// IndexCacheSize bounds memory for table indexes and bloom filters
	// (default 0: kept in memory, which is small for a sidecar's tables).
	IndexCacheSize int64
	// GCInterval is how often value-log GC runs (default 5 minutes). The
	// store keeps its values in the LSM tree, so GC usually finds nothing;
	// it runs so that a value log that did grow (a directory written with
	// other options) gives its space back.
	GCInterval time.Duration
}

func (o *Options) setDefaults() {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.MemTableSize <= 0 {
		o.MemTableSize = DefaultMemTableSize
	}
	if o.NumMemtables <= 0 {
		o.NumMemtables = DefaultNumMemtables
	}
	if o.Compression && o.BlockCacheSize <= 0 {
		o.BlockCacheSize = DefaultBlockCacheSize
	}
	if o.GCInterval <= 0 {
		o.GCInterval = DefaultGCInterval
	}
}

// badgerOptions translates Options into Badger's.
func (o *Options) badgerOptions(path string) badger.Options {
	bo := badger.DefaultOptions(path)
	if o.InMemory {
		bo = badger.DefaultOptions("").WithInMemory(true)
	}
	// Values stay in the LSM tree, none goes to the value log: events are
	// deleted once delivered and heads and lanes rewritten on every change,
	// and compaction drops such garbage as it goes, whereas value-log space
	// comes back only through GC, which needs discard statistics that
	// compaction of a tree holding only small pointers rarely produces
	// (measured: 600 MB of dead value log after 3,000 commits of a 200 KB
	// snapshot, against kilobytes with values in the tree). Event chunk
	// parts are below this threshold; Badger refuses a threshold above its
	// transaction limit.
	bo = bo.WithValueThreshold(min(maxValueThreshold, 15*o.MemTableSize/100)).
		WithSyncWrites(o.SyncWrites).
		WithLogger(badgerLogger{o.Logger}).
		WithMetricsEnabled(false).
		WithMemTableSize(o.MemTableSize).
		WithNumMemtables(o.NumMemtables).
		WithNumLevelZeroTables(2).
		WithNumLevelZeroTablesStall(8).
		WithNumCompactors(2).
		WithBaseTableSize(baseTableSize).
		WithBlockCacheSize(o.BlockCacheSize).
		WithIndexCacheSize(o.IndexCacheSize).
		WithValueLogFileSize(valueLogFileSize)
	// Tables of one size at every level: Badger builds a table in memory
	// and keeps the buffers of the last eight it built for reuse, so the
	// largest table ever built is what they hold, times eight.
	bo.TableSizeMultiplier = 1
	if o.Compression {
		bo = bo.WithCompression(options.ZSTD).WithZSTDCompressionLevel(1)
	} else {
		bo = bo.WithCompression(options.None)
	}
	return bo
}

// Badger is the embedded Store. It is safe for concurrent use; Close must be
// called to release the directory and stop its background work.
type Badger struct {
	db          *badger.DB
	logger      *slog.Logger
	partSize    int    // largest event chunk part written in one value
	snapDir     string // where snapshot files live (snapfile.go)
	snapDirTemp bool   // snapDir is an in-memory store's, removed by Close
	syncWrites  bool
	space       spaceGuard // refuses writes when the disk is nearly full (space.go)
	ids         *idGen
	now         func() time.Time

	jobsMu sync.Mutex
	jobs   map[string]*jobState

	inlineMax int         // largest snapshot chunk kept in Badger (inline.go); -1: none
	cache     inlineCache // bytes of inline chunks readers read

	logMu     sync.Mutex
	logStarts map[string]uint64 // per job, a sequence number below which every chunk is deleted

	// mu guards closed: every operation holds it for reading, so Close
	// (which takes it for writing) waits for operations in flight and none
	// touches the database after it is closed.
	mu     sync.RWMutex
	closed bool
	stop   chan struct{}
	gcDone sync.WaitGroup

	// beforeFlip, when set by a test, runs between staging and the final
	// transaction of Commit; an error returned by it aborts the commit with
	// no clean-up, as if the process had died at that instant. afterFlip
	// runs right after that transaction, before replaced snapshot files are
	// deleted, and likewise.
	beforeFlip, afterFlip func() error
}

var _ Store = (*Badger)(nil)

// Open opens (creating if needed) the store at path: the Badger database
// and, beside it, the snapshots directory. It removes what an interrupted
// commit left behind, prunes delivered events, and starts value-log GC,
// which Close stops.
func Open(path string, opts Options) (*Badger, error) {
	opts.setDefaults()
	if opts.MemTableSize < 1<<20 {
		return nil, fmt.Errorf("store: memtable size %d is below the minimum of 1 MiB", opts.MemTableSize)
	}
	var space spaceGuard
	if !opts.InMemory {
		space = newSpaceGuard(path, opts.MemTableSize)
		if err := space.room(0); err != nil {
			return nil, err
		}
		if err := removeEmptyLogFiles(path, opts.Logger); err != nil {
			return nil, fmt.Errorf("open store %s: %w", path, err)
		}
	}
	db, err := badger.Open(opts.badgerOptions(path))
	if err != nil {
		// Badger formats the flock error with %v, so the text is all there is.
		if strings.Contains(err.Error(), "Cannot acquire directory lock") {
			return nil, &lockedError{path: path, err: err}
		}
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	b := &Badger{
		db:         db,
		logger:     opts.Logger,
		partSize:   partSize(db),
		syncWrites: opts.SyncWrites,
		space:      space,
		ids:        newIDGen(),
		now:        time.Now,
		jobs:       make(map[string]*jobState),
		inlineMax:  inlineMax,
		cache:      inlineCache{limit: inlineCacheMax},
		logStarts:  make(map[string]uint64),
		stop:       make(chan struct{}),
	}
	err = b.checkFormat()
	if err == nil {
		err = b.openSnapDir(path, opts.InMemory)
	}
	if err == nil {
		err = b.recover()
	}
	if err != nil {
		_ = db.Close()
		b.removeTempSnapDir()
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	if !opts.InMemory {
		b.gcDone.Add(1)
		go b.gcLoop(opts.GCInterval)
	}
	return b, nil
}

// Table and value sizes that keep Badger's memory small. Badger builds
// each table in memory, block by block, and keeps the buffers of the last
// eight tables it built (flushed or compacted) for reuse, each as large as
// the largest table it held. A value larger than a block (4 KiB) grows its
// block by doubling inside those buffers, so large values inflate them
// further: snapshot parts of 256 KiB (when snapshots were kept in Badger)
// made them hold 64-256 MB.
const (
	baseTableSize = 512 << 10
	// maxPartSize fits one part, with its key and the block's overhead,
	// in one Badger block.
	maxPartSize = 4<<10 - 128
)

// partSize is the largest value Commit writes: at most maxPartSize, and a
// quarter of Badger's transaction limit, so that a staging transaction
// holds several parts.
func partSize(db *badger.DB) int {
	return int(min(db.MaxBatchSize()/4, maxPartSize))
}

// Close stops value-log GC, closes the open snapshot files and the
// database, after waiting for operations in flight. Calling it again does
// nothing.
func (b *Badger) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	b.mu.Unlock()
	close(b.stop)
	b.gcDone.Wait()
	b.closeJobFiles()
	err := b.db.Close()
	b.removeTempSnapDir()
	if err != nil {
		return fmt.Errorf("close store: %w", err)
	}
	return nil
}

// removeTempSnapDir removes an in-memory store's snapshot directory.
func (b *Badger) removeTempSnapDir() {
	if !b.snapDirTemp {
		return
	}
	if err := os.RemoveAll(b.snapDir); err != nil {
		b.logger.Warn("could not remove the snapshot files of an in-memory store", "dir", b.snapDir, "err", err)
	}
}

// enter marks the start of an operation; the returned func marks its end.
func (b *Badger) enter() (func(), error) {
	b.mu.RLock()
	if b.closed {
		b.mu.RUnlock()
		return nil, ErrClosed
	}
	return b.mu.RUnlock, nil
}

// update runs fn in a read-write transaction, again from the start when a
// concurrent transaction wrote a key fn read; fn must therefore not keep
// state from an earlier attempt.
func (b *Badger) update(fn func(txn *badger.Txn) error) error {
	if err := b.space.room(0); err != nil {
		return err
	}
	for attempt := 0; ; attempt++ {
		err := b.db.Update(fn)
		if !errors.Is(err, badger.ErrConflict) || attempt == maxConflictRetries {
			return err
		}
	}
}

// errStop ends an eachItem walk early without an error.
var errStop = errors.New("stop")

// eachItem calls fn for every item under prefix in key order, starting at
// seek (the whole prefix when nil). Values are not prefetched: fn reads the
// ones it needs.
func eachItem(txn *badger.Txn, prefix, seek []byte, fn func(*badger.Item) error) error {
	it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix})
	defer it.Close()
	if seek == nil {
		seek = prefix
	}
	for it.Seek(seek); it.Valid(); it.Next() {
		if err := fn(it.Item()); err != nil {
			if errors.Is(err, errStop) {
				return nil
			}
			return err
		}
	}
	return nil
}

func (b *Badger) checkFormat() error {
	return b.update(func(txn *badger.Txn) error {
		item, err := txn.Get(formatKey())
		if errors.Is(err, badger.ErrKeyNotFound) {
			return txn.Set(formatKey(), []byte(storeFormat))
		}
		if err != nil {
			return err
		}
		v, err := item.ValueCopy(nil)
		if err != nil {
			return err
		}
		if string(v) != storeFormat {
			return fmt.Errorf("data format version %q is not supported by this pollhook (it reads %q)%s", v, storeFormat, formatHints[string(v)])
		}
		return nil
	})
}

func (b *Badger) gcLoop(interval time.Duration) {
	defer b.gcDone.Done()
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-b.stop:
			return
		case <-t.C:
			b.collectValueLog()
		}
	}
}

// collectValueLog rewrites value-log files until none is at least half
// garbage, as Badger recommends (one call rewrites at most one file).
func (b *Badger) collectValueLog() {
	for {
		select {
		case <-b.stop:
			return
		default:
		}
		err := b.db.RunValueLogGC(0.5)
		if err == nil {
			continue
		}
		if !errors.Is(err, badger.ErrNoRewrite) && !errors.Is(err, badger.ErrRejected) {
			b.logger.Warn("value log GC failed", "err", err)
		}
		return
	}
}

// lockedError reports a store directory held by another process.
type lockedError struct {
	path string
	err  error
}

func (e *lockedError) Error() string {
	return fmt.Sprintf("store %s is locked by another process (is another pollhook running?): %v", e.path, e.err)
}

func (e *lockedError) Unwrap() []error { return []error{ErrLocked, e.err} }

// badgerLogger routes Badger's log lines to slog. Badger reports routine
// work (flushes, compactions, replay) at info level; that is logged at debug
// so that an operator's warn/info log only shows what needs attention.
type badgerLogger struct{ l *slog.Logger }

func (a badgerLogger) Errorf(f string, v ...any)   { a.log(slog.LevelError, f, v) }
func (a badgerLogger) Warningf(f string, v ...any) { a.log(slog.LevelWarn, f, v) }
func (a badgerLogger) Infof(f string, v ...any)    { a.log(slog.LevelDebug, f, v) }
func (a badgerLogger) Debugf(f string, v ...any)   { a.log(slog.LevelDebug, f, v) }

func (a badgerLogger) log(level slog.Level, f string, v []any) {
	ctx := context.Background()
	if !a.l.Enabled(ctx, level) {
		return
	}
	a.l.Log(ctx, level, strings.TrimSpace(fmt.Sprintf(f, v...)), "db", "badger")
}
