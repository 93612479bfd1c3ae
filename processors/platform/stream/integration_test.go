//go:build integration

package stream

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"go.uber.org/zap/zaptest"

	"github.com/postbackd/postbackd/processors/devtools/testkit"
	"github.com/postbackd/postbackd/processors/platform/stream/kafkatest"
)

func TestIntegrationEnsureTopics(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	suffix := strconv.FormatInt(time.Now().UnixNano(), 36)
	specs := []TopicSpec{
		{Name: "stream-ensure-events-" + suffix, Partitions: 3},
		{Name: "stream-ensure-changelog-" + suffix, Partitions: 3, Compacted: true},
	}
	client := &kafka.Client{Addr: kafka.TCP(brokers...)}
	t.Cleanup(func() {
		_, _ = client.DeleteTopics(context.Background(), &kafka.DeleteTopicsRequest{Topics: []string{specs[0].Name, specs[1].Name}})
	})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cfg := TopicsConfig{Brokers: brokers, Logger: zaptest.NewLogger(t)}

	// concurrent creators (copies starting together) all succeed
	var wg sync.WaitGroup
	errs := make([]error, 3)
	for i := range errs {
		wg.Go(func() { errs[i] = EnsureTopics(ctx, cfg, specs...) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatalf("EnsureTopics: %v", err)
		}
	}
	// and again: existing topics are left alone
	if err := EnsureTopics(ctx, cfg, specs...); err != nil {
		t.Fatalf("EnsureTopics on existing topics: %v", err)
	}

	// the topics are usable at once: a produce must not hit LeaderNotAvailable
	p, err := NewProducer(ProducerConfig{Brokers: brokers, MaxAttempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := p.Produce(ctx, kafka.Message{Topic: specs[1].Name, Key: []byte("k"), Value: []byte("v")}); err != nil {
		t.Fatalf("produce right after EnsureTopics: %v", err)
	}

	res, err := client.DescribeConfigs(ctx, &kafka.DescribeConfigsRequest{Resources: []kafka.DescribeConfigRequestResource{
		{ResourceType: kafka.ResourceTypeTopic, ResourceName: specs[0].Name, ConfigNames: []string{"cleanup.policy"}},
		{ResourceType: kafka.ResourceTypeTopic, ResourceName: specs[1].Name, ConfigNames: []string{"cleanup.policy"}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	policy := map[string]string{}
	for _, r := range res.Resources {
		for _, e := range r.ConfigEntries {
			policy[r.ResourceName] = e.ConfigValue
		}
	}
	if policy[specs[0].Name] != "delete" || policy[specs[1].Name] != "compact" {
		t.Fatalf("cleanup.policy = %v", policy)
	}
}

// readPartition returns the records of topic/partition up to its end.
func readPartition(t *testing.T, brokers []string, topic string, partition int) []kafka.Message {
	t.Helper()
	return testkit.ReadPartition(t, context.Background(), brokers, topic, partition)
}

func TestIntegrationProducerPlacement(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	const partitions = 12
	topic := kafkatest.Topic(t, brokers, partitions)
	p, err := NewProducer(ProducerConfig{Brokers: brokers, Logger: zaptest.NewLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()

	want := map[string]int{} // value -> partition
	var msgs []kafka.Message
	for _, v := range javaMurmur2 {
		value := "key:" + v.key
		msgs = append(msgs, kafka.Message{Topic: topic, Key: []byte(v.key), Value: []byte(value)})
		want[value] = int((uint32(v.hash) & 0x7fffffff) % partitions)
	}
	for i := range 3 * partitions {
		value := fmt.Sprintf("explicit:%d", i)
		// the key hashes elsewhere; the explicit partition must win
		msgs = append(msgs, AtPartition(kafka.Message{Topic: topic, Key: []byte("foobar"), Value: []byte(value)}, i%partitions))
		want[value] = i % partitions
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := p.Produce(ctx, msgs...); err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for part := range partitions {
		for _, m := range readPartition(t, brokers, topic, part) {
			got[string(m.Value)] = part
		}
	}
	for value, wp := range want {
		if gp, ok := got[value]; !ok || gp != wp {
			t.Errorf("%s: on partition %d (found %v), want %d", value, gp, ok, wp)
		}
	}
	if len(got) != len(want) {
		t.Errorf("read %d records, want %d", len(got), len(want))
	}
}

// groupRecorder checks, across the members of one group, that a partition
// is owned by at most one member at a time and that records of each
// partition are processed in offset order without gaps.
type groupRecorder struct {
	t         *testing.T
	mu        sync.Mutex
	owner     map[string]string // "topic/partition" -> member
	next      map[string]int64  // "topic/partition" -> next expected offset
	seen      map[string]bool   // values
	dups      int
	processed int
	assigned  map[string]map[string]int // member -> "topic/partition" -> times
	firstAt   map[string]time.Time      // member -> first Assigned time after mark
	mark      time.Time
	// changes counts assignments, revocations and records processed:
	// the progress the test's waits watch.
	changes atomic.Int64
}

func newGroupRecorder(t *testing.T) *groupRecorder {
	return &groupRecorder{t: t, owner: map[string]string{}, next: map[string]int64{}, seen: map[string]bool{},
		assigned: map[string]map[string]int{}, firstAt: map[string]time.Time{}}
}

func (g *groupRecorder) member(name string, delay time.Duration) Handler {
	return &memberHandler{g: g, name: name, delay: delay}
}

// moved is the recorder's progress measure (testkit.WaitFor).
func (g *groupRecorder) moved() int64 { return g.changes.Load() }

func (g *groupRecorder) counts() (processed, distinct, dups int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.processed, len(g.seen), g.dups
}

func (g *groupRecorder) owned(member string) []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []string
	for tp, m := range g.owner {
		if m == member {
			out = append(out, tp)
		}
	}
	return out
}

type memberHandler struct {
	g     *groupRecorder
	name  string
	delay time.Duration
}

func (h *memberHandler) Assigned(_ context.Context, topic string, p int) (int64, error) {
	g := h.g
	g.mu.Lock()
	defer g.mu.Unlock()
	tp := fmt.Sprintf("%s/%d", topic, p)
	if o, ok := g.owner[tp]; ok {
		g.t.Errorf("%s assigned %s while %s owns it", h.name, tp, o)
	}
	g.owner[tp] = h.name
	if g.assigned[h.name] == nil {
		g.assigned[h.name] = map[string]int{}
	}
	g.assigned[h.name][tp]++
	g.changes.Add(1)
	if !g.mark.IsZero() && g.firstAt[h.name].IsZero() {
		g.firstAt[h.name] = time.Now()
	}
	return CommittedOffset, nil
}

func (h *memberHandler) Process(_ context.Context, b Batch) error {
	g := h.g
	g.mu.Lock()
	tp := fmt.Sprintf("%s/%d", b.Topic, b.Partition)
	if g.owner[tp] != h.name {
		g.t.Errorf("%s got a batch of %s owned by %q", h.name, tp, g.owner[tp])
	}
	for _, m := range b.Messages {
		if want := g.next[tp]; m.Offset != want {
			if m.Offset > want {
				g.t.Errorf("%s: offset %d after %d: records skipped", tp, m.Offset, want-1)
			}
		}
		g.next[tp] = m.Offset + 1
		if g.seen[string(m.Value)] {
			g.dups++
		}
		g.seen[string(m.Value)] = true
		g.processed++
		g.changes.Add(1)
	}
	g.mu.Unlock()
	time.Sleep(h.delay)
	return nil
}

func (h *memberHandler) Revoked(_ context.Context, topic string, p int) {
	g := h.g
	g.mu.Lock()
	defer g.mu.Unlock()
	tp := fmt.Sprintf("%s/%d", topic, p)
	if g.owner[tp] != h.name {
		g.t.Errorf("%s revoked %s owned by %q", h.name, tp, g.owner[tp])
	}
	delete(g.owner, tp)
	g.changes.Add(1)
}

func TestIntegrationConsumerGroupHandover(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	// two topics in one group, as normalize reads raw.clicks and raw.events
	topics := []string{kafkatest.Topic(t, brokers, 4), kafkatest.Topic(t, brokers, 2)}
	const total = 20000
	group := "stream-handover-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	rec := newGroupRecorder(t)

	newMember := func(name string) *Consumer {
		c, err := NewConsumer(ConsumerConfig{
			Brokers: brokers, GroupID: group, Topics: topics,
			MaxBatchRecords: 100, CommitInterval: 200 * time.Millisecond,
			Logger: zaptest.NewLogger(t).Named(name),
		}, rec.member(name, 5*time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	ctxA, stopA := context.WithCancel(context.Background())
	ctxB, stopB := context.WithCancel(context.Background())
	defer stopA()
	defer stopB()
	doneA, doneB := make(chan error, 1), make(chan error, 1)
	go func() { doneA <- newMember("a").Run(ctxA) }()
	// b joins once a owns everything: the rebalance a stage sees when a copy
	// is added
	testkit.WaitFor(t, "a to own every partition", rec.moved, func() bool { return len(rec.owned("a")) == 6 })
	joined := time.Now()
	go func() { doneB <- newMember("b").Run(ctxB) }()

	testkit.WaitFor(t, "both members to own partitions", rec.moved, func() bool {
		a, b := rec.owned("a"), rec.owned("b")
		return len(a) > 0 && len(b) > 0 && len(a)+len(b) == 6
	})
	t.Logf("b joined and got partitions within %v; assignments: a=%v b=%v", time.Since(joined), rec.owned("a"), rec.owned("b"))

	p, err := NewProducer(ProducerConfig{Brokers: brokers})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var msgs []kafka.Message
	for i := range total {
		key := fmt.Sprintf("device-%d", i%997)
		msgs = append(msgs, kafka.Message{Topic: topics[i%2], Key: []byte(key), Value: []byte(fmt.Sprintf("%s#%d", key, i))})
	}
	if err := p.Produce(ctx, msgs...); err != nil {
		t.Fatal(err)
	}

	testkit.WaitFor(t, "a part of the records to be processed", rec.moved, func() bool {
		n, _, _ := rec.counts()
		return n >= total/3
	})
	rec.mu.Lock()
	rec.mark = time.Now()
	rec.mu.Unlock()
	stopA()
	if err := <-doneA; err != nil {
		t.Fatalf("member a: %v", err)
	}
	leftAfter := time.Since(rec.mark)
	if owned := rec.owned("a"); len(owned) != 0 {
		t.Fatalf("a left without revoking %v", owned)
	}
	testkit.WaitFor(t, "b to own every partition", rec.moved, func() bool { return len(rec.owned("b")) == 6 })
	rec.mu.Lock()
	handover := rec.firstAt["b"].Sub(rec.mark)
	rec.mu.Unlock()
	t.Logf("a drained and left in %v; b had a's partitions %v after a's cancel", leftAfter, handover)

	testkit.WaitFor(t, "every record", rec.moved, func() bool {
		_, distinct, _ := rec.counts()
		return distinct == total
	})
	stopB()
	if err := <-doneB; err != nil {
		t.Fatalf("member b: %v", err)
	}
	processed, distinct, dups := rec.counts()
	t.Logf("processed %d records, %d distinct, %d duplicates", processed, distinct, dups)
	if dups != 0 {
		t.Errorf("%d duplicates after a clean leave", dups)
	}
	if len(rec.owner) != 0 {
		t.Errorf("partitions never revoked: %v", rec.owner)
	}
	if len(rec.assigned["a"]) == 0 || len(rec.assigned["b"]) != 6 {
		t.Errorf("assignments: %v", rec.assigned)
	}
}

// failingHandler fails its first batch.
type failingHandler struct {
	nopHandler
	revoked chan struct{}
}

func (failingHandler) Process(context.Context, Batch) error   { return errors.New("boom") }
func (h failingHandler) Revoked(context.Context, string, int) { h.revoked <- struct{}{} }

func TestIntegrationHandlerErrorStopsConsumer(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	topic := kafkatest.Topic(t, brokers, 1)
	p, err := NewProducer(ProducerConfig{Brokers: brokers})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := p.Produce(ctx, kafka.Message{Topic: topic, Value: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	h := failingHandler{revoked: make(chan struct{}, 1)}
	c, err := NewConsumer(ConsumerConfig{Brokers: brokers, GroupID: "stream-fail-" + topic, Topics: []string{topic}}, h)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := c.Run(ctx); !errors.Is(err, ErrHandler) {
		t.Fatalf("Run = %v, want ErrHandler", err)
	}
	t.Logf("stopped %v after start", time.Since(start))
	select {
	case <-h.revoked:
	default:
		t.Fatal("Revoked not called")
	}
}
