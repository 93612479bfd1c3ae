//go:build integration

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/postbackd/postbackd/processors/devtools/generator"
	"github.com/postbackd/postbackd/processors/devtools/testkit"
	"github.com/postbackd/postbackd/processors/devtools/testkit/traffic"
	"github.com/postbackd/postbackd/processors/platform/stream"
	"github.com/postbackd/postbackd/processors/platform/stream/kafkatest"
	"github.com/postbackd/postbackd/schemas"
)

// chaosStall is how long the classified topic may stay silent, while
// records are still missing, before the test gives up: the test waits for
// progress, never for a budget of the whole run, so a slow machine only
// makes it slower.
const chaosStall = 3 * time.Minute

// TestIntegrationChaos is the exactly-once test of docs/ARCHITECTURE.md
// ("Delivery semantics"): three copies of the classification stages share
// a stream whose devices' events lie weeks apart, far beyond the 7-day
// dedup horizon, with users on one device and across devices, a few device
// clocks set to 2099 and malformed records. While it flows, copy a is
// SIGKILLed and restarted on the state it left, copy b is SIGKILLed and
// replaced by a copy on an empty state dir, and copy c is stopped with
// SIGTERM and started again. The classified topic, deduplicated by
// postback_id, must equal `postbackd replay` of the same records in
// arrival order: every device-level record and every record of a user seen
// on one device; a user seen on several devices gets exactly one new_user.
// No postback_id may ever appear with two contents, and the deadletter
// must hold exactly the malformed records.
func TestIntegrationChaos(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	bin := buildBinary(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	cfgText := classifyConfig(brokers, "chaos")
	cfgFile, cfg := writeConfig(t, ctx, brokers, cfgText)

	// 600 devices at the widest session gaps the generator makes: a
	// device's consecutive events are days to weeks apart, the stream
	// advances about an hour a record, and the records a stage repeats
	// after a kill (up to a batch, 1,000 records) belong to devices that
	// have since moved on by more than the dedup horizon. Everything lies
	// in the past of the arrival times, but for the 2099 clocks.
	const n, devices = 60_000, 600
	gc := generator.Config{
		Seed: 23, Devices: devices, MalformedRate: 0.005, MultiDeviceUsers: 0.15,
		TimeCompression: 20 * 24 * time.Hour / devices,
		Start:           time.Now().UTC().AddDate(-8, 0, 0).Truncate(24 * time.Hour),
	}
	s := newChaosStream(t, ctx, gc, n)
	t.Logf("stream: %d records from %s to %s, %d malformed, %d with a 2099 clock; replay: %d device-level records, %d users (%d on several devices)",
		n, s.Records[0].Time.Format(time.DateOnly), s.Records[n-1].Time.Format(time.DateOnly), len(s.malformed), s.skewed,
		len(s.wantDevice), len(s.wantUsers), len(s.multiDevice))

	dirs := map[string]string{}
	start := func(name string) *copyProc {
		if dirs[name] == "" {
			dirs[name] = filepath.Join(t.TempDir(), name)
		}
		return startCopyIn(t, bin, cfgFile, name, "normalize,device,user", dirs[name])
	}
	copies := map[string]*copyProc{"a": start("a"), "b": start("b"), "c": start("c")}

	p, err := stream.NewProducer(stream.ProducerConfig{Brokers: brokers})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	// The stream flows all through the run in bursts, a backlog of a few
	// batches ahead of what has come out, as traffic after a hiccup does:
	// every kill then lands while normalize has large batches in flight
	// (up to 1,000 records of a partition, weeks of the devices' time),
	// which it writes again after the restart.
	seen := newClassifiedSeen(s)
	var produced atomic.Int64
	var producing errgroup.Group
	msgs := s.Messages(cfg.Topics.RawEvents)
	producing.Go(func() error {
		for i := 0; i < len(msgs); i += 5000 {
			for produced.Load() > seen.reached.Load()+10000 {
				select {
				case <-ctx.Done():
					return ctx.Err()
				case <-time.After(20 * time.Millisecond):
				}
			}
			part := msgs[i:min(i+5000, len(msgs))]
			if err := p.Produce(ctx, part...); err != nil {
				return fmt.Errorf("produce: %w", err)
			}
			produced.Add(int64(len(part)))
		}
		return nil
	})

	classified := testkit.TailTopic(t, ctx, brokers, cfg.Topics.Classified)
	defer classified.Stop()

	// The faults, each when the classified stream has come this far (a
	// share of replay's device-level records), so that every one lands
	// mid-stream whatever the machine's speed.
	type fault struct {
		at   float64
		name string
		do   func()
	}
	kill := func(name string) {
		if err := copies[name].cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		_ = copies[name].cmd.Wait()
	}
	faults := []fault{
		{0.15, "SIGKILL a, restart it on its own state", func() {
			kill("a")
			copies["a"] = start("a")
		}},
		{0.40, "SIGKILL b, replace it by d on an empty state dir", func() {
			kill("b")
			copies["d"] = start("d")
		}},
		{0.65, "SIGTERM c, start it again", func() {
			c := copies["c"]
			if err := c.cmd.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			if err := c.cmd.Wait(); err != nil {
				t.Errorf("copy c after SIGTERM: %v", err)
			}
			copies["c"] = start("c")
		}},
	}

	lastProgress := time.Now()
	var settled time.Time
	for settled.IsZero() || time.Since(settled) < 5*time.Second || time.Since(lastProgress) < 5*time.Second {
		select {
		case m := <-classified.C:
			seen.add(t, m.Value)
			lastProgress = time.Now()
		case <-time.After(200 * time.Millisecond):
		}
		for len(faults) > 0 && float64(seen.deviceHits) >= faults[0].at*float64(len(s.wantDevice)) {
			t.Logf("%s (after %d classified records)", faults[0].name, seen.total)
			faults[0].do()
			faults = faults[1:]
		}
		if settled.IsZero() && len(faults) == 0 && seen.complete() {
			settled = time.Now()
		}
		if time.Since(lastProgress) > chaosStall {
			classified.Stop()
			reportMissing(t, brokers, cfg.Topics.EventsByDevice, s.wantDevice, seen.device)
			t.Fatalf("no classified record for %s: %d/%d device-level records, %d/%d users; %d read",
				chaosStall, seen.deviceHits, len(s.wantDevice), len(seen.newUsers), len(s.wantUsers), seen.total)
		}
		for name, c := range copies {
			if c.cmd.ProcessState != nil && c.cmd.ProcessState.Exited() && !c.cmd.ProcessState.Success() {
				t.Fatalf("copy %s exited by itself: %v", name, c.cmd.ProcessState)
			}
		}
	}
	classified.Stop()
	if err := producing.Wait(); err != nil {
		t.Fatal(err)
	}
	t.Logf("classified: %d records read, %d distinct postback_ids, %d repeated", seen.total, len(seen.content), seen.total-len(seen.content))

	seen.check(t, s)
	checkDeadletter(t, brokers, cfg.Topics.RawEvents, cfg.Topics.Deadletter, s.malformed)
}

// chaosStream is a generated stream with each record's arrival time, and
// what replay makes of it.
type chaosStream struct {
	*traffic.Stream
	malformed   map[string]bool // raw values normalize must reject
	skewed      int
	wantDevice  map[string]string   // postback_id -> replay's line
	wantUsers   map[string]bool     // app \x00 user
	multiDevice map[string]bool     // users replay saw on more than one device
	wantSingle  map[string]string   // user-level records of single-device users
	inputAt     map[string]int      // device \x00 event_id -> index of the event in Records
	userDevices map[string][]string // app \x00 user -> devices
}

func newChaosStream(t *testing.T, ctx context.Context, gc generator.Config, n int) *chaosStream {
	t.Helper()
	g := generator.New(gc)
	s := &chaosStream{malformed: map[string]bool{}, wantDevice: map[string]string{}, wantUsers: map[string]bool{},
		multiDevice: map[string]bool{}, wantSingle: map[string]string{}, userDevices: map[string][]string{}, inputAt: map[string]int{}}
	base := time.Now().UTC().Truncate(time.Millisecond)
	var recs []generator.Record
	var arrival []time.Time
	for i := range n {
		r := g.Next()
		if !r.Malformed && r.Kind == generator.KindEvent && i%397 == 0 {
			// A device whose clock is set to 2099.
			if v, ok := withTS(r.Value, "2099-01-01T00:00:00Z"); ok {
				r.Value = v
				s.skewed++
			}
		}
		if r.Malformed {
			s.malformed[string(r.Value)] = true
		} else if r.Kind == generator.KindEvent {
			var e struct {
				EventID string `json:"event_id"`
			}
			if json.Unmarshal(r.Value, &e) == nil {
				if _, dup := s.inputAt[r.DeviceID+"\x00"+e.EventID]; !dup {
					s.inputAt[r.DeviceID+"\x00"+e.EventID] = i
				}
			}
		}
		recs = append(recs, r)
		arrival = append(arrival, base.Add(time.Duration(i)*time.Millisecond)) // the Kafka timestamp it is produced with
	}
	s.Stream = traffic.Replay(t, ctx, recs, arrival)
	type line struct {
		PostbackID string `json:"postback_id"`
		Type       string `json:"type"`
		AppID      string `json:"app_id"`
		UserID     string `json:"user_id"`
		DeviceID   string `json:"device_id"`
	}
	var userLines []line
	var userRaw []string
	for _, l := range s.Classified {
		var c line
		if err := json.Unmarshal([]byte(l), &c); err != nil {
			t.Fatal(err)
		}
		if c.UserID != "" {
			k := c.AppID + "\x00" + c.UserID
			if ds := s.userDevices[k]; !contains(ds, c.DeviceID) {
				s.userDevices[k] = append(ds, c.DeviceID)
			}
		}
		if !isUserLevel(c.Type) {
			s.wantDevice[c.PostbackID] = l
			continue
		}
		if c.Type == schemas.TypeNewUser {
			s.wantUsers[c.AppID+"\x00"+c.UserID] = true
		}
		userLines, userRaw = append(userLines, c), append(userRaw, l)
	}
	for k, ds := range s.userDevices {
		if len(ds) > 1 {
			s.multiDevice[k] = true
		}
	}
	for i, c := range userLines {
		if !s.multiDevice[c.AppID+"\x00"+c.UserID] {
			s.wantSingle[c.PostbackID] = userRaw[i]
		}
	}
	return s
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

// withTS replaces the ts of a generated JSON event.
func withTS(v []byte, ts string) ([]byte, bool) {
	i := bytes.Index(v, []byte(`"ts":"`))
	if i < 0 {
		return nil, false
	}
	j := bytes.IndexByte(v[i+6:], '"')
	if j < 0 {
		return nil, false
	}
	out := append(append(append([]byte(nil), v[:i+6]...), ts...), v[i+6+j:]...)
	return out, true
}

// classifiedSeen is what the test read of the classified topic.
type classifiedSeen struct {
	want                   *chaosStream
	deviceHits, singleHits int // records of want.wantDevice, want.wantSingle seen
	// reached is the index in the stream of the latest event a classified
	// record has come out for: how far the pipeline has got.
	reached  atomic.Int64
	total    int
	content  map[string]string          // postback_id -> first content
	device   map[string]string          // device-level records
	user     map[string]string          // user-level records
	newUsers map[string]map[string]bool // app \x00 user -> new_user ids
	differ   []string
}

func newClassifiedSeen(want *chaosStream) *classifiedSeen {
	return &classifiedSeen{want: want, content: map[string]string{}, device: map[string]string{}, user: map[string]string{}, newUsers: map[string]map[string]bool{}}
}

func (c *classifiedSeen) add(t *testing.T, v []byte) {
	t.Helper()
	c.total++
	var l classifiedLine
	if err := json.Unmarshal(v, &l); err != nil {
		t.Fatalf("classified record %q: %v", v, err)
	}
	if prev, ok := c.content[l.PostbackID]; ok {
		if prev != string(v) && len(c.differ) < 5 {
			c.differ = append(c.differ, fmt.Sprintf("%s\n first %s\n again %s", l.PostbackID, prev, v))
		}
		return
	}
	c.content[l.PostbackID] = string(v)
	if i, ok := c.want.inputAt[l.DeviceID+"\x00"+l.EventID]; ok && int64(i) > c.reached.Load() {
		c.reached.Store(int64(i))
	}
	if !isUserLevel(l.Type) {
		c.device[l.PostbackID] = string(v)
		if _, ok := c.want.wantDevice[l.PostbackID]; ok {
			c.deviceHits++
		}
		return
	}
	c.user[l.PostbackID] = string(v)
	if _, ok := c.want.wantSingle[l.PostbackID]; ok {
		c.singleHits++
	}
	if l.Type == schemas.TypeNewUser {
		k := l.AppID + "\x00" + l.UserID
		if c.newUsers[k] == nil {
			c.newUsers[k] = map[string]bool{}
		}
		c.newUsers[k][l.PostbackID] = true
	}
}

// complete: every record replay gives that the pipeline must equal has
// come, and every user has a new_user.
func (c *classifiedSeen) complete() bool {
	return c.deviceHits == len(c.want.wantDevice) && c.singleHits == len(c.want.wantSingle) && len(c.newUsers) >= len(c.want.wantUsers)
}

func (c *classifiedSeen) check(t *testing.T, s *chaosStream) {
	t.Helper()
	for _, d := range c.differ {
		t.Errorf("postback_id with two contents: %s", d)
	}
	diff := func(what string, want, got map[string]string) {
		missing, extra, wrong := 0, 0, 0
		for id, l := range want {
			switch g, ok := got[id]; {
			case !ok:
				if missing++; missing <= 3 {
					t.Errorf("%s record missing: %s", what, l)
				}
			case g != l:
				if wrong++; wrong <= 3 {
					t.Errorf("%s record %s:\n got %s\nwant %s", what, id, g, l)
				}
			}
		}
		for id, l := range got {
			if _, ok := want[id]; !ok {
				if extra++; extra <= 3 {
					t.Errorf("extra %s record: %s", what, l)
				}
			}
		}
		if missing+extra+wrong > 0 {
			t.Errorf("%s records: %d missing, %d extra, %d different of %d", what, missing, extra, wrong, len(want))
		}
	}
	diff("device-level", s.wantDevice, c.device)
	single := map[string]string{}
	for id, l := range c.user {
		var u classifiedLine
		_ = json.Unmarshal([]byte(l), &u)
		if !s.multiDevice[u.AppID+"\x00"+u.UserID] {
			single[id] = l
		}
	}
	diff("single-device user", s.wantSingle, single)
	for k, ids := range c.newUsers {
		if len(ids) != 1 {
			t.Errorf("user %q got %d new_user records, want 1", k, len(ids))
		}
		if !s.wantUsers[k] {
			t.Errorf("new_user for %q, which replay never saw", k)
		}
	}
	if len(c.newUsers) != len(s.wantUsers) {
		t.Errorf("%d users got new_user, want %d", len(c.newUsers), len(s.wantUsers))
	}
}

// checkDeadletter: the deadletter, deduplicated by the position of the
// refused record, holds exactly the raw records that are malformed.
func checkDeadletter(t *testing.T, brokers []string, raw, deadletter string, malformed map[string]bool) {
	t.Helper()
	type pos struct {
		topic     string
		partition int
		offset    int64
	}
	want := map[pos]bool{}
	for _, m := range testkit.ReadAll(t, context.Background(), brokers, raw) {
		if malformed[string(m.Value)] {
			want[pos{m.Topic, m.Partition, m.Offset}] = true
		}
	}
	got := map[pos]bool{}
	for _, m := range testkit.ReadAll(t, context.Background(), brokers, deadletter) {
		var r struct {
			Topic     string `json:"topic"`
			Partition int    `json:"partition"`
			Offset    int64  `json:"offset"`
			Reason    string `json:"reason"`
		}
		if err := json.Unmarshal(m.Value, &r); err != nil {
			t.Fatalf("deadletter record %q: %v", m.Value, err)
		}
		p := pos{r.Topic, r.Partition, r.Offset}
		if !want[p] && !got[p] {
			t.Errorf("deadletter holds a record that is not malformed: %s/%d@%d: %s", r.Topic, r.Partition, r.Offset, r.Reason)
		}
		got[p] = true
	}
	for p := range want {
		if !got[p] {
			t.Errorf("malformed record %s/%d@%d not on the deadletter", p.topic, p.partition, p.offset)
		}
	}
	t.Logf("deadletter: %d malformed records, %d on the deadletter", len(want), len(got))
}
