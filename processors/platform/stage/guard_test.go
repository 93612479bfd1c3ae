package stage

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/segmentio/kafka-go"

	"github.com/postbackd/postbackd/processors/platform/stream"
	"github.com/postbackd/postbackd/state"
)

type fakeDeadLetters struct{}

func (fakeDeadLetters) DeadLetter(in kafka.Message, reason string) (kafka.Message, error) {
	return kafka.Message{Topic: "dl", Key: in.Key, Value: []byte(reason)}, nil
}

// TestGuardSizes: an input with one output over the limit sends all its
// outputs' place to one deadletter record; the other inputs' outputs stay
// as they are, in order.
func TestGuardSizes(t *testing.T) {
	msgs := []kafka.Message{{Key: []byte("a")}, {Key: []byte("b")}, {Key: []byte("c")}}
	big := bytes.Repeat([]byte("x"), 2000)
	outs := []kafka.Message{
		{Topic: "o", Value: []byte("a1")}, {Topic: "o", Value: []byte("b1")}, {Topic: "o", Value: big},
		{Topic: "o", Value: []byte("c1")}, {Topic: "u", Value: []byte("b2")},
	}
	got, sources, refused, err := guardSizes(outs, []int{0, 1, 1, 2, 1}, msgs, 1024, fakeDeadLetters{})
	if err != nil || refused != 1 {
		t.Fatalf("refused %d, %v", refused, err)
	}
	var vals []string
	for _, m := range got {
		vals = append(vals, m.Topic+":"+string(m.Value[:min(len(m.Value), 8)]))
	}
	if want := "o:a1 dl:record t o:c1"; strings.Join(vals, " ") != want {
		t.Fatalf("outputs %v, want %s", vals, want)
	}
	if want := []int{0, 1, 2}; len(sources) != 3 || sources[0] != want[0] || sources[1] != want[1] || sources[2] != want[2] {
		t.Fatalf("sources %v", sources)
	}
	if !strings.Contains(string(got[1].Value), "1024") {
		t.Errorf("reason %q does not give the limit", got[1].Value)
	}
	if err := checkSize(&outs[2], 1024); !errors.Is(err, ErrTooLarge) {
		t.Errorf("checkSize: %v", err)
	}
}

// bigLogic outputs, for a record with key "big", a value over any limit.
type bigLogic struct {
	countLogic
	fakeDeadLetters
}

func (l bigLogic) Process(ctx context.Context, in Input) (Result, error) {
	res, err := l.countLogic.Process(ctx, in)
	for i := range res.Outputs {
		if string(res.Outputs[i].Key) == "big" {
			res.Outputs[i].Value = bytes.Repeat([]byte("x"), 4096)
		}
	}
	return res, err
}

// TestOneRecordCannotStopAStage: a batch with an input whose output the
// broker would refuse is processed, that input on the deadletter, the
// others' outputs produced, the offset moved past all of them.
func TestOneRecordCannotStopAStage(t *testing.T) {
	p := &fakeProducer{}
	s, err := New(Config{Name: "count", ChangelogTopic: "cl", StateDir: t.TempDir(), Brokers: []string{"unused:9092"},
		Producer: p, Logic: bigLogic{}, MaxMessageBytes: 2048})
	if err != nil {
		t.Fatal(err)
	}
	st := state.NewMemory()
	if err := s.keep(3, st); err != nil {
		t.Fatal(err)
	}
	if err := s.Process(context.Background(), batchOf(10, "a", "big", "b")); err != nil {
		t.Fatal(err)
	}
	var topics []string
	for _, m := range p.got {
		if m.Topic != "cl" {
			topics = append(topics, m.Topic+":"+string(m.Key))
		}
	}
	if want := "o:a dl:big o:b"; strings.ReplaceAll(strings.Join(topics, " "), "out:", "o:") != want {
		t.Fatalf("produced %v, want %s", topics, want)
	}
	if off, ok, _ := st.Offset(inputOffsetName); !ok || off != 13 {
		t.Fatalf("offset %d %v, want 13", off, ok)
	}
}

// refusingProducer refuses, once, the messages with key "bad", as the
// broker does a record it will never take, and writes the rest.
type refusingProducer struct {
	fakeProducer
	refused bool
}

func (r *refusingProducer) Produce(ctx context.Context, msgs ...kafka.Message) error {
	pe := &stream.ProduceError{Messages: len(msgs)}
	var ok []kafka.Message
	for i, m := range msgs {
		if string(m.Key) == "bad" && !r.refused {
			pe.Failed = append(pe.Failed, stream.MessageError{Index: i, Err: kafka.MessageSizeTooLarge})
			continue
		}
		ok = append(ok, m)
	}
	if err := r.fakeProducer.Produce(ctx, ok...); err != nil {
		return err
	}
	if len(pe.Failed) > 0 {
		r.refused = true
		return pe
	}
	return nil
}

// TestBrokerRefusalGoesToTheDeadletter: a record the broker refuses for
// good sends its input to the deadletter with the broker's error; the
// batch's other records are written, the state and offset move on.
func TestBrokerRefusalGoesToTheDeadletter(t *testing.T) {
	p := &refusingProducer{}
	s, err := New(Config{Name: "count", ChangelogTopic: "cl", StateDir: t.TempDir(), Brokers: []string{"unused:9092"},
		Producer: p, Logic: bigLogic{}})
	if err != nil {
		t.Fatal(err)
	}
	st := state.NewMemory()
	if err := s.keep(3, st); err != nil {
		t.Fatal(err)
	}
	if err := s.Process(context.Background(), batchOf(10, "a", "bad", "b")); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range p.got {
		if m.Topic != "cl" {
			got = append(got, m.Topic+":"+string(m.Key))
		}
	}
	if want := "out:a out:b dl:bad"; strings.Join(got, " ") != want {
		t.Fatalf("produced %v, want %s", got, want)
	}
	for _, m := range p.got {
		if m.Topic == "dl" && !strings.Contains(string(m.Value), "Message Size Too Large") {
			t.Errorf("deadletter reason %q lacks the broker's error", m.Value)
		}
	}
	if off, ok, _ := st.Offset(inputOffsetName); !ok || off != 13 {
		t.Fatalf("offset %d %v, want 13", off, ok)
	}
}

// sizeLimitedProducer refuses, as a broker does, every message over max
// bytes: a topic whose max.message.bytes is below the stages' limit.
type sizeLimitedProducer struct {
	fakeProducer
	max int
}

func (s *sizeLimitedProducer) Produce(ctx context.Context, msgs ...kafka.Message) error {
	pe := &stream.ProduceError{Messages: len(msgs)}
	var ok []kafka.Message
	for i, m := range msgs {
		if len(m.Value) > s.max {
			pe.Failed = append(pe.Failed, stream.MessageError{Index: i, Err: kafka.MessageSizeTooLarge})
			continue
		}
		ok = append(ok, m)
	}
	if err := s.fakeProducer.Produce(ctx, ok...); err != nil {
		return err
	}
	if len(pe.Failed) > 0 {
		return pe
	}
	return nil
}

// rawDeadLetters writes the whole input into its deadletter record.
type rawDeadLetters struct{}

func (rawDeadLetters) DeadLetter(in kafka.Message, reason string) (kafka.Message, error) {
	return kafka.Message{Topic: "dl", Key: in.Key, Value: append([]byte(reason+"|"), in.Value...)}, nil
}

// TestRefusedDeadletterGoesAsAStub: when the broker refuses the deadletter
// record too, it is sent again with the first KiB of the input, and the
// stream goes on.
func TestRefusedDeadletterGoesAsAStub(t *testing.T) {
	p := &sizeLimitedProducer{max: 4096}
	big := kafka.Message{Key: []byte("big"), Value: bytes.Repeat([]byte("x"), 8192)}
	small := kafka.Message{Key: []byte("small"), Value: []byte("ok")}
	outputs := []kafka.Message{{Topic: "out", Key: small.Key, Value: small.Value}, {Topic: "out", Key: big.Key, Value: big.Value}}
	n, err := produceOrDeadLetter(context.Background(), p, outputs, []int{0, 1}, []kafka.Message{small, big}, rawDeadLetters{})
	if err != nil || n != 1 {
		t.Fatalf("refused %d, %v", n, err)
	}
	if len(p.got) != 2 || p.got[1].Topic != "dl" {
		t.Fatalf("produced %d records", len(p.got))
	}
	if v := string(p.got[1].Value); !strings.Contains(v, "refused too") || len(v) > 4096 {
		t.Fatalf("stub of %d bytes: %.200s", len(v), v)
	}
}
