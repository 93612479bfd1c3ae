package stream

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"
)

// TopicSpec describes a topic a stage needs. EnsureTopics creates it with
// these settings when it is missing and leaves an existing one alone.
type TopicSpec struct {
	Name       string
	Partitions int
	// ReplicationFactor 0 means the broker's default.replication.factor.
	ReplicationFactor int
	// Compacted sets cleanup.policy=compact, as changelog topics need.
	Compacted bool
	// Config holds further topic configs (retention.ms, ...); a
	// cleanup.policy here wins over Compacted.
	Config map[string]string
}

// TopicsConfig says where EnsureTopics finds the cluster.
type TopicsConfig struct {
	Brokers []string
	// Dialer carries TLS/SASL settings; nil means kafka.DefaultDialer's.
	Dialer *kafka.Dialer
	// ReadyTimeout bounds the wait for created topics to have leaders.
	// Default 30s.
	ReadyTimeout time.Duration
	Logger       *zap.Logger
}

func (c *TopicsConfig) setDefaults() {
	if c.ReadyTimeout == 0 {
		c.ReadyTimeout = 30 * time.Second
	}
	if c.Logger == nil {
		c.Logger = zap.NewNop()
	}
}

// Validate reports a config EnsureTopics cannot use.
func (c *TopicsConfig) Validate() error {
	if len(c.Brokers) == 0 {
		return fmt.Errorf("%w: no brokers", ErrInvalidConfig)
	}
	if c.ReadyTimeout < 0 {
		return fmt.Errorf("%w: negative ready timeout", ErrInvalidConfig)
	}
	return nil
}

func (s TopicSpec) validate() error {
	if s.Name == "" {
		return fmt.Errorf("%w: topic without a name", ErrInvalidConfig)
	}
	if s.Partitions < 1 {
		return fmt.Errorf("%w: topic %s: partitions must be at least 1", ErrInvalidConfig, s.Name)
	}
	if s.ReplicationFactor < 0 {
		return fmt.Errorf("%w: topic %s: negative replication factor", ErrInvalidConfig, s.Name)
	}
	return nil
}

func (s TopicSpec) topicConfig() kafka.TopicConfig {
	tc := kafka.TopicConfig{
		Topic:             s.Name,
		NumPartitions:     s.Partitions,
		ReplicationFactor: s.ReplicationFactor,
	}
	if tc.ReplicationFactor == 0 {
		tc.ReplicationFactor = -1 // broker default; CreateTopics v4+
	}
	if _, set := s.Config["cleanup.policy"]; s.Compacted && !set {
		tc.ConfigEntries = append(tc.ConfigEntries, kafka.ConfigEntry{ConfigName: "cleanup.policy", ConfigValue: "compact"})
	}
	for k, v := range s.Config {
		tc.ConfigEntries = append(tc.ConfigEntries, kafka.ConfigEntry{ConfigName: k, ConfigValue: v})
	}
	return tc
}

// EnsureTopics creates the topics of specs that do not exist yet and waits
// until every one of them has a leader for each partition. Existing topics
// are left as they are; one whose partition count differs from its spec is
// logged, since keyed state would then be split differently than expected.
// A topic created concurrently by another copy counts as existing.
func EnsureTopics(ctx context.Context, cfg TopicsConfig, specs ...TopicSpec) error {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return err
	}
	names := make([]string, 0, len(specs))
	for _, s := range specs {
		if err := s.validate(); err != nil {
			return err
		}
		names = append(names, s.Name)
	}
	if len(specs) == 0 {
		return nil
	}
	// A short metadata TTL: the transport serves metadata from a cache that
	// it refreshes on this period, and we poll it for the new leaders.
	transport := newTransport(cfg.Dialer, 200*time.Millisecond)
	defer transport.CloseIdleConnections()
	client := &kafka.Client{Addr: kafka.TCP(cfg.Brokers...), Transport: transport}

	// A broker that is starting or busy can time a request out; retry
	// until ReadyTimeout rather than fail a whole process at start.
	var meta *kafka.MetadataResponse
	err := Retry(ctx, cfg.ReadyTimeout, func() (err error) {
		meta, err = client.Metadata(ctx, &kafka.MetadataRequest{Topics: names})
		return err
	})
	if err != nil {
		return fmt.Errorf("stream: read topic metadata: %w", err)
	}
	existing := make(map[string]int, len(meta.Topics))
	for _, t := range meta.Topics {
		if t.Error == nil {
			existing[t.Name] = len(t.Partitions)
		}
	}
	var create []kafka.TopicConfig
	for _, s := range specs {
		n, ok := existing[s.Name]
		switch {
		case !ok:
			create = append(create, s.topicConfig())
		case n != s.Partitions:
			cfg.Logger.Warn("existing topic has another partition count than configured",
				zap.String("topic", s.Name), zap.Int("partitions", n), zap.Int("configured", s.Partitions))
		}
	}
	if len(create) == 0 {
		return nil
	}
	var res *kafka.CreateTopicsResponse
	err = Retry(ctx, cfg.ReadyTimeout, func() (err error) {
		res, err = client.CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: create})
		return err
	})
	if err != nil {
		return fmt.Errorf("%w: %w", ErrCreateTopic, err)
	}
	for _, tc := range create {
		err := res.Errors[tc.Topic]
		switch {
		case err == nil:
			cfg.Logger.Info("created topic", zap.String("topic", tc.Topic), zap.Int("partitions", tc.NumPartitions))
		case errors.Is(err, kafka.TopicAlreadyExists):
		default:
			return fmt.Errorf("%w: %s: %w", ErrCreateTopic, tc.Topic, err)
		}
	}
	return waitTopicsReady(ctx, client, create, cfg.ReadyTimeout)
}

// waitTopicsReady polls metadata until every partition of topics has a
// leader, and then until every leader serves its partition: producing or
// fetching before that fails with LeaderNotAvailable, and on a busy broker
// metadata can name a leader a moment before it takes requests
// (NotLeaderForPartition).
func waitTopicsReady(ctx context.Context, client *kafka.Client, topics []kafka.TopicConfig, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	names := make([]string, len(topics))
	for i, t := range topics {
		names[i] = t.Topic
	}
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		meta, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: names})
		if err == nil && topicsReady(meta, names) {
			if err = leadersServe(ctx, client, meta); err == nil {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			if err == nil {
				err = ctx.Err()
			}
			return fmt.Errorf("%w: %v: %w", ErrTopicNotReady, names, err)
		case <-tick.C:
		}
	}
}

// leadersServe asks every partition's leader for the partition's offsets,
// which it answers only once it serves the partition.
func leadersServe(ctx context.Context, client *kafka.Client, meta *kafka.MetadataResponse) error {
	req := &kafka.ListOffsetsRequest{Topics: make(map[string][]kafka.OffsetRequest, len(meta.Topics))}
	for _, t := range meta.Topics {
		for _, p := range t.Partitions {
			req.Topics[t.Name] = append(req.Topics[t.Name], kafka.LastOffsetOf(p.ID))
		}
	}
	res, err := client.ListOffsets(ctx, req)
	if err != nil {
		return err
	}
	for topic, parts := range res.Topics {
		for _, p := range parts {
			if p.Error != nil {
				return fmt.Errorf("%s/%d: %w", topic, p.Partition, p.Error)
			}
		}
	}
	return nil
}

func topicsReady(meta *kafka.MetadataResponse, names []string) bool {
	ready := 0
	for _, t := range meta.Topics {
		if t.Error != nil || len(t.Partitions) == 0 {
			return false
		}
		for _, p := range t.Partitions {
			// a partition without a leader carries LeaderID -1, which
			// kafka-go maps to a zero Broker
			if p.Error != nil || p.Leader.Host == "" {
				return false
			}
		}
		ready++
	}
	return ready == len(names)
}

// Retry calls fn until it succeeds, ctx ends or d passes, backing off
// from 100 ms to 2 s, and returns fn's last error. A broker that is busy,
// starting, moving a leader or away for a while answers with errors;
// callers that must not fail a whole process or partition on that use it.
// An error marked with Permanent is returned at once.
func Retry(ctx context.Context, d time.Duration, fn func() error) error {
	deadline := time.Now().Add(d)
	wait := 100 * time.Millisecond
	for {
		err := fn()
		if err == nil || ctx.Err() != nil || IsPermanent(err) || time.Now().Add(wait).After(deadline) {
			return err
		}
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return err
		}
		wait = min(2*wait, 2*time.Second)
	}
}

// PartitionCounts reads the partition count of each of topics from the
// cluster's metadata; a topic that does not exist is an error.
func PartitionCounts(ctx context.Context, cfg TopicsConfig, topics ...string) (map[string]int, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	transport := newTransport(cfg.Dialer, 0)
	defer transport.CloseIdleConnections()
	client := &kafka.Client{Addr: kafka.TCP(cfg.Brokers...), Transport: transport, Timeout: 10 * time.Second}
	meta, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: topics})
	if err != nil {
		return nil, fmt.Errorf("stream: read topic metadata: %w", err)
	}
	counts := make(map[string]int, len(topics))
	for _, t := range meta.Topics {
		if t.Error != nil {
			return nil, fmt.Errorf("stream: topic %s: %w", t.Name, t.Error)
		}
		counts[t.Name] = len(t.Partitions)
	}
	for _, name := range topics {
		if counts[name] == 0 {
			return nil, fmt.Errorf("stream: topic %s: no partitions in the metadata", name)
		}
	}
	return counts, nil
}
