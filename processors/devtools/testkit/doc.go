// Package testkit is postbackd's test support: a broker for a test, the
// helpers that write and read its topics, waits that end on progress, and
// the replay scenarios. Tests of every layer use it instead of helpers of
// their own (README.md, "Testing"); the fake partner they deliver
// to is processors/devtools/demopartner, and generated traffic with what
// replay makes of it is in testkit/traffic.
//
// # Brokers
//
// A stage's wiring is tested on an in-process broker (franz-go's kfake),
// so that `go test ./...` needs no JDK and no running Kafka:
//
//	brokers := testkit.Brokers(t, testkit.InProcessAllowed)
//
// runs on the broker of KAFKA_BROKERS when it is set (`make
// test-integration` sets it) and on a broker of the test's own otherwise;
// testkit.Brokers(t, testkit.RealOnly) is kafkatest.Brokers, for what only
// Kafka does; testkit.InProcessBrokers(t) is the in-process broker
// whatever the environment.
//
// The in-process broker serves what the stage runtime asks of a broker:
// topic creation (cleanup.policy=compact is kept as a config), acks=all
// produce, ListOffsets, the reads of a restore on a leader connection
// (ReadOffsets, Seek, ReadBatch), and segmentio/kafka-go's consumer
// groups with their commits (TestInProcessBrokerServesWhatTheStagesUse
// checks each). It keeps everything in memory and never compacts on its
// own, and it is not a broker that restarts: outages, compaction and
// replication are tested on the real broker.
//
// # Topics
//
// Produce writes records as the stages' producer places them (murmur2 by
// key); ReadTopic reads a topic from its start until the records read are
// enough; TailTopic streams it for a test that acts while it reads;
// ReadPartition and ReadAll read up to the end as it is now;
// DeleteTopicsAtEnd keeps a shared broker clean.
//
// # Waiting
//
// No helper here waits for a budget of the whole operation. Each fails
// only when nothing moved for DefaultStall (no new record read, no change
// of the progress measure a caller gives), so that a busy machine makes a
// test slower, never red (STYLE.md, "Tests never measure speed").
//
// # Decisions
//
//   - Produce writes with a kafka.Writer of its own rather than through
//     stream.Producer: the stream package's own tests use testkit, which
//     therefore imports no postbackd package but kafkatest.
//   - Generated traffic lives in testkit/traffic, apart, because it needs
//     replay, whose tests (and classify's, under it) use testkit.
package testkit
