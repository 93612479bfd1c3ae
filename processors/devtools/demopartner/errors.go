package demopartner

import "errors"

var (
	// ErrStarted is returned by Start on a server already started.
	ErrStarted = errors.New("demopartner: already started")
	// ErrListen wraps the failure to listen on loopback.
	ErrListen = errors.New("demopartner: listen")
)
