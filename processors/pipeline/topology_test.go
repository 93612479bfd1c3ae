package pipeline_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/postbackd/postbackd/processors/devtools/demopartner"
	"github.com/postbackd/postbackd/processors/devtools/testkit"
	"github.com/postbackd/postbackd/processors/pipeline"
	"github.com/postbackd/postbackd/processors/platform/arrival"
	"github.com/postbackd/postbackd/processors/platform/config"
	"github.com/postbackd/postbackd/processors/platform/stage"
	"github.com/postbackd/postbackd/processors/platform/stream"
	"github.com/postbackd/postbackd/schemas"
	"github.com/postbackd/postbackd/sinks/partner"
)

// The stages' wiring on an in-process broker (testkit): each stage of
// pipeline.Topology, built by pipeline.Run as `postbackd run` builds it,
// reads what it declares and writes what the next stage reads. The
// classification itself is tested in processors/domain; here a record
// only has to come out where it belongs, in the form its reader takes.

// wiring is one test's topology: its own topics, groups, state directory
// and demo partner, on the test's broker.
type wiring struct {
	brokers []string
	cfg     *config.Config
	sink    partner.Config
	partner *demopartner.Server
	pause   *stream.Pause // the stages' consumers'
}

// wiringTopicChars keeps what a topic name may hold of a test's name.
var wiringTopicChars = strings.NewReplacer("/", "-", " ", "-", "#", "-", "_", "-")

// newWiring loads a config as `postbackd run` would (config.Parse of YAML
// text) with partitions per topic, JSON on the classified topic, and a sink
// with one partner, "demo", that takes every record type of every record
// (mode all) at the demo partner on loopback.
func newWiring(t *testing.T, partitions int) *wiring {
	t.Helper()
	brokers := testkit.Brokers(t, testkit.InProcessAllowed)
	dp := demopartner.New(nil)
	partnerURL, err := dp.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = dp.Close() })
	prefix := fmt.Sprintf("w%d.%s.", time.Now().UnixNano(), wiringTopicChars.Replace(strings.ToLower(t.Name())))
	text := fmt.Sprintf(`kafka:
  brokers: [%s]
  partitions: %d
  replication_factor: 1
  group_prefix: %sg
topics:
  prefix: %s
classified_format: json
http:
  listen: 127.0.0.1:0
sink:
  allow_private_networks: true
  batch_wait: 200ms
  retry:
    in_process: {max_attempts: 3, max_wait: 100ms}
    tiers: [1s]
  partners:
    - id: demo
      rules:
        - types: [%s]
          mode: all
          url: "%s/demo/pb?id={postback_id}&type={type}"
`, strings.Join(brokers, ","), partitions, prefix, prefix, strings.Join(schemas.RecordTypes, ", "), partnerURL)
	cfg, err := config.Parse("wiring.yaml", []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	// Whatever POSTBACKD_* the shell exports: this test's broker and disk.
	cfg.Kafka.Brokers, cfg.StateDir = brokers, t.TempDir()
	sc, err := partner.FromConfig(cfg, true)
	if err != nil {
		t.Fatal(err)
	}
	w := &wiring{brokers: brokers, cfg: cfg, sink: sc, partner: dp, pause: &stream.Pause{}}
	// On a shared broker (KAFKA_BROKERS) the test leaves no topic behind;
	// registered first, this runs after the stages stopped.
	topics, err := stage.Topics(w.stages())
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tp := range topics {
		names = append(names, tp.Name)
	}
	testkit.DeleteTopicsAtEnd(t, brokers, names...)
	return w
}

// stages are the topology's stages named, all of them when none is.
func (w *wiring) stages(names ...string) []stage.Stage {
	all := pipeline.Topology(w.cfg, &w.sink)
	if len(names) == 0 {
		return all
	}
	set := map[string]bool{}
	for _, n := range names {
		set[n] = true
	}
	return pipeline.Select(all, set)
}

// createTopics creates every topic of the whole topology, so that a test
// can write a stage's inputs before the stage runs and read any topic.
func (w *wiring) createTopics(t *testing.T, ctx context.Context) {
	t.Helper()
	topics, err := stage.Topics(w.stages())
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.EnsureTopics(ctx, stream.TopicsConfig{Brokers: w.brokers}, topics...); err != nil {
		t.Fatal(err)
	}
}

// running is a pipeline.Run in progress.
type running struct {
	stop func()
	// progress sums the process's postbackd_* counters: it moves whenever
	// a stage reads, writes, restores or delivers.
	progress func() int64
	registry *prometheus.Registry
}

// run runs the stages named (pipeline.Run: topics, producer, Env, each
// stage) until the test ends or stop, and returns once they report ready.
// Run must end without an error.
func (w *wiring) run(t *testing.T, ctx context.Context, names ...string) *running {
	t.Helper()
	reg := prometheus.NewRegistry()
	var readiness atomic.Pointer[stage.Readiness]
	stages := w.stages(names...)
	declared := map[string]bool{}
	for _, s := range stages {
		for _, tp := range s.Writes {
			declared[tp.Name] = true
		}
	}
	rec := &writtenTopics{topics: map[string]bool{}}
	opts := pipeline.RunOptions{
		Consumer:  stream.ConsumerConfig{Pause: w.pause},
		Logger:    zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel)).Named(strings.Join(names, ",")),
		Registry:  reg,
		Readiness: func(r *stage.Readiness) { readiness.Store(r) },
		Producer: func(p stage.Producer) stage.Producer {
			rec.Producer = p
			return rec
		},
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- pipeline.Run(runCtx, w.cfg, stages, opts) }()
	var once sync.Once
	r := &running{progress: testkit.CounterProgress(reg), registry: reg}
	r.stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("pipeline.Run(%v): %v", names, err)
			}
			// Every stage against its spec: it writes only topics it
			// declares, or they would not be created where it runs alone.
			for _, topic := range rec.written() {
				if !declared[topic] {
					t.Errorf("stages %v wrote to %s, which none of them declares", names, topic)
				}
			}
		})
	}
	t.Cleanup(r.stop)
	testkit.WaitFor(t, fmt.Sprintf("stages %v ready", names), r.progress, func() bool {
		select {
		case err := <-done:
			done <- err
			t.Fatalf("pipeline.Run(%v) ended before it was ready: %v", names, err)
		default:
		}
		rd := readiness.Load()
		if rd == nil {
			return false
		}
		ok, _ := rd.Ready()
		return ok
	})
	return r
}

// writtenTopics is the process's producer, noting every topic written.
type writtenTopics struct {
	stage.Producer
	mu     sync.Mutex
	topics map[string]bool
}

func (w *writtenTopics) Produce(ctx context.Context, msgs ...kafka.Message) error {
	w.mu.Lock()
	for i := range msgs {
		w.topics[msgs[i].Topic] = true
	}
	w.mu.Unlock()
	return w.Producer.Produce(ctx, msgs...)
}

func (w *writtenTopics) written() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make([]string, 0, len(w.topics))
	for tp := range w.topics {
		out = append(out, tp)
	}
	slices.Sort(out)
	return out
}

func header(m kafka.Message, key string) string {
	for _, h := range m.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}

// sourceOf is where the stage that wrote m read its input.
func sourceOf(t *testing.T, m kafka.Message) stage.Source {
	t.Helper()
	v, ok := stage.SourceOf(&m)
	if !ok {
		t.Fatalf("%s record %q has no %s header", m.Topic, m.Key, stage.SourceHeader)
	}
	s, err := stage.ParseSource(v)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func inputMessage(t *testing.T, topic string, in schemas.Input) kafka.Message {
	t.Helper()
	v, err := schemas.EncodeInput(nil, &in)
	if err != nil {
		t.Fatal(err)
	}
	return kafka.Message{Topic: topic, Key: []byte(in.DeviceID()), Value: v}
}

func userEventMessage(t *testing.T, topic string, ue schemas.UserEvent) kafka.Message {
	t.Helper()
	v, err := schemas.EncodeUserEvent(nil, &ue)
	if err != nil {
		t.Fatal(err)
	}
	return kafka.Message{Topic: topic, Key: []byte(ue.Event.UserID), Value: v}
}

func decodeClassified(t *testing.T, msgs []kafka.Message) []schemas.Classified {
	t.Helper()
	out := make([]schemas.Classified, len(msgs))
	for i, m := range msgs {
		c, err := schemas.DecodeClassifiedJSON(m.Value)
		if err != nil {
			t.Fatalf("classified record %q: %v", m.Value, err)
		}
		if string(m.Key) != c.PostbackID {
			t.Errorf("classified record keyed %q, want its postback_id %s", m.Key, c.PostbackID)
		}
		out[i] = c
	}
	return out
}

// typesOf lists the records' "type@device/user" in order.
func typesOf(cs []schemas.Classified) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.Type + "@" + c.DeviceID + "/" + c.UserID
	}
	return out
}

var wiringTS = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)

func installEvent(eventID, device, user string, ts time.Time) *schemas.Event {
	return &schemas.Event{EventID: eventID, AppID: "com.example.game", Platform: schemas.PlatformAndroid,
		DeviceID: device, UserID: user, Type: schemas.EventInstall, TS: ts}
}

// TestNormalizeStageWiring: normalize alone reads both raw topics and
// writes each valid record to events.by-device, keyed by its device, in
// the Avro form the device stage decodes, with the position of its raw
// record; a malformed record goes to the deadletter with its reason, its
// raw bytes and where it was.
func TestNormalizeStageWiring(t *testing.T) {
	ctx := context.Background()
	w := newWiring(t, 3)
	w.createTopics(t, ctx)
	w.run(t, ctx, pipeline.Normalize)
	tp := w.cfg.Topics
	bad := `{"kind":"event","event_id":"e2","app_id":"com.example.game","platform":"android","device_id":"dev-1","type":"teleport","ts":"2026-03-01T10:06:00Z"}`
	testkit.Produce(t, ctx, w.brokers,
		kafka.Message{Topic: tp.RawEvents, Key: []byte("dev-1"), Value: []byte(`{"kind":"event","event_id":"e1","app_id":"com.example.game","platform":"android","device_id":"dev-1","type":"install","ts":"2026-03-01T10:05:00Z"}`)},
		kafka.Message{Topic: tp.RawEvents, Key: []byte("dev-1"), Value: []byte(bad)},
		kafka.Message{Topic: tp.RawClicks, Key: []byte("dev-2"), Value: []byte(`{"kind":"click","click_id":"c1","touch":"click","partner":"adnet","campaign":"spring","app_id":"com.example.game","device_id":"dev-2","ts":"2026-03-01T09:00:00Z"}`)},
	)
	raw := map[string]kafka.Message{} // device -> its first raw record
	for _, topic := range []string{tp.RawEvents, tp.RawClicks} {
		for _, m := range testkit.ReadAll(t, ctx, w.brokers, topic) {
			if _, ok := raw[string(m.Key)]; !ok {
				raw[string(m.Key)] = m
			}
		}
	}

	byDevice := dataRecords(testkit.ReadTopic(t, ctx, w.brokers, tp.EventsByDevice, func(msgs []kafka.Message) bool {
		return len(dataRecords(msgs)) >= 2
	}))
	got := map[string]schemas.Input{}
	for _, m := range byDevice {
		in, err := schemas.DecodeInput(m.Value)
		if err != nil {
			t.Fatalf("events.by-device record %q: %v", m.Value, err)
		}
		if string(m.Key) != in.DeviceID() {
			t.Errorf("events.by-device record of %s keyed %q", in.DeviceID(), m.Key)
		}
		src, want := sourceOf(t, m), raw[in.DeviceID()]
		if src.Topic != want.Topic || src.Partition != want.Partition || src.Offset != want.Offset {
			t.Errorf("%s: source %+v, want its raw record %s/%d@%d", in.DeviceID(), src, want.Topic, want.Partition, want.Offset)
		}
		if !m.Time.Equal(want.Time) {
			t.Errorf("%s: timestamp %v, want its raw record's arrival time %v", in.DeviceID(), m.Time, want.Time)
		}
		got[in.DeviceID()] = in
	}
	if e := got["dev-1"].Event; e == nil || e.EventID != "e1" || e.Type != schemas.EventInstall {
		t.Errorf("dev-1 on events.by-device: %+v, want the install e1", got["dev-1"])
	}
	if c := got["dev-2"].Click; c == nil || c.ClickID != "c1" || c.Partner != "adnet" {
		t.Errorf("dev-2 on events.by-device: %+v, want the click c1 of adnet", got["dev-2"])
	}

	dead := testkit.ReadTopic(t, ctx, w.brokers, tp.Deadletter, testkit.AtLeast(1))
	rj, err := schemas.DecodeRejectJSON(dead[0].Value)
	if err != nil {
		t.Fatalf("deadletter record %q: %v", dead[0].Value, err)
	}
	first := raw["dev-1"]
	if rj.Field != "type" || rj.Reason == "" || string(rj.Raw) != bad ||
		rj.Topic != tp.RawEvents || rj.Partition != first.Partition || rj.Offset != first.Offset+1 {
		t.Errorf("deadletter record %+v, want the bad type of %s/%d@%d with its raw bytes", rj, tp.RawEvents, first.Partition, first.Offset+1)
	}
	if h := header(dead[0], pipeline.HeaderRejectReason); h != rj.Reason {
		t.Errorf("reason header %q, value's reason %q", h, rj.Reason)
	}
	if n := len(dataRecords(testkit.ReadAll(t, ctx, w.brokers, tp.EventsByDevice))); n != 2 {
		t.Errorf("events.by-device holds %d records, want 2", n)
	}

	// Every raw partition, those that never had a record too, tells every
	// partition of events.by-device how far it got: past the records it
	// had, since it caught up with them.
	heard := map[string]time.Time{} // by-device partition / raw topic / raw partition -> latest watermark
	testkit.ReadTopic(t, ctx, w.brokers, tp.EventsByDevice, func(msgs []kafka.Message) bool {
		for _, m := range msgs {
			v, ok := stage.Header(&m, arrival.WatermarkHeader)
			if !ok {
				continue
			}
			wm, err := arrival.ParseWatermark(v)
			if err != nil {
				t.Fatalf("watermark record: %v", err)
			}
			if wm.Partitions != 3 || len(m.Value) != 0 {
				t.Fatalf("watermark %+v with value %q: want 3 partitions and no value", wm, m.Value)
			}
			k := fmt.Sprintf("%d/%s/%d", m.Partition, wm.Source.Topic, wm.Source.Partition)
			if wm.At.After(heard[k]) {
				heard[k] = wm.At
			}
		}
		past := 0
		for _, at := range heard {
			if at.After(raw["dev-1"].Time) && at.After(raw["dev-2"].Time) {
				past++
			}
		}
		return past == 3*6 // 3 by-device partitions x 6 raw partitions
	})
}

// dataRecords drops the watermark records of events.by-device.
func dataRecords(msgs []kafka.Message) []kafka.Message {
	var out []kafka.Message
	for _, m := range msgs {
		if _, ok := stage.Header(&m, arrival.WatermarkHeader); !ok {
			out = append(out, m)
		}
	}
	return out
}

// TestDeviceStageWiring: the device stage alone reads events.by-device
// and writes classified records (JSON, keyed by postback_id) and, for an
// event with a user_id, the event with the device's attribution to
// events.by-user, keyed by the user.
func TestDeviceStageWiring(t *testing.T) {
	ctx := context.Background()
	w := newWiring(t, 3)
	w.createTopics(t, ctx)
	w.run(t, ctx, pipeline.Device)
	tp := w.cfg.Topics
	testkit.Produce(t, ctx, w.brokers,
		inputMessage(t, tp.EventsByDevice, schemas.Input{Click: &schemas.Click{ClickID: "c1", Touch: schemas.TouchClick, Partner: "adnet",
			Campaign: "spring", AppID: "com.example.game", DeviceID: "dev-1", TS: wiringTS}}),
		inputMessage(t, tp.EventsByDevice, schemas.Input{Event: installEvent("e1", "dev-1", "", wiringTS.Add(5*time.Minute))}),
		inputMessage(t, tp.EventsByDevice, schemas.Input{Event: installEvent("e2", "dev-2", "u1", wiringTS.Add(6*time.Minute))}),
	)

	classified := decodeClassified(t, testkit.ReadTopic(t, ctx, w.brokers, tp.Classified, testkit.AtLeast(2)))
	slices.SortFunc(classified, func(a, b schemas.Classified) int { return strings.Compare(a.DeviceID, b.DeviceID) })
	if got := typesOf(classified); !slices.Equal(got, []string{"install@dev-1/", "install@dev-2/u1"}) {
		t.Fatalf("classified %v, want an install of each device", got)
	}
	if a := classified[0].Attribution; a.Partner != "adnet" || a.ClickID != "c1" || a.Touch != schemas.TouchClick {
		t.Errorf("dev-1's install attributed to %+v, want the click c1 of adnet", a)
	}
	if id := schemas.PostbackID("com.example.game", "dev-1", "e1", wiringTS.Add(5*time.Minute), schemas.TypeInstall); classified[0].PostbackID != id {
		t.Errorf("dev-1's install has postback_id %s, want %s", classified[0].PostbackID, id)
	}

	byUser := testkit.ReadTopic(t, ctx, w.brokers, tp.EventsByUser, testkit.AtLeast(1))
	ue, err := schemas.DecodeUserEvent(byUser[0].Value)
	if err != nil {
		t.Fatalf("events.by-user record %q: %v", byUser[0].Value, err)
	}
	if string(byUser[0].Key) != "u1" || ue.Event.EventID != "e2" || ue.Event.UserID != "u1" || ue.Attribution.Touch != schemas.TouchOrganic {
		t.Errorf("events.by-user record keyed %q: %+v, want e2 of u1, organic", byUser[0].Key, ue)
	}
	if src := sourceOf(t, byUser[0]); src.Topic != tp.EventsByDevice {
		t.Errorf("events.by-user record's source %+v, want a record of %s", src, tp.EventsByDevice)
	}
	if n := len(testkit.ReadAll(t, ctx, w.brokers, tp.EventsByUser)); n != 1 {
		t.Errorf("events.by-user holds %d records, want 1 (only e2 has a user)", n)
	}
}

// TestUserStageWiring: the user stage alone reads events.by-user and
// writes the user-level records to the classified topic, keeping each
// user's state: one new_user per (app, user), whichever device the user
// comes back on, and a reengagement_user after an inactivity window.
func TestUserStageWiring(t *testing.T) {
	ctx := context.Background()
	w := newWiring(t, 3)
	w.createTopics(t, ctx)
	w.run(t, ctx, pipeline.User)
	tp := w.cfg.Topics
	event := func(eventID, device, user, typ string, ts time.Time) kafka.Message {
		e := installEvent(eventID, device, user, ts)
		e.Type = typ
		return userEventMessage(t, tp.EventsByUser, schemas.UserEvent{Event: *e, Attribution: schemas.Organic})
	}
	testkit.Produce(t, ctx, w.brokers,
		event("e1", "dev-1", "u1", schemas.EventInstall, wiringTS),
		event("e2", "dev-9", "u2", schemas.EventInstall, wiringTS),
		event("e3", "dev-2", "u1", schemas.EventLogin, wiringTS.Add(time.Hour)),
		event("e4", "dev-2", "u1", schemas.EventLogin, wiringTS.Add(60*24*time.Hour)),
	)
	has := func(cs []schemas.Classified, typ, user string) bool {
		return slices.ContainsFunc(cs, func(c schemas.Classified) bool { return c.Type == typ && c.UserID == user })
	}
	msgs := testkit.ReadTopic(t, ctx, w.brokers, tp.Classified, func(ms []kafka.Message) bool {
		cs := decodeClassified(t, ms)
		return has(cs, schemas.TypeReengagementUser, "u1") && has(cs, schemas.TypeNewUser, "u2")
	})
	// A user's records are on one partition, in the order of its events.
	var u1 []schemas.Classified
	for _, c := range decodeClassified(t, msgs) {
		if c.UserID == "u1" {
			u1 = append(u1, c)
		}
	}
	if got := typesOf(u1); !slices.Equal(got, []string{"new_user@dev-1/u1", "reengagement_user@dev-2/u1"}) {
		t.Errorf("u1's records %v, want new_user on its first device, then reengagement_user", got)
	}
	if src := sourceOf(t, msgs[0]); src.Topic != tp.EventsByUser {
		t.Errorf("classified record's source %+v, want a record of %s", src, tp.EventsByUser)
	}
}

// TestSinkStageWiring: the sink alone reads the classified topic, calls
// the partner's URL once per postback with the postback_id as
// Idempotency-Key, and writes each try to the delivery log: a first try
// the partner fails (demopartner's fault script) is logged as retrying,
// the next as delivered.
func TestSinkStageWiring(t *testing.T) {
	ctx := context.Background()
	w := newWiring(t, 3)
	w.partner.SetFault("demo", demopartner.Fault{FailFirstAttempts: 1})
	w.createTopics(t, ctx)
	w.run(t, ctx, pipeline.Sink)
	tp := w.cfg.Topics
	rec := schemas.Classified{Type: schemas.TypeInstall, EventID: "e1", AppID: "com.example.game", Platform: schemas.PlatformAndroid,
		DeviceID: "dev-1", EventTS: wiringTS, Attribution: schemas.Organic}
	rec.PostbackID = schemas.PostbackID(rec.AppID, rec.DeviceID, rec.EventID, rec.EventTS, rec.Type)
	testkit.Produce(t, ctx, w.brokers, kafka.Message{Topic: tp.Classified, Key: []byte(rec.PostbackID), Value: schemas.AppendClassifiedJSON(nil, &rec)})

	var logged []schemas.DeliveryLog
	testkit.ReadTopic(t, ctx, w.brokers, tp.DeliveryLog, func(ms []kafka.Message) bool {
		d, err := schemas.DecodeDeliveryLogJSON(ms[len(ms)-1].Value)
		if err != nil {
			t.Fatalf("delivery log record %q: %v", ms[len(ms)-1].Value, err)
		}
		logged = append(logged, d)
		return d.Outcome != schemas.OutcomeRetrying
	})
	var outcomes []string
	for _, d := range logged {
		outcomes = append(outcomes, fmt.Sprintf("%s %d %d", d.Outcome, d.Attempt, d.StatusCode))
		if d.PostbackID != rec.PostbackID || d.Partner != "demo" {
			t.Errorf("delivery log record of %s for %s, want %s for demo", d.PostbackID, d.Partner, rec.PostbackID)
		}
	}
	if want := []string{"retrying 1 500", "delivered 2 200"}; !slices.Equal(outcomes, want) {
		t.Errorf("delivery log: %q, want %q", outcomes, want)
	}
	reqs := w.partner.Requests()
	if len(reqs) != 2 {
		t.Fatalf("the partner got %d calls, want 2 (a failed one and its retry)", len(reqs))
	}
	for _, r := range reqs {
		if r.Partner != "demo" || r.IdempotencyKey != rec.PostbackID || r.Query.Get("id") != rec.PostbackID || r.Query.Get("type") != schemas.TypeInstall {
			t.Errorf("partner call %s %s?%s with Idempotency-Key %q, want the install's postback", r.Method, r.Path, r.Query.Encode(), r.IdempotencyKey)
		}
	}
	if st := w.partner.Stats().Partners["demo"]; st.Unique != 1 || st.Duplicates != 0 {
		t.Errorf("partner stats %+v, want one postback accepted once", st)
	}
}

// TestSinkCatchesUpALongChangelog: a sink starting on an empty disk
// catches up with a changelog far longer than one store transaction takes
// (20,000 delivered markers, more than a catch-up chunk), then skips a
// postback the changelog says was delivered and delivers a new one (found
// in review: the sink's stores had lost the bulk path, and such a
// partition could not be assigned at all).
func TestSinkCatchesUpALongChangelog(t *testing.T) {
	ctx := context.Background()
	w := newWiring(t, 1)
	w.createTopics(t, ctx)
	tp := w.cfg.Topics
	const delivered = 20_000
	marker := []byte(`{"at":"2026-03-01T10:05:00.123456789Z","status":200,"attempt":1}`)
	recs := make([]schemas.Classified, 2)
	for i := range recs {
		recs[i] = schemas.Classified{Type: schemas.TypeInstall, EventID: fmt.Sprintf("e%d", i), AppID: "com.example.game",
			Platform: schemas.PlatformAndroid, DeviceID: "dev-1", EventTS: wiringTS, Attribution: schemas.Organic}
		recs[i].PostbackID = schemas.PostbackID(recs[i].AppID, recs[i].DeviceID, recs[i].EventID, recs[i].EventTS, recs[i].Type)
	}
	msgs := make([]kafka.Message, 0, delivered)
	for i := range delivered - 1 {
		msgs = append(msgs, kafka.Message{Topic: tp.SinkChangelog, Key: partner.DedupKey("demo", fmt.Sprintf("%064x", i)), Value: marker})
	}
	msgs = append(msgs, kafka.Message{Topic: tp.SinkChangelog, Key: partner.DedupKey("demo", recs[0].PostbackID), Value: marker})
	testkit.Produce(t, ctx, w.brokers, msgs...)

	w.run(t, ctx, pipeline.Sink)
	for _, r := range recs {
		testkit.Produce(t, ctx, w.brokers, kafka.Message{Topic: tp.Classified, Key: []byte(r.PostbackID), Value: schemas.AppendClassifiedJSON(nil, &r)})
	}
	outcome := map[string]string{}
	testkit.ReadTopic(t, ctx, w.brokers, tp.DeliveryLog, func(ms []kafka.Message) bool {
		d, err := schemas.DecodeDeliveryLogJSON(ms[len(ms)-1].Value)
		if err != nil {
			t.Fatalf("delivery log record %q: %v", ms[len(ms)-1].Value, err)
		}
		outcome[d.PostbackID] = d.Outcome
		return len(outcome) == len(recs)
	})
	if got := outcome[recs[0].PostbackID]; got != schemas.OutcomeSkippedDuplicate {
		t.Errorf("the postback the changelog holds: %s, want %s", got, schemas.OutcomeSkippedDuplicate)
	}
	if got := outcome[recs[1].PostbackID]; got != schemas.OutcomeDelivered {
		t.Errorf("the new postback: %s, want %s", got, schemas.OutcomeDelivered)
	}
	for _, r := range w.partner.Requests() {
		if r.IdempotencyKey == recs[0].PostbackID {
			t.Errorf("the partner was called again for %s, which the changelog says was delivered", r.IdempotencyKey)
		}
	}
}

// TestTopologyEndToEnd: every stage of the topology in one process, fed
// the raw records of each replay scenario, writes to the classified topic
// exactly the records the scenario expects (every field, for the project's
// own scenarios), and the demo partner gets one postback for each but the
// ones the fraud tool rejected (its rule has no include_rejected) and those
// of opted-out devices (its privacy rules are the defaults). One
// partition per topic keeps a user's events across
// devices in the order replay reads them (CLASSIFICATION.md, "User-level
// output").
func TestTopologyEndToEnd(t *testing.T) {
	for _, sc := range testkit.Scenarios(t, testkit.ScenarioDir()) {
		t.Run(sc.Name, func(t *testing.T) {
			ctx := context.Background()
			w := newWiring(t, 1)
			w.run(t, ctx)
			// Each raw record goes to the raw events topic (normalize reads
			// clicks there too), keyed by device, and arrives (its Kafka
			// timestamp) at its line's received_at, else at the time
			// classify's scenario test gives replay's lines without one.
			var msgs []kafka.Message
			for _, line := range testkit.Lines(sc.In(t)) {
				var in struct {
					DeviceID   string    `json:"device_id"`
					ReceivedAt time.Time `json:"received_at"`
				}
				if err := json.Unmarshal(line, &in); err != nil {
					t.Fatalf("scenario line %s: %v", line, err)
				}
				at := in.ReceivedAt
				if at.IsZero() {
					at = time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
				}
				msgs = append(msgs, kafka.Message{Topic: w.cfg.Topics.RawEvents, Key: []byte(in.DeviceID), Value: line, Time: at})
			}
			testkit.Produce(t, ctx, w.brokers, msgs...)

			key := classifiedKey
			if sc.Exact() {
				key = func(c schemas.Classified) string { return string(schemas.AppendClassifiedJSON(nil, &c)) }
			}
			var want []string
			wantIDs := map[string]bool{}
			for _, line := range testkit.Lines(sc.Out(t)) {
				c, err := schemas.DecodeClassifiedJSON(line)
				if err != nil {
					t.Fatal(err)
				}
				want = append(want, key(c))
				if !c.Rejected && !c.Privacy.OptedOut() {
					wantIDs[c.PostbackID] = true
				}
			}
			got := decodeClassified(t, testkit.ReadTopic(t, ctx, w.brokers, w.cfg.Topics.Classified, testkit.AtLeast(len(want))))
			var gotKeys []string
			for _, c := range got {
				gotKeys = append(gotKeys, key(c))
			}
			slices.Sort(want)
			slices.Sort(gotKeys)
			if !slices.Equal(gotKeys, want) {
				t.Fatalf("classified:\n%s\nwant:\n%s", strings.Join(gotKeys, "\n"), strings.Join(want, "\n"))
			}

			delivered := func() int64 { return int64(w.partner.Stats().Total.Unique) }
			testkit.WaitFor(t, "a postback of every classified record", delivered, func() bool { return int(delivered()) >= len(wantIDs) })
			for _, r := range w.partner.Requests() {
				if !wantIDs[r.IdempotencyKey] {
					t.Errorf("postback %s (%s) is not a classified record", r.IdempotencyKey, r.Type)
				}
				if id := r.Query.Get("id"); id != r.IdempotencyKey {
					t.Errorf("postback %s called with id=%s", r.IdempotencyKey, id)
				}
			}
			if st := w.partner.Stats().Total; st.Unique != len(wantIDs) || st.Duplicates != 0 {
				t.Errorf("partner: %d postbacks, %d duplicates; want %d, none", st.Unique, st.Duplicates, len(wantIDs))
			}
		})
	}
}

// classifiedKey is what a classified record says, for comparing sets.
func classifiedKey(c schemas.Classified) string {
	a := c.Attribution
	return fmt.Sprintf("%s %s %s dev=%s user=%s attr=%s/%s/%s/%s", c.Type, c.EventID, c.PostbackID, c.DeviceID, c.UserID, a.Touch, a.Partner, a.Campaign, a.ClickID)
}

// TestDeviceStageResumesAfterRestart: the device stage stopped and started
// again, on the state it left or on an empty state directory (the state
// then comes back from its changelog), goes on where it stopped: the
// install it classified before is not written again, neither when its
// event comes again nor when the device installs again a day later (that
// is no reinstall), which a stage that lost its state would classify as
// the device's install.
func TestDeviceStageResumesAfterRestart(t *testing.T) {
	for _, tc := range []struct {
		name     string
		newState bool
	}{{"on its state dir", false}, {"on an empty state dir", true}} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			// One partition: the classified topic then holds the records in
			// the order the stage wrote them, and any record of the events
			// produced after the restart comes before the purchase's.
			w := newWiring(t, 1)
			w.createTopics(t, ctx)
			tp := w.cfg.Topics
			install := installEvent("e1", "dev-1", "", wiringTS)
			testkit.Produce(t, ctx, w.brokers, inputMessage(t, tp.EventsByDevice, schemas.Input{Event: install}))

			first := w.run(t, ctx, pipeline.Device)
			before := decodeClassified(t, testkit.ReadTopic(t, ctx, w.brokers, tp.Classified, testkit.AtLeast(1)))
			first.stop()
			if got := typesOf(before); !slices.Equal(got, []string{"install@dev-1/"}) {
				t.Fatalf("before the restart: %v, want the install", got)
			}
			if tc.newState {
				w.cfg.StateDir = t.TempDir()
			}

			again := installEvent("e2", "dev-1", "", wiringTS.Add(24*time.Hour))
			purchase := installEvent("e3", "dev-1", "", wiringTS.Add(25*time.Hour))
			purchase.Type, purchase.Revenue, purchase.Currency = schemas.EventPurchase, new(4.99), "EUR"
			testkit.Produce(t, ctx, w.brokers,
				inputMessage(t, tp.EventsByDevice, schemas.Input{Event: install}),
				inputMessage(t, tp.EventsByDevice, schemas.Input{Event: again}),
				inputMessage(t, tp.EventsByDevice, schemas.Input{Event: purchase}))
			w.run(t, ctx, pipeline.Device)
			after := decodeClassified(t, testkit.ReadTopic(t, ctx, w.brokers, tp.Classified, func(ms []kafka.Message) bool {
				return slices.ContainsFunc(decodeClassified(t, ms), func(c schemas.Classified) bool { return c.EventID == purchase.EventID })
			}))
			if got := typesOf(after); !slices.Equal(got[:len(got)-1], []string{"install@dev-1/"}) || after[len(after)-1].EventID != purchase.EventID {
				t.Errorf("after the restart the classified topic holds %v, want the install once, then the purchase's records", got)
			}
		})
	}
}

// copyOn is a second copy of the wiring: the same topics, groups and
// pause, its own state dir.
func (w *wiring) copyOn(t *testing.T) *wiring {
	c := *w
	cfg := *w.cfg
	cfg.StateDir = t.TempDir()
	c.cfg = &cfg
	return &c
}
