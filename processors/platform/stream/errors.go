package stream

import (
	"errors"
	"fmt"
	"strings"
)

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
	// ErrProduce is wrapped by every error Producer.Produce returns: a
	// *ProduceError (some messages refused for good, all others
	// acknowledged), or a failure whose outcome per message is unknown
	// (cancelled context, closed or failed producer).
	ErrProduce = errors.New("stream: produce")
	// ErrProducerClosed is returned (wrapped in ErrProduce) by Produce
	// after Close, and for the records Close gave up on.
	ErrProducerClosed = errors.New("stream: producer closed")
	// ErrProducerFailed is returned (wrapped in ErrProduce) by every
	// Produce after the broker refused a write for a reason that is not
	// the record's own (authorization, an unsupported request, ...), or
	// after MaxAttempts ran out. Nothing is written from then on: the
	// process must stop and be restarted (see Producer).
	ErrProducerFailed = errors.New("stream: producer failed")
	// ErrHandler wraps an error returned by a Handler; it stops the
	// Consumer.
	ErrHandler = errors.New("stream: handler")
	// ErrFetch wraps an error the consumer got reading a partition. It is
	// logged and the fetch retried; it does not stop the Consumer.
	ErrFetch = errors.New("stream: fetch")
	// ErrInvalidOffset is returned (wrapped) by Consumer.Run when
	// Handler.Assigned returned an offset that is neither absolute nor one
	// of FirstOffset, LastOffset and CommittedOffset.
	ErrInvalidOffset = errors.New("stream: invalid start offset")
)

// ProduceError is returned by Producer.Produce when the broker refused some
// of the call's messages for good, for a reason that lies in the message
// itself: kafka.MessageSizeTooLarge (also for a message larger than
// ProducerConfig.BatchBytes, refused before it is sent), kafka.InvalidRecord,
// kafka.InvalidMessage (CORRUPT_MESSAGE), kafka.InvalidTimestamp or
// kafka.RecordListTooLarge.
//
// Every message of the call whose index is not in Failed was written and
// acknowledged, in order per partition; a message in Failed is never
// written by this Producer. So a caller can send the inputs that gave the
// failed messages to a deadletter and carry on with the batch.
//
// When the broker refuses a request of several records, the Producer finds
// the refused ones by sending halves of it again, before anything later is
// sent to that partition: the other records of the request are written in
// their order and do not appear in Failed.
type ProduceError struct {
	// Messages is how many messages the Produce call had.
	Messages int
	// Failed lists the refused messages by increasing Index; never empty.
	Failed []MessageError
}

// MessageError is one message the broker refused: its index among the
// messages of the Produce call, and the reason (a kafka.Error, so
// errors.Is(e.Err, kafka.MessageSizeTooLarge) works; its text carries the
// broker's message when there was one).
type MessageError struct {
	Index int
	Err   error
}

func (e *ProduceError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%v: %d of %d records refused:", ErrProduce, len(e.Failed), e.Messages)
	for i, f := range e.Failed {
		if i == 3 {
			fmt.Fprintf(&b, " (and %d more)", len(e.Failed)-i)
			break
		}
		fmt.Fprintf(&b, " record %d: %v;", f.Index, f.Err)
	}
	return strings.TrimSuffix(b.String(), ";")
}

// Is makes errors.Is(err, ErrProduce) hold.
func (e *ProduceError) Is(target error) bool { return target == ErrProduce }

// Unwrap returns each failed message's error, so errors.Is(err,
// kafka.MessageSizeTooLarge) tells whether any message was refused for its
// size.
func (e *ProduceError) Unwrap() []error {
	errs := make([]error, len(e.Failed))
	for i, f := range e.Failed {
		errs[i] = f.Err
	}
	return errs
}

// permanentError marks an error that Retry must not retry.
type permanentError struct{ err error }

func (e permanentError) Error() string { return e.err.Error() }
func (e permanentError) Unwrap() error { return e.err }

// Permanent wraps err so that Retry returns it at once instead of retrying:
// for a failure that waiting cannot mend (a record without a header it
// needs, a corrupt store). errors.Is and errors.As see through it. A nil
// err stays nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return permanentError{err}
}

// IsPermanent reports whether err was marked with Permanent.
func IsPermanent(err error) bool {
	var p permanentError
	return errors.As(err, &p)
}
