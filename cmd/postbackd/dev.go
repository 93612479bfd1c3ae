package main

import (
	"context"
	"flag"
	"fmt"
	"time"
)

var devCommand = command{
	name:    "dev",
	summary: "run the whole pipeline locally with an in-process broker, a demo partner and synthetic traffic",
	usage:   "[--events N | --duration D] [--rate R] [--config FILE] [--brokers LIST]",
	setup: func(fs *flag.FlagSet) func(context.Context, *environment) error {
		var o devOptions
		o.register(fs)
		return func(ctx context.Context, env *environment) error {
			if err := o.validate(); err != nil {
				fmt.Fprintf(env.stderr, "postbackd dev: %v\n", err)
				return errUsage
			}
			_, err := runDev(ctx, o, env)
			return err
		}
	},
}

// devOptions are the flags of `postbackd dev`.
type devOptions struct {
	events     int64
	duration   time.Duration
	rate       float64
	configPath string
	brokers    string
	seed       int64
	devices    int
	partitions int
	// drainTimeout bounds how long, once traffic stops, the pipeline may
	// make no progress at all before the run gives up waiting for it.
	drainTimeout time.Duration
	logs         logFlags
}

// defaultDevDuration makes the no-flag demo last about a minute with the
// drain and the start-up.
const defaultDevDuration = 45 * time.Second

func (o *devOptions) register(fs *flag.FlagSet) {
	fs.Int64Var(&o.events, "events", 0, "stop after this many generated records are produced and processed")
	fs.DurationVar(&o.duration, "duration", 0, "stop producing after this long (default 45s when --events is not set)")
	fs.Float64Var(&o.rate, "rate", 2000, "records produced per second")
	fs.StringVar(&o.configPath, "config", "", "configuration file with your own partner rules (${DEMO_PARTNER_URL} is replaced by the demo partner's URL); default: a built-in demo config")
	fs.StringVar(&o.brokers, "brokers", "", "comma-separated Kafka brokers to use instead of the in-process broker")
	fs.Int64Var(&o.seed, "seed", 1, "generator seed: the same seed gives the same traffic")
	fs.IntVar(&o.devices, "devices", 1000, "distinct devices in the generated traffic")
	fs.IntVar(&o.partitions, "partitions", 4, "partitions per topic")
	fs.DurationVar(&o.drainTimeout, "drain-timeout", time.Minute, "once the last record is produced, give up waiting for the pipeline to catch up when nothing has moved for this long")
	o.logs.register(fs)
	// Dev mode's stdout is the progress view: logs stay quiet unless asked.
	for name, def := range map[string]string{"log-level": "warn", "log-format": "console"} {
		f := fs.Lookup(name)
		f.DefValue = def
		if err := f.Value.Set(def); err != nil {
			panic(err) // a constant default that does not parse is a programming error
		}
	}
}

func (o *devOptions) validate() error {
	switch {
	case o.events < 0:
		return fmt.Errorf("--events must not be negative")
	case o.duration < 0:
		return fmt.Errorf("--duration must not be negative")
	case o.rate <= 0:
		return fmt.Errorf("--rate must be positive")
	case o.devices < 1:
		return fmt.Errorf("--devices must be at least 1")
	case o.partitions < 1:
		return fmt.Errorf("--partitions must be at least 1")
	}
	if o.events == 0 && o.duration == 0 {
		o.duration = defaultDevDuration
	}
	return nil
}
