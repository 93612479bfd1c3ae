package stage

import (
	"strconv"
	"time"

	"github.com/segmentio/kafka-go"
)

// ArrivalHeader carries, on events.by-user, classified records and the
// sink's jobs, the arrival time of the event a record was made from (Unix
// milliseconds, in decimal): the device stage sets it from its input's
// timestamp (normalize stamps that with the raw record's, CLASSIFICATION.md
// "Time"), the user stage and the sink's fan-out pass it on. A partner's
// delay counts from it. It is a header rather than the records'
// timestamps, which stay the time they were written: a backlog's records
// stamped hours back would fall to a topic's time-based retention early.
const ArrivalHeader = "postbackd-arrival"

// ArrivalHeaderOf is the arrival header of t.
func ArrivalHeaderOf(t time.Time) kafka.Header {
	return kafka.Header{Key: ArrivalHeader, Value: strconv.AppendInt(nil, t.UnixMilli(), 10)}
}

// AppendArrivalHeader adds the arrival header of t to m.
func AppendArrivalHeader(m *kafka.Message, t time.Time) {
	m.Headers = append(m.Headers, ArrivalHeaderOf(t))
}

// Arrival is m's arrival header, or m's own timestamp for a record
// without one (written before the header existed, or not by a stage).
func Arrival(m *kafka.Message) time.Time {
	if v, ok := Header(m, ArrivalHeader); ok {
		if ms, err := strconv.ParseInt(string(v), 10, 64); err == nil {
			return time.UnixMilli(ms)
		}
	}
	return m.Time
}

// PassArrival gives each output from an input the input's arrival
// (its header, else its timestamp): outputs[i] came from
// inputs[sources[i]-base], or from none for NoSource.
func PassArrival(outputs []kafka.Message, sources []int, inputs []kafka.Message, base int) {
	for i := range outputs {
		src := sources[i]
		if src == NoSource || src-base < 0 || src-base >= len(inputs) {
			continue
		}
		in := &inputs[src-base]
		if v, ok := Header(in, ArrivalHeader); ok {
			outputs[i].Headers = append(outputs[i].Headers, kafka.Header{Key: ArrivalHeader, Value: v})
		} else {
			AppendArrivalHeader(&outputs[i], in.Time)
		}
	}
}
