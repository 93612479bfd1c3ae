//go:build integration

package main

import (
	"context"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/postbackd/postbackd/processors/devtools/demopartner"
	"github.com/postbackd/postbackd/processors/devtools/generator"
	"github.com/postbackd/postbackd/processors/pipeline"
	"github.com/postbackd/postbackd/processors/platform/config"
	"github.com/postbackd/postbackd/processors/platform/stage"
	"github.com/postbackd/postbackd/processors/platform/stream"
	"github.com/postbackd/postbackd/processors/platform/stream/kafkatest"
)

// sigtermStall is how long nothing may move (no call reaching the partner,
// no record written to any pipeline topic) before a wait gives up. Waits
// are bounded by progress, never by a budget for the whole run, so a slow
// machine only makes the test take longer.
const sigtermStall = 3 * time.Minute

// sigtermProgress returns a count that grows whenever the pipeline does
// something visible: the partner's calls plus the end offsets of every
// topic the stages write (normalized, classified, deadletter, changelogs,
// delivery log). A failed look-up keeps the last count.
func sigtermProgress(ctx context.Context, brokers []string, cfg *config.Config, partner *demopartner.Server) func() int64 {
	topics := []string{cfg.Topics.SinkChangelog, cfg.Topics.DeliveryLog, cfg.Topics.DeliveryDeadletter}
	specs, _ := stage.Topics(pipeline.Topology(cfg, nil)) // the pipeline's own declarations never conflict
	for _, spec := range specs {
		topics = append(topics, spec.Name)
	}
	req := &kafka.ListOffsetsRequest{Topics: make(map[string][]kafka.OffsetRequest, len(topics))}
	for _, topic := range topics {
		for p := 0; p < cfg.Kafka.Partitions; p++ {
			req.Topics[topic] = append(req.Topics[topic], kafka.LastOffsetOf(p))
		}
	}
	client := &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 10 * time.Second}
	var written int64
	return func() int64 {
		if res, err := client.ListOffsets(ctx, req); err == nil {
			var sum int64
			for _, parts := range res.Topics {
				for _, p := range parts {
					if p.Error == nil && p.LastOffset > 0 {
						sum += p.LastOffset
					}
				}
			}
			written = sum
		}
		return written + int64(partner.Stats().Total.Received)
	}
}

// TestIntegrationSIGTERMLosesNothing stops the whole pipeline (every stage
// in one process) with SIGTERM mid-stream and starts it again: it must
// exit cleanly, and after the restart (on an empty disk) every record
// replay gives is classified and delivered to the partner, each exactly
// once.
func TestIntegrationSIGTERMLosesNothing(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	bin := buildBinary(t)
	// No deadline for the run: every wait below gives up only when nothing
	// moved for sigtermStall.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	// The demo partner; only its counts are checked. Closed after the
	// copies (cleanups run last first).
	partner, partnerURL := startCountingPartner(t)
	// delivered is how many postbacks the partner accepted, and how many
	// calls it got for them.
	delivered := func() (unique, calls int) {
		st := partner.Stats().Total
		return st.Unique, st.Received
	}

	prefix := fmt.Sprintf("term%d.", time.Now().UnixNano())
	cfgText := allStagesConfig(strings.Join(brokers, ","), 4, prefix, partnerURL+"/p/demo")
	cfgFile, cfg := writeConfig(t, ctx, brokers, cfgText)

	const n = 30_000
	recs, _, want := generateWithReplay(t, ctx, generator.Config{Seed: 5, Devices: 3000, SingleDeviceUsers: true, MalformedRate: 0.005}, n)

	p, err := stream.NewProducer(stream.ProducerConfig{Brokers: brokers})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	msgs := make([]kafka.Message, n)
	for i, r := range recs {
		msgs[i] = kafka.Message{Topic: cfg.Topics.RawEvents, Key: r.Key, Value: r.Value}
	}
	if err := p.Produce(ctx, msgs...); err != nil {
		t.Fatal(err)
	}

	progress := sigtermProgress(ctx, brokers, cfg, partner)
	// waitFor waits until cond holds, failing the test when nothing moved
	// for sigtermStall.
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		last, lastAt, sampled := progress(), time.Now(), time.Now()
		for !cond() {
			time.Sleep(50 * time.Millisecond)
			if time.Since(sampled) < time.Second {
				continue
			}
			sampled = time.Now()
			if now := progress(); now != last {
				last, lastAt = now, sampled
			} else if time.Since(lastAt) > sigtermStall {
				u, _ := delivered()
				t.Fatalf("nothing moved for %v while waiting for %s: %d of %d postbacks delivered", sigtermStall, what, u, len(want))
			}
		}
	}

	// Each copy has a disk of its own, so the restarted one also rebuilds
	// every store from the changelogs.
	start := func(name string) *copyProc { return startCopy(t, bin, cfgFile, name, "normalize,device,user,sink") }
	first := start("first")
	// Let it work through part of the stream, then ask it to stop.
	waitFor("a quarter of the postbacks before SIGTERM", func() bool { u, _ := delivered(); return u >= len(want)/4 })
	if err := first.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := first.cmd.Wait(); err != nil {
		t.Fatalf("SIGTERM: exit %v\n%s", err, tail(first.log.String(), 3000))
	}
	atStop, _ := delivered()
	t.Logf("stopped with SIGTERM after %d of %d postbacks delivered", atStop, len(want))

	second := start("second")
	defer func() { _ = second.cmd.Process.Signal(syscall.SIGTERM); _ = second.cmd.Wait() }()
	waitFor("every postback after the restart", func() bool { u, _ := delivered(); return u >= len(want) })
	time.Sleep(2 * time.Second) // let duplicates, if any, show
	unique, total := delivered()
	for id := range partner.Keys("demo") {
		if _, ok := want[id]; !ok {
			t.Errorf("partner got postback %s that replay does not give", id)
			break
		}
	}
	t.Logf("partner: %d unique postbacks, %d calls (%d repeated)", unique, total, total-unique)
	if unique != len(want) {
		t.Errorf("partner got %d unique postbacks, want %d", unique, len(want))
	}
	if total != unique {
		t.Errorf("a clean SIGTERM must not repeat calls: %d calls for %d postbacks", total, unique)
	}
}
