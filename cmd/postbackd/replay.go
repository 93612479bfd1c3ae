package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/postbackd/postbackd/processors/domain/replay"
	"github.com/postbackd/postbackd/processors/pipeline"
)

var replayCommand = command{
	name:    "replay",
	summary: "classify a JSON-lines file of clicks and events, with no Kafka",
	usage:   "[--config FILE] [--in FILE] [--out FILE] [--state DIR] [--received-at TIME]",
	setup: func(fs *flag.FlagSet) func(context.Context, *environment) error {
		var cfgPath, inPath, outPath, stateDir string
		fs.StringVar(&cfgPath, "config", "", "configuration file for per-app windows (default: the spec's defaults for every app)")
		fs.StringVar(&inPath, "in", "", "input JSON lines (default: stdin)")
		fs.StringVar(&outPath, "out", "", "output JSON lines (default: stdout)")
		fs.StringVar(&stateDir, "state", "", "keep the Badger state in DIR (default: a temporary directory, removed)")
		var receivedAt string
		fs.StringVar(&receivedAt, "received-at", "", "RFC 3339 arrival time of lines without received_at (default: now)")
		return func(ctx context.Context, env *environment) error {
			cfg, err := loadConfig(cfgPath)
			if err != nil {
				return err
			}
			var arrival time.Time
			if receivedAt != "" {
				if arrival, err = time.Parse(time.RFC3339Nano, receivedAt); err != nil {
					return fmt.Errorf("%w: --received-at: %w", errUsage, err)
				}
			}
			var in io.Reader = env.stdin
			if inPath != "" {
				f, err := os.Open(inPath)
				if err != nil {
					return fmt.Errorf("--in: %w", err)
				}
				defer f.Close()
				in = f
			}
			out := env.stdout
			var outFile *os.File
			if outPath != "" {
				if outFile, err = os.Create(outPath); err != nil {
					return fmt.Errorf("--out: %w", err)
				}
				defer outFile.Close()
				out = outFile
			}
			w := bufio.NewWriterSize(out, 1<<20)
			_, err = replay.Run(ctx, replay.Config{
				Windows: pipeline.Windows(cfg), MaxClockSkew: pipeline.MaxClockSkew(cfg), MaxRecordBytes: cfg.MaxRecordBytes,
				ReceivedAt: arrival, StateDir: stateDir,
			}, in, w, env.stderr)
			if ferr := w.Flush(); err == nil {
				err = ferr
			}
			if err == nil && outFile != nil {
				err = outFile.Close()
			}
			return err
		}
	},
}
