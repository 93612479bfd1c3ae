package pipeline

import (
	"strconv"

	"github.com/segmentio/kafka-go"

	"github.com/postbackd/postbackd/processors/platform/stage"
	"github.com/postbackd/postbackd/schemas"
)

// Header names on deadletter records, so tools can filter by reason
// without decoding the value.
const (
	HeaderRejectReason    = stage.HeaderRejectReason
	HeaderRejectField     = "postbackd-reject-field"
	HeaderSourceTopic     = "postbackd-source-topic"
	HeaderSourcePartition = "postbackd-source-partition"
	HeaderSourceOffset    = "postbackd-source-offset"
	// HeaderRawTruncated, on a deadletter record whose raw value was cut
	// to fit the broker's message size, holds the raw value's length.
	HeaderRawTruncated = "postbackd-raw-truncated"
)

// classifiedEncoder writes classified records in the configured format of
// the classified topic: Avro single-object (default) or the replay JSON.
type classifiedEncoder struct {
	json bool
	// maxRaw bounds the raw value a deadletter record keeps, so that the
	// deadletter record of any input fits the broker's message size.
	maxRaw int
	// classifiedID and rejectID, when set, are the registry ids of the
	// Classified and Reject schemas: records are Confluent-framed.
	classifiedID, rejectID int
}

// newClassifiedEncoder returns the encoder of a format, for records of at
// most maxMessage bytes. JSON writes each invalid byte of a raw value as a
// 6-byte escape, so it keeps an eighth of the limit, Avro half.
func newClassifiedEncoder(json bool, maxMessage int) classifiedEncoder {
	if json {
		return classifiedEncoder{json: true, maxRaw: maxMessage / 8}
	}
	return classifiedEncoder{maxRaw: maxMessage / 2}
}

func (e classifiedEncoder) encode(c *schemas.Classified) ([]byte, error) {
	switch {
	case e.json:
		return schemas.AppendClassifiedJSON(nil, c), nil
	case e.classifiedID > 0:
		return schemas.EncodeClassifiedConfluent(nil, e.classifiedID, c), nil
	}
	return schemas.EncodeClassified(nil, c)
}

// classifiedMessage is a classified record keyed by postback_id: the sink
// keeps its per-partition delivery state by postback_id, and a replayed
// record lands on the same partition as the first copy.
func (e classifiedEncoder) message(topic string, c *schemas.Classified) (kafka.Message, error) {
	v, err := e.encode(c)
	if err != nil {
		return kafka.Message{}, err
	}
	return kafka.Message{Topic: topic, Key: []byte(c.PostbackID), Value: v}, nil
}

// appendMessages appends the messages of records to out.
func (e classifiedEncoder) appendMessages(out []kafka.Message, topic string, records []schemas.Classified) ([]kafka.Message, error) {
	for i := range records {
		msg, err := e.message(topic, &records[i])
		if err != nil {
			return out, err
		}
		out = append(out, msg)
	}
	return out, nil
}

// deadletter builds the deadletter record of a refused input message, in
// the classified topic's format (schemas.Reject's JSON or Avro form), with
// the reason in headers and value.
func (e classifiedEncoder) deadletter(topic string, src kafka.Message, field, reason string) (kafka.Message, error) {
	raw := src.Value
	var truncated []kafka.Header
	if e.maxRaw > 0 && len(raw) > e.maxRaw {
		raw = raw[:e.maxRaw]
		truncated = []kafka.Header{{Key: HeaderRawTruncated, Value: []byte(strconv.Itoa(len(src.Value)))}}
	}
	r := schemas.Reject{Reason: reason, Field: field, Raw: raw, Topic: src.Topic, Partition: src.Partition, Offset: src.Offset}
	var (
		v   []byte
		err error
	)
	switch {
	case e.json:
		v, err = schemas.AppendRejectJSON(nil, &r)
	case e.rejectID > 0:
		v = schemas.EncodeRejectConfluent(nil, e.rejectID, &r)
	default:
		v, err = schemas.EncodeReject(nil, &r)
	}
	if err != nil {
		return kafka.Message{}, err
	}
	return kafka.Message{
		Topic: topic, Key: src.Key, Value: v,
		Headers: append([]kafka.Header{
			{Key: HeaderRejectReason, Value: []byte(reason)},
			{Key: HeaderRejectField, Value: []byte(field)},
			{Key: HeaderSourceTopic, Value: []byte(src.Topic)},
			{Key: HeaderSourcePartition, Value: []byte(strconv.Itoa(src.Partition))},
			{Key: HeaderSourceOffset, Value: []byte(strconv.FormatInt(src.Offset, 10))},
		}, truncated...),
	}, nil
}
