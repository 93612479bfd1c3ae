// Package kafkatest gives integration tests a real Kafka broker, the way
// net/http/httptest gives them an HTTP server.
//
// The broker is not started here: `make test-integration` (through
// scripts/with-kafka.sh) starts a one-node Apache Kafka and exports its
// address as KAFKA_BROKERS. Tests ask for it with Brokers and get a fresh,
// uniquely named topic, deleted when the test ends, with Topic:
//
//	//go:build integration
//
//	func TestIntegrationNormalize(t *testing.T) {
//		brokers := kafkatest.Brokers(t)
//		in := kafkatest.Topic(t, brokers, 3)
//		...
//	}
//
// Topic creates the topic through kafka.DefaultTransport, so a kafka.Writer
// on the default transport with Addr kafka.TCP(brokers...) can write to it
// at once; a Writer with a Transport of its own may see
// UnknownTopicOrPartition until its metadata cache refreshes (MetadataTTL).
//
// Without KAFKA_BROKERS, or with a broker that does not answer, the test is
// skipped on a developer's machine and fails under CI (CI=true), so a CI
// run can never pass by skipping every integration test.
package kafkatest
