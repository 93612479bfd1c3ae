package normalize

import (
	"errors"
	"fmt"

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
}

// Normalizer turns raw messages into validated device-stream records. It
// holds no mutable state and is safe for concurrent use.
type Normalizer struct {
	resolver schemas.Resolver
	log      *zap.Logger
}

// New returns a Normalizer for cfg.
func New(cfg Config) (*Normalizer, error) {
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	return &Normalizer{resolver: cfg.Resolver, log: cfg.Logger}, nil
}

// Normalize decodes one raw record (JSON, Avro single-object, or
// Confluent-framed Avro, detected per message) and validates it. A rejected
// record returns a *Reject error.
func (n *Normalizer) Normalize(raw []byte) (schemas.Input, error) {
	in, err := n.decode(raw)
	if err != nil {
		return schemas.Input{}, toReject(err)
	}
	if err := normalizeInput(&in); err != nil {
		return schemas.Input{}, err
	}
	return in, nil
}

func (n *Normalizer) decode(raw []byte) (schemas.Input, error) {
	switch f := schemas.DetectFormat(raw); f {
	case schemas.FormatJSON:
		return schemas.DecodeInputJSON(raw)
	case schemas.FormatSingleObject:
		return schemas.DecodeRawSingleObject(raw)
	case schemas.FormatConfluent:
		if n.resolver == nil {
			return schemas.Input{}, fmt.Errorf("confluent-framed message: %w", schemas.ErrNoResolver)
		}
		return schemas.DecodeRawConfluent(raw, n.resolver)
	default:
		return schemas.Input{}, unknownFormat(raw)
	}
}

// unknownFormat says what the message started with, for the dead letter.
func unknownFormat(raw []byte) error {
	if len(raw) == 0 {
		return fmt.Errorf("empty message: %w", schemas.ErrUnknownFormat)
	}
	return fmt.Errorf("first byte 0x%02x is not json, avro single-object or confluent: %w", raw[0], schemas.ErrUnknownFormat)
}

// toReject keeps the field of a decoder's *schemas.FieldError and makes
// every other decoding error a record-level reject.
func toReject(err error) *Reject {
	var fe *schemas.FieldError
	if errors.As(err, &fe) {
		return reject(fe.Field, fe.Reason)
	}
	return reject("", err.Error())
}
