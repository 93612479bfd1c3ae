package pipeline

import (
	"time"

	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"

	"github.com/postbackd/postbackd/processors/domain/classify"
	"github.com/postbackd/postbackd/processors/platform/config"
	"github.com/postbackd/postbackd/processors/platform/registry"
	"github.com/postbackd/postbackd/processors/platform/stage"
	"github.com/postbackd/postbackd/processors/platform/stream"
)

// encoder is the stages' encoder of classified and deadletter records:
// Confluent-framed with the registry's ids when the schemas were
// registered (env.Schemas), else single-object (or JSON).
func encoder(cfg *config.Config, reg *registry.Registry) classifiedEncoder {
	e := newClassifiedEncoder(cfg.ClassifiedFormat == "json", stage.MaxMessageBytes(cfg))
	if !e.json {
		e.classifiedID, e.rejectID = reg.ID(cfg.Topics.Classified), reg.ID(cfg.Topics.Deadletter)
	}
	return e
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
	return stream.ProducerConfig{Brokers: cfg.Kafka.Brokers, Dialer: dialer, Logger: logger, BatchBytes: int64(stage.MaxMessageBytes(cfg))}
}

// MaxClockSkew gives normalize each app's max_clock_skew from the config;
// replay uses it too.
func MaxClockSkew(cfg *config.Config) func(appID string) time.Duration {
	return func(appID string) time.Duration { return cfg.WindowsFor(appID).MaxClockSkew.D() }
}
