//go:build integration

package pipeline_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/linkedin/goavro/v2"
	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/sr"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/postbackd/postbackd/processors/devtools/testkit"
	"github.com/postbackd/postbackd/processors/pipeline"
	"github.com/postbackd/postbackd/processors/platform/registry"
	"github.com/postbackd/postbackd/schemas"
)

// producerEventSchema is an app team's own schema for its raw events, not
// postbackd's: another name, another field order, a field postbackd does
// not know.
const producerEventSchema = `{"type": "record", "name": "AppEvent", "namespace": "com.example.events", "fields": [
  {"name": "device_id", "type": "string"},
  {"name": "event_id", "type": "string"},
  {"name": "app_id", "type": "string"},
  {"name": "platform", "type": "string"},
  {"name": "type", "type": "string"},
  {"name": "ts", "type": {"type": "long", "logicalType": "timestamp-micros"}},
  {"name": "sdk_version", "type": "string", "default": ""}
]}`

// TestIntegrationSchemaRegistry, on a real registry (Apicurio Registry,
// scripts/registry.sh): with kafka.schema_registry_url, the stages register
// the Classified, Reject and DeliveryLog schemas under their topics'
// "-value" subjects and write those topics Confluent-framed with the ids;
// raw events a producer framed with its own registered schema are read
// with that schema; one framed with an id the registry does not know goes
// to the deadletter with the reason; the sink reads the framed classified
// records and delivers them; and a data team's reader (fastavro, given
// only the registry's answer for each frame's id) decodes every classified
// record.
func TestIntegrationSchemaRegistry(t *testing.T) {
	url := testkit.SchemaRegistry(t)
	ctx := context.Background()
	w := newWiring(t, 2)
	w.cfg.ClassifiedFormat = "avro"
	w.cfg.Kafka.SchemaRegistryURL = url
	w.createTopics(t, ctx)
	cl, err := sr.NewClient(sr.URLs(url))
	if err != nil {
		t.Fatal(err)
	}
	produced, err := cl.CreateSchema(ctx, registry.Subject(w.cfg.Topics.RawEvents), sr.Schema{Schema: producerEventSchema})
	if err != nil {
		t.Fatal(err)
	}
	codec, err := goavro.NewCodec(producerEventSchema)
	if err != nil {
		t.Fatal(err)
	}
	const devices = 12
	ts := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	var msgs []kafka.Message
	for i := range devices {
		dev := fmt.Sprintf("reg-dev-%d", i)
		body, err := codec.BinaryFromNative(nil, map[string]any{
			"device_id": dev, "event_id": fmt.Sprintf("e%d", i), "app_id": "com.example.game", "platform": "android",
			"type": "install", "ts": ts, "sdk_version": "7.1",
		})
		if err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, kafka.Message{Topic: w.cfg.Topics.RawEvents, Key: []byte(dev), Value: append(schemas.AppendConfluentHeader(nil, produced.ID), body...)})
	}
	unknown := append(schemas.AppendConfluentHeader(nil, 987654), 0, 0)
	msgs = append(msgs, kafka.Message{Topic: w.cfg.Topics.RawEvents, Key: []byte("unknown-id"), Value: unknown})
	testkit.Produce(t, ctx, w.brokers, msgs...)

	r := w.run(t, ctx, pipeline.Normalize, pipeline.Device, pipeline.User, pipeline.Sink)
	out := testkit.Wait{Progress: r.progress}.ReadTopic(t, ctx, w.brokers, w.cfg.Topics.Classified, testkit.AtLeast(devices))
	subjectID := func(topic string) int {
		t.Helper()
		ss, err := cl.SchemaByVersion(ctx, registry.Subject(topic), -1)
		if err != nil {
			t.Fatalf("subject of %s: %v", topic, err)
		}
		return ss.ID
	}
	classifiedID := subjectID(w.cfg.Topics.Classified)
	var lines bytes.Buffer
	for _, m := range out {
		if len(m.Value) < 5 || m.Value[0] != 0 || int(binary.BigEndian.Uint32(m.Value[1:5])) != classifiedID {
			t.Fatalf("classified record %x... is not framed with the registered id %d", m.Value[:min(5, len(m.Value))], classifiedID)
		}
		lines.WriteString(hex.EncodeToString(m.Value) + "\n")
	}
	cmd := exec.Command(filepath.Join("..", "..", "scripts", "fastavro.sh"), "decode-confluent", url)
	cmd.Stdin = bytes.NewReader(lines.Bytes())
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("scripts/fastavro.sh decode-confluent: %v\n%s", err, stderr.String())
	}
	got := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	if len(got) != len(out) {
		t.Fatalf("fastavro decoded %d of %d records", len(got), len(out))
	}
	for i, line := range got {
		var c struct {
			PostbackID string `json:"postback_id"`
			Type       string `json:"type"`
			DeviceID   string `json:"device_id"`
		}
		if err := json.Unmarshal([]byte(line), &c); err != nil || c.PostbackID != string(out[i].Key) || c.Type != "install" || !strings.HasPrefix(c.DeviceID, "reg-dev-") {
			t.Errorf("record %d read by fastavro as %s (%v), want the install keyed %s", i, line, err, out[i].Key)
		}
	}

	// The sink read them (Confluent-framed) and delivered each; its
	// delivery log is framed with its own subject's id.
	testkit.WaitFor(t, "a postback of every install", r.progress, func() bool { return w.partner.Stats().Total.Unique >= devices })
	logID := subjectID(w.cfg.Topics.DeliveryLog)
	logs := testkit.Wait{Progress: r.progress}.ReadTopic(t, ctx, w.brokers, w.cfg.Topics.DeliveryLog, testkit.AtLeast(devices))
	for _, m := range logs {
		if m.Value[0] != 0 || int(binary.BigEndian.Uint32(m.Value[1:5])) != logID {
			t.Fatalf("delivery log record not framed with id %d: %x", logID, m.Value[:5])
		}
		if _, err := schemas.DecodeDeliveryLogAvro(m.Value[5:]); err != nil {
			t.Fatalf("delivery log body: %v", err)
		}
	}
	// The record of an unknown id is in the deadletter, framed too.
	rejectID := subjectID(w.cfg.Topics.Deadletter)
	dead := testkit.Wait{Progress: r.progress}.ReadTopic(t, ctx, w.brokers, w.cfg.Topics.Deadletter, testkit.AtLeast(1))
	if len(dead) != 1 || dead[0].Value[0] != 0 || int(binary.BigEndian.Uint32(dead[0].Value[1:5])) != rejectID {
		t.Fatalf("deadletter: %d records, want the unknown id's, framed with %d", len(dead), rejectID)
	}
	rj, err := schemas.DecodeRejectAvro(dead[0].Value[5:])
	if err != nil || !strings.Contains(rj.Reason, "987654") || !bytes.Equal(rj.Raw, unknown) {
		t.Fatalf("deadletter record %+v (%v): want the raw record and a reason naming the id", rj, err)
	}
}

// TestIntegrationSchemaRegistryRefusesIncompatible: when the classified
// topic's subject already holds a schema postbackd's is not backward
// compatible with (the registry's default level here), the start fails
// and says so, rather than write records no reader of the subject can
// resolve.
func TestIntegrationSchemaRegistryRefusesIncompatible(t *testing.T) {
	url := testkit.SchemaRegistry(t)
	ctx := context.Background()
	w := newWiring(t, 1)
	w.cfg.ClassifiedFormat = "avro"
	w.cfg.Kafka.SchemaRegistryURL = url
	cl, err := sr.NewClient(sr.URLs(url))
	if err != nil {
		t.Fatal(err)
	}
	old := `{"type": "record", "name": "Classified", "namespace": "io.postbackd", "fields": [{"name": "postback_id", "type": "int"}]}`
	if _, err := cl.CreateSchema(ctx, registry.Subject(w.cfg.Topics.Classified), sr.Schema{Schema: old}); err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	err = pipeline.Run(runCtx, w.cfg, w.stages(pipeline.Device), pipeline.RunOptions{Logger: zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel))})
	if err == nil || !strings.Contains(err.Error(), "incompatible") || !strings.Contains(err.Error(), registry.Subject(w.cfg.Topics.Classified)) {
		t.Fatalf("start with an incompatible subject: %v", err)
	}
}
