package store

import (
	"os"
	"path/filepath"

	"github.com/dgraph-io/badger/v4"
)

// Orphans are what an interrupted commit leaves: a snapshot file the head
// does not reference (staged for a flip that never happened, or replaced
// by one whose clean-up did not run), chunk markers and parts beyond the
// head's LastSeq, and the parts of inline snapshot chunks a flip replaced
// whose deletion did not run. Readers never reach them, since they follow
// the head. Files and event chunks are deleted before each commit, which
// stages under the same names and must not mix with them, and at Open;
// inline parts, which no commit stages, at Open (and by the next commit
// when a deletion failed, see deleteStrayParts).

// removeOrphans deletes the orphans of job, given its committed head.
func (b *Badger) removeOrphans(job string, head headRecord) error {
	var keys [][]byte
	err := b.db.View(func(txn *badger.Txn) error {
		var err error
		keys, err = orphanKeys(txn, job, head, nil)
		return err
	})
	if err != nil {
		return err
	}
	files, err := b.removeStrayFiles(job, head)
	if len(keys) > 0 || files > 0 {
		b.logger.Info("removing what an interrupted commit left", "job", job, "keys", len(keys), "files", files)
	}
	if err != nil {
		return err
	}
	return b.deleteKeys(keys)
}

// discard removes what a failed commit staged, relative to the head as
// stored now (a commit whose last transaction reported an error may have
// reached the disk all the same); what it cannot remove now is removed by
// the job's next commit.
func (b *Badger) discard(job string) {
	var head headRecord
	err := b.db.View(func(txn *badger.Txn) error {
		var err error
		head, err = readHead(txn, job)
		return err
	})
	if err == nil {
		err = b.removeOrphans(job, head)
	}
	if err != nil {
		b.logger.Warn("could not remove what a failed commit staged; the next commit retries",
			"job", job, "err", err)
	}
}

// orphanKeys appends the keys of job that an interrupted commit staged:
// chunks beyond the head's LastSeq.
// It seeks straight past what the head references, so neither the live data
// (whose values an iterator would copy) nor the tombstones of deleted data
// are walked: this runs before every commit.
func orphanKeys(txn *badger.Txn, job string, head headRecord, keys [][]byte) ([][]byte, error) {
	for _, kind := range []byte{kindChunk, kindChunkPart} {
		err := eachItem(txn, jobPrefix(kind, job), seqPrefix(kind, job, head.LastSeq+1), func(item *badger.Item) error {
			keys = append(keys, item.KeyCopy(nil))
			return nil
		})
		if err != nil {
			return keys, err
		}
	}
	return keys, nil
}

// recover runs at Open: it removes the orphans of every job, everything
// stored for jobs that have no head (whose first commit never completed),
// and delivered events.
func (b *Badger) recover() error {
	heads := make(map[string]headRecord)
	var orphans [][]byte
	err := b.db.View(func(txn *badger.Txn) error {
		err := eachItem(txn, []byte{kindHead}, nil, func(item *badger.Item) error {
			job, _, err := readName(item.Key()[1:])
			if err != nil {
				return err
			}
			var rec headRecord
			if err := item.Value(func(v []byte) error { return decodeJSON("head of job "+job, v, &rec) }); err != nil {
				return err
			}
			heads[job] = rec
			if orphans, err = orphanKeys(txn, job, rec, orphans); err != nil {
				return err
			}
			orphans, err = strayPartKeys(txn, job, rec, orphans)
			return err
		})
		if err != nil {
			return err
		}
		for _, kind := range []byte{kindChunk, kindChunkPart, kindSnapshot} {
			err := eachJob(txn, kind, func(job string) error {
				if _, ok := heads[job]; ok {
					return nil
				}
				return eachItem(txn, jobPrefix(kind, job), nil, func(item *badger.Item) error {
					orphans = append(orphans, item.KeyCopy(nil))
					return nil
				})
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	if len(orphans) > 0 {
		b.logger.Info("removing parts of interrupted commits", "keys", len(orphans))
	}
	if err := b.deleteKeys(orphans); err != nil {
		return err
	}
	if err := b.recoverFiles(heads); err != nil {
		return err
	}
	for job := range heads {
		if err := b.prune(job); err != nil {
			return err
		}
	}
	return nil
}

// recoverFiles removes the snapshot files no head references, and the
// directories of jobs that have no head.
func (b *Badger) recoverFiles(heads map[string]headRecord) error {
	jobs := make(map[string]string, len(heads))
	for job := range heads {
		jobs[jobDirName(job)] = job
	}
	entries, err := os.ReadDir(b.snapDir)
	if err != nil {
		return err
	}
	files := 0
	for _, e := range entries {
		job, ok := jobs[e.Name()]
		if !ok || !e.IsDir() {
			if err := os.RemoveAll(filepath.Join(b.snapDir, e.Name())); err != nil {
				return err
			}
			files++
			continue
		}
		n, err := b.removeStrayFiles(job, heads[job])
		if err != nil {
			return err
		}
		files += n
	}
	if files > 0 {
		b.logger.Info("removed snapshot files no head references", "entries", files)
	}
	return nil
}

// eachJob calls fn with every job that has keys of kind, seeking past each
// job's keys rather than walking them.
func eachJob(txn *badger.Txn, kind byte, fn func(job string) error) error {
	it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{kind}})
	defer it.Close()
	for it.Rewind(); it.Valid(); {
		job, _, err := readName(it.Item().Key()[1:])
		if err != nil {
			return err
		}
		if err := fn(job); err != nil {
			return err
		}
		next := prefixEnd(jobPrefix(kind, job))
		if next == nil {
			return nil
		}
		it.Seek(next)
	}
	return nil
}

// deleteKeys deletes keys in as many transactions as they need. The keys
// must be ones no live reader needs (orphans, pruned or replaced data), so
// blind deletes cannot race with a writer.
func (b *Badger) deleteKeys(keys [][]byte) error {
	if len(keys) == 0 {
		return nil
	}
	wb := b.db.NewWriteBatch()
	defer wb.Cancel()
	for _, k := range keys {
		if err := wb.Delete(k); err != nil {
			return err
		}
	}
	return wb.Flush()
}
