package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"

	"github.com/postbackd/postbackd/processors/pipeline"
	"github.com/postbackd/postbackd/processors/platform/stream"
	"github.com/postbackd/postbackd/sinks/sinkstage"
)

var eraseCommand = command{
	name:    "erase",
	summary: "forget a device or a user of an app: its state in every stage, and its postbacks still waiting (PRIVACY.md)",
	usage:   "--config FILE --app APP (--device ID | --user ID) [--request-id R] [--no-wait]",
	setup: func(fs *flag.FlagSet) func(context.Context, *environment) error {
		var (
			cfgPath, app, device, user, requestID string
			noWait                                bool
			logs                                  logFlags
		)
		fs.StringVar(&cfgPath, "config", "", "configuration file of the running pipeline (required)")
		fs.StringVar(&app, "app", "", "app id (required)")
		fs.StringVar(&device, "device", "", "device id to erase")
		fs.StringVar(&user, "user", "", "user id to erase")
		fs.StringVar(&requestID, "request-id", "", "the request's id, to make it idempotent (default: a random one, printed)")
		fs.BoolVar(&noWait, "no-wait", false, "send the request and exit, without waiting for its audit record")
		logs.register(fs)
		return func(ctx context.Context, env *environment) error {
			if cfgPath == "" || app == "" || (device == "") == (user == "") || len(env.args) > 0 {
				return errUsage
			}
			cfg, err := loadConfig(cfgPath)
			if err != nil {
				return err
			}
			body, _ := json.Marshal(map[string]string{"request_id": requestID, "app_id": app, "device_id": device, "user_id": user})
			msg, req, err := sinkstage.ErasureMessage(cfg.Topics, body)
			if err != nil {
				return err
			}
			logger, err := logs.logger()
			if err != nil {
				return err
			}
			defer logger.Sync() //nolint:errcheck // nothing to do about a failed flush at exit
			dialer, err := pipeline.Dialer(cfg.Kafka)
			if err != nil {
				return err
			}
			producer, err := stream.NewProducer(pipeline.ProducerConfig(cfg, dialer, logger))
			if err != nil {
				return err
			}
			err = producer.Produce(ctx, msg)
			producer.Close()
			if err != nil {
				return fmt.Errorf("send the request: %w", err)
			}
			fmt.Fprintf(env.stderr, "erase: request %s sent\n", req.RequestID)
			if noWait {
				return json.NewEncoder(env.stdout).Encode(map[string]string{"request_id": req.RequestID, "status": "pending"})
			}
			audit, err := sinkstage.WaitErasure(ctx, cfg, dialer, req.RequestID)
			if err != nil {
				return fmt.Errorf("waiting for request %s's audit record (the request stands): %w", req.RequestID, err)
			}
			return json.NewEncoder(env.stdout).Encode(map[string]any{"request_id": audit.RequestID, "status": "done",
				"completed_at": audit.CompletedAt, "erased": audit.Erased})
		}
	},
}
