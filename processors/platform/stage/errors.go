package stage

import "errors"

var (
	// ErrInvalidConfig is wrapped by configuration errors.
	ErrInvalidConfig = errors.New("stage: invalid config")
	// ErrNotOwned is returned for a batch of a partition this copy does not
	// own (a bug in the consumer loop if ever seen).
	ErrNotOwned = errors.New("stage: partition not owned")
	// ErrChangelog is wrapped by failures to read a changelog.
	ErrChangelog = errors.New("stage: changelog")
)
