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
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/postbackd/postbackd/processors/devtools/demopartner"
	"github.com/postbackd/postbackd/processors/platform/config"
	"github.com/postbackd/postbackd/processors/platform/stream/kafkatest"
	"github.com/postbackd/postbackd/schemas"
	"github.com/postbackd/postbackd/sinks/sinkstage"
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
// lost, and a kill repeats at most the calls that were in flight when it
// came: at most the partner's concurrency, each with the same
// Idempotency-Key as the first call. A process repeats none of its own
// calls.
//
// It waits for progress, not for a time: each wait fails only when the
// partner has seen no new request and the sink's group no new commit for
// crashStall.
func TestIntegrationSinkCrash(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	bin := filepath.Join(t.TempDir(), "postbackd")
	build := exec.Command("go", "build", "-o", bin, "github.com/postbackd/postbackd/cmd/postbackd")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		t.Fatalf("go build: %v", err)
	}

	var keyMismatch sync.Map
	// Which process sent each request: each one's rule puts its number in
	// the path (/p/adnet/pb/<run>), so a repeat is charged to the kill that
	// ended the process that made the call before it, whatever the timing.
	senders := &runsByKey{runs: make(map[string][]int)}
	fp, fpURL := newPartner(t)
	fp.SetFault("adnet", demopartner.Fault{Answer: func(_ http.ResponseWriter, r *http.Request, _ int) bool {
		if id := r.URL.Query().Get("id"); id != r.Header.Get("Idempotency-Key") {
			keyMismatch.Store(id, r.Header.Get("Idempotency-Key"))
		}
		run, err := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/p/adnet/pb/"))
		if err != nil {
			t.Errorf("request for %s without a run number", r.URL.Path)
		}
		senders.add(r.Header.Get("Idempotency-Key"), run)
		time.Sleep(2 * time.Millisecond) // the partner's own work
		return false                     // then a 200, even to a sink killed meanwhile: the partner has the postback
	}})
	const concurrency = 4
	text := configText(t, brokers, "", fmt.Sprintf(`
allow_private_networks: true
admin: {listen: "127.0.0.1:0"}
retry: {in_process: {max_attempts: 3, max_wait: 100ms}, tiers: [1s, 2s]}
partners:
  - id: adnet
    concurrency: %d
    rules: [{types: [install], url: "%s/p/adnet/pb/RUN?id={postback_id}"}]
`, concurrency, fpURL))
	// cfgFile(run) is the config of process number run.
	cfgDir := t.TempDir()
	cfgFile := func(run int) string {
		f := filepath.Join(cfgDir, fmt.Sprintf("postbackd-%d.yaml", run))
		if err := os.WriteFile(f, []byte(strings.ReplaceAll(text, "/pb/RUN?", fmt.Sprintf("/pb/%d?", run))), 0o600); err != nil {
			t.Fatal(err)
		}
		return f
	}
	cfg, sc := parseConfig(t, text)
	ensureTopics(t, ctx, cfg, sc)
	group := cfg.Kafka.GroupPrefix + "." + sinkstage.StageName + ".adnet"
	fanout := cfg.Kafka.GroupPrefix + "." + sinkstage.FanoutName
	classified := []string{cfg.Topics.Classified}
	topics := []string{sinkstage.JobsTopic(cfg.Topics, "adnet")}
	for i := range sc.Retry.Tiers {
		topics = append(topics, sinkstage.RetryTopic(cfg.Topics, i))
	}

	const n = 3000
	recs := make([]schemas.Classified, n)
	for i := range recs {
		recs[i] = install(fmt.Sprintf("crash-%d", i), "adnet")
	}
	producer := newProducer(t, brokers)
	produced := make(chan struct{})
	go func() {
		defer close(produced)
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
	// progress moves while the sink works: requests at the partner and
	// offsets the sink's group commits.
	progress := func() int64 {
		return int64(fp.Stats().Total.Received) + committedSum(ctx, brokers, group, topics) + committedSum(ctx, brokers, fanout, classified)
	}

	stateA := filepath.Join(t.TempDir(), "a")
	sink := startSink(t, bin, cfgFile(0), stateA, "first")
	for i, restart := range []struct{ name, stateDir string }{
		{"restarted on its own state", stateA},
		{"restarted on an empty state dir", filepath.Join(t.TempDir(), "b")},
	} {
		// Mid-chunk (the records come 100 at a time): the sink is busy,
		// with calls in flight, rather than idle waiting for the next.
		killAt := (i+1)*n/3 + 50
		waitProgress(t, fmt.Sprintf("%d postbacks before kill %d", killAt, i+1), progress, func() bool { return acceptedCount(fp, "adnet") >= killAt })
		if err := sink.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		_ = sink.Wait()
		t.Logf("SIGKILL after %d postbacks accepted; %s", acceptedCount(fp, "adnet"), restart.name)
		sink = startSink(t, bin, cfgFile(i+1), restart.stateDir, restart.name)
	}
	// Done when every postback is accepted, the fan-out has committed the
	// end of the classified topic and the partner's group the end of its
	// jobs topic and of every tier: nothing is left that could still be
	// sent, a late repeat included.
	waitProgress(t, "every postback after the restarts, and the sink caught up", progress, func() bool {
		select {
		case <-produced:
		default:
			return false
		}
		return acceptedCount(fp, "adnet") >= n && groupLag(ctx, brokers, group, topics) == 0 && groupLag(ctx, brokers, fanout, classified) == 0
	})
	if err := sink.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := sink.Wait(); err != nil {
		t.Errorf("sink after SIGTERM: %v", err)
	}

	_, accepted := counts(fp, "adnet")
	missing, dups := 0, 0
	for _, r := range recs {
		switch c := accepted[r.PostbackID]; {
		case c == 0:
			missing++
		case c > 1:
			dups++
		}
	}
	perKill, unkilled := senders.repeats(2)
	t.Logf("%d postbacks, %d distinct accepted, %d requested more than once; repeats without a kill %d, of kill 1 %d, of kill 2 %d (concurrency %d)",
		n, len(accepted), dups, unkilled, perKill[0], perKill[1], concurrency)
	if missing > 0 {
		t.Errorf("%d postbacks lost", missing)
	}
	if len(accepted) != n {
		t.Errorf("the partner accepted %d distinct postbacks, want %d", len(accepted), n)
	}
	if unkilled > 0 {
		t.Errorf("%d repeats by the process that made the first call, want none", unkilled)
	}
	for i, r := range perKill {
		if r > concurrency {
			t.Errorf("kill %d repeated %d calls, want at most the partner's concurrency %d", i+1, r, concurrency)
		}
	}
	keyMismatch.Range(func(id, key any) bool {
		t.Errorf("postback %s sent with Idempotency-Key %q", id, key)
		return true
	})
}

// crashStall is how long a wait of the crash test accepts no progress at
// all: longer than a group's session timeout and rebalance after a
// SIGKILL together, so that only a sink that is stuck fails it.
const crashStall = 2 * time.Minute

// waitProgress polls done until it holds; it fails when progress has not
// changed for crashStall.
func waitProgress(t *testing.T, what string, progress func() int64, done func() bool) {
	t.Helper()
	last, lastAt := progress(), time.Now()
	for !done() {
		if p := progress(); p != last {
			last, lastAt = p, time.Now()
		} else if time.Since(lastAt) > crashStall {
			t.Fatalf("no progress for %v waiting for %s", crashStall, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// runsByKey records, per Idempotency-Key, the number of the process that
// sent each request.
type runsByKey struct {
	mu   sync.Mutex
	runs map[string][]int
}

func (r *runsByKey) add(key string, run int) {
	r.mu.Lock()
	r.runs[key] = append(r.runs[key], run)
	r.mu.Unlock()
}

// repeats counts the repeated requests (every request for a postback after
// its first) per kill: a repeat by process r+1 or later of a call process
// r made belongs to kill r+1, which ended process r with that call in
// flight or not recorded; perKill[k-1] is kill k's. A process that sends a
// postback twice repeats it with no kill: unkilled.
func (r *runsByKey) repeats(kills int) (perKill []int, unkilled int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	perKill = make([]int, kills)
	for _, runs := range r.runs {
		runs = slices.Sorted(slices.Values(runs))
		for i := 1; i < len(runs); i++ {
			if prev := runs[i-1]; runs[i] == prev {
				unkilled++
			} else if prev < kills {
				perKill[prev]++
			}
		}
	}
	return perKill, unkilled
}

// groupOffsets returns, per topic, the end offset of each partition and
// the offset group has committed there (-1: none). An error (a leader
// not elected yet, a coordinator moving) is for the caller to ask again.
func groupOffsets(ctx context.Context, brokers []string, group string, topics []string) (end, committed map[string][]int64, err error) {
	c := &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 10 * time.Second}
	req := &kafka.ListOffsetsRequest{Topics: make(map[string][]kafka.OffsetRequest)}
	fetch := &kafka.OffsetFetchRequest{GroupID: group, Topics: make(map[string][]int)}
	for _, tp := range topics {
		for p := range testPartitions {
			req.Topics[tp] = append(req.Topics[tp], kafka.LastOffsetOf(p))
			fetch.Topics[tp] = append(fetch.Topics[tp], p)
		}
	}
	lo, err := c.ListOffsets(ctx, req)
	if err != nil {
		return nil, nil, err
	}
	of, err := c.OffsetFetch(ctx, fetch)
	if err != nil {
		return nil, nil, err
	}
	if of.Error != nil {
		return nil, nil, of.Error
	}
	end, committed = make(map[string][]int64), make(map[string][]int64)
	for _, tp := range topics {
		end[tp], committed[tp] = make([]int64, testPartitions), make([]int64, testPartitions)
		for _, po := range lo.Topics[tp] {
			if po.Error != nil {
				return nil, nil, po.Error
			}
			end[tp][po.Partition] = po.LastOffset
		}
		for p := range committed[tp] {
			committed[tp][p] = -1
		}
		for _, po := range of.Topics[tp] {
			if po.Error != nil {
				return nil, nil, po.Error
			}
			committed[tp][po.Partition] = po.CommittedOffset
		}
	}
	return end, committed, nil
}

// groupLag is how many records of topics group has not committed yet
// (-1: not known now).
func groupLag(ctx context.Context, brokers []string, group string, topics []string) int64 {
	end, committed, err := groupOffsets(ctx, brokers, group, topics)
	if err != nil {
		return -1
	}
	var lag int64
	for tp, ends := range end {
		for p, e := range ends {
			lag += e - max(committed[tp][p], 0)
		}
	}
	return lag
}

// committedSum is the sum of group's committed offsets over topics, a
// figure that grows as the group works (-1: not known now).
func committedSum(ctx context.Context, brokers []string, group string, topics []string) int64 {
	_, committed, err := groupOffsets(ctx, brokers, group, topics)
	if err != nil {
		return -1
	}
	var sum int64
	for _, cs := range committed {
		for _, c := range cs {
			sum += max(c, 0)
		}
	}
	return sum
}
