package pipeline_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/postbackd/postbackd/processors/pipeline"
	"github.com/postbackd/postbackd/processors/platform/config"
	"github.com/postbackd/postbackd/processors/platform/stage"
	"github.com/postbackd/postbackd/sinks/partner"
	"github.com/postbackd/postbackd/sinks/sinkstage"
)

// TestTopologyDeclaresEveryTopic: the topology's stages, in order, are
// the ones --stages names, and what they declare is every topic of the
// config, once, with the config's partitions and the changelogs
// compacted: the topics a process creates come from the stages alone.
func TestTopologyDeclaresEveryTopic(t *testing.T) {
	cfg, err := config.Parse("t.yaml", []byte("kafka: {partitions: 6, replication_factor: 1}\n"))
	if err != nil {
		t.Fatal(err)
	}
	sc := partner.Config{Retry: partner.RetryConfig{Tiers: []partner.Duration{partner.Duration(1), partner.Duration(2)}}}
	stages := pipeline.Topology(cfg, &sc)
	if got := stage.Names(stages); !slices.Equal(got, pipeline.StageNames) {
		t.Fatalf("topology %v, StageNames %v", got, pipeline.StageNames)
	}
	if got := stage.Names(pipeline.Topology(cfg, nil)); slices.Contains(got, pipeline.Sink) {
		t.Errorf("without a sink config the topology has %v", got)
	}
	specs, err := stage.Topics(stages)
	if err != nil {
		t.Fatal(err)
	}
	tp := cfg.Topics
	compacted := map[string]bool{tp.DeviceChangelog: true, tp.UserChangelog: true, tp.SinkChangelog: true}
	want := []string{tp.RawClicks, tp.RawEvents, tp.EventsByDevice, tp.EventsByUser, tp.Classified, tp.Deadletter,
		tp.DeviceChangelog, tp.UserChangelog, tp.DeliveryLog, tp.DeliveryDeadletter, tp.SinkChangelog,
		sinkstage.RetryTopic(tp, 0), sinkstage.RetryTopic(tp, 1), tp.PrivacyRequests, tp.PrivacyAudit}
	var got []string
	for _, s := range specs {
		got = append(got, s.Name)
		parts := 6
		if s.Name == tp.PrivacyRequests || s.Name == tp.PrivacyAudit {
			parts = 1
		}
		if s.Partitions != parts || s.ReplicationFactor != 1 || s.Compacted != compacted[s.Name] {
			t.Errorf("%s: %d partitions, replication %d, compacted %v", s.Name, s.Partitions, s.ReplicationFactor, s.Compacted)
		}
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("declared topics\n%v\nwant\n%v", got, want)
	}
}

// TestParseStages: --stages takes names of the topology, in any order,
// and refuses others or none, naming the ones it knows; Select keeps
// topology order.
func TestParseStages(t *testing.T) {
	set, err := pipeline.ParseStages(" sink,normalize ,")
	if err != nil || len(set) != 2 || !set[pipeline.Sink] || !set[pipeline.Normalize] {
		t.Fatalf("ParseStages = %v, %v", set, err)
	}
	cfg := config.Default()
	if got := stage.Names(pipeline.Select(pipeline.Topology(cfg, &partner.Config{}), set)); !slices.Equal(got, []string{pipeline.Normalize, pipeline.Sink}) {
		t.Errorf("Select = %v, want topology order", got)
	}
	if _, err := pipeline.ParseStages("normalize,clasify"); err == nil || !strings.Contains(err.Error(), `"clasify"`) || !strings.Contains(err.Error(), strings.Join(pipeline.StageNames, ",")) {
		t.Errorf("unknown stage: %v", err)
	}
	if _, err := pipeline.ParseStages(" , "); err == nil {
		t.Error("no stage named: accepted")
	}
}
