package stream

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

func TestConsumerConfigDefaultsAndValidation(t *testing.T) {
	good := ConsumerConfig{Brokers: []string{"b:9092"}, GroupID: "g", Topics: []string{"t"}}
	c, err := NewConsumer(good, nopHandler{})
	if err != nil {
		t.Fatalf("NewConsumer: %v", err)
	}
	if c.cfg.MaxBatchRecords != 1000 || c.cfg.MaxBatchWait != 50*time.Millisecond ||
		c.cfg.SessionTimeout != 10*time.Second || c.cfg.HeartbeatInterval != time.Second {
		t.Fatalf("defaults not applied: %+v", c.cfg)
	}
	bad := map[string]func(*ConsumerConfig){
		"no brokers":     func(c *ConsumerConfig) { c.Brokers = nil },
		"no group":       func(c *ConsumerConfig) { c.GroupID = "" },
		"no topics":      func(c *ConsumerConfig) { c.Topics = nil },
		"empty topic":    func(c *ConsumerConfig) { c.Topics = []string{"a", ""} },
		"negative batch": func(c *ConsumerConfig) { c.MaxBatchRecords = -1 },
		"heartbeat":      func(c *ConsumerConfig) { c.HeartbeatInterval = 5 * time.Second },
	}
	for name, mutate := range bad {
		t.Run(name, func(t *testing.T) {
			cfg := good
			mutate(&cfg)
			if _, err := NewConsumer(cfg, nopHandler{}); !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("err = %v, want ErrInvalidConfig", err)
			}
		})
	}
	if _, err := NewConsumer(good, nil); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("nil handler: err = %v", err)
	}
}

func TestProducerConfigValidation(t *testing.T) {
	if _, err := NewProducer(ProducerConfig{}); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("no brokers: err = %v", err)
	}
	p, err := NewProducer(ProducerConfig{Brokers: []string{"b:9092"}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if p.w.RequiredAcks != kafka.RequireAll || p.w.BatchTimeout != 2*time.Millisecond || p.w.Async || p.w.Compression != kafka.Lz4 {
		t.Fatalf("writer not set up for acked, low-latency batches: %+v", p.w)
	}
	if _, err := NewProducer(ProducerConfig{Brokers: []string{"b:9092"}, Compression: "brotli"}); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("unknown compression: err = %v", err)
	}
}

func TestTopicSpecConfig(t *testing.T) {
	tc := TopicSpec{Name: "changelog", Partitions: 6, Compacted: true, Config: map[string]string{"retention.ms": "1000"}}.topicConfig()
	if tc.NumPartitions != 6 || tc.ReplicationFactor != -1 {
		t.Fatalf("partitions/replication: %+v", tc)
	}
	want := []kafka.ConfigEntry{{ConfigName: "cleanup.policy", ConfigValue: "compact"}, {ConfigName: "retention.ms", ConfigValue: "1000"}}
	if !slices.Equal(tc.ConfigEntries, want) {
		t.Fatalf("config entries = %v, want %v", tc.ConfigEntries, want)
	}
	// an explicit cleanup.policy wins
	tc = TopicSpec{Name: "c", Partitions: 1, Compacted: true, Config: map[string]string{"cleanup.policy": "compact,delete"}}.topicConfig()
	if len(tc.ConfigEntries) != 1 || tc.ConfigEntries[0].ConfigValue != "compact,delete" {
		t.Fatalf("config entries = %v", tc.ConfigEntries)
	}
	for _, s := range []TopicSpec{{Partitions: 1}, {Name: "x"}, {Name: "x", Partitions: 1, ReplicationFactor: -2}} {
		if err := s.validate(); !errors.Is(err, ErrInvalidConfig) {
			t.Fatalf("validate(%+v) = %v", s, err)
		}
	}
}

func TestOffsetMarksRestoreKeepsNewer(t *testing.T) {
	m := newOffsetMarks()
	m.mark("t", 0, 10)
	m.mark("t", 1, 5)
	taken := m.take()
	if m.take() != nil {
		t.Fatal("second take not empty")
	}
	m.mark("t", 0, 20) // newer batch finished while the commit failed
	m.restore(taken)
	got := m.take()
	if got["t"][0] != 20 || got["t"][1] != 5 {
		t.Fatalf("restored marks = %v", got)
	}
}

func TestReaderLoggerDemotesIdleFetchTimeouts(t *testing.T) {
	core, logs := observer.New(zap.DebugLevel)
	log := readerLogger(zap.New(core), newLogLimiter(time.Minute))
	log("the kafka reader got an unknown error reading partition %d of %s at offset %d: %s", 1, "t", 0, "read tcp 127.0.0.1:1->127.0.0.1:2: i/o timeout")
	log("error initializing the kafka reader for partition %d of %s: %s", 2, "t", "Not Leader For Partition")
	entries := logs.All()
	if len(entries) != 2 || entries[0].Level != zap.DebugLevel || entries[1].Level != zap.WarnLevel {
		t.Fatalf("levels = %v", entries)
	}
}

func TestConsumerStartOffsetForGroupsWithoutCommits(t *testing.T) {
	base := ConsumerConfig{Brokers: []string{"b:9092"}, GroupID: "g", Topics: []string{"t"}}
	c, err := NewConsumer(base, nopHandler{})
	if err != nil || c.cfg.StartOffset != FirstOffset {
		t.Fatalf("default start = %d, %v; want FirstOffset", c.cfg.StartOffset, err)
	}
	latest := base
	latest.StartOffset = LastOffset
	if _, err := NewConsumer(latest, nopHandler{}); err != nil {
		t.Fatalf("LastOffset refused: %v", err)
	}
	bad := base
	bad.StartOffset = 42
	if _, err := NewConsumer(bad, nopHandler{}); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("absolute start offset: %v, want ErrInvalidConfig", err)
	}
}
