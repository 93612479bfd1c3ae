package config

import (
	"errors"
	"fmt"
	"strings"
)

// ErrInvalid is wrapped by the error Load returns for a file with problems.
var ErrInvalid = errors.New("invalid configuration")

// FieldError is one problem in a configuration file.
type FieldError struct {
	File  string
	Line  int
	Field string // dotted path, e.g. apps[1].click_lookback
	Msg   string
}

func (e *FieldError) Error() string {
	return fmt.Sprintf("%s:%d: %s: %s", e.File, e.Line, e.Field, e.Msg)
}

// Problems is the list of every problem found in a file.
type Problems []error

func (p Problems) Error() string {
	msgs := make([]string, len(p))
	for i, e := range p {
		msgs[i] = e.Error()
	}
	return strings.Join(msgs, "\n")
}

func (p Problems) Unwrap() error { return ErrInvalid }
