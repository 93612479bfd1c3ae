package stage

import (
	"context"
	"errors"
	"fmt"

	"github.com/segmentio/kafka-go"

	"github.com/postbackd/postbackd/processors/platform/stream"
)

// DeadLetterer turns an input record whose outputs cannot be written into
// its deadletter record, with the reason. The stages implement it with
// their deadletter format; the Processor calls it so that no single record
// can stop a stage (docs/ARCHITECTURE.md, "Delivery semantics", 5).
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

// checkSize refuses m when it is over max bytes, saying so in the error.
func checkSize(m *kafka.Message, max int) error {
	if n := messageSize(m); n > max {
		return fmt.Errorf("%w: derived record for %s of about %d bytes is over the %d bytes the broker takes", ErrTooLarge, m.Topic, n, max)
	}
	return nil
}

// guardSizes replaces every output of an input that has an output the
// broker would refuse as too large (over max bytes) by one deadletter
// record of that input, so that the refusal is known before producing and
// is the same on every run: the outputs are a pure function of the input,
// and so is this. sources[i] is the index in msgs of outputs[i]'s input,
// as in Result. It returns the outputs and sources to produce (the same
// slices when nothing was refused) and how many inputs went to the
// deadletter.
func guardSizes(outputs []kafka.Message, sources []int, msgs []kafka.Message, max int, dl DeadLetterer) ([]kafka.Message, []int, int, error) {
	var refused map[int]string
	for i := range outputs {
		if err := checkSize(&outputs[i], max); err != nil {
			if sources[i] == NoSource {
				return nil, nil, 0, fmt.Errorf("an output of no input: %w", err)
			}
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

// HeaderRejectReason names the header of a deadletter record that says why
// its input was refused.
const HeaderRejectReason = "postbackd-reject-reason"

// stubRaw is how much of its input a deadletter record keeps when the
// broker refused the full one too (a topic whose max.message.bytes is
// below kafka.max_message_bytes).
const stubRaw = 1 << 10

// produceOrDeadLetter produces outputs; when the broker refuses some of
// them for good, for what they are (a *stream.ProduceError: every other
// output was written, in order), the inputs they came from go to the
// deadletter with the broker's error instead, and the stream goes on. A
// deadletter record the broker refuses too is sent again with only the
// first KiB of its input. Only a failure that is not one record's own
// (the broker gone for good, a closed producer, a cancelled context) is
// returned. It reports how many inputs went to the deadletter.
//
// An input's outputs that were written stay written: the deadletter
// record names the input, for a look by hand (docs/OPERATING.md).
func produceOrDeadLetter(ctx context.Context, p Producer, outputs []kafka.Message, sources []int, msgs []kafka.Message, dl DeadLetterer) (int, error) {
	err := p.Produce(ctx, outputs...)
	var pe *stream.ProduceError
	if err == nil || dl == nil || !errors.As(err, &pe) {
		return 0, err
	}
	type refused struct {
		src    int
		reason string
	}
	var inputs []refused
	seen := make(map[int]bool, len(pe.Failed))
	for _, f := range pe.Failed {
		if f.Index < 0 || f.Index >= len(sources) || sources[f.Index] == NoSource {
			return 0, err // no input to send to the deadletter
		}
		if src := sources[f.Index]; !seen[src] {
			seen[src] = true
			reason := fmt.Sprintf("the broker refused a derived record for %s: %v", outputs[f.Index].Topic, f.Err)
			if why, ok := Header(&outputs[f.Index], HeaderRejectReason); ok {
				// The refused record was the input's deadletter record:
				// keep why the input was refused in the first place.
				reason = fmt.Sprintf("%s; the broker refused its deadletter record: %v", why, f.Err)
			}
			inputs = append(inputs, refused{src, reason})
		}
	}
	total := len(inputs)
	for attempt := 0; ; attempt++ {
		dead := make([]kafka.Message, len(inputs))
		for i, r := range inputs {
			in := msgs[r.src]
			if attempt > 0 {
				r.reason += fmt.Sprintf("; its deadletter record was refused too, so it keeps %d of the input's %d bytes", min(stubRaw, len(in.Value)), len(in.Value))
				in.Value = in.Value[:min(stubRaw, len(in.Value))]
			}
			d, err := dl.DeadLetter(in, r.reason)
			if err != nil {
				return 0, err
			}
			dead[i] = d
		}
		err := p.Produce(ctx, dead...)
		if err == nil {
			return total, nil
		}
		var again *stream.ProduceError
		if attempt > 0 || !errors.As(err, &again) {
			return 0, fmt.Errorf("deadletter of %d refused inputs: %w", len(inputs), err)
		}
		// Those written stay written; the refused ones go again as stubs.
		left := make([]refused, 0, len(again.Failed))
		for _, f := range again.Failed {
			left = append(left, inputs[f.Index])
		}
		inputs = left
	}
}
