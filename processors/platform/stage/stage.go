package stage

import (
	"context"
	"fmt"
	"maps"
	"slices"

	"github.com/postbackd/postbackd/processors/platform/stream"
)

// Stage is one step of a topology: its name (its consumer group's suffix,
// its metric label, its state directory), the topics it reads and
// writes, and how to build it on an Env. The topics are data, so that the
// process creates every topic its stages use before it builds them, and a
// reader of the topology sees the whole graph in one place.
type Stage struct {
	Name   string
	Reads  []stream.TopicSpec
	Writes []stream.TopicSpec // outputs, deadletters, changelogs
	Build  func(Env) (Runner, error)
}

// Runner is a built stage: Run consumes until ctx ends, drains the batch
// in flight and releases what it holds.
type Runner interface {
	Run(ctx context.Context) error
}

// Topics lists every topic the stages read or write, once each, in the
// order they first appear; a topic two stages declare differently is an
// error.
func Topics(stages []Stage) ([]stream.TopicSpec, error) {
	var out []stream.TopicSpec
	at := make(map[string]int)
	for _, s := range stages {
		for _, t := range slices.Concat(s.Reads, s.Writes) {
			i, seen := at[t.Name]
			if !seen {
				at[t.Name] = len(out)
				out = append(out, t)
				continue
			}
			if !sameSpec(out[i], t) {
				return nil, fmt.Errorf("%w: topic %s declared as %+v and, by %s, as %+v", ErrInvalidConfig, t.Name, out[i], s.Name, t)
			}
		}
	}
	return out, nil
}

// Names lists the stages' names in order.
func Names(stages []Stage) []string {
	names := make([]string, len(stages))
	for i, s := range stages {
		names[i] = s.Name
	}
	return names
}

func sameSpec(a, b stream.TopicSpec) bool {
	return a.Name == b.Name && a.Partitions == b.Partitions && a.ReplicationFactor == b.ReplicationFactor &&
		a.Compacted == b.Compacted && maps.Equal(a.Config, b.Config)
}
