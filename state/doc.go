// Package state defines the Store that holds a stage's per-partition state
// and the offsets it reflects, with a Badger implementation (on disk, for
// production) and an in-memory one (for fast tests); both pass one shared
// contract test.
package state
