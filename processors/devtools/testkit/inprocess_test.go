package testkit_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/postbackd/postbackd/processors/devtools/testkit"
	"github.com/postbackd/postbackd/processors/platform/stage"
	"github.com/postbackd/postbackd/processors/platform/stream"
	"github.com/postbackd/postbackd/state"
)

// TestInProcessBrokerServesWhatTheStagesUse checks, one by one, the
// requests the stage runtime makes of a broker against the in-process one,
// so that a wiring test that fails on it points here rather than at the
// stage: topic creation with compaction, produce and ListOffsets, the
// reads a restore makes on a leader connection, and a consumer group that
// commits and hands over.
func TestInProcessBrokerServesWhatTheStagesUse(t *testing.T) {
	brokers := testkit.InProcessBrokers(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	log := zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel))
	const parts = 3
	events := stream.TopicSpec{Name: "events", Partitions: parts, ReplicationFactor: 1}
	changelog := stream.TopicSpec{Name: "changelog", Partitions: parts, ReplicationFactor: 1, Compacted: true}

	t.Run("create topics with compaction", func(t *testing.T) {
		if err := stream.EnsureTopics(ctx, stream.TopicsConfig{Brokers: brokers, Logger: log}, events, changelog); err != nil {
			t.Fatal(err)
		}
		client := &kafka.Client{Addr: kafka.TCP(brokers...)}
		res, err := client.DescribeConfigs(ctx, &kafka.DescribeConfigsRequest{Resources: []kafka.DescribeConfigRequestResource{
			{ResourceType: kafka.ResourceTypeTopic, ResourceName: changelog.Name, ConfigNames: []string{"cleanup.policy"}},
		}})
		if err != nil {
			t.Fatal(err)
		}
		policy := ""
		for _, r := range res.Resources {
			for _, e := range r.ConfigEntries {
				policy = e.ConfigValue
			}
		}
		if policy != "compact" {
			t.Errorf("cleanup.policy of the changelog = %q, want compact", policy)
		}
		// A second call finds them and creates nothing.
		if err := stream.EnsureTopics(ctx, stream.TopicsConfig{Brokers: brokers, Logger: log}, events, changelog); err != nil {
			t.Fatal(err)
		}
	})

	p, err := stream.NewProducer(stream.ProducerConfig{Brokers: brokers, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()

	t.Run("produce, list offsets", func(t *testing.T) {
		var msgs []kafka.Message
		for i := range 30 {
			msgs = append(msgs, kafka.Message{Topic: events.Name, Key: fmt.Appendf(nil, "device-%d", i%7), Value: fmt.Appendf(nil, "v%d", i)})
		}
		if err := p.Produce(ctx, msgs...); err != nil {
			t.Fatal(err)
		}
		client := &kafka.Client{Addr: kafka.TCP(brokers...)}
		req := &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{}}
		for part := range parts {
			req.Topics[events.Name] = append(req.Topics[events.Name], kafka.FirstOffsetOf(part), kafka.LastOffsetOf(part))
		}
		res, err := client.ListOffsets(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		var total int64
		for _, po := range res.Topics[events.Name] {
			if po.Error != nil {
				t.Fatalf("partition %d: %v", po.Partition, po.Error)
			}
			total += po.LastOffset - po.FirstOffset
		}
		if total != int64(len(msgs)) {
			t.Errorf("ListOffsets: %d records, want %d (%+v)", total, len(msgs), res.Topics[events.Name])
		}
		if got := len(testkit.ReadAll(t, ctx, brokers, events.Name)); got != len(msgs) {
			t.Errorf("ReadAll: %d records, want %d", got, len(msgs))
		}
	})

	t.Run("restore reads on a leader connection", func(t *testing.T) {
		// Changelog records as a stage writes them: at a chosen partition,
		// each with the input offset of its batch in a header.
		const part = 1
		var msgs []kafka.Message
		for i := range 5 {
			var off [8]byte
			binary.BigEndian.PutUint64(off[:], uint64(100+i))
			msgs = append(msgs, stream.AtPartition(kafka.Message{Topic: changelog.Name, Key: fmt.Appendf(nil, "k%d", i%3), Value: fmt.Appendf(nil, "v%d", i),
				Headers: []kafka.Header{{Key: "postbackd-input-offset", Value: off[:]}}}, part))
		}
		if err := p.Produce(ctx, msgs...); err != nil {
			t.Fatal(err)
		}
		conn, err := kafka.DialLeader(ctx, "tcp", brokers[0], changelog.Name, part)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		first, end, err := conn.ReadOffsets()
		if err != nil || first != 0 || end != int64(len(msgs)) {
			t.Fatalf("ReadOffsets = %d, %d, %v; want 0, %d", first, end, err, len(msgs))
		}
		if _, err := conn.Seek(end-1, kafka.SeekAbsolute); err != nil {
			t.Fatal(err)
		}
		_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
		batch := conn.ReadBatch(1, 1<<20)
		var last kafka.Message
		for {
			m, err := batch.ReadMessage()
			if err != nil {
				t.Fatalf("read the last record: %v", err)
			}
			if m.Offset == end-1 {
				last = m
				break
			}
		}
		batch.Close()
		if string(last.Value) != "v4" || len(last.Headers) != 1 || binary.BigEndian.Uint64(last.Headers[0].Value) != 104 {
			t.Errorf("last record %q with headers %v, want v4 with input offset 104", last.Value, last.Headers)
		}
		// The sink's catch-up reads the range onto a store.
		st := state.NewMemory()
		defer st.Close()
		gotEnd, n, err := stage.CatchUp(ctx, nil, brokers, changelog.Name, part, 0, st)
		if err != nil || gotEnd != end || n != int64(len(msgs)) {
			t.Fatalf("CatchUp = %d, %d, %v; want %d, %d", gotEnd, n, err, end, len(msgs))
		}
		if v, err := st.Get([]byte("k1")); err != nil || string(v) != "v4" {
			t.Errorf("k1 = %q, %v after catch-up; want v4 (the last write wins)", v, err)
		}
	})

	t.Run("consumer group commits and hands over", func(t *testing.T) {
		group := "group-" + t.Name()
		cc := stream.ConsumerConfig{Brokers: brokers, GroupID: group, Topics: []string{events.Name}, CommitInterval: 50 * time.Millisecond, Logger: log}
		first := &recordingHandler{}
		c, err := stream.NewConsumer(cc, first)
		if err != nil {
			t.Fatal(err)
		}
		runCtx, stop := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- c.Run(runCtx) }()
		testkit.WaitFor(t, "the first member to read the topic", first.count, func() bool { return first.count() == 30 })
		stop()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if first.assigned() != parts {
			t.Errorf("first member was assigned %d partitions, want %d", first.assigned(), parts)
		}

		// A new member of the group resumes after the committed offsets:
		// it sees only what came since.
		if err := p.Produce(ctx, kafka.Message{Topic: events.Name, Key: []byte("late"), Value: []byte("late")}); err != nil {
			t.Fatal(err)
		}
		second := &recordingHandler{}
		c2, err := stream.NewConsumer(cc, second)
		if err != nil {
			t.Fatal(err)
		}
		runCtx, stop = context.WithCancel(ctx)
		go func() { done <- c2.Run(runCtx) }()
		testkit.WaitFor(t, "the second member to read the new record", second.count, func() bool { return second.count() >= 1 })
		stop()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if got := second.values(); len(got) != 1 || got[0] != "late" {
			t.Errorf("the second member read %q, want only the record produced after the first left", got)
		}
	})
}

// recordingHandler is a stream.Handler that keeps what it read.
type recordingHandler struct {
	mu    sync.Mutex
	parts int
	read  []string
}

func (h *recordingHandler) Assigned(context.Context, string, int) (int64, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.parts++
	return stream.CommittedOffset, nil
}

func (h *recordingHandler) Process(_ context.Context, b stream.Batch) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, m := range b.Messages {
		h.read = append(h.read, string(m.Value))
	}
	return nil
}

func (h *recordingHandler) Revoked(context.Context, string, int) {}

func (h *recordingHandler) count() int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return int64(len(h.read))
}

func (h *recordingHandler) assigned() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.parts
}

func (h *recordingHandler) values() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.read...)
}
