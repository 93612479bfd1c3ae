//go:build integration

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/postbackd/postbackd/processors/platform/config"
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

// startCopy starts a copy of postbackd run on an empty state dir.
func startCopy(t *testing.T, bin, cfgFile, name, stages string) *copyProc {
	t.Helper()
	return startCopyIn(t, bin, cfgFile, name, stages, filepath.Join(t.TempDir(), name))
}

// startCopyIn starts a copy on the state dir stateDir (a killed copy's, to
// restart it on what it left).
func startCopyIn(t *testing.T, bin, cfgFile, name, stages, stateDir string) *copyProc {
	t.Helper()
	var log bytes.Buffer
	cmd := exec.Command(bin, "run", "--config", cfgFile, "--stages", stages, "--http", "127.0.0.1:0")
	cmd.Env = append(os.Environ(), config.EnvStateDir+"="+stateDir)
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
	DeviceID   string `json:"device_id"`
	EventID    string `json:"event_id"`
}

func isUserLevel(typ string) bool {
	return typ == schemas.TypeNewUser || typ == schemas.TypeReengagementUser
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
