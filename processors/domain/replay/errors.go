package replay

import "errors"

var (
	// ErrRead is returned when the input cannot be read.
	ErrRead = errors.New("replay: read input")
	// ErrWrite is returned when the output or rejects cannot be written.
	ErrWrite = errors.New("replay: write output")
)
