package testkit

import (
	"os"
	"testing"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/postbackd/postbackd/processors/platform/stream/kafkatest"
)

// BrokerChoice says which brokers a test may run on.
type BrokerChoice int

const (
	// InProcessAllowed runs the test on the broker of KAFKA_BROKERS when
	// that is set (as kafkatest.Brokers: skipped when it does not answer,
	// failed under CI), else on an in-process broker of its own: the
	// stages' wiring tests, which must run in `go test ./...` on any
	// machine and, under `make test-integration`, on the real broker too.
	InProcessAllowed BrokerChoice = iota + 1
	// RealOnly needs the real broker (kafkatest.Brokers): for what the
	// in-process broker does not do as Kafka does (compaction, a broker
	// that restarts, replication).
	RealOnly
)

// Brokers returns the bootstrap addresses of the test's broker, chosen as
// choice says.
func Brokers(t testing.TB, choice BrokerChoice) []string {
	t.Helper()
	switch choice {
	case RealOnly:
		return kafkatest.Brokers(t)
	case InProcessAllowed:
		if os.Getenv(kafkatest.EnvBrokers) != "" {
			return kafkatest.Brokers(t)
		}
		return InProcessBrokers(t)
	}
	t.Fatalf("testkit.Brokers: unknown choice %d", choice)
	return nil
}

// InProcessBrokers starts a one-node Kafka-protocol broker on loopback
// (franz-go's kfake), whatever the environment says, and closes it when
// the test ends. Everything it holds is in memory and the test's alone.
func InProcessBrokers(t testing.TB) []string {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatalf("testkit: start in-process broker: %v", err)
	}
	t.Cleanup(c.Close)
	return c.ListenAddrs()
}
