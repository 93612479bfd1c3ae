package main

import (
	"context"
	"errors"
	"flag"
)

var errNotYet = errors.New("not yet: this command lands with a later issue")

var devCommand = command{
	name:    "dev",
	summary: "run the whole pipeline locally with an in-process broker, a demo partner and synthetic traffic",
	usage:   "[--events N | --duration D] [--rate R] [--config FILE] [--brokers LIST]",
	setup: func(fs *flag.FlagSet) func(context.Context, *environment) error {
		return func(context.Context, *environment) error { return errNotYet }
	},
}
