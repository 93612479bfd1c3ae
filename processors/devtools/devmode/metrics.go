package devmode

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// Metric names read from the pipeline's registry (processors/platform/stage and
// sinks/partner define them).
const (
	metricRecordsIn  = "postbackd_records_in_total"
	metricRecordsOut = "postbackd_records_out_total"
	metricDeliveries = "postbackd_sink_deliveries_total"
)

// Sink outcomes (sinks/partner's delivery-log outcomes) by how the live
// view counts them.
var (
	outcomeDelivered = map[string]bool{"delivered": true}
	outcomeFailed    = map[string]bool{"deadlettered": true}
	outcomeRetried   = map[string]bool{"retry_scheduled": true, "handed_off": true, "parked": true}
)

// PipelineCounts are the counters of a running pipeline that the live
// view shows.
type PipelineCounts struct {
	// RecordsIn is records read, by stage.
	RecordsIn map[string]int64
	// RecordsOut is records written, by stage and topic.
	RecordsOut map[string]map[string]int64
	// Deadletters are records written to deadletterTopic by any stage.
	Deadletters int64
	// Sink is nil when no sink series exist yet.
	Sink map[string]Outcomes
}

// ReadPipeline reads the counters from g; deadletterTopic is the
// configured deadletter topic name.
func ReadPipeline(g prometheus.Gatherer, deadletterTopic string) (PipelineCounts, error) {
	families, err := g.Gather()
	if err != nil {
		return PipelineCounts{}, fmt.Errorf("gather metrics: %w", err)
	}
	c := PipelineCounts{RecordsIn: make(map[string]int64), RecordsOut: make(map[string]map[string]int64)}
	for _, f := range families {
		switch f.GetName() {
		case metricRecordsIn:
			for _, m := range f.GetMetric() {
				c.RecordsIn[label(m, "stage")] += counter(m)
			}
		case metricRecordsOut:
			for _, m := range f.GetMetric() {
				stage, topic := label(m, "stage"), label(m, "topic")
				if c.RecordsOut[stage] == nil {
					c.RecordsOut[stage] = make(map[string]int64)
				}
				c.RecordsOut[stage][topic] += counter(m)
				if topic == deadletterTopic {
					c.Deadletters += counter(m)
				}
			}
		case metricDeliveries:
			c.Sink = make(map[string]Outcomes)
			for _, m := range f.GetMetric() {
				p, o := label(m, "partner"), label(m, "outcome")
				out := c.Sink[p]
				switch {
				case outcomeDelivered[o]:
					out.Delivered += counter(m)
				case outcomeFailed[o]:
					out.Failed += counter(m)
				case outcomeRetried[o]:
					out.Retried += counter(m)
				}
				c.Sink[p] = out
			}
		}
	}
	return c, nil
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

func counter(m *dto.Metric) int64 { return int64(m.GetCounter().GetValue()) }
