package store

import (
	"errors"
	"slices"
	"strings"

	"github.com/dgraph-io/badger/v4"
)

// A destination whose receiver answers 410 Gone is paused: the pause is
// stored, so that a restart does not resume sending to a receiver that
// said it is gone, and stays until an operator resumes the destination.

// PauseDestination records that p.Destination is paused (At defaults to
// now). Pausing a paused destination replaces the record.
func (b *Badger) PauseDestination(p Pause) error {
	if err := checkName("destination", p.Destination); err != nil {
		return err
	}
	if p.At.IsZero() {
		p.At = b.now()
	}
	p.At = p.At.UTC()
	done, err := b.enter()
	if err != nil {
		return err
	}
	defer done()
	return b.update(func(txn *badger.Txn) error { return setJSON(txn, pauseKey(p.Destination), &p) })
}

// ResumeDestination removes the pause of dest and reports whether it was
// paused.
func (b *Badger) ResumeDestination(dest string) (bool, error) {
	if err := checkName("destination", dest); err != nil {
		return false, err
	}
	done, err := b.enter()
	if err != nil {
		return false, err
	}
	defer done()
	var was bool
	err = b.update(func(txn *badger.Txn) error {
		_, err := txn.Get(pauseKey(dest))
		if errors.Is(err, badger.ErrKeyNotFound) {
			was = false
			return nil
		}
		if err != nil {
			return err
		}
		was = true
		return txn.Delete(pauseKey(dest))
	})
	return was, err
}

// Paused lists the paused destinations, ordered by name.
func (b *Badger) Paused() ([]Pause, error) {
	done, err := b.enter()
	if err != nil {
		return nil, err
	}
	defer done()
	var ps []Pause
	err = b.db.View(func(txn *badger.Txn) error {
		return eachItem(txn, []byte{kindPause}, nil, func(item *badger.Item) error {
			var p Pause
			err := item.Value(func(v []byte) error { return decodeJSON("pause", v, &p) })
			ps = append(ps, p)
			return err
		})
	})
	if err != nil {
		return nil, err
	}
	// Keys are length-prefixed, so key order is not name order.
	slices.SortFunc(ps, func(a, b Pause) int { return strings.Compare(a.Destination, b.Destination) })
	return ps, nil
}
