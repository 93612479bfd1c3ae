package state

import (
	"fmt"

	"github.com/dgraph-io/badger/v4"
)

// BulkLoader is implemented by stores that load many writes faster than
// Apply by giving up atomicity. Restoring from a changelog uses it: a
// restore cut short leaves no offset behind, so the next owner discards
// the partial store and starts over, and atomicity buys nothing there.
type BulkLoader interface {
	Load(writes []Write) error
}

var _ BulkLoader = (*Badger)(nil)

// Load writes sets and deletes through a Badger WriteBatch, which commits
// in as many transactions as it needs.
func (b *Badger) Load(writes []Write) error {
	if err := checkKeys(&Batch{Writes: writes}); err != nil {
		return err
	}
	b.mu.RLock()
	defer b.mu.RUnlock()
	if b.closed {
		return ErrClosed
	}
	wb := b.db.NewWriteBatch()
	defer wb.Cancel()
	for _, w := range writes {
		var err error
		if w.Value == nil {
			err = wb.Delete(w.Key)
		} else {
			err = wb.SetEntry(badger.NewEntry(w.Key, w.Value))
		}
		if err != nil {
			return fmt.Errorf("state: load: %w", err)
		}
	}
	if err := wb.Flush(); err != nil {
		return fmt.Errorf("state: load: %w", err)
	}
	return nil
}
