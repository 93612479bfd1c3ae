//go:build integration

package sinkstage_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/postbackd/postbackd/processors/config"
	"github.com/postbackd/postbackd/processors/stream/kafkatest"
	"github.com/postbackd/postbackd/schemas"
)

// syncBuffer is a process's output, written by exec's copier goroutine
// and read by the test.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// startSink runs `postbackd run --stages sink` with its state in stateDir.
func startSink(t *testing.T, bin, cfgFile, stateDir, name string) *exec.Cmd {
	t.Helper()
	log := &syncBuffer{}
	cmd := exec.Command(bin, "run", "--config", cfgFile, "--stages", "sink", "--http", "127.0.0.1:0")
	cmd.Env = append(os.Environ(), config.EnvStateDir+"="+stateDir)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Signal(syscall.SIGTERM)
			_ = cmd.Wait()
		}
		if t.Failed() {
			out := log.String()
			t.Logf("--- log of %s:\n%s", name, out[max(0, len(out)-4000):])
		}
	})
	return cmd
}

// TestIntegrationSinkCrash runs the sink as a process, kills it with
// SIGKILL mid-run twice and starts it again: once on its own state
// directory, once on an empty one (as another host taking the partitions
// would, rebuilding the dedup state from the changelog). No postback is
// lost; a repeat at the partner, which the window between a partner's
// answer and the dedup write allows, is reported and carries the same
// Idempotency-Key as the first call.
func TestIntegrationSinkCrash(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	bin := filepath.Join(t.TempDir(), "postbackd")
	build := exec.Command("go", "build", "-o", bin, "github.com/postbackd/postbackd/cmd/postbackd")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		t.Fatalf("go build: %v", err)
	}

	var keyMismatch sync.Map
	fp := newFakePartner(t, func(_ http.ResponseWriter, r *http.Request, _ int) bool {
		if id := r.URL.Query().Get("id"); id != r.Header.Get("Idempotency-Key") {
			keyMismatch.Store(id, r.Header.Get("Idempotency-Key"))
		}
		time.Sleep(2 * time.Millisecond) // the partner's own work
		return true
	})
	text := configText(t, brokers, "", fmt.Sprintf(`
allow_private_networks: true
admin: {listen: "127.0.0.1:0"}
retry: {in_process: {max_attempts: 3, max_wait: 100ms}, tiers: [1s, 2s]}
partners:
  - id: adnet
    concurrency: 4
    rules: [{types: [install], url: "%s/pb?id={postback_id}"}]
`, fp.URL))
	cfgFile := filepath.Join(t.TempDir(), "postbackd.yaml")
	if err := os.WriteFile(cfgFile, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, sc := parseConfig(t, text)
	ensureTopics(t, ctx, cfg, len(sc.Retry.Tiers))

	const n = 3000
	recs := make([]schemas.Classified, n)
	for i := range recs {
		recs[i] = install(fmt.Sprintf("crash-%d", i), "adnet")
	}
	producer := newProducer(t, brokers)
	go func() {
		// Live-like: records keep coming while the sink dies and returns.
		// Errors are reported with Errorf: Fatal must not be called here.
		for i := 0; i < n && ctx.Err() == nil; i += 100 {
			msgs := make([]kafka.Message, 0, 100)
			for _, r := range recs[i : i+100] {
				msgs = append(msgs, kafka.Message{Topic: cfg.Topics.Classified, Key: []byte(r.PostbackID), Value: schemas.AppendClassifiedJSON(nil, &r)})
			}
			if err := producer.Produce(ctx, msgs...); err != nil {
				t.Errorf("produce: %v", err)
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	}()

	stateA := filepath.Join(t.TempDir(), "a")
	sink := startSink(t, bin, cfgFile, stateA, "first")
	for i, restart := range []struct{ name, stateDir string }{
		{"restarted on its own state", stateA},
		{"restarted on an empty state dir", filepath.Join(t.TempDir(), "b")},
	} {
		killAt := (i + 1) * n / 3
		waitFor(t, 60*time.Second, fmt.Sprintf("%d postbacks before kill %d", killAt, i+1), func() bool { return fp.acceptedCount() >= killAt })
		if err := sink.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		_ = sink.Wait()
		t.Logf("SIGKILL after %d postbacks accepted; %s", fp.acceptedCount(), restart.name)
		sink = startSink(t, bin, cfgFile, restart.stateDir, restart.name)
	}
	waitFor(t, 90*time.Second, "every postback after the restarts", func() bool { return fp.acceptedCount() >= n })
	time.Sleep(3 * time.Second) // longer than the tiers: a late repeat would show now
	if err := sink.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := sink.Wait(); err != nil {
		t.Errorf("sink after SIGTERM: %v", err)
	}

	_, accepted := fp.counts()
	missing, dups, repeats := 0, 0, 0
	for _, r := range recs {
		switch c := accepted[r.PostbackID]; {
		case c == 0:
			missing++
		case c > 1:
			dups++
			repeats += c - 1
			if dups <= 10 {
				t.Logf("duplicate at the partner: postback %s accepted %d times, each with Idempotency-Key %s", r.PostbackID, c, r.PostbackID)
			}
		}
	}
	t.Logf("%d postbacks, %d distinct accepted, %d accepted more than once (%d repeats) after two SIGKILLs", n, len(accepted), dups, repeats)
	if missing > 0 {
		t.Errorf("%d postbacks lost", missing)
	}
	if len(accepted) != n {
		t.Errorf("the partner accepted %d distinct postbacks, want %d", len(accepted), n)
	}
	keyMismatch.Range(func(id, key any) bool {
		t.Errorf("postback %s sent with Idempotency-Key %q", id, key)
		return true
	})
}
