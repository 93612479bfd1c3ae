package state

import "errors"

var (
	// ErrNotFound is returned by Store.Get for a key with no value.
	ErrNotFound = errors.New("state: key not found")
	// ErrBatchTooLarge is returned by Store.Apply for a batch that does not
	// fit one atomic write.
	ErrBatchTooLarge = errors.New("state: batch too large for one transaction")
	// ErrClosed is returned by a Store used after Close.
	ErrClosed = errors.New("state: store closed")
)

// ErrReservedKey is returned by Store.Apply for an empty key or a key
// starting with byte 0xFF, the space where stores keep offsets.
var ErrReservedKey = errors.New("state: empty or reserved key")
