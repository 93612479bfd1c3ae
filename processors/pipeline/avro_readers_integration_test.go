//go:build integration

package pipeline_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/segmentio/kafka-go"

	"github.com/postbackd/postbackd/processors/devtools/testkit"
	"github.com/postbackd/postbackd/processors/pipeline"
)

// TestIntegrationClassifiedTopicReadByOtherAvroLibraries: the classified
// topic in Avro, as a data team reads it with its own tools: Java's
// BinaryMessageDecoder (scripts/avro.sh) and fastavro
// (scripts/fastavro.sh), given postbackd's classified.avsc, decode every
// record the device stage wrote.
func TestIntegrationClassifiedTopicReadByOtherAvroLibraries(t *testing.T) {
	ctx := context.Background()
	w := newWiring(t, 3)
	w.cfg.ClassifiedFormat = "avro"
	w.createTopics(t, ctx)
	r := w.run(t, ctx, pipeline.Normalize, pipeline.Device)
	const devices = 20
	var msgs []kafka.Message
	for i := range devices {
		dev := fmt.Sprintf("dev-%d", i)
		msgs = append(msgs, kafka.Message{Topic: w.cfg.Topics.RawEvents, Key: []byte(dev), Value: fmt.Appendf(nil,
			`{"kind":"event","event_id":"e%d","app_id":"com.example.game","platform":"android","device_id":"%s","type":"install","ts":"2026-03-01T10:00:00Z"}`, i, dev)})
	}
	testkit.Produce(t, ctx, w.brokers, msgs...)
	out := testkit.Wait{Progress: r.progress}.ReadTopic(t, ctx, w.brokers, w.cfg.Topics.Classified, testkit.AtLeast(devices))
	var lines bytes.Buffer
	for _, m := range out {
		lines.WriteString(hex.EncodeToString(m.Value) + "\n")
	}
	for _, script := range []string{"avro.sh", "fastavro.sh"} {
		cmd := exec.Command(filepath.Join("..", "..", "scripts", script), "decode", filepath.Join("..", "..", "schemas", "classified.avsc"))
		cmd.Stdin = bytes.NewReader(lines.Bytes())
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("scripts/%s decode: %v\n%s", script, err, stderr.String())
		}
		got := strings.Split(strings.TrimSpace(stdout.String()), "\n")
		if len(got) != len(out) {
			t.Fatalf("%s decoded %d of %d records", script, len(got), len(out))
		}
		for i, line := range got {
			var c struct {
				PostbackID string `json:"postback_id"`
				Type       string `json:"type"`
			}
			if err := json.Unmarshal([]byte(line), &c); err != nil || c.PostbackID != string(out[i].Key) || c.Type != "install" {
				t.Errorf("%s: record %d read as %s (%v), want the install keyed %s", script, i, line, err, out[i].Key)
			}
		}
	}
}
