package pipeline

import (
	"fmt"
	"strings"

	"github.com/postbackd/postbackd/processors/platform/config"
	"github.com/postbackd/postbackd/processors/platform/stage"
	"github.com/postbackd/postbackd/sinks/partner"
	"github.com/postbackd/postbackd/sinks/sinkstage"
)

// The stages' names: their consumer groups' suffixes, metric labels and
// state directories, and what `postbackd run --stages` takes.
const (
	Normalize = "normalize"
	Device    = "device"
	User      = "user"
	Sink      = sinkstage.StageName
)

// StageNames lists every stage of the topology, in order.
var StageNames = []string{Normalize, Device, User, Sink}

// Topology is the pipeline, in order: raw topics → normalize →
// events.by-device → device → classified and events.by-user → user →
// classified → sink → partners (docs/ARCHITECTURE.md, "Stages"). sink is the
// parsed sink section; nil leaves the sink stage out (it cannot be built
// without it). A new stage is a file with its Stage and a line here.
func Topology(cfg *config.Config, sink *partner.Config, sinkOpts ...partner.Option) []stage.Stage {
	stages := []stage.Stage{normalizeStage(cfg), deviceStage(cfg), userStage(cfg)}
	if sink != nil {
		stages = append(stages, sinkstage.Spec(cfg, *sink, sinkOpts...))
	}
	return stages
}

// ParseStages reads a --stages list: names of StageNames, comma-separated.
func ParseStages(s string) (map[string]bool, error) {
	set := make(map[string]bool)
	for _, name := range strings.Split(s, ",") {
		name = strings.TrimSpace(name)
		if name == "" {
			continue
		}
		known := false
		for _, a := range StageNames {
			known = known || a == name
		}
		if !known {
			return nil, fmt.Errorf("--stages: unknown stage %q (want some of %s)", name, strings.Join(StageNames, ","))
		}
		set[name] = true
	}
	if len(set) == 0 {
		return nil, fmt.Errorf("--stages: no stage named")
	}
	return set, nil
}

// Select keeps the stages named in set, in topology order.
func Select(stages []stage.Stage, set map[string]bool) []stage.Stage {
	var out []stage.Stage
	for _, s := range stages {
		if set[s.Name] {
			out = append(out, s)
		}
	}
	return out
}
