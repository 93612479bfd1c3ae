//go:build integration

package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/postbackd/postbackd/processors/devtools/generator"
	"github.com/postbackd/postbackd/processors/domain/replay"
	"github.com/postbackd/postbackd/processors/pipeline"
	"github.com/postbackd/postbackd/processors/platform/config"
	"github.com/postbackd/postbackd/processors/platform/stream"
)

// outageFor is how long the broker stays away.
const outageFor = 30 * time.Second

// outageStall fails the test when nothing moved for this long once the
// broker is back: no classified record, no partner call, no input
// acknowledged. It bounds a wait for progress, never the run as a whole.
const outageStall = 3 * time.Minute

// TestIntegrationBrokerOutage stops the broker for 30 s in the middle of a
// run and starts it again. Two copies run every stage (normalize, device,
// user, sink) on a broker of the test's own. While the broker is away the
// copies must stay up and say so (/readyz 503, postbackd_broker_up 0, a
// warning in the log); once it is back every stage must resume by itself,
// the classified topic, deduplicated by postback_id, must equal replay of
// the same input, and the partner must get every postback.
func TestIntegrationBrokerOutage(t *testing.T) {
	if os.Getenv("KAFKA_BROKERS") == "" && os.Getenv("CI") != "true" {
		t.Skip("KAFKA_BROKERS not set: integration tests need the Kafka tools; run `make test-integration`")
	}
	broker := startPrivateBroker(t)
	brokers := []string{broker.addr}
	bin := buildBinary(t)
	ctx := context.Background()

	// The demo partner; only its counts are checked. Closed after the
	// copies (cleanups run last first).
	partner, partnerURL := startCountingPartner(t)
	// delivered is how many postbacks the partner accepted; calls how many
	// calls it got for them.
	delivered := func() int { return partner.Stats().Total.Unique }
	calls := func() int { return partner.Stats().Total.Received }
	const partitions = 4
	prefix := fmt.Sprintf("outage%d.", time.Now().UnixNano())
	cfgText := allStagesConfig(broker.addr, partitions, prefix, partnerURL+"/p/demo")
	cfgFile, cfg := writeConfig(t, ctx, brokers, cfgText)

	// The stream, each record with the arrival time it is produced with,
	// and replay's answer for it. Users stay on one device, so every
	// record, user-level ones included, must come out as replay has it.
	const n = 30_000
	msgs, want := outageStream(t, ctx, cfg.Topics.RawEvents, generator.Config{Seed: 23, Devices: 3000, SingleDeviceUsers: true, MalformedRate: 0.005}, n)

	copies := []*outageCopy{
		startOutageCopy(t, bin, cfgFile, "a", broker.addr),
		startOutageCopy(t, bin, cfgFile, "b", broker.addr),
	}
	p, err := stream.NewProducer(stream.ProducerConfig{Brokers: brokers})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	var acked atomic.Int64 // input records acknowledged
	produce := func(part []kafka.Message) error {
		for i := 0; i < len(part); i += 1000 {
			chunk := part[i:min(i+1000, len(part))]
			if err := p.Produce(ctx, chunk...); err != nil {
				return err
			}
			acked.Add(int64(len(chunk)))
		}
		return nil
	}
	if err := produce(msgs[:n/2]); err != nil {
		t.Fatal(err)
	}

	seen := newOutageSeen(t, ctx, brokers, cfg.Topics.Classified, partitions)
	defer seen.stop()
	progress := func() int64 { return seen.total() + int64(calls()) + acked.Load() }
	// waitFor waits for cond, failing the test when a copy exits or
	// nothing moved for outageStall.
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		last, lastAt := progress(), time.Now()
		for !cond() {
			for _, c := range copies {
				if err := c.exited(); err != nil {
					t.Fatalf("copy %s exited while waiting for %s: %v", c.name, what, err)
				}
			}
			if now := progress(); now != last {
				last, lastAt = now, time.Now()
			} else if time.Since(lastAt) > outageStall {
				t.Fatalf("nothing moved for %s while waiting for %s: %d/%d classified, %d/%d delivered, %d/%d input acknowledged",
					outageStall, what, seen.distinct(), len(want), delivered(), len(want), acked.Load(), n)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	// Mid-run: part of the first half classified and delivered.
	waitFor("a quarter of the output", func() bool { return seen.distinct() >= len(want)/4 && delivered() > 0 })
	for _, c := range copies {
		waitFor("copy "+c.name+" ready", func() bool { ok, _ := c.ready(); return ok })
	}

	before := sumStageInputs(t, copies)
	t.Logf("stopping the broker: %d/%d classified, %d/%d delivered; records in by stage: %v",
		seen.distinct(), len(want), delivered(), len(want), before)
	broker.run(t, "stop")
	stoppedAt := time.Now()
	// The second half is produced while the broker is away: the test's
	// producer pauses too, and every stage must take it after the outage.
	produced := make(chan error, 1)
	go func() { produced <- produce(msgs[n/2:]) }()

	notReady := map[string]string{}
	brokerDown := map[string]bool{}
	for time.Since(stoppedAt) < outageFor {
		for _, c := range copies {
			if err := c.exited(); err != nil {
				t.Fatalf("copy %s exited while the broker was away: %v", c.name, err)
			}
			if _, noted := notReady[c.name]; !noted {
				if ok, why := c.ready(); !ok {
					notReady[c.name] = why
				}
			}
			if !brokerDown[c.name] {
				brokerDown[c.name] = c.metric("postbackd_broker_up") == "0"
			}
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Logf("while the broker was away: /readyz %v; postbackd_broker_up 0: %v", notReady, brokerDown)
	broker.run(t, "start")
	t.Logf("broker back after %s", time.Since(stoppedAt).Round(time.Second))
	if got := broker.env(t); got != broker.addr {
		t.Fatalf("the broker came back on %s, not %s", got, broker.addr)
	}

	waitFor("the second half acknowledged", func() bool { return acked.Load() == n })
	if err := <-produced; err != nil {
		t.Fatalf("producing the second half across the outage: %v", err)
	}
	waitFor("every record classified and delivered", func() bool {
		return seen.distinct() >= len(want) && delivered() >= len(want)
	})
	for _, c := range copies {
		waitFor("copy "+c.name+" ready again", func() bool { ok, _ := c.ready(); return ok })
	}
	time.Sleep(3 * time.Second) // let extras and repeats, if any, show
	seen.stop()

	for _, c := range copies {
		if err := c.exited(); err != nil {
			t.Errorf("copy %s exited: %v", c.name, err)
		}
		if why, ok := notReady[c.name]; !ok {
			t.Errorf("copy %s: /readyz never said not ready while the broker was away", c.name)
		} else {
			t.Logf("copy %s /readyz while away: %s", c.name, why)
		}
		if !brokerDown[c.name] {
			t.Errorf("copy %s: postbackd_broker_up never 0 while the broker was away", c.name)
		}
		logs := c.logs()
		if !strings.Contains(logs, "kafka broker unreachable") || !strings.Contains(logs, "kafka broker answers again") {
			t.Errorf("copy %s: no outage and recovery lines in the log", c.name)
		}
	}
	// Every stage took input after the outage.
	after := sumStageInputs(t, copies)
	for _, stage := range pipeline.StageNames {
		if after[stage] <= before[stage] {
			t.Errorf("stage %s read nothing after the outage: %v records in before, %v after", stage, before[stage], after[stage])
		}
	}
	t.Logf("records in by stage after: %v", after)

	seen.check(t, want)
	unique, total := delivered(), calls()
	for id := range partner.Keys("demo") {
		if _, ok := want[id]; !ok {
			t.Errorf("partner got postback %s that replay does not give", id)
			break
		}
	}
	if unique != len(want) {
		t.Errorf("partner got %d unique postbacks, want %d", unique, len(want))
	}
	t.Logf("classified: %d records read, %d distinct; partner: %d unique postbacks, %d calls (%d repeated)",
		seen.total(), seen.distinct(), unique, total, total-unique)
}

// privateBroker is a broker of one test, in a state dir of its own: it can
// be stopped and started without touching the broker other tests share.
type privateBroker struct {
	state, addr string
}

func startPrivateBroker(t *testing.T) *privateBroker {
	t.Helper()
	b := &privateBroker{state: filepath.Join(t.TempDir(), "kafka")}
	line := b.run(t, "up")
	b.addr = strings.TrimPrefix(strings.TrimSpace(line), "KAFKA_BROKERS=")
	t.Cleanup(func() { b.run(t, "down") })
	return b
}

func (b *privateBroker) script() string {
	return filepath.Join("..", "..", "scripts", "kafka.sh")
}

// run runs kafka.sh cmd on the broker's state dir and returns its stdout.
func (b *privateBroker) run(t *testing.T, cmd string) string {
	t.Helper()
	c := exec.Command(b.script(), cmd)
	c.Env = append(withoutEnv(os.Environ(), "KAFKA_PORT", "KAFKA_CLUSTER_ID"), "KAFKA_STATE_DIR="+b.state)
	var stderr bytes.Buffer
	c.Stderr = &stderr
	out, err := c.Output()
	if err != nil {
		t.Fatalf("kafka.sh %s: %v\n%s", cmd, err, stderr.String())
	}
	t.Logf("kafka.sh %s: %s", cmd, strings.TrimSpace(stderr.String()))
	return string(out)
}

func (b *privateBroker) env(t *testing.T) string {
	return strings.TrimPrefix(strings.TrimSpace(b.run(t, "env")), "KAFKA_BROKERS=")
}

func withoutEnv(env []string, names ...string) []string {
	var out []string
	for _, kv := range env {
		keep := true
		for _, n := range names {
			keep = keep && !strings.HasPrefix(kv, n+"=")
		}
		if keep {
			out = append(out, kv)
		}
	}
	return out
}

// outageStream generates n raw records with their arrival times and returns
// them as messages for topic, and replay's output for them by postback_id.
func outageStream(t *testing.T, ctx context.Context, topic string, gc generator.Config, n int) ([]kafka.Message, map[string]string) {
	t.Helper()
	g := generator.New(gc)
	base := time.Now().UTC().Truncate(time.Millisecond)
	msgs := make([]kafka.Message, n)
	var in bytes.Buffer
	for i := range msgs {
		r := g.Next()
		at := base.Add(time.Duration(i) * time.Millisecond)
		msgs[i] = kafka.Message{Topic: topic, Key: r.Key, Value: r.Value, Time: at}
		line := r
		if len(r.Value) > 1 && r.Value[0] == '{' {
			line.Value = append([]byte(`{"received_at":"`+at.Format(time.RFC3339Nano)+`",`), r.Value[1:]...)
		}
		in.Write(generator.AppendJSONLine(nil, line))
	}
	var out, rejects bytes.Buffer
	if _, err := replay.Run(ctx, replay.Config{}, &in, &out, &rejects); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var c classifiedLine
		if err := json.Unmarshal([]byte(l), &c); err != nil {
			t.Fatal(err)
		}
		want[c.PostbackID] = l
	}
	return msgs, want
}

// outageCopy is one `postbackd run` of every stage, with its log kept
// behind a lock (it is read while the copy runs) and its exit watched.
type outageCopy struct {
	name, http string
	dir        string // its state_dir
	cmd        *exec.Cmd
	mu         sync.Mutex
	log        bytes.Buffer
	done       chan struct{}
	waitErr    error
}

func (c *outageCopy) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.log.Write(p)
}

func (c *outageCopy) logs() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.log.String()
}

// exited returns why the copy ended, or nil while it runs.
func (c *outageCopy) exited() error {
	select {
	case <-c.done:
		if c.waitErr == nil {
			return fmt.Errorf("exit 0")
		}
		return c.waitErr
	default:
		return nil
	}
}

func startOutageCopy(t *testing.T, bin, cfgFile, name, brokers string) *outageCopy {
	t.Helper()
	c := &outageCopy{name: name, http: freeAddr(t), dir: filepath.Join(t.TempDir(), name), done: make(chan struct{})}
	c.cmd = exec.Command(bin, "run", "--config", cfgFile, "--stages", strings.Join(pipeline.StageNames, ","), "--http", c.http)
	c.cmd.Env = append(withoutEnv(os.Environ(), config.EnvBrokers, config.EnvStateDir),
		config.EnvStateDir+"="+c.dir, config.EnvBrokers+"="+brokers)
	c.cmd.Stdout, c.cmd.Stderr = c, c
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		c.waitErr = c.cmd.Wait()
		close(c.done)
	}()
	t.Cleanup(func() {
		if c.exited() == nil {
			_ = c.cmd.Process.Signal(syscall.SIGTERM)
			<-c.done
		}
		if t.Failed() {
			t.Logf("--- log of %s:\n%s", name, tail(c.logs(), 6000))
		}
	})
	return c
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

var healthClient = &http.Client{Timeout: 5 * time.Second}

// ready asks the copy's /readyz; a copy not yet listening is not ready.
func (c *outageCopy) ready() (bool, string) {
	res, err := healthClient.Get("http://" + c.http + "/readyz")
	if err != nil {
		return false, err.Error()
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return res.StatusCode == http.StatusOK, strings.TrimSpace(string(body))
}

// metrics returns the copy's /metrics as series -> value.
func (c *outageCopy) metrics() map[string]string {
	out := map[string]string{}
	res, err := healthClient.Get("http://" + c.http + "/metrics")
	if err != nil {
		return out
	}
	defer res.Body.Close()
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		if i := strings.LastIndexByte(line, ' '); i > 0 {
			out[line[:i]] = line[i+1:]
		}
	}
	return out
}

func (c *outageCopy) metric(series string) string { return c.metrics()[series] }

// sumStageInputs adds up postbackd_records_in_total per stage over copies.
func sumStageInputs(t *testing.T, copies []*outageCopy) map[string]float64 {
	t.Helper()
	sum := map[string]float64{}
	for _, c := range copies {
		for series, v := range c.metrics() {
			for _, stage := range pipeline.StageNames {
				if series == `postbackd_records_in_total{stage="`+stage+`"}` {
					f, err := strconv.ParseFloat(v, 64)
					if err != nil {
						t.Fatalf("%s %s: %v", series, v, err)
					}
					sum[stage] += f
				}
			}
		}
	}
	return sum
}

// outageSeen reads the classified topic from the start, across the outage
// (a kafka-go reader reports a failed connection and goes on by itself).
type outageSeen struct {
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	mu       sync.Mutex
	byID     map[string]string
	differ   map[string][2]string // postback_id -> two different contents
	read     int64
	stopOnce sync.Once
}

func newOutageSeen(t *testing.T, ctx context.Context, brokers []string, topic string, partitions int) *outageSeen {
	t.Helper()
	ctx, cancel := context.WithCancel(ctx)
	s := &outageSeen{cancel: cancel, byID: map[string]string{}, differ: map[string][2]string{}}
	for part := range partitions {
		r := kafka.NewReader(kafka.ReaderConfig{Brokers: brokers, Topic: topic, Partition: part, MaxWait: 100 * time.Millisecond, MaxBytes: 4 << 20})
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer r.Close()
			for {
				m, err := r.FetchMessage(ctx)
				if ctx.Err() != nil {
					return
				}
				if err != nil {
					time.Sleep(200 * time.Millisecond)
					continue
				}
				s.add(t, m.Value)
			}
		}()
	}
	return s
}

func (s *outageSeen) add(t *testing.T, v []byte) {
	var c classifiedLine
	if err := json.Unmarshal(v, &c); err != nil {
		t.Errorf("classified record %q: %v", v, err)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.read++
	if prev, ok := s.byID[c.PostbackID]; ok && prev != string(v) {
		s.differ[c.PostbackID] = [2]string{prev, string(v)}
	}
	s.byID[c.PostbackID] = string(v)
}

func (s *outageSeen) distinct() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.byID)
}

func (s *outageSeen) total() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.read
}

func (s *outageSeen) stop() {
	s.stopOnce.Do(func() {
		s.cancel()
		s.wg.Wait()
	})
}

// check compares what was read, deduplicated by postback_id, with replay's.
func (s *outageSeen) check(t *testing.T, want map[string]string) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, pair := range s.differ {
		t.Errorf("postback_id %s came out with two contents:\n%s\n%s", id, pair[0], pair[1])
		break
	}
	missing, differ := 0, 0
	for id, line := range want {
		got, ok := s.byID[id]
		switch {
		case !ok:
			if missing++; missing <= 3 {
				t.Errorf("missing: %s", line)
			}
		case got != line:
			if differ++; differ <= 3 {
				t.Errorf("record %s:\n got %s\nwant %s", id, got, line)
			}
		}
	}
	extra := 0
	for id, line := range s.byID {
		if _, ok := want[id]; !ok {
			if extra++; extra <= 3 {
				t.Errorf("extra: %s", line)
			}
		}
	}
	if missing+differ+extra > 0 {
		t.Errorf("classified vs replay: %d missing, %d different, %d extra of %d", missing, differ, extra, len(want))
	}
}
