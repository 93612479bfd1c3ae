package devmode

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"go.uber.org/zap"

	"github.com/postbackd/postbackd/processors/devtools/generator"
	"github.com/postbackd/postbackd/processors/pipeline"
	"github.com/postbackd/postbackd/processors/platform/stream"
)

// Result is what a dev run ends with; tests compare its parts.
type Result struct {
	Summary Summary
	Partner PartnerStats // the demo partner's own record
}

// errNotSettled is returned by a run with --events whose records were not
// all processed in time.
var errNotSettled = errors.New("the pipeline did not process every generated record in time")

// DevAdminTokenEnv holds the admin token of the demo config: set, it is
// used; unset, dev sets a random one and prints it with the console's
// address.
const DevAdminTokenEnv = "POSTBACKD_DEV_ADMIN_TOKEN"

// cfgUsesDevToken: the built-in demo config (no --config file) takes its
// admin token from DevAdminTokenEnv.
func cfgUsesDevToken(path string) bool { return path == "" }

// Run runs the local demo: broker, demo partner, pipeline and traffic,
// with live progress on stdout and a summary at the end. o must be
// Validated.
func Run(ctx context.Context, o Options, stdout io.Writer, logger *zap.Logger) (*Result, error) {
	var err error

	settings := devRunSettings{partitions: o.Partitions, runID: "postbackd-dev-" + randomHex(4)}
	if o.Brokers != "" {
		settings.brokers = strings.Split(o.Brokers, ",")
	} else {
		brokers, stop, err := startInProcessBroker()
		if err != nil {
			return nil, err
		}
		defer stop()
		settings.brokers, settings.inProcess = brokers, true
	}
	settings.stateDir, err = os.MkdirTemp("", "postbackd-dev-state-")
	if err != nil {
		return nil, fmt.Errorf("state dir: %w", err)
	}
	defer os.RemoveAll(settings.stateDir)

	partner, err := startDemoPartner(logger)
	if err != nil {
		return nil, err
	}
	defer partner.Close()
	settings.partnerURL = partner.url

	cfg, err := devConfig(o.Config, settings)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(stdout, "postbackd dev: brokers %s, topics %s*, demo partner %s\n",
		strings.Join(cfg.Kafka.Brokers, ","), cfg.Topics.Prefix, partner.url)

	// The console and admin API of the demo config take a token made for
	// this run (printed below) unless one is set.
	if os.Getenv(DevAdminTokenEnv) == "" {
		if err := os.Setenv(DevAdminTokenEnv, randomHex(16)); err != nil {
			return nil, err
		}
	}
	p, err := startDevPipeline(ctx, cfg, logger)
	if err != nil {
		return nil, fmt.Errorf("start pipeline: %w", err)
	}
	if p.sinkErr != nil {
		fmt.Fprintf(stdout, "postbackd dev: running without the sink: %v\n", p.sinkErr)
	}
	if u := p.adminURL.Load(); u != nil && *u != "" {
		token := "the token of sink.admin in your config"
		if cfgUsesDevToken(o.Config) {
			token = os.Getenv(DevAdminTokenEnv)
		}
		fmt.Fprintf(stdout, "postbackd dev: console %s/console/ (log in with %s)\n", *u, token)
	}

	producer, err := stream.NewProducer(pipeline.ProducerConfig(cfg, nil, logger))
	if err != nil {
		return nil, errors.Join(err, p.stop())
	}
	defer producer.Close()
	feed := &feeder{
		gen: generator.New(generator.Config{
			Seed: o.Seed, Devices: o.Devices, MalformedRate: devMalformedRate,
		}),
		producer: producer, topic: cfg.Topics.RawEvents, rate: o.Rate, limit: o.Events,
	}
	w := &devWatch{
		opts: o, pipeline: p, feed: feed, partner: partner,
		deadletterTopic: cfg.Topics.Deadletter, eventsByDevice: cfg.Topics.EventsByDevice, eventsByUser: cfg.Topics.EventsByUser,
		progress: NewProgress(stdout, isTerminal(stdout)), logger: logger,
	}
	res, err := w.run(ctx)
	if res != nil {
		fmt.Fprintln(stdout)
		if werr := res.Summary.Write(stdout); werr != nil {
			err = errors.Join(err, werr)
		}
	}
	return res, err
}

// devMalformedRate is the share of generated records that are malformed,
// enough to see the deadletter fill.
const devMalformedRate = 0.01

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return hex.EncodeToString(b)
}

func isTerminal(w any) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
