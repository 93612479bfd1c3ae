package main

import (
	"context"
	"errors"
	"flag"
)

var errNotYet = errors.New("not yet: this command lands with a later issue")

var runCommand = command{
	name:    "run",
	summary: "run the pipeline's stages against a Kafka cluster",
	usage:   "--config FILE [--stages normalize,device,user,sink]",
	setup: func(fs *flag.FlagSet) func(context.Context, *environment) error {
		return func(context.Context, *environment) error { return errNotYet }
	},
}

var replayCommand = command{
	name:    "replay",
	summary: "classify a JSON-lines file of clicks and events, with no Kafka",
	usage:   "[--config FILE] [--in FILE] [--out FILE] [--state DIR]",
	setup: func(fs *flag.FlagSet) func(context.Context, *environment) error {
		return func(context.Context, *environment) error { return errNotYet }
	},
}

var devCommand = command{
	name:    "dev",
	summary: "run the whole pipeline locally with an in-process broker, a demo partner and synthetic traffic",
	usage:   "[--events N | --duration D] [--rate R] [--config FILE] [--brokers LIST]",
	setup: func(fs *flag.FlagSet) func(context.Context, *environment) error {
		return func(context.Context, *environment) error { return errNotYet }
	},
}
