package main

import (
	"context"
	"flag"
	"strings"

	"github.com/postbackd/postbackd/processors/pipeline"
	"github.com/postbackd/postbackd/sinks/partner"
)

var runCommand = command{
	name:    "run",
	summary: "run the pipeline's stages against a Kafka cluster",
	usage:   "[--config FILE] [--stages normalize,device,user,sink]",
	setup: func(fs *flag.FlagSet) func(context.Context, *environment) error {
		var (
			cfgPath string
			stages  string
			listen  string
			logs    logFlags
		)
		fs.StringVar(&cfgPath, "config", "", "configuration file (default: built-in defaults)")
		fs.StringVar(&stages, "stages", strings.Join(pipeline.StageNames, ","), "comma-separated stages to run in this process")
		fs.StringVar(&listen, "http", "", "health and metrics listen address (default: http.listen from config)")
		logs.register(fs)
		return func(ctx context.Context, env *environment) error {
			cfg, err := loadConfig(cfgPath)
			if err != nil {
				return err
			}
			if listen != "" {
				cfg.HTTP.Listen = listen
			}
			logger, err := logs.logger()
			if err != nil {
				return err
			}
			defer logger.Sync() //nolint:errcheck // nothing to do about a failed flush at exit
			set, err := pipeline.ParseStages(stages)
			if err != nil {
				return err
			}
			var sc *partner.Config
			if set[pipeline.Sink] {
				c, err := partner.FromConfig(cfg, true)
				if err != nil {
					return err
				}
				sc = &c
			}
			topology := pipeline.Topology(cfg, sc, partner.WithVersion(version))
			return pipeline.Run(ctx, cfg, pipeline.Select(topology, set), pipeline.RunOptions{Logger: logger, Version: version})
		}
	},
}
