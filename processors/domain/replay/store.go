package replay

import (
	"fmt"

	"github.com/postbackd/postbackd/state"
)

// openStore opens the Badger store in dir behind a write-back cache of
// cacheEntries keys. Replay has no offsets to keep atomic with its state
// and starts over after a failure, so it need not pay Badger a memtable
// insert per state write (a third of its CPU when it did): Badger sees
// only what the cache evicts, and holds the rest of the state when the
// input has more devices than the cache, which keeps memory bounded.
func openStore(dir string, opts state.BadgerOptions, cacheEntries int) (*state.Cached, error) {
	b, err := state.OpenBadger(dir, opts)
	if err != nil {
		return nil, fmt.Errorf("replay: %w", err)
	}
	return state.NewWriteBack(b, cacheEntries), nil
}

// closeStore writes the cached state to Badger when it is kept, and skips
// that work for a temporary directory about to be removed.
func closeStore(st *state.Cached, keep bool) error {
	if keep {
		return st.Close()
	}
	return st.Discard()
}
