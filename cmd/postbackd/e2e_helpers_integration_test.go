//go:build integration

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/postbackd/postbackd/processors/devtools/demopartner"
	"github.com/postbackd/postbackd/processors/devtools/generator"
	"github.com/postbackd/postbackd/processors/devtools/testkit/traffic"
	"github.com/postbackd/postbackd/processors/pipeline"
	"github.com/postbackd/postbackd/processors/platform/config"
	"github.com/postbackd/postbackd/processors/platform/stage"
	"github.com/postbackd/postbackd/processors/platform/stream"
	"github.com/postbackd/postbackd/schemas"
)

// writeConfig writes cfgText to a file, loads it and creates the
// classification topics, so producers can write before any copy starts.
func writeConfig(t *testing.T, ctx context.Context, brokers []string, cfgText string) (string, *config.Config) {
	t.Helper()
	cfgFile := filepath.Join(t.TempDir(), "postbackd.yaml")
	if err := os.WriteFile(cfgFile, []byte(cfgText), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(cfgFile)
	if err != nil {
		t.Fatal(err)
	}
	topics, err := stage.Topics(pipeline.Topology(cfg, nil))
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.EnsureTopics(ctx, stream.TopicsConfig{Brokers: brokers}, topics...); err != nil {
		t.Fatal(err)
	}
	return cfgFile, cfg
}

// classifyConfig is the config of the classification stages alone, with
// topics and groups of their own (named name and the time), crashPartitions
// partitions and JSON classified records.
func classifyConfig(brokers []string, name string) string {
	prefix := fmt.Sprintf("%s%d.", name, time.Now().UnixNano())
	return fmt.Sprintf("kafka:\n  brokers: [%s]\n  partitions: %d\n  group_prefix: %sg\ntopics:\n  prefix: %s\nclassified_format: json\n",
		strings.Join(brokers, ","), crashPartitions, prefix, prefix)
}

// allStagesConfig is the config of a pipeline with the sink: JSON
// classified records, and one partner on loopback that takes every record
// type (a GET per postback, with its id and type).
func allStagesConfig(brokers string, partitions int, prefix, partnerURL string) string {
	return fmt.Sprintf(`kafka:
  brokers: [%s]
  partitions: %d
  group_prefix: %sg
topics:
  prefix: %s
classified_format: json
sink:
  allow_private_networks: true
  retry:
    tiers: [1s, 2s]
  partners:
    - id: demo
      concurrency: 16
      rules:
        - types: [%s]
          mode: all
          url: "%s/pb?id={postback_id}&type={type}"
`, brokers, partitions, prefix, prefix, strings.Join(schemas.RecordTypes, ", "), partnerURL)
}

// generateWithReplay returns n generated raw records and what replay
// classifies them into, as lines and by postback_id.
func generateWithReplay(t *testing.T, ctx context.Context, gc generator.Config, n int) ([]generator.Record, []classifiedLine, map[string]string) {
	t.Helper()
	s := traffic.Generate(t, ctx, gc, n)
	records := make([]classifiedLine, len(s.Classified))
	for i, l := range s.Classified {
		if err := json.Unmarshal([]byte(l), &records[i]); err != nil {
			t.Fatal(err)
		}
	}
	return s.Records, records, s.ByPostbackID(t)
}

// startCountingPartner starts a demo partner that keeps counts and no
// requests (a long run would keep every one), closed when the test ends.
func startCountingPartner(t *testing.T) (*demopartner.Server, string) {
	t.Helper()
	partner := demopartner.New(nil)
	partner.SetMaxRequests(0)
	url, err := partner.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = partner.Close() })
	return partner, url
}

// rawClick is a tracking-link click of device on the raw clicks topic,
// keyed by the device.
func rawClick(cfg *config.Config, app, device, clickID, partner, campaign string, ts time.Time) kafka.Message {
	return rawRecord(cfg.Topics.RawClicks, map[string]any{"kind": "click", "click_id": clickID, "partner": partner, "campaign": campaign,
		"app_id": app, "device_id": device, "ts": ts.Format(time.RFC3339)})
}

// rawEvent is an app event of device on the raw events topic, keyed by the
// device; extra adds fields (user_id, revenue, ...).
func rawEvent(cfg *config.Config, app, device, eventID, typ string, ts time.Time, extra map[string]any) kafka.Message {
	fields := map[string]any{"kind": "event", "event_id": eventID, "type": typ, "app_id": app, "platform": "android",
		"device_id": device, "ts": ts.Format(time.RFC3339)}
	for k, v := range extra {
		fields[k] = v
	}
	return rawRecord(cfg.Topics.RawEvents, fields)
}

func rawRecord(topic string, fields map[string]any) kafka.Message {
	v, _ := json.Marshal(fields) // strings and numbers: cannot fail
	return kafka.Message{Topic: topic, Key: []byte(fields["device_id"].(string)), Value: v}
}
