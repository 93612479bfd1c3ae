package main

import (
	"context"
	"maps"
	"sync"

	"github.com/segmentio/kafka-go"

	"github.com/postbackd/postbackd/processors/runtime"
	"github.com/postbackd/postbackd/schemas"
)

// classifiedCounter wraps the pipeline's producer to count classified
// records by type as the classifiers write them. The metrics count records
// per topic only, and reading the topic back would need one more consumer.
type classifiedCounter struct {
	runtime.Producer
	topic string
	json  bool

	mu     sync.Mutex
	byType map[string]int64
}

func newClassifiedCounter(p runtime.Producer, topic string, json bool) *classifiedCounter {
	return &classifiedCounter{Producer: p, topic: topic, json: json, byType: make(map[string]int64)}
}

// Produce counts once the records are acknowledged: a failed produce is
// retried by its stage and would otherwise count twice.
func (c *classifiedCounter) Produce(ctx context.Context, msgs ...kafka.Message) error {
	if err := c.Producer.Produce(ctx, msgs...); err != nil {
		return err
	}
	var types []string
	for i := range msgs {
		if msgs[i].Topic != c.topic {
			continue
		}
		if t := c.recordType(msgs[i].Value); t != "" {
			types = append(types, t)
		}
	}
	if len(types) == 0 {
		return nil
	}
	c.mu.Lock()
	for _, t := range types {
		c.byType[t]++
	}
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

// counts returns a copy of the counts so far.
func (c *classifiedCounter) counts() map[string]int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return maps.Clone(c.byType)
}
