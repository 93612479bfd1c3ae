package normalize

import (
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/postbackd/postbackd/schemas"
)

// Config configures a Normalizer.
type Config struct {
	// Resolver looks up Confluent schema ids. Without it, Confluent-framed
	// messages are rejected.
	Resolver schemas.Resolver
	// Logger defaults to zap.NewNop().
	Logger *zap.Logger
	// MaxClockSkew returns an app's max_clock_skew; nil, or a result <= 0,
	// means DefaultMaxClockSkew.
	MaxClockSkew func(appID string) time.Duration
	// RecordArrival makes a record's own received_at, when it has one, its
	// arrival time (replay's lines). Off in the pipeline, where the Kafka
	// record's timestamp is the arrival time and a producer cannot claim
	// another.
	RecordArrival bool
	// MaxRecordBytes is max_record_bytes of CLASSIFICATION.md: the largest
	// raw record accepted, in bytes as received. Larger ones are rejected
	// before decoding. 0 means DefaultMaxRecordBytes (64 KiB); negative is
	// an error.
	MaxRecordBytes int
}

// Normalizer turns raw messages into validated device-stream records. It
// holds no mutable state and is safe for concurrent use.
type Normalizer struct {
	resolver      schemas.Resolver
	log           *zap.Logger
	skew          func(appID string) time.Duration
	recordArrival bool
	maxRecord     int
}

// New returns a Normalizer for cfg.
func New(cfg Config) (*Normalizer, error) {
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	switch {
	case cfg.MaxRecordBytes < 0:
		return nil, fmt.Errorf("normalize: max_record_bytes %d is negative", cfg.MaxRecordBytes)
	case cfg.MaxRecordBytes == 0:
		cfg.MaxRecordBytes = DefaultMaxRecordBytes
	}
	return &Normalizer{resolver: cfg.Resolver, log: cfg.Logger, skew: cfg.MaxClockSkew, recordArrival: cfg.RecordArrival, maxRecord: cfg.MaxRecordBytes}, nil
}

// Normalize decodes one raw record (JSON, Avro single-object, or
// Confluent-framed Avro, detected per message) that arrived at arrival, and
// validates it. A rejected record returns a *Reject error. The record's ts
// is replaced by arrival when it lies more than the app's max_clock_skew
// after it (CLASSIFICATION.md, "Time").
func (n *Normalizer) Normalize(raw []byte, arrival time.Time) (schemas.Input, error) {
	if len(raw) > n.maxRecord {
		// Before decoding: a record this large must cost nothing more.
		return schemas.Input{}, reject("", fmt.Sprintf("record of %d bytes is larger than max_record_bytes %d", len(raw), n.maxRecord))
	}
	in, err := n.decode(raw)
	if errors.Is(err, schemas.ErrRegistryUnavailable) {
		return schemas.Input{}, err // not a reject: the registry is away
	}
	if err != nil {
		return schemas.Input{}, toReject(err)
	}
	if in.Event != nil {
		// Only normalize says a ts was adjusted: a raw v2 Input record
		// carries the field, and a producer must not claim it.
		in.Event.TSAdjusted = false
	}
	if err := normalizeInput(&in); err != nil {
		return schemas.Input{}, err
	}
	if n.recordArrival && !in.ReceivedAt.IsZero() {
		arrival = in.ReceivedAt
	}
	in.ReceivedAt = time.Time{}
	if err := applyTime(&in, arrival, n.maxClockSkew(in.AppID())); err != nil {
		return schemas.Input{}, err
	}
	return in, nil
}

func (n *Normalizer) maxClockSkew(appID string) time.Duration {
	if n.skew != nil {
		if d := n.skew(appID); d > 0 {
			return d
		}
	}
	return DefaultMaxClockSkew
}

func (n *Normalizer) decode(raw []byte) (schemas.Input, error) {
	var (
		in  schemas.Input
		err error
	)
	switch f := schemas.DetectFormat(raw); f {
	case schemas.FormatJSON:
		return schemas.DecodeInputJSON(raw)
	case schemas.FormatSingleObject:
		in, err = schemas.DecodeRawSingleObject(raw)
	case schemas.FormatConfluent:
		if n.resolver == nil {
			return schemas.Input{}, fmt.Errorf("confluent-framed message: %w", schemas.ErrNoResolver)
		}
		in, err = schemas.DecodeRawConfluent(raw, n.resolver)
	default:
		return schemas.Input{}, unknownFormat(raw)
	}
	if err == nil {
		avroYearOne(&in)
	}
	return in, err
}

// unknownFormat says what the message started with, for the dead letter.
func unknownFormat(raw []byte) error {
	if len(raw) == 0 {
		return fmt.Errorf("empty message: %w", schemas.ErrUnknownFormat)
	}
	return fmt.Errorf("first byte 0x%02x is not json, avro single-object or confluent: %w", raw[0], schemas.ErrUnknownFormat)
}

// toReject keeps the field of a decoder's *schemas.FieldError and makes
// every other decoding error a record-level reject. Reasons are bounded:
// a decoder may quote the input (an unparsable ts of 60 KB).
func toReject(err error) *Reject {
	var fe *schemas.FieldError
	if errors.As(err, &fe) {
		return reject(fe.Field, shortReason(fe.Reason))
	}
	return reject("", shortReason(err.Error()))
}
