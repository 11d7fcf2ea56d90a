package store

import (
	"github.com/dgraph-io/badger/v4"
)

// Orphans are what an interrupted commit leaves: snapshot parts of a version
// the head does not list (staged for a flip that never happened, or replaced
// by one whose clean-up did not run) and chunk markers and parts beyond the
// head's LastSeq. Readers never reach them, since they follow the head. Those
// beyond the head are deleted before each commit, which stages under the
// same keys and must not mix with them; all of them are deleted at Open.

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
	if len(keys) > 0 {
		b.logger.Info("removing parts of an interrupted commit", "job", job, "keys", len(keys))
	}
	return b.deleteKeys(keys)
}

// discard removes what a failed commit staged; what it cannot remove now is
// removed by the job's next commit.
func (b *Badger) discard(job string, old headRecord) {
	if err := b.removeOrphans(job, old); err != nil {
		b.logger.Warn("could not remove staged parts of a failed commit; the next commit retries",
			"job", job, "err", err)
	}
}

// orphanKeys appends the keys of job that an interrupted commit staged:
// snapshot parts of versions above the last one the head lists and chunks
// beyond its LastSeq.
// It seeks straight past what the head references, so neither the live data
// (whose values an iterator would copy) nor the tombstones of deleted data
// are walked: this runs before every commit.
func orphanKeys(txn *badger.Txn, job string, head headRecord, keys [][]byte) ([][]byte, error) {
	collect := func(item *badger.Item) error {
		keys = append(keys, item.KeyCopy(nil))
		return nil
	}
	snaps := jobPrefix(kindSnapshot, job)
	if err := eachItem(txn, snaps, seqPrefix(kindSnapshot, job, head.lastSnapVersion()+1), collect); err != nil {
		return keys, err
	}
	for _, kind := range []byte{kindChunk, kindChunkPart} {
		if err := eachItem(txn, jobPrefix(kind, job), seqPrefix(kind, job, head.LastSeq+1), collect); err != nil {
			return keys, err
		}
	}
	return keys, nil
}

// replacedKeys appends the keys of snapshot versions below the last one
// the head lists that it does not list: a commit of a full snapshot deletes
// the ones it replaces right after its flip, so they only remain when that
// delete failed or the process died in between. It seeks from one listed
// version to the next, so the data in use is not walked.
func replacedKeys(txn *badger.Txn, job string, head headRecord, keys [][]byte) ([][]byte, error) {
	from := uint64(0)
	for _, p := range append([]snapPart{head.base()}, head.Deltas...) {
		err := eachItem(txn, jobPrefix(kindSnapshot, job), seqPrefix(kindSnapshot, job, from), func(item *badger.Item) error {
			if _, v, err := parseSeqKey(item.Key()); err == nil && v >= p.Version {
				return errStop
			}
			keys = append(keys, item.KeyCopy(nil))
			return nil
		})
		if err != nil {
			return keys, err
		}
		from = p.Version + 1
	}
	return keys, nil
}

// recover runs at Open: it removes the orphans of every job, everything
// stored for jobs whose first commit never completed, and delivered events.
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
			orphans, err = replacedKeys(txn, job, rec, orphans)
			return err
		})
		if err != nil {
			return err
		}
		for _, kind := range []byte{kindSnapshot, kindChunk, kindChunkPart} {
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
	for job := range heads {
		if err := b.prune(job); err != nil {
			return err
		}
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
