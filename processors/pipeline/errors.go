package pipeline

import "errors"

var (
	// ErrInvalidEnv is wrapped when a stage is built without what it needs.
	ErrInvalidEnv = errors.New("pipeline: invalid environment")
	// ErrCorrupt is wrapped when an internal topic holds a record postbackd
	// cannot decode; such records go to the deadletter topic too.
	ErrCorrupt = errors.New("pipeline: undecodable internal record")
)
