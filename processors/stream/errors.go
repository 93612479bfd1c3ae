package stream

import "errors"

var (
	// ErrInvalidConfig is returned by NewProducer, NewConsumer and
	// EnsureTopics for a configuration they cannot work with.
	ErrInvalidConfig = errors.New("stream: invalid config")
	// ErrTopicNotReady is returned by EnsureTopics when a topic's metadata
	// (every partition with a leader) did not become visible in time.
	ErrTopicNotReady = errors.New("stream: topic not ready")
	// ErrCreateTopic is returned by EnsureTopics when the broker refused to
	// create a topic for another reason than that it already exists.
	ErrCreateTopic = errors.New("stream: create topic")
	// ErrProduce wraps a failure to get every message of a Produce call
	// acknowledged.
	ErrProduce = errors.New("stream: produce")
	// ErrHandler wraps an error returned by a Handler; it stops the
	// Consumer.
	ErrHandler = errors.New("stream: handler")
	// ErrFetch wraps an error the consumer got reading a partition.
	ErrFetch = errors.New("stream: fetch")
	// ErrInvalidOffset is returned (wrapped) by Consumer.Run when
	// Handler.Assigned returned an offset that is neither absolute nor one
	// of FirstOffset, LastOffset and CommittedOffset.
	ErrInvalidOffset = errors.New("stream: invalid start offset")
)
