package state

import "fmt"

// offsetPrefix starts the keys under which Badger keeps offsets, next to the
// state they belong to. 0xFF never occurs in UTF-8, so no key built from
// JSON strings (app, device, user ids) can start with it.
const offsetPrefix = "\xff\xffoffset\x00"

// checkKeys rejects writes into the reserved key space, in every Store, so
// that a batch accepted by the memory store is accepted by Badger too.
func checkKeys(b *Batch) error {
	for _, w := range b.Writes {
		if len(w.Key) == 0 {
			return fmt.Errorf("%w: empty key", ErrReservedKey)
		}
		if w.Key[0] == 0xff {
			return fmt.Errorf("%w: %q", ErrReservedKey, w.Key)
		}
	}
	return nil
}
