package devmode

import (
	"context"
	"maps"
	"strings"
	"sync"

	"github.com/segmentio/kafka-go"

	"github.com/postbackd/postbackd/processors/platform/config"
	"github.com/postbackd/postbackd/processors/platform/stage"
	"github.com/postbackd/postbackd/schemas"
)

// classifiedCounter wraps the pipeline's producer to count classified
// records by type as the classifiers write them, and the sink's retry
// jobs. The metrics count records per topic only, and reading the topics
// back would need more consumers.
type classifiedCounter struct {
	stage.Producer
	topic       string
	json        bool
	retryPrefix string // retry tier topics are <DeliveryRetry>.<tier>

	mu      sync.Mutex
	byType  map[string]int64
	retries int64
}

func newClassifiedCounter(p stage.Producer, topics config.Topics, json bool) *classifiedCounter {
	return &classifiedCounter{Producer: p, topic: topics.Classified, json: json,
		retryPrefix: topics.DeliveryRetry + ".", byType: make(map[string]int64)}
}

// Produce counts once the records are acknowledged: a failed produce is
// retried by its stage and would otherwise count twice.
func (c *classifiedCounter) Produce(ctx context.Context, msgs ...kafka.Message) error {
	if err := c.Producer.Produce(ctx, msgs...); err != nil {
		return err
	}
	var (
		types   []string
		retries int64
	)
	for i := range msgs {
		switch {
		case msgs[i].Topic == c.topic:
			types = append(types, c.recordType(msgs[i].Value))
		case strings.HasPrefix(msgs[i].Topic, c.retryPrefix):
			retries++
		}
	}
	if len(types) == 0 && retries == 0 {
		return nil
	}
	c.mu.Lock()
	for _, t := range types {
		c.byType[t]++
	}
	c.retries += retries
	c.mu.Unlock()
	return nil
}

func (c *classifiedCounter) recordType(v []byte) string {
	var (
		rec schemas.Classified
		err error
	)
	if c.json {
		rec, err = schemas.DecodeClassifiedJSON(v)
	} else {
		rec, err = schemas.DecodeClassified(v)
	}
	if err != nil {
		return "(undecodable)"
	}
	return rec.Type
}

// counts returns a copy of the counts by type so far, and the retry jobs
// produced.
func (c *classifiedCounter) counts() (byType map[string]int64, retries int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return maps.Clone(c.byType), c.retries
}
