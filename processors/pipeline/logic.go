package pipeline

import (
	"fmt"

	"github.com/segmentio/kafka-go"

	"github.com/postbackd/postbackd/processors/platform/stage"
)

// deadLetters writes a stage's refused inputs to its deadletter topic;
// embedded in a stage's logic it makes it a stage.DeadLetterer, so that
// an input whose outputs the broker would refuse goes there too.
type deadLetters struct {
	enc   classifiedEncoder
	topic string
}

func (d deadLetters) DeadLetter(input kafka.Message, reason string) (kafka.Message, error) {
	return d.enc.deadletter(d.topic, input, "", reason)
}

// decodeAll decodes the values of an internal topic's batch; a record that
// cannot be decoded goes to the deadletter topic rather than stopping the
// partition: one bad record must not hold up every key behind it. at[i] is
// the index in msgs of out[i].
func decodeAll[T any](res *stage.Result, dl deadLetters, msgs []kafka.Message, decode func([]byte) (T, error)) (out []T, at []int, err error) {
	out = make([]T, 0, len(msgs))
	at = make([]int, 0, len(msgs))
	for i, m := range msgs {
		v, err := decode(m.Value)
		if err != nil {
			d, err := dl.DeadLetter(m, fmt.Errorf("%w: %w", ErrCorrupt, err).Error())
			if err != nil {
				return nil, nil, err
			}
			res.Outputs = append(res.Outputs, d)
			res.Sources = append(res.Sources, i)
			if res.Rejected == nil {
				res.Rejected = make(map[string]int)
			}
			res.Rejected["record"]++
			continue
		}
		out = append(out, v)
		at = append(at, i)
	}
	return out, at, nil
}

// appendSources appends, for each of the batch-relative indexes of a
// classifier's outputs, the index in the stage's messages (at) it maps to.
func appendSources(dst, batchIdx, at []int) []int {
	for _, i := range batchIdx {
		dst = append(dst, at[i])
	}
	return dst
}
