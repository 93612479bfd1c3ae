// Package stream is the Kafka plumbing every postbackd stage stands on:
// topic setup (EnsureTopics), a batching producer that waits for acks
// (Producer), and a consumer-group loop that hands a stage ordered batches
// per partition and tells it which partitions it owns (Consumer, Handler).
//
// It is built on github.com/segmentio/kafka-go. The consumer uses
// kafka.ConsumerGroup and kafka.Generation rather than a Reader with a
// GroupID, because a stage with per-partition state must know when it gains
// and loses a partition, and must never see records of a partition it no
// longer owns.
//
// A stage's per-batch cycle (see docs/ARCHITECTURE.md, "Delivery semantics"):
//
//	func (s *stage) Process(ctx context.Context, b stream.Batch) error {
//		out := s.classify(b.Messages)                   // pure function of state and input
//		if err := s.producer.Produce(ctx, out...); err != nil {
//			// a *ProduceError names records refused for good (deadletter
//			// their inputs, the rest is written); anything else stops the
//			// consumer and nothing is committed. A broker that is away
//			// never gets here: Produce waits for it.
//			return err
//		}
//		return s.store.Apply(...)                       // state + b.NextOffset() in one write
//	}                                                   // nil: the loop commits b.NextOffset()
//
// Changelog records go to the input's partition number with AtPartition;
// every other record is placed by the Java-compatible murmur2 hash of its
// key.
package stream
