package main

import (
	"context"
	"flag"
	"fmt"
	"runtime"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

var versionCommand = command{
	name:    "version",
	summary: "print the version",
	setup: func(fs *flag.FlagSet) func(context.Context, *environment) error {
		return func(_ context.Context, env *environment) error {
			_, err := fmt.Fprintf(env.stdout, "postbackd %s %s %s/%s\n", version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
			return err
		}
	},
}
