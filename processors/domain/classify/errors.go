package classify

import "errors"

var (
	// ErrCorruptState is returned when a stored state value cannot be
	// decoded: the store holds bytes this version did not write.
	ErrCorruptState = errors.New("classify: corrupt state value")
	// ErrStateRead is returned when the store fails to read a key.
	ErrStateRead = errors.New("classify: read state")
)
