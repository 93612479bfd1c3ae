package stream

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"
)

// ProducerConfig holds the deployment settings of a Producer.
type ProducerConfig struct {
	Brokers []string
	// Dialer carries TLS/SASL settings; nil means plain TCP.
	Dialer *kafka.Dialer
	// BatchTimeout is how long a partition's batch waits for more records
	// before it is sent. Produce blocks for at most about this long on top
	// of the round trip when its records do not fill a batch. Default 2ms.
	BatchTimeout time.Duration
	// BatchSize is the most records per partition per produce request.
	// Default 1000: a stage's batch rarely sends more to one partition, and
	// kafka-go reserves room for BatchSize records in every partition's
	// batch, so 10000 cost about a fifth of the pipeline's CPU in zeroing
	// memory (measured by the pipeline benchmark's profile).
	BatchSize int
	// BatchBytes is the most bytes per partition per request. Default 1 MiB,
	// the broker's default message.max.bytes.
	BatchBytes int64
	// Compression of record batches: none, gzip, snappy, lz4 or zstd.
	// Default lz4: on the pass-through benchmark it moved ~1.5x the
	// records/s of none for ~300-byte JSON-like values, zstd no more than
	// none.
	Compression string
	// WriteTimeout bounds one produce request. Default 10s.
	WriteTimeout time.Duration
	// MaxAttempts is how often a request failing with a retriable error is
	// tried. Default 10.
	MaxAttempts int
	Logger      *zap.Logger
}

func (c *ProducerConfig) setDefaults() {
	if c.BatchTimeout == 0 {
		c.BatchTimeout = 2 * time.Millisecond
	}
	if c.BatchSize == 0 {
		c.BatchSize = 1000
	}
	if c.BatchBytes == 0 {
		c.BatchBytes = 1 << 20
	}
	if c.WriteTimeout == 0 {
		c.WriteTimeout = 10 * time.Second
	}
	if c.MaxAttempts == 0 {
		c.MaxAttempts = 10
	}
	if c.Compression == "" {
		c.Compression = "lz4"
	}
	if c.Logger == nil {
		c.Logger = zap.NewNop()
	}
}

var compressionCodecs = map[string]kafka.Compression{
	"none": 0, "gzip": kafka.Gzip, "snappy": kafka.Snappy, "lz4": kafka.Lz4, "zstd": kafka.Zstd,
}

// Validate reports a config NewProducer cannot use.
func (c *ProducerConfig) Validate() error {
	switch {
	case len(c.Brokers) == 0:
		return fmt.Errorf("%w: producer: no brokers", ErrInvalidConfig)
	case c.BatchTimeout < 0, c.BatchSize < 0, c.BatchBytes < 0, c.WriteTimeout < 0, c.MaxAttempts < 0:
		return fmt.Errorf("%w: producer: negative setting", ErrInvalidConfig)
	}
	if _, ok := compressionCodecs[c.Compression]; !ok {
		return fmt.Errorf("%w: producer: unknown compression %q", ErrInvalidConfig, c.Compression)
	}
	return nil
}

// Producer writes records to any topic and waits until the brokers have
// acknowledged every one (acks=all). Records carry their topic; a record
// goes to the partition its key hashes to with Kafka's murmur2 (the Java
// client's default partitioner), or to the one chosen with AtPartition.
// Records with a nil key are spread at random.
//
// Produce is safe for concurrent use: the partition goroutines of a
// Consumer share one Producer, and records to one partition from one
// Produce call keep their order.
type Producer struct {
	w         *kafka.Writer
	transport *kafka.Transport
}

// NewProducer validates cfg and returns a Producer. It does not connect
// until the first Produce.
func NewProducer(cfg ProducerConfig) (*Producer, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	transport := newTransport(cfg.Dialer, 0)
	w := &kafka.Writer{
		Addr:         kafka.TCP(cfg.Brokers...),
		Balancer:     partitionBalancer{byKey: &kafka.Murmur2Balancer{}},
		MaxAttempts:  cfg.MaxAttempts,
		BatchSize:    cfg.BatchSize,
		BatchBytes:   cfg.BatchBytes,
		BatchTimeout: cfg.BatchTimeout,
		WriteTimeout: cfg.WriteTimeout,
		RequiredAcks: kafka.RequireAll,
		Compression:  compressionCodecs[cfg.Compression],
		ErrorLogger:  kafkaLogger(cfg.Logger.Warn),
		Transport:    transport,
	}
	return &Producer{w: w, transport: transport}, nil
}

// Produce writes msgs, which may go to several topics and partitions at
// once, and returns when all of them are acknowledged or one failed. On
// error some records may have been written: the caller retries the whole
// set, which the pipeline tolerates because outputs are deterministic and
// deduplicated downstream. Cancelling ctx abandons the wait, not the
// writes.
func (p *Producer) Produce(ctx context.Context, msgs ...kafka.Message) error {
	if err := p.w.WriteMessages(ctx, msgs...); err != nil {
		return fmt.Errorf("%w: %d records: %w", ErrProduce, len(msgs), err)
	}
	return nil
}

// Stats returns the writer's counters since the last call, for metrics.
func (p *Producer) Stats() kafka.WriterStats { return p.w.Stats() }

// Close flushes pending records and releases connections.
func (p *Producer) Close() error {
	err := p.w.Close()
	p.transport.CloseIdleConnections()
	return err
}

// kafkaLogger adapts a zap logging method to kafka-go's printf logger.
func kafkaLogger(log func(string, ...zap.Field)) kafka.LoggerFunc {
	return func(format string, args ...any) {
		log(fmt.Sprintf(format, args...), zap.String("source", "kafka-go"))
	}
}

// readerLogger logs a partition reader's errors at warn level, except the
// i/o timeouts of a fetch that found nothing new, which kafka-go reports as
// errors on every idle poll of a quiet partition: those go to debug, so that
// a warning in the logs means something.
func readerLogger(log *zap.Logger) kafka.LoggerFunc {
	return func(format string, args ...any) {
		msg := fmt.Sprintf(format, args...)
		level := log.Warn
		if strings.HasSuffix(msg, "i/o timeout") {
			level = log.Debug
		}
		level(msg, zap.String("source", "kafka-go"))
	}
}
