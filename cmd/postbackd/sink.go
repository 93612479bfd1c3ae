package main

import (
	"context"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/postbackd/postbackd/processors/config"
	"github.com/postbackd/postbackd/processors/pipeline"
	"github.com/postbackd/postbackd/processors/stream"
)

// sinkTopics are the topics the sink stage needs.
func sinkTopics(cfg *config.Config) []stream.TopicSpec { return nil }

// newSinkRunner builds the partner delivery sink stage.
func newSinkRunner(ctx context.Context, cfg *config.Config, env pipeline.Env, reg prometheus.Registerer) (func(context.Context) error, error) {
	return nil, fmt.Errorf("the sink stage is not wired yet")
}
