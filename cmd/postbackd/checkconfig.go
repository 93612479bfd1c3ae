package main

import (
	"context"
	"errors"
	"flag"
	"fmt"

	"github.com/postbackd/postbackd/processors/config"
)

var checkConfigCommand = command{
	name:    "check-config",
	summary: "validate a configuration file and report every problem with file, line and field",
	usage:   "FILE",
	setup: func(fs *flag.FlagSet) func(context.Context, *environment) error {
		return func(_ context.Context, env *environment) error {
			if len(env.args) != 1 {
				return errUsage
			}
			cfg, err := loadConfig(env.args[0])
			var probs config.Problems
			if errors.As(err, &probs) || err == nil {
				// The sink section is checked even when the rest has
				// problems, so every problem shows in one pass.
				var sinkProbs config.Problems
				if _, serr := sinkConfig(cfg); errors.As(serr, &sinkProbs) {
					probs = append(probs, sinkProbs...)
				}
			}
			if len(probs) > 0 {
				for _, p := range probs {
					fmt.Fprintln(env.stderr, p)
				}
				return fmt.Errorf("%d problem(s) in %s", len(probs), env.args[0])
			}
			if err != nil {
				return err
			}
			_, err = fmt.Fprintf(env.stdout, "%s: ok\n", env.args[0])
			return err
		}
	},
}

// loadConfig loads the file at path, or the defaults when path is empty.
func loadConfig(path string) (*config.Config, error) {
	if path == "" {
		return config.Default(), nil
	}
	return config.Load(path)
}
