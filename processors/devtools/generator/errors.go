package generator

import "errors"

// ErrInvalidConfig is returned by Config.Validate for a config New would
// have to correct.
var ErrInvalidConfig = errors.New("generator: invalid config")
