package pipeline

import (
	"fmt"
	"time"

	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"

	"github.com/postbackd/postbackd/processors/domain/classify"
	"github.com/postbackd/postbackd/processors/platform/config"
	"github.com/postbackd/postbackd/processors/platform/stage"
	"github.com/postbackd/postbackd/processors/platform/stream"
)

// Env is what every stage shares in one process: one producer, one
// metrics registry, one readiness tracker, one logger.
type Env struct {
	Config    *config.Config
	Dialer    *kafka.Dialer // TLS/SASL; nil for plain TCP
	Producer  stage.Producer
	Metrics   *stage.Metrics
	Readiness *stage.Readiness
	Logger    *zap.Logger
	// Consumer tunes the stages' consumers; zero fields take stream's
	// defaults. A test seam for quick rebalances.
	Consumer stream.ConsumerConfig
}

func (e *Env) setDefaults() {
	if e.Logger == nil {
		e.Logger = zap.NewNop()
	}
	if e.Metrics == nil {
		e.Metrics = stage.NewMetrics(nil)
	}
	if e.Readiness == nil {
		e.Readiness = stage.NewReadiness()
	}
}

func (e *Env) validate() error {
	if e.Config == nil || e.Producer == nil {
		return fmt.Errorf("%w: config and producer required", ErrInvalidEnv)
	}
	return nil
}

// consumerConfig is the stage's consumer settings: group <prefix>.<stage>.
func (e *Env) consumerConfig(stage string, topics ...string) stream.ConsumerConfig {
	c := e.Consumer
	c.Brokers = e.Config.Kafka.Brokers
	c.Dialer = e.Dialer
	c.GroupID = e.Config.Kafka.GroupPrefix + "." + stage
	c.Topics = topics
	c.Logger = e.Logger.With(zap.String("stage", stage))
	return c
}

func (e *Env) windows() classify.WindowsFunc { return Windows(e.Config) }

// encoder is the stages' encoder of classified and deadletter records.
func (e *Env) encoder() classifiedEncoder {
	return newClassifiedEncoder(e.Config.ClassifiedFormat == "json", e.maxMessageBytes())
}

func (e *Env) maxMessageBytes() int { return maxMessageBytes(e.Config) }

// maxMessageBytes is kafka.max_message_bytes, or its default for a config
// built in code rather than loaded.
func maxMessageBytes(cfg *config.Config) int {
	if n := cfg.Kafka.MaxMessageBytes; n > 0 {
		return n
	}
	return stage.DefaultMaxMessageBytes
}

// Windows adapts the config's per-app windows to the classifier's; replay
// uses it too, so both classify with the same windows.
func Windows(cfg *config.Config) classify.WindowsFunc {
	return func(appID string) classify.Windows {
		w := cfg.WindowsFor(appID)
		return classify.Windows{
			Inactivity:         w.InactivityWindow.D(),
			ClickLookback:      w.ClickLookback.D(),
			ImpressionLookback: w.ImpressionLookback.D(),
			DedupHorizon:       w.DedupHorizon.D(),
		}
	}
}

// ProducerConfig is the producer the stages share, from the config: its
// BatchBytes is kafka.max_message_bytes, the size the stages keep every
// record under (kafka-go refuses a larger one before sending it).
func ProducerConfig(cfg *config.Config, dialer *kafka.Dialer, logger *zap.Logger) stream.ProducerConfig {
	return stream.ProducerConfig{Brokers: cfg.Kafka.Brokers, Dialer: dialer, Logger: logger, BatchBytes: int64(maxMessageBytes(cfg))}
}

// MaxClockSkew gives normalize each app's max_clock_skew from the config;
// replay uses it too.
func MaxClockSkew(cfg *config.Config) func(appID string) time.Duration {
	return func(appID string) time.Duration { return cfg.WindowsFor(appID).MaxClockSkew.D() }
}

// Topics lists every topic the classification stages use, for
// stream.EnsureTopics; changelogs are compacted.
func Topics(cfg *config.Config) []stream.TopicSpec {
	t := cfg.Topics
	spec := func(name string, compacted bool) stream.TopicSpec {
		return stream.TopicSpec{Name: name, Partitions: cfg.Kafka.Partitions, ReplicationFactor: cfg.Kafka.ReplicationFactor, Compacted: compacted}
	}
	return []stream.TopicSpec{
		spec(t.RawClicks, false), spec(t.RawEvents, false),
		spec(t.EventsByDevice, false), spec(t.EventsByUser, false),
		spec(t.Classified, false), spec(t.Deadletter, false),
		spec(t.DeviceChangelog, true), spec(t.UserChangelog, true),
	}
}
