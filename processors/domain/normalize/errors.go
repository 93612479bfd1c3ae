package normalize

import "errors"

// ErrRejected is matched by every *Reject (errors.Is(err, ErrRejected)).
var ErrRejected = errors.New("record rejected")
