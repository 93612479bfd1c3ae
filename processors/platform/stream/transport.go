package stream

import (
	"time"

	"github.com/segmentio/kafka-go"
)

// newTransport builds a kafka.Transport that connects the way dialer does
// (TLS, SASL, client id), so Writer and Client traffic use the same settings
// as the consumer group's connections.
func newTransport(dialer *kafka.Dialer, metadataTTL time.Duration) *kafka.Transport {
	t := &kafka.Transport{MetadataTTL: metadataTTL}
	if dialer == nil {
		return t
	}
	t.Dial = dialer.DialFunc
	t.DialTimeout = dialer.Timeout
	t.TLS = dialer.TLS
	t.SASL = dialer.SASLMechanism
	t.ClientID = dialer.ClientID
	return t
}
