package stream

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/segmentio/kafka-go"
)

// ErrNoOwner is GroupOwner's answer when no member of the group is
// assigned the partition (the group is empty or rebalancing).
var ErrNoOwner = errors.New("no member of the group owns the partition")

// userDataBalancer is a kafka-go GroupBalancer that assigns as its inner
// one does (same protocol name, so members with and without user data
// agree on it) and sends data() as the member's user data.
type userDataBalancer struct {
	kafka.GroupBalancer
	data func() []byte
}

func (b userDataBalancer) UserData() ([]byte, error) { return b.data(), nil }

func withUserData(data func() []byte, inner ...kafka.GroupBalancer) []kafka.GroupBalancer {
	out := make([]kafka.GroupBalancer, len(inner))
	for i, g := range inner {
		out[i] = userDataBalancer{GroupBalancer: g, data: data}
	}
	return out
}

// GroupOwner answers the user data (ConsumerConfig.UserData) of the
// member of group that is assigned partition of topic, from the broker's
// description of the group (DescribeGroups). ErrNoOwner when none is.
func GroupOwner(ctx context.Context, brokers []string, dialer *kafka.Dialer, group, topic string, partition int) ([]byte, error) {
	if len(brokers) == 0 {
		return nil, fmt.Errorf("%w: no brokers", ErrInvalidConfig)
	}
	tr := newTransport(dialer, 0)
	defer tr.CloseIdleConnections()
	client := &kafka.Client{Addr: kafka.TCP(brokers...), Transport: tr, Timeout: 10 * time.Second}
	resp, err := client.DescribeGroups(ctx, &kafka.DescribeGroupsRequest{GroupIDs: []string{group}})
	if err != nil {
		return nil, fmt.Errorf("describe group %s: %w", group, err)
	}
	for _, g := range resp.Groups {
		if g.GroupID != group {
			continue
		}
		if g.Error != nil {
			return nil, fmt.Errorf("describe group %s: %w", group, g.Error)
		}
		for _, m := range g.Members {
			for _, t := range m.MemberAssignments.Topics {
				if t.Topic == topic && slices.Contains(t.Partitions, partition) {
					return m.MemberMetadata.UserData, nil
				}
			}
		}
	}
	return nil, fmt.Errorf("%w: %s %s[%d]", ErrNoOwner, group, topic, partition)
}
