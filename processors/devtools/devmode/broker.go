package devmode

import (
	"fmt"

	"github.com/twmb/franz-go/pkg/kfake"
)

// startInProcessBroker starts a one-node Kafka-protocol broker on loopback
// (kfake): dev mode needs nothing installed. It keeps everything in memory.
func startInProcessBroker() (brokers []string, stop func(), err error) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		return nil, nil, fmt.Errorf("start in-process broker: %w", err)
	}
	return c.ListenAddrs(), c.Close, nil
}
