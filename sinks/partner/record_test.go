package partner

import (
	"context"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"net/http"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/postbackd/postbackd/schemas"
	"github.com/postbackd/postbackd/state"
)

// recordingStore is a Memory store that is a Recorder, as the sink stage's
// partition stores are: Record applies the writes and keeps the entries.
type recordingStore struct {
	*state.Memory
	fail  error         // Record's error, when set
	delay time.Duration // how long a Record takes

	mu      sync.Mutex
	entries []DeliveryLogEntry
	calls   int
	done    atomic.Int64 // Record calls returned
}

func newRecordingStore() *recordingStore { return &recordingStore{Memory: state.NewMemory()} }

func (r *recordingStore) Record(_ context.Context, writes []state.Write, entries []DeliveryLogEntry) error {
	defer r.done.Add(1)
	time.Sleep(r.delay)
	r.mu.Lock()
	r.calls++
	r.mu.Unlock()
	if r.fail != nil {
		return r.fail
	}
	if err := r.Apply(&state.Batch{Writes: writes}); err != nil {
		return err
	}
	r.mu.Lock()
	r.entries = append(r.entries, entries...)
	r.mu.Unlock()
	return nil
}

// TestRecorderRecordsEachDeliveryBeforeTheNextCall: with a Recorder
// store, every success is recorded by the worker that made it before that
// worker makes another call, so calls made and not recorded never
// outnumber the partner's concurrency (what a crash can repeat); Process
// then returns no writes, and the entries go through the Recorder.
func TestRecorderRecordsEachDeliveryBeforeTheNextCall(t *testing.T) {
	const concurrency, n = 3, 40
	store := newRecordingStore()
	store.delay = 2 * time.Millisecond // a changelog round trip: time for a worker that did not wait to call again
	var calls, worst atomic.Int64
	dp, url := newPartner(t, func(w http.ResponseWriter, _ *http.Request, _ int) bool {
		// This call, and those made before it and not recorded yet.
		open := calls.Add(1) - store.done.Load()
		for {
			old := worst.Load()
			if open <= old || worst.CompareAndSwap(old, open) {
				break
			}
		}
		return false
	})
	cfg := testConfig(PartnerConfig{ID: "p", Concurrency: concurrency, Rules: []RuleConfig{getRule(url+"/p/p/pb?id={postback_id}", "install")}})
	s, pub := newTestSink(t, cfg)
	var batch []Job
	for i := range n {
		batch = append(batch, Job{Record: record(fmt.Sprint("e", i), "install", "p")})
	}
	writes, err := s.Process(context.Background(), store, batch)
	if err != nil {
		t.Fatal(err)
	}
	if w := worst.Load(); w > concurrency {
		t.Errorf("%d calls made and not recorded at once, want at most the concurrency %d", w, concurrency)
	}
	if len(writes) != 0 {
		t.Errorf("Process returned %d writes, want none: every delivery was recorded", len(writes))
	}
	if store.calls != n || len(store.entries) != n {
		t.Errorf("%d Record calls with %d entries, want %d", store.calls, len(store.entries), n)
	}
	for _, e := range store.entries {
		if e.Outcome != OutcomeDelivered {
			t.Errorf("recorded entry %+v, want delivered", e)
		}
	}
	for _, e := range pub.entries() {
		t.Errorf("entry published with the batch although recorded: %+v", e)
	}
	for _, j := range batch {
		if _, err := store.Get(DedupKey("p", j.Record.PostbackID)); err != nil {
			t.Errorf("%s: no dedup mark: %v", j.Record.PostbackID, err)
		}
	}
	// The next batch skips them all.
	if _, err := s.Process(context.Background(), store, batch); err != nil {
		t.Fatal(err)
	}
	if keys := dp.Keys("p"); len(keys) != n || int(calls.Load()) != n {
		t.Errorf("partner got %d calls for %d postbacks, want %d once each", calls.Load(), len(keys), n)
	}
}

// TestRecorderFailureFallsBackToTheBatch: a delivery whose Record fails is
// recorded with its batch: its dedup write comes back from Process and its
// entries are published with the batch's.
func TestRecorderFailureFallsBackToTheBatch(t *testing.T) {
	_, url := newPartner(t, nil)
	cfg := testConfig(PartnerConfig{ID: "p", Rules: []RuleConfig{getRule(url+"/pb?id={postback_id}", "install")}})
	s, pub := newTestSink(t, cfg)
	store := newRecordingStore()
	store.fail = errors.New("broker away")
	rec := record("e1", "install", "p")
	writes, err := s.Process(context.Background(), store, jobs(rec))
	if err != nil {
		t.Fatal(err)
	}
	if len(writes) != 1 || string(writes[0].Key) != string(DedupKey("p", rec.PostbackID)) {
		t.Fatalf("writes %+v, want the dedup write of %s", writes, rec.PostbackID)
	}
	es := pub.entries()
	if len(es) != 1 || es[0].Outcome != OutcomeDelivered {
		t.Fatalf("published entries %+v, want the delivery", es)
	}
}

// TestRecorderHandedOffDelivery: a delivery still running at batch_wait
// records itself when it ends; nothing is left for the next Process call.
func TestRecorderHandedOffDelivery(t *testing.T) {
	release := make(chan struct{})
	_, url := newPartner(t, func(w http.ResponseWriter, _ *http.Request, _ int) bool {
		<-release
		return false
	})
	cfg := testConfig(PartnerConfig{ID: "p", Rules: []RuleConfig{getRule(url+"/pb?id={postback_id}", "install")}})
	cfg.BatchWait = Duration(50 * time.Millisecond)
	s, _ := newTestSink(t, cfg)
	store := newRecordingStore()
	rec := record("e1", "install", "p")
	if w, err := s.Process(context.Background(), store, jobs(rec)); err != nil || len(w) != 0 {
		t.Fatalf("first batch: %d writes, %v", len(w), err)
	}
	close(release)
	for store.done.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	if _, err := store.Get(DedupKey("p", rec.PostbackID)); err != nil {
		t.Fatalf("no dedup mark after the handed-off delivery: %v", err)
	}
	if w, err := s.Process(context.Background(), store, nil); err != nil || len(w) != 0 {
		t.Fatalf("next batch: %d writes, %v; want none", len(w), err)
	}
}

// TestLogAndDeadletterTextBounded: what a rule renders and what a partner
// answers cannot grow a delivery-log entry or a deadletter's reason past
// their bounds, so that the broker never refuses them for size.
func TestLogAndDeadletterTextBounded(t *testing.T) {
	_, url := newPartner(t, func(w http.ResponseWriter, _ *http.Request, _ int) bool {
		w.WriteHeader(http.StatusBadRequest) // final
		_, _ = w.Write([]byte(strings.Repeat("é", 100<<10)))
		return true
	})
	long := strings.Repeat("x", 600<<10)
	cfg := testConfig(PartnerConfig{ID: "p", Rules: []RuleConfig{getRule(url+"/pb/{param.big}?id={postback_id}", "install")}})
	s, pub := newTestSink(t, cfg)
	rec := record("e1", "install", "p")
	rec.Params = map[string]string{"big": long}
	// An endpoint that refuses every connection: the failure quotes the
	// URL, and after the last tier the deadletter's reason does.
	unreachable := record("e2", "install", "p")
	unreachable.Params = map[string]string{"big": long}
	cfg2 := testConfig(PartnerConfig{ID: "q", Breaker: BreakerConfig{Failures: 1000},
		Rules: []RuleConfig{getRule("http://127.0.0.1:1/pb/{param.big}?id={postback_id}", "install")}})
	s2, pub2 := newTestSink(t, cfg2)
	run(t, s, pub, state.NewMemory(), jobs(rec))
	run(t, s2, pub2, state.NewMemory(), jobs(unreachable))
	entries := append(pub.entries(), pub2.entries()...)
	if len(entries) == 0 {
		t.Fatal("no delivery-log entries")
	}
	for _, e := range entries {
		if len(e.URL) > MaxURLBytes || len(e.Error) > MaxErrorBytes || len(e.Response) > MaxResponseBytes {
			t.Errorf("entry with URL %d, error %d, response %d bytes; bounds %d, %d, %d", len(e.URL), len(e.Error), len(e.Response), MaxURLBytes, MaxErrorBytes, MaxResponseBytes)
		}
	}
	dead := append(pub.deadLetters(), pub2.deadLetters()...)
	if len(dead) != 2 {
		t.Fatalf("%d deadletters, want 2", len(dead))
	}
	for _, d := range dead {
		if len(d.reason) > MaxReasonBytes {
			t.Errorf("deadletter reason of %d bytes, bound %d", len(d.reason), MaxReasonBytes)
		}
	}
}

// TestBoundText: cut at a character boundary, marked.
func TestBoundText(t *testing.T) {
	for _, c := range []struct {
		in   string
		n    int
		want string
	}{
		{"short", 10, "short"},
		{"abcdefghij", 10, "abcdefghij"},
		{"abcdefghijk", 10, "abcdefg..."},
		{"ééééé", 8, "éé..."}, // é is 2 bytes: 5 bytes left, 2 whole ones
	} {
		if got := BoundText(c.in, c.n); got != c.want || len(got) > c.n {
			t.Errorf("BoundText(%q, %d) = %q, want %q", c.in, c.n, got, c.want)
		}
	}
}

// TestOutcomesAreTheSchemas: the outcomes the sink counts (metrics'
// list) are schemas.Outcomes, and the sink's code (sinks/partner and
// sinks/sinkstage, tests aside) writes exactly those: every Outcome*
// constant it names is one of them, each of them is named somewhere, and
// no outcome is a string literal. A new outcome goes to schemas first,
// which also keeps delivery_log.avsc's doc in step (schemas tests that).
func TestOutcomesAreTheSchemas(t *testing.T) {
	if !slices.Equal(outcomes[:], schemas.Outcomes[:]) {
		t.Errorf("metrics count outcomes %q, schemas.Outcomes are %q", outcomes, schemas.Outcomes)
	}
	// Values of the constants, by the name code uses for them.
	values := map[string]string{}
	for _, o := range schemas.Outcomes {
		name := ""
		for _, c := range []struct{ name, value string }{
			{"OutcomeDelivered", OutcomeDelivered}, {"OutcomeRetrying", OutcomeRetrying},
			{"OutcomeRetryScheduled", OutcomeRetryScheduled}, {"OutcomeDeadLettered", OutcomeDeadLettered},
			{"OutcomeParked", OutcomeParked}, {"OutcomeHandedOff", OutcomeHandedOff},
			{"OutcomeSkippedDuplicate", OutcomeSkippedDuplicate}, {"OutcomeSkippedNoRule", OutcomeSkippedNoRule},
			{"OutcomeSkippedPrivacy", OutcomeSkippedPrivacy}, {"OutcomeSkippedErased", OutcomeSkippedErased},
		} {
			if c.value == o {
				name = c.name
			}
		}
		if name == "" {
			t.Fatalf("schemas outcome %q has no partner constant", o)
		}
		values["partner."+name], values["schemas."+name], values[name] = o, o, o
	}
	written := map[string]bool{}
	isOutcomeName := regexp.MustCompile(`^Outcome[A-Z]\w*$`)
	for _, dir := range []string{".", "../sinkstage"} {
		files, err := filepath.Glob(filepath.Join(dir, "*.go"))
		if err != nil || len(files) == 0 {
			t.Fatalf("%s: no Go files (%v)", dir, err)
		}
		for _, file := range files {
			if strings.HasSuffix(file, "_test.go") || filepath.Base(file) == "deliverylog.go" {
				continue // deliverylog.go declares the constants
			}
			fset := token.NewFileSet()
			f, err := parser.ParseFile(fset, file, nil, parser.SkipObjectResolution)
			if err != nil {
				t.Fatal(err)
			}
			ast.Inspect(f, func(n ast.Node) bool {
				var name string
				switch n := n.(type) {
				case *ast.SelectorExpr:
					if x, ok := n.X.(*ast.Ident); ok && isOutcomeName.MatchString(n.Sel.Name) {
						name = x.Name + "." + n.Sel.Name
					}
				case *ast.Ident:
					if isOutcomeName.MatchString(n.Name) && dir == "." {
						name = n.Name
					}
				case *ast.BasicLit:
					if v, err := strconv.Unquote(n.Value); n.Kind == token.STRING && err == nil && schemas.IsOutcome(v) {
						t.Errorf("%s: outcome %s written as a literal, not as its constant", fset.Position(n.Pos()), n.Value)
					}
				case *ast.KeyValueExpr:
					if k, ok := n.Key.(*ast.Ident); ok && k.Name == "Outcome" {
						if _, lit := n.Value.(*ast.BasicLit); lit {
							t.Errorf("%s: an outcome written as a literal", fset.Position(n.Pos()))
						}
					}
				case *ast.AssignStmt:
					for i, l := range n.Lhs {
						if s, ok := l.(*ast.SelectorExpr); ok && s.Sel.Name == "Outcome" && i < len(n.Rhs) {
							if _, lit := n.Rhs[i].(*ast.BasicLit); lit {
								t.Errorf("%s: an outcome written as a literal", fset.Position(n.Pos()))
							}
						}
					}
				}
				if name == "" {
					return true
				}
				v, ok := values[name]
				if !ok {
					t.Errorf("%s: %s is not one of schemas.Outcomes", fset.Position(n.Pos()), name)
				}
				written[v] = true
				return false // a selector's Sel is not a second use
			})
		}
	}
	for _, o := range schemas.Outcomes {
		if !written[o] {
			t.Errorf("schemas.Outcomes lists %q, which the sink never writes", o)
		}
	}
}
