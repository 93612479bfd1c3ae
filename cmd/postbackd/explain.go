package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/postbackd/postbackd/schemas"
	"github.com/postbackd/postbackd/sinks/partner"
)

// maxExplainLine bounds one classified record read by explain.
const maxExplainLine = 1 << 20

var explainCommand = command{
	name:    "explain",
	summary: "say, per partner and rule, whether classified records would be sent and why not",
	usage:   "--config FILE [--in FILE]",
	setup: func(fs *flag.FlagSet) func(context.Context, *environment) error {
		var cfgPath, in string
		fs.StringVar(&cfgPath, "config", "", "configuration file whose partners are explained (required)")
		fs.StringVar(&in, "in", "", "classified records as JSON lines, as replay writes them (default: stdin)")
		return func(_ context.Context, env *environment) error {
			if cfgPath == "" {
				return errUsage
			}
			cfg, err := loadConfig(cfgPath)
			if err != nil {
				return err
			}
			sc, err := partner.FromConfig(cfg, false)
			if err != nil {
				return err
			}
			router, err := partner.NewRouter(sc)
			if err != nil {
				return err
			}
			r := env.stdin
			if in != "" {
				f, err := os.Open(in)
				if err != nil {
					return err
				}
				defer f.Close()
				r = f
			}
			return explainLines(r, env.stdout, router)
		}
	},
}

// explainLines writes, for each classified record of r, one JSON line:
// its postback_id, type and the Router's explanation per partner. A line
// that is not a classified record stops with its line number.
func explainLines(r io.Reader, w io.Writer, router *partner.Router) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), maxExplainLine)
	enc := json.NewEncoder(w)
	for line := 1; sc.Scan(); line++ {
		if len(sc.Bytes()) == 0 {
			continue
		}
		rec, err := schemas.DecodeClassifiedJSON(sc.Bytes())
		if err != nil {
			return fmt.Errorf("line %d: not a classified record: %w", line, err)
		}
		if err := enc.Encode(map[string]any{"postback_id": rec.PostbackID, "type": rec.Type, "partners": router.Explain(&rec)}); err != nil {
			return err
		}
	}
	if errors.Is(sc.Err(), bufio.ErrTooLong) {
		return fmt.Errorf("a line over %d bytes", maxExplainLine)
	}
	return sc.Err()
}
