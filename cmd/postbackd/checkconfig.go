package main

import (
	"context"
	"errors"
	"flag"
	"fmt"

	"github.com/postbackd/postbackd/processors/pipeline"
	"github.com/postbackd/postbackd/processors/platform/config"
	"github.com/postbackd/postbackd/sinks/partner"
)

var checkConfigCommand = command{
	name:    "check-config",
	summary: "validate a configuration file and report every problem with file, line and field",
	usage:   "[--skip-secrets] FILE",
	setup: func(fs *flag.FlagSet) func(context.Context, *environment) error {
		skipSecrets := fs.Bool("skip-secrets", false,
			"do not read signing secrets, the Kafka password and TLS files (for a machine that does not hold them; run reads them and refuses a missing one)")
		return func(_ context.Context, env *environment) error {
			if len(env.args) != 1 {
				return errUsage
			}
			probs, err := checkConfig(env.args[0], !*skipSecrets)
			if err != nil {
				return err
			}
			if len(probs) > 0 {
				for _, p := range probs {
					fmt.Fprintln(env.stderr, p)
				}
				return fmt.Errorf("%d problem(s) in %s", len(probs), env.args[0])
			}
			_, err = fmt.Fprintf(env.stdout, "%s: ok\n", env.args[0])
			return err
		}
	},
}

// checkConfig finds every problem that would make run refuse the file at
// path: the file's own (syntax, types, values), the sink section's, and,
// withSecrets, the secrets and files run reads at start. The error is for
// a file that cannot be read at all.
func checkConfig(path string, withSecrets bool) (config.Problems, error) {
	cfg, err := loadConfig(path)
	var probs config.Problems
	if err != nil && !errors.As(err, &probs) {
		return nil, err
	}
	if cfg == nil {
		return probs, nil // not YAML: there is nothing more to read
	}
	// The sink section is checked even when the rest has problems, so
	// every problem shows in one pass.
	var sinkProbs config.Problems
	if _, serr := partner.FromConfig(cfg, withSecrets); errors.As(serr, &sinkProbs) {
		probs = append(probs, sinkProbs...)
	}
	if withSecrets {
		// The dialer reads the TLS files and the SASL password, as run
		// does before anything else; its errors name the field.
		if _, derr := pipeline.Dialer(cfg.Kafka); derr != nil {
			probs = append(probs, fmt.Errorf("%s: %w", path, derr))
		}
	}
	return probs, nil
}

// loadConfig loads the file at path, or the defaults when path is empty.
func loadConfig(path string) (*config.Config, error) {
	if path == "" {
		return config.Default(), nil
	}
	return config.Load(path)
}
