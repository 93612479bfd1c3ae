package main

import (
	"context"
	"flag"
	"fmt"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/postbackd/postbackd/processors/devtools/devmode"
)

var devCommand = command{
	name:    "dev",
	summary: "run the whole pipeline locally with an in-process broker, a demo partner and synthetic traffic",
	usage:   "[--events N | --duration D] [--rate R] [--config FILE] [--brokers LIST]",
	setup: func(fs *flag.FlagSet) func(context.Context, *environment) error {
		var o devFlags
		o.register(fs)
		return func(ctx context.Context, env *environment) error {
			if err := o.Validate(); err != nil {
				fmt.Fprintf(env.stderr, "postbackd dev: %v\n", err)
				return errUsage
			}
			_, err := o.run(ctx, env)
			return err
		}
	},
}

// devFlags are the flags of `postbackd dev`.
type devFlags struct {
	devmode.Options
	logs logFlags
}

func (o *devFlags) register(fs *flag.FlagSet) {
	fs.Int64Var(&o.Events, "events", 0, "stop after this many generated records are produced and processed")
	fs.DurationVar(&o.Duration, "duration", 0, "stop producing after this long (default 45s when --events is not set)")
	fs.Float64Var(&o.Rate, "rate", 2000, "records produced per second")
	fs.StringVar(&o.Config, "config", "", "configuration file with your own partner rules (${DEMO_PARTNER_URL} is replaced by the demo partner's URL); default: a built-in demo config")
	fs.StringVar(&o.Brokers, "brokers", "", "comma-separated Kafka brokers to use instead of the in-process broker")
	fs.Int64Var(&o.Seed, "seed", 1, "generator seed: the same seed gives the same traffic")
	fs.IntVar(&o.Devices, "devices", 1000, "distinct devices in the generated traffic")
	fs.IntVar(&o.Partitions, "partitions", 4, "partitions per topic")
	fs.DurationVar(&o.DrainTimeout, "drain-timeout", time.Minute, "once the last record is produced, give up waiting for the pipeline to catch up when nothing has moved for this long")
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

func (o *devFlags) run(ctx context.Context, env *environment) (*devmode.Result, error) {
	logger, err := o.logs.logger()
	if err != nil {
		return nil, err
	}
	defer logger.Sync() //nolint:errcheck // nothing to do about a failed flush at exit
	// Client warnings (a broker connection timing out) come with stack
	// traces in console format, which bury the progress view.
	logger = logger.WithOptions(zap.AddStacktrace(zapcore.DPanicLevel))
	return devmode.Run(ctx, o.Options, env.stdout, logger)
}
