package runtime

import (
	"context"
	"errors"
	"fmt"

	"github.com/segmentio/kafka-go"

	"github.com/postbackd/postbackd/processors/stream"
)

// DeadLetterer turns an input record whose outputs cannot be written into
// its deadletter record, with the reason. The stages implement it with
// their deadletter format; the runtime calls it so that no single record
// can stop a stage (ARCHITECTURE.md, "Delivery semantics", 5).
type DeadLetterer interface {
	DeadLetter(input kafka.Message, reason string) (kafka.Message, error)
}

// DefaultMaxMessageBytes is the largest record a stage writes unless told
// otherwise: Kafka's default message.max.bytes, and the producer's
// BatchBytes, past which kafka-go refuses a record before sending it.
const DefaultMaxMessageBytes = 1 << 20

// recordOverhead is what Kafka adds around a record's key, value and
// headers in a record batch, rounded up: a record is refused when it comes
// within this of the limit.
const recordOverhead = 512

// messageSize is the bytes m takes on the wire, give or take the overhead.
func messageSize(m *kafka.Message) int {
	n := len(m.Key) + len(m.Value) + recordOverhead
	for _, h := range m.Headers {
		n += len(h.Key) + len(h.Value) + 8
	}
	return n
}

// ErrTooLarge: a record over the size the broker takes.
var ErrTooLarge = errors.New("record too large for the broker")

// CheckSize refuses m when it is over max bytes, saying so in the error.
func CheckSize(m *kafka.Message, max int) error {
	if n := messageSize(m); n > max {
		return fmt.Errorf("%w: derived record for %s of about %d bytes is over the %d bytes the broker takes", ErrTooLarge, m.Topic, n, max)
	}
	return nil
}

// GuardSizes replaces every output of an input that has an output the
// broker would refuse as too large (over max bytes) by one deadletter
// record of that input, so that the refusal is known before producing and
// is the same on every run: the outputs are a pure function of the input,
// and so is this. sources[i] is the index in msgs of outputs[i]'s input,
// as in Result. It returns the outputs and sources to produce (the same
// slices when nothing was refused) and how many inputs went to the
// deadletter.
func GuardSizes(outputs []kafka.Message, sources []int, msgs []kafka.Message, max int, dl DeadLetterer) ([]kafka.Message, []int, int, error) {
	var refused map[int]string
	for i := range outputs {
		if err := CheckSize(&outputs[i], max); err != nil {
			if refused == nil {
				refused = make(map[int]string)
			}
			if _, ok := refused[sources[i]]; !ok {
				refused[sources[i]] = err.Error()
			}
		}
	}
	if refused == nil {
		return outputs, sources, 0, nil
	}
	kept := make([]kafka.Message, 0, len(outputs))
	keptSources := make([]int, 0, len(outputs))
	done := make(map[int]bool, len(refused))
	for i := range outputs {
		src := sources[i]
		reason, bad := refused[src]
		if !bad {
			kept, keptSources = append(kept, outputs[i]), append(keptSources, src)
			continue
		}
		if done[src] {
			continue
		}
		done[src] = true
		d, err := dl.DeadLetter(msgs[src], reason)
		if err != nil {
			return nil, nil, 0, err
		}
		kept, keptSources = append(kept, d), append(keptSources, src)
	}
	return kept, keptSources, len(refused), nil
}

// ProduceOrDeadLetter produces outputs; when the broker refuses some of
// them for good, for what they are (a *stream.ProduceError: every other
// output was written, in order), the inputs they came from go to the
// deadletter with the broker's error instead, and the stream goes on. Only
// a failure that is not one record's own (the broker gone for good, a
// closed producer, a cancelled context) is returned. It reports how many
// inputs went to the deadletter.
func ProduceOrDeadLetter(ctx context.Context, p Producer, outputs []kafka.Message, sources []int, msgs []kafka.Message, dl DeadLetterer) (int, error) {
	err := p.Produce(ctx, outputs...)
	var pe *stream.ProduceError
	if err == nil || dl == nil || !errors.As(err, &pe) {
		return 0, err
	}
	seen := make(map[int]bool, len(pe.Failed))
	var dead []kafka.Message
	for _, f := range pe.Failed {
		src := sources[f.Index]
		if seen[src] {
			continue
		}
		seen[src] = true
		d, derr := dl.DeadLetter(msgs[src], fmt.Sprintf("the broker refused a derived record for %s: %v", outputs[f.Index].Topic, f.Err))
		if derr != nil {
			return 0, derr
		}
		dead = append(dead, d)
	}
	if err := p.Produce(ctx, dead...); err != nil {
		return 0, fmt.Errorf("deadletter of %d refused inputs: %w", len(dead), err)
	}
	return len(dead), nil
}
