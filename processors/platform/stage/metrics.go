package stage

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/postbackd/postbackd/processors/platform/stream"
)

// Metrics are the per-stage Prometheus series shared by every stage.
type Metrics struct {
	RecordsIn       *prometheus.CounterVec   // stage
	RecordsOut      *prometheus.CounterVec   // stage, topic
	Rejects         *prometheus.CounterVec   // stage, field
	Repeats         *prometheus.CounterVec   // stage
	Lag             *prometheus.GaugeVec     // stage, topic, partition
	BatchSeconds    *prometheus.HistogramVec // stage
	BatchRecords    *prometheus.HistogramVec // stage
	RestoreRecords  *prometheus.CounterVec   // stage, partition
	RestoreRemain   *prometheus.GaugeVec     // stage, partition
	OwnedPartitions *prometheus.GaugeVec     // stage
	// The arrival-time merge (docs/ARCHITECTURE.md, "Arrival order").
	MergeRecords   *prometheus.GaugeVec   // stage, partition
	MergeBytes     *prometheus.GaugeVec   // stage, partition
	MergeWatermark *prometheus.GaugeVec   // stage, partition
	MergeReleased  *prometheus.CounterVec // stage, reason
	LateRecords    *prometheus.CounterVec // stage
	ControlRecords *prometheus.CounterVec // stage, direction (in, out)
	// StateExpired counts the devices and users the state_ttl sweep
	// deleted.
	StateExpired *prometheus.CounterVec // stage
}

// NewMetrics creates the series and registers them on reg (nil: not
// registered, for tests).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		RecordsIn: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "postbackd", Name: "records_in_total", Help: "Records read by a stage.",
		}, []string{"stage"}),
		RecordsOut: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "postbackd", Name: "records_out_total", Help: "Records written by a stage, by topic.",
		}, []string{"stage", "topic"}),
		Rejects: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "postbackd", Name: "rejects_total", Help: "Input records sent to the deadletter topic, by the field at fault.",
		}, []string{"stage", "field"}),
		Repeats: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "postbackd", Name: "repeats_skipped_total",
			Help: "Input records dropped because their source position was already applied: what an upstream stage wrote again after a crash or rebalance.",
		}, []string{"stage"}),
		Lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "postbackd", Name: "consumer_lag_records", Help: "Records between a partition's high watermark and the next offset to process.",
		}, []string{"stage", "topic", "partition"}),
		BatchSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "postbackd", Name: "batch_duration_seconds", Help: "Time to process one batch, produce included.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}, []string{"stage"}),
		BatchRecords: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "postbackd", Name: "batch_records", Help: "Records per processed batch.",
			Buckets: prometheus.ExponentialBuckets(1, 4, 8),
		}, []string{"stage"}),
		RestoreRecords: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "postbackd", Name: "restore_records_total", Help: "Changelog records applied while restoring a partition's state.",
		}, []string{"stage", "partition"}),
		RestoreRemain: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "postbackd", Name: "restore_remaining_records", Help: "Changelog records left to restore for a partition (0 when ready).",
		}, []string{"stage", "partition"}),
		OwnedPartitions: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "postbackd", Name: "owned_partitions", Help: "Input partitions this copy owns.",
		}, []string{"stage"}),
		MergeRecords: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "postbackd", Name: "merge_buffered_records", Help: "Records waiting in a partition's arrival-time merge for every raw partition to pass them.",
		}, []string{"stage", "partition"}),
		MergeBytes: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "postbackd", Name: "merge_buffered_bytes", Help: "Bytes of the records waiting in a partition's arrival-time merge.",
		}, []string{"stage", "partition"}),
		MergeWatermark: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "postbackd", Name: "merge_watermark_seconds",
			Help: "A partition's merge watermark, Unix seconds: the arrival time before which every raw partition has said it sends nothing more. Far behind the clock: a raw partition is behind or silent.",
		}, []string{"stage", "partition"}),
		MergeReleased: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "postbackd", Name: "merge_released_total",
			Help: "Records the arrival-time merge released, by reason: in_order, forced (waited merge.max_wait or the merge was full), late.",
		}, []string{"stage", "reason"}),
		LateRecords: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "postbackd", Name: "late_records_total",
			Help: "Records that arrived later than every bound the merge waits for: classified when they came, after records that arrived after them.",
		}, []string{"stage"}),
		ControlRecords: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "postbackd", Name: "control_records_total",
			Help: "Control records (watermarks) a stage read or wrote: they flow while no data does, and are not counted in records_in_total or records_out_total.",
		}, []string{"stage", "direction"}),
		StateExpired: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "postbackd", Name: "state_expired_total",
			Help: "Devices and users the state_ttl sweep deleted (idle longer than their app's state_ttl), with a changelog tombstone each.",
		}, []string{"stage"}),
	}
	if reg != nil {
		reg.MustRegister(m.RecordsIn, m.RecordsOut, m.Rejects, m.Repeats, m.Lag, m.BatchSeconds, m.BatchRecords,
			m.RestoreRecords, m.RestoreRemain, m.OwnedPartitions,
			m.MergeRecords, m.MergeBytes, m.MergeWatermark, m.MergeReleased, m.LateRecords, m.ControlRecords, m.StateExpired)
	}
	return m
}

func partitionLabel(p int) string { return strconv.Itoa(p) }

// ObserveBatch records a processed batch of stage: the partition's lag,
// the batch's size and the time since start.
func (m *Metrics) ObserveBatch(stage string, b stream.Batch, start time.Time) {
	m.Lag.WithLabelValues(stage, b.Topic, partitionLabel(b.Partition)).Set(float64(b.Lag()))
	m.BatchRecords.WithLabelValues(stage).Observe(float64(len(b.Messages)))
	m.BatchSeconds.WithLabelValues(stage).Observe(time.Since(start).Seconds())
}
