package stream

import (
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"
)

// kafkaLogger adapts a zap logging method to kafka-go's printf logger.
func kafkaLogger(log func(string, ...zap.Field)) kafka.LoggerFunc {
	return func(format string, args ...any) {
		log(fmt.Sprintf(format, args...), zap.String("source", "kafka-go"))
	}
}

// readerLogger logs a partition reader's errors at warn level, except the
// i/o timeouts of a fetch that found nothing new, which kafka-go reports as
// errors on every idle poll of a quiet partition: those go to debug, so that
// a warning in the logs means something. Warnings go through lim, keyed by
// kafka-go's format string, so that an outage, which every partition's
// reader reports about once a second, gives one line per kind per interval.
func readerLogger(log *zap.Logger, lim *logLimiter) kafka.LoggerFunc {
	return func(format string, args ...any) {
		msg := fmt.Sprintf(format, args...)
		if strings.HasSuffix(msg, "i/o timeout") {
			log.Debug(msg, zap.String("source", "kafka-go"))
			return
		}
		lim.warn(log, format, msg, zap.String("source", "kafka-go"))
	}
}

// limitedKafkaLogger logs kafka-go's messages at warn level through lim.
func limitedKafkaLogger(log *zap.Logger, lim *logLimiter) kafka.LoggerFunc {
	return func(format string, args ...any) {
		lim.warn(log, format, fmt.Sprintf(format, args...), zap.String("source", "kafka-go"))
	}
}

// logLimiter lets one warning per key through per interval, and tells on
// the next one how many it held back. While the broker is away every
// partition reader, the group and the committer fail about once a second;
// unlimited, that buries the one line that says what is going on.
type logLimiter struct {
	every time.Duration
	now   func() time.Time
	mu    sync.Mutex
	keys  map[string]*limited
}

type limited struct {
	last       time.Time
	suppressed int
}

func newLogLimiter(every time.Duration) *logLimiter {
	return &logLimiter{every: every, now: time.Now, keys: make(map[string]*limited)}
}

// allow reports whether a message under key may be logged now, and how
// many were held back since the last one.
func (l *logLimiter) allow(key string) (bool, int) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	e := l.keys[key]
	if e == nil {
		if len(l.keys) >= 1000 { // keys are format strings; never many
			clear(l.keys)
		}
		e = &limited{}
		l.keys[key] = e
	} else if now.Sub(e.last) < l.every {
		e.suppressed++
		return false, 0
	}
	n := e.suppressed
	e.last, e.suppressed = now, 0
	return true, n
}

func (l *logLimiter) warn(log *zap.Logger, key, msg string, fields ...zap.Field) {
	ok, n := l.allow(key)
	if !ok {
		return
	}
	if n > 0 {
		fields = append(fields, zap.Int("suppressed", n), zap.Duration("suppressed_over", l.every))
	}
	log.WithOptions(zap.AddCallerSkip(1)).Warn(msg, fields...) // the caller of warn, not warn
}
