package config

import (
	"errors"
	"fmt"
	"strings"
)

var (
	// ErrInvalid is wrapped by the error Load returns for a file with problems.
	ErrInvalid = errors.New("invalid configuration")
	// ErrSyntax is wrapped by the problem of a file yaml.v3 cannot parse,
	// nesting deeper than its limit included.
	ErrSyntax = errors.New("not valid YAML")
	// ErrNotText is wrapped by the problem of a file that holds binary
	// data (a NUL byte, invalid UTF-8): a wrong path, most likely.
	ErrNotText = errors.New("not a text file")
	// ErrTooLarge is wrapped by the problem of a file over MaxFileBytes.
	ErrTooLarge = errors.New("configuration file too large")
)

// FieldError is one problem in a configuration file.
type FieldError struct {
	File  string
	Line  int    // 0 when no line is known
	Field string // dotted path, e.g. apps[1].click_lookback
	Msg   string
	// Err, when set, is a sentinel the problem wraps, for errors.Is; Msg
	// already says it.
	Err error
}

func (e *FieldError) Error() string {
	if e.Line <= 0 {
		// "file:0:" would send an editor to a line that does not exist.
		return fmt.Sprintf("%s: %s: %s", e.File, e.Field, e.Msg)
	}
	return fmt.Sprintf("%s:%d: %s: %s", e.File, e.Line, e.Field, e.Msg)
}

func (e *FieldError) Unwrap() error { return e.Err }

// Problems is the list of every problem found in a file.
type Problems []error

func (p Problems) Error() string {
	msgs := make([]string, len(p))
	for i, e := range p {
		msgs[i] = e.Error()
	}
	return strings.Join(msgs, "\n")
}

// Unwrap gives ErrInvalid and every problem, so that errors.Is finds a
// problem's own sentinel (a missing secret, a binary file) too.
func (p Problems) Unwrap() []error { return append([]error{ErrInvalid}, p...) }
