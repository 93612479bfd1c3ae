package pipeline

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"

	"github.com/postbackd/postbackd/processors/runtime"
	"github.com/postbackd/postbackd/processors/stream"
)

func (e *Env) stateful(stage, changelog string, logic runtime.Logic) (*runtime.Stateful, error) {
	return runtime.NewStateful(runtime.StatefulConfig{
		Stage: stage, ChangelogTopic: changelog, StateDir: e.Config.StateDir,
		Brokers: e.Config.Kafka.Brokers, Dialer: e.Dialer, Producer: e.Producer, Logic: logic,
		Metrics: e.Metrics, Readiness: e.Readiness, Logger: e.Logger.With(zap.String("stage", stage)),
	})
}

// runStateful runs the consumer, then closes the stores it left open.
func runStateful(ctx context.Context, c *stream.Consumer, sf *runtime.Stateful) error {
	err := c.Run(ctx)
	return errors.Join(err, sf.Close())
}

// deadletter sends an internal record that cannot be decoded to the
// deadletter topic rather than stopping the partition: one bad record must
// not hold up every device behind it.
func addDeadletter(res *runtime.Result, enc classifiedEncoder, topic string, m kafka.Message, cause error) error {
	dl, err := enc.deadletter(topic, m, "", fmt.Errorf("%w: %w", ErrCorrupt, cause).Error())
	if err != nil {
		return err
	}
	res.Outputs = append(res.Outputs, dl)
	if res.Rejected == nil {
		res.Rejected = make(map[string]int)
	}
	res.Rejected["record"]++
	return nil
}

func partitionLabel(p int) string { return strconv.Itoa(p) }
