package stream

import "github.com/segmentio/kafka-go"

// explicitPartition marks a message for a chosen partition. It travels in
// kafka.Message.WriterData because kafka.Writer ignores Message.Partition and
// asks its Balancer instead, passing it the message.
type explicitPartition int

// AtPartition returns msg addressed to partition p of msg.Topic instead of
// the partition its key hashes to. Changelog records use it to land on the
// partition number of the input they came from. A partition the topic does
// not have makes Produce fail at once, writing nothing of the call.
func AtPartition(msg kafka.Message, p int) kafka.Message {
	msg.WriterData = explicitPartition(p)
	return msg
}

// partitionBalancer honours AtPartition and hashes every other message with
// byKey.
type partitionBalancer struct {
	byKey kafka.Balancer
}

func (b partitionBalancer) Balance(msg kafka.Message, partitions ...int) int {
	switch d := msg.WriterData.(type) {
	case *slot: // Produce's copy of the message
		if d.partition >= 0 {
			return d.partition
		}
	case explicitPartition:
		return int(d)
	}
	return b.byKey.Balance(msg, partitions...)
}
