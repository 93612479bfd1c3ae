//go:build integration

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"golang.org/x/sync/errgroup"

	"github.com/postbackd/postbackd/processors/config"
	"github.com/postbackd/postbackd/processors/generator"
	"github.com/postbackd/postbackd/processors/stream"
	"github.com/postbackd/postbackd/processors/stream/kafkatest"
	"github.com/postbackd/postbackd/schemas"
)

const crashPartitions = 6

// buildBinary compiles postbackd once per test into a temp dir.
func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "postbackd")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("go build: %v", err)
	}
	return bin
}

type copyProc struct {
	name string
	cmd  *exec.Cmd
	log  *bytes.Buffer
}

func startCopy(t *testing.T, bin, cfgFile, name, stages string) *copyProc {
	t.Helper()
	var log bytes.Buffer
	cmd := exec.Command(bin, "run", "--config", cfgFile, "--stages", stages, "--http", "127.0.0.1:0")
	cmd.Env = append(os.Environ(), config.EnvStateDir+"="+filepath.Join(t.TempDir(), name))
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &copyProc{name: name, cmd: cmd, log: &log}
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			_ = p.cmd.Process.Signal(syscall.SIGTERM)
			_ = p.cmd.Wait()
		}
		if t.Failed() {
			t.Logf("--- log of %s:\n%s", name, tail(log.String(), 4000))
		}
	})
	return p
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

type classifiedLine struct {
	PostbackID string `json:"postback_id"`
	Type       string `json:"type"`
	AppID      string `json:"app_id"`
	UserID     string `json:"user_id"`
}

func isUserLevel(typ string) bool {
	return typ == schemas.TypeNewUser || typ == schemas.TypeReengagementUser
}

// TestIntegrationScaleOutAndCrash runs the classification stages as three
// copies in one group; one is killed with SIGKILL mid-run and another
// started. Device-level output, deduplicated by postback_id, must equal
// replay's exactly; every user gets exactly one new_user.
func TestIntegrationScaleOutAndCrash(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	bin := buildBinary(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()

	prefix := fmt.Sprintf("crash%d.", time.Now().UnixNano())
	cfgText := fmt.Sprintf("kafka:\n  brokers: [%s]\n  partitions: %d\n  group_prefix: %sg\ntopics:\n  prefix: %s\nclassified_format: json\n",
		strings.Join(brokers, ","), crashPartitions, prefix, prefix)
	cfgFile, cfg := writeConfig(t, ctx, brokers, cfgText)

	// Replay's answer for the same stream.
	const n = 100_000
	recs, records, lines := generateWithReplay(t, ctx, generator.Config{Seed: 11, Devices: 8000, MalformedRate: 0.005}, n)
	wantDevice := make(map[string]string)
	wantUsers := make(map[string]bool)
	for _, c := range records {
		if c.Type == schemas.TypeNewUser {
			wantUsers[c.AppID+"\x00"+c.UserID] = true
		}
		if !isUserLevel(c.Type) {
			wantDevice[c.PostbackID] = lines[c.PostbackID]
		}
	}

	copies := []*copyProc{
		startCopy(t, bin, cfgFile, "a", "normalize,device,user"),
		startCopy(t, bin, cfgFile, "b", "normalize,device,user"),
		startCopy(t, bin, cfgFile, "c", "normalize,device,user"),
	}
	p, err := stream.NewProducer(stream.ProducerConfig{Brokers: brokers})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	// produce may run on another goroutine, so it reports with Error and
	// cancels the wait rather than calling Fatal.
	produce := func(part []generator.Record) {
		msgs := make([]kafka.Message, len(part))
		for i, r := range part {
			msgs[i] = kafka.Message{Topic: cfg.Topics.RawEvents, Key: r.Key, Value: r.Value}
		}
		for i := 0; i < len(msgs); i += 5000 {
			if err := p.Produce(ctx, msgs[i:min(i+5000, len(msgs))]...); err != nil {
				t.Errorf("produce: %v", err)
				cancel()
				return
			}
		}
	}

	var (
		gotDevice   = make(map[string]string)
		newUsers    = make(map[string]map[string]bool) // (app,user) -> new_user postback ids
		total       int
		allIDs      = make(map[string]bool)
		killed      bool
		readerGroup errgroup.Group
	)
	values := make(chan []byte, 4096)
	readCtx, stopReading := context.WithCancel(ctx)
	defer stopReading()
	for part := 0; part < crashPartitions; part++ {
		r := kafka.NewReader(kafka.ReaderConfig{Brokers: brokers, Topic: cfg.Topics.Classified, Partition: part, MaxWait: 100 * time.Millisecond, MaxBytes: 4 << 20})
		readerGroup.Go(func() error {
			defer r.Close()
			for {
				m, err := r.ReadMessage(readCtx)
				if err != nil {
					return nil
				}
				select {
				case values <- m.Value:
				case <-readCtx.Done():
					return nil
				}
			}
		})
	}
	defer readerGroup.Wait()

	produce(recs[:n/2])
	complete := func() bool {
		if len(gotDevice) < len(wantDevice) || len(newUsers) < len(wantUsers) {
			return false
		}
		return true
	}
	var settleUntil time.Time
	for {
		select {
		case v := <-values:
			total++
			var c classifiedLine
			if err := json.Unmarshal(v, &c); err != nil {
				t.Fatalf("classified record %q: %v", v, err)
			}
			allIDs[c.PostbackID] = true
			if c.Type == schemas.TypeNewUser {
				k := c.AppID + "\x00" + c.UserID
				if newUsers[k] == nil {
					newUsers[k] = make(map[string]bool)
				}
				newUsers[k][c.PostbackID] = true
			} else if !isUserLevel(c.Type) {
				gotDevice[c.PostbackID] = string(v)
			}
			if !killed && total >= 20_000 {
				// Mid-run: kill one copy outright, start another, then send
				// the rest of the stream.
				killed = true
				if err := copies[0].cmd.Process.Signal(syscall.SIGKILL); err != nil {
					t.Fatal(err)
				}
				_ = copies[0].cmd.Wait()
				t.Logf("killed copy a (SIGKILL) after %d classified records", total)
				copies = append(copies, startCopy(t, bin, cfgFile, "d", "normalize,device,user"))
				go produce(recs[n/2:])
			}
			if killed && settleUntil.IsZero() && complete() {
				settleUntil = time.Now().Add(3 * time.Second) // let stragglers and extras show
			}
		case <-time.After(200 * time.Millisecond):
		case <-ctx.Done():
			stopReading()
			reportMissing(t, brokers, cfg.Topics.EventsByDevice, wantDevice, gotDevice)
			t.Fatalf("timed out: %d/%d device-level records, %d/%d users; %d read", len(gotDevice), len(wantDevice), len(newUsers), len(wantUsers), total)
		}
		if !settleUntil.IsZero() && time.Now().After(settleUntil) {
			break
		}
	}
	stopReading()

	t.Logf("classified: %d records read, %d distinct postback_ids (%d device-level), %d users; duplicate postback_ids before dedup: %d",
		total, len(allIDs), len(gotDevice), len(newUsers), total-len(allIDs))
	for id, line := range wantDevice {
		if gotDevice[id] != line {
			t.Errorf("device-level record %s:\n got %s\nwant %s", id, gotDevice[id], line)
			break
		}
	}
	for id, line := range gotDevice {
		if _, ok := wantDevice[id]; !ok {
			t.Errorf("extra device-level record: %s", line)
			break
		}
	}
	for k, ids := range newUsers {
		if len(ids) != 1 {
			t.Errorf("user %q got %d distinct new_user records, want 1", k, len(ids))
		}
		if !wantUsers[k] {
			t.Errorf("new_user for %q, which replay never saw", k)
		}
	}
	if len(newUsers) != len(wantUsers) {
		t.Errorf("%d users got new_user, want %d", len(newUsers), len(wantUsers))
	}
}

// reportMissing tells, for some device-level records replay gives and the
// pipeline did not, whether their event reached events.by-device: it
// places a loss before or after normalize.
func reportMissing(t *testing.T, brokers []string, byDevice string, want, got map[string]string) {
	t.Helper()
	missing := make(map[string]string) // event_id -> line
	for id, line := range want {
		if _, ok := got[id]; !ok {
			var c struct {
				EventID  string `json:"event_id"`
				DeviceID string `json:"device_id"`
			}
			_ = json.Unmarshal([]byte(line), &c)
			missing[c.EventID] = line
		}
	}
	seen := make(map[string]int)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for p := 0; p < crashPartitions; p++ {
		conn, err := kafka.DialLeader(ctx, "tcp", brokers[0], byDevice, p)
		if err != nil {
			t.Log(err)
			continue
		}
		_, end, _ := conn.ReadOffsets()
		conn.Close()
		r := kafka.NewReader(kafka.ReaderConfig{Brokers: brokers, Topic: byDevice, Partition: p, MaxBytes: 8 << 20})
		for {
			m, err := r.ReadMessage(ctx)
			if err != nil {
				break
			}
			in, err := schemas.DecodeInput(m.Value)
			if err == nil && in.Event != nil {
				if _, ok := missing[in.Event.EventID]; ok {
					seen[in.Event.EventID]++
					if seen[in.Event.EventID] == 1 && len(seen) <= 5 {
						t.Logf("missing record's event %s on %s/%d at offset %d of %d", in.Event.EventID, byDevice, p, m.Offset, end)
					}
				}
			}
			if m.Offset+1 >= end {
				break
			}
		}
		r.Close()
	}
	n := 0
	for id, line := range missing {
		if seen[id] == 0 && n < 5 {
			t.Logf("missing record's event never reached %s: %s", byDevice, line)
			n++
		}
	}
	t.Logf("%d events with missing records; %d of them reached %s", len(missing), len(seen), byDevice)
}
