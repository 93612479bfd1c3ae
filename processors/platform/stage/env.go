package stage

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"

	"github.com/postbackd/postbackd/processors/platform/config"
	"github.com/postbackd/postbackd/processors/platform/registry"
	"github.com/postbackd/postbackd/processors/platform/stream"
)

// Env is what every stage of a process shares: one config, one producer,
// one metrics registry, one readiness tracker, one logger.
type Env struct {
	Config    *config.Config
	Dialer    *kafka.Dialer // TLS/SASL; nil for plain TCP
	Producer  Producer
	Metrics   *Metrics
	Readiness *Readiness
	Logger    *zap.Logger
	// Registerer takes the series a stage adds of its own (the sink's per
	// partner); nil registers nothing.
	Registerer prometheus.Registerer
	// Consumer tunes the stages' consumers; zero fields take stream's
	// defaults. A test seam for quick rebalances.
	Consumer stream.ConsumerConfig
	// Schemas is the schema registry (kafka.schema_registry_url) with the
	// ids of the schemas registered at start; nil without one.
	Schemas *registry.Registry
	// Admin collects the admin API's routes and the processors a state
	// query reads; nil: this process serves no admin API.
	Admin *Admin
}

// WithDefaults returns e with a no-op logger, unregistered metrics and a
// fresh readiness tracker where it has none, or an error when it has no
// config or producer.
func (e Env) WithDefaults() (Env, error) {
	if e.Config == nil || e.Producer == nil {
		return e, fmt.Errorf("%w: config and producer required", ErrInvalidConfig)
	}
	if e.Logger == nil {
		e.Logger = zap.NewNop()
	}
	if e.Metrics == nil {
		e.Metrics = NewMetrics(nil)
	}
	if e.Readiness == nil {
		e.Readiness = NewReadiness()
	}
	return e, nil
}

// ConsumerConfig is a stage's consumer settings: group
// <group_prefix>.<group>, reading topics.
func (e Env) ConsumerConfig(group string, topics ...string) stream.ConsumerConfig {
	c := e.Consumer
	c.Brokers = e.Config.Kafka.Brokers
	c.Dialer = e.Dialer
	c.GroupID = e.Config.Kafka.GroupPrefix + "." + group
	c.Topics = topics
	c.Logger = e.Logger
	if a := e.Admin; a != nil {
		c.UserData = a.Advertisement
	}
	return c
}

// MaxMessageBytes is kafka.max_message_bytes, or its default for a config
// built in code rather than loaded.
func MaxMessageBytes(cfg *config.Config) int {
	if n := cfg.Kafka.MaxMessageBytes; n > 0 {
		return n
	}
	return DefaultMaxMessageBytes
}

// Processor builds the Processor of a stage named name reading topics in
// group <group_prefix>.<name>, with what e shares; cfg gives the rest
// (Logic, ChangelogTopic, ...).
func (e Env) Processor(name string, cfg Config, topics ...string) (*Processor, error) {
	e, err := e.WithDefaults()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	log := e.Logger.With(zap.String("stage", name))
	cfg.Name = name
	cfg.Consumer = e.ConsumerConfig(name, topics...)
	cfg.Consumer.Logger = log
	cfg.StateDir = e.Config.StateDir
	if cfg.KeepRevoked == 0 {
		cfg.KeepRevoked = e.Config.StateKeepRevoked.D()
	}
	cfg.Producer, cfg.Metrics, cfg.Readiness, cfg.Logger = e.Producer, e.Metrics, e.Readiness, log
	if cfg.MaxMessageBytes == 0 {
		cfg.MaxMessageBytes = MaxMessageBytes(e.Config)
	}
	p, err := New(cfg)
	if err == nil && e.Admin != nil {
		e.Admin.addProcessor(name, p)
	}
	return p, err
}

// Topic is the spec of one of the pipeline's topics, from the config:
// every topic has the same partition count, so that a changelog partition
// matches its input partition and a key lands on the same partition
// number in every topic.
func Topic(cfg *config.Config, name string) stream.TopicSpec {
	return stream.TopicSpec{Name: name, Partitions: cfg.Kafka.Partitions, ReplicationFactor: cfg.Kafka.ReplicationFactor}
}

// Changelog is Topic, compacted.
func Changelog(cfg *config.Config, name string) stream.TopicSpec {
	t := Topic(cfg, name)
	t.Compacted = true
	return t
}

// PrivacyTopic is the spec of privacy.requests and privacy.audit: one
// partition each. Erasure requests are few (a handful a day), every copy
// of the sink reads both topics whole, and the order that matters, a
// request after the events that arrived before it, comes from the merge
// on events.by-device, not from these topics' partitions.
func PrivacyTopic(cfg *config.Config, name string) stream.TopicSpec {
	s := Topic(cfg, name)
	s.Partitions = 1
	return s
}
