package pipeline_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/postbackd/postbackd/processors/devtools/testkit"
)

// TestMonitoringFilesNameRealMetrics: every series the alerting rules and
// the Grafana dashboard (docs/monitoring) query is one the whole pipeline
// exports, found in its registry after it ran a scenario with bad input
// and deliveries: a renamed metric cannot leave an alert that never fires.
func TestMonitoringFilesNameRealMetrics(t *testing.T) {
	dir := filepath.Join("..", "..", "docs", "monitoring")
	var used []string
	name := regexp.MustCompile(`postbackd_[a-z_]+`)
	for _, f := range []string{"alerts.yml", "grafana-dashboard.json"} {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasSuffix(f, ".json") && !json.Valid(b) {
			t.Fatalf("%s is not valid JSON", f)
		}
		for _, n := range name.FindAllString(string(b), -1) {
			for _, suffix := range []string{"_bucket", "_count", "_sum"} {
				n = strings.TrimSuffix(n, suffix)
			}
			if !slices.Contains(used, n) {
				used = append(used, n)
			}
		}
	}
	if len(used) < 8 {
		t.Fatalf("only %v found in the monitoring files", used)
	}

	ctx := context.Background()
	w := newWiring(t, 1)
	r := w.run(t, ctx)
	sc := testkit.Scenarios(t, testkit.ScenarioDir())
	var msgs []kafka.Message
	for _, s := range sc {
		if strings.HasPrefix(s.Name, "07-") || strings.HasPrefix(s.Name, "01-") {
			for _, line := range testkit.Lines(s.In(t)) {
				msgs = append(msgs, kafka.Message{Topic: w.cfg.Topics.RawEvents, Value: line, Time: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)})
			}
		}
	}
	testkit.Produce(t, ctx, w.brokers, msgs...)
	have := map[string]bool{}
	var missing []string
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("series the monitoring files use that the pipeline does not export: %v", missing)
		}
	})
	testkit.WaitFor(t, "every series the monitoring files use", r.progress, func() bool {
		families, err := r.registry.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range families {
			have[f.GetName()] = true
		}
		missing = missing[:0]
		for _, n := range used {
			if !have[n] {
				missing = append(missing, n)
			}
		}
		return len(missing) == 0
	})
}
