package state

import (
	"strings"

	"github.com/dgraph-io/badger/v4"
	"go.uber.org/zap"
)

// badgerLogger adapts zap to Badger's printf-style Logger. Badger logs
// every compaction and memtable flush at info; with a store per partition
// that drowns a stage's own logs, so info goes to debug.
type badgerLogger struct{ s *zap.SugaredLogger }

// newBadgerLogger returns a nil interface for a nil logger, which Badger
// takes as "do not log" (a typed nil pointer would not be).
func newBadgerLogger(l *zap.Logger) badger.Logger {
	if l == nil {
		return nil
	}
	return &badgerLogger{s: l.Named("badger").WithOptions(zap.AddCallerSkip(2)).Sugar()}
}

func (l *badgerLogger) Errorf(f string, v ...interface{})   { l.s.Errorf(trim(f), v...) }
func (l *badgerLogger) Warningf(f string, v ...interface{}) { l.s.Warnf(trim(f), v...) }
func (l *badgerLogger) Infof(f string, v ...interface{})    { l.s.Debugf(trim(f), v...) }
func (l *badgerLogger) Debugf(f string, v ...interface{})   { l.s.Debugf(trim(f), v...) }

// trim drops the trailing newline Badger puts on its format strings.
func trim(f string) string { return strings.TrimRight(f, "\n") }
