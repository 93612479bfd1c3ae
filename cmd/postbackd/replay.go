package main

import (
	"context"
	"flag"
)

var replayCommand = command{
	name:    "replay",
	summary: "classify a JSON-lines file of clicks and events, with no Kafka",
	usage:   "[--config FILE] [--in FILE] [--out FILE] [--state DIR]",
	setup: func(fs *flag.FlagSet) func(context.Context, *environment) error {
		return func(context.Context, *environment) error { return errNotYet }
	},
}
