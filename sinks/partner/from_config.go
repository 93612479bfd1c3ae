package partner

import (
	"errors"

	"github.com/postbackd/postbackd/processors/platform/config"
)

// FromConfig parses the sink section of cfg, checks its endpoints and,
// with withSecrets, reads its partners' signing secrets, reporting every
// problem with file, line and field like the rest of the file, so that a
// bad sink section is refused at start, before anything connects to
// Kafka. withSecrets false is check-config --skip-secrets, on a machine
// that does not hold them.
func FromConfig(cfg *config.Config, withSecrets bool) (Config, error) {
	if cfg == nil {
		return Config{}, errors.New("no configuration")
	}
	sc, problems := ParseConfig(cfg.File, &cfg.Sink, cfg.KnownApp)
	problems = append(problems, checkEndpoints(cfg.File, &cfg.Sink, sc)...)
	if _, err := loadFX(sc.FX); err != nil && sc.FX.RatesFile != "" {
		line := 0
		if n := nodeAt(&cfg.Sink, "fx.rates_file"); n != nil {
			line = n.Line
		}
		problems = append(problems, &FieldError{File: cfg.File, Line: line, Field: "sink.fx.rates_file", Msg: err.Error(), Err: ErrInvalidConfig})
	}
	if withSecrets {
		problems = append(problems, readSecrets(cfg.File, &cfg.Sink, &sc)...)
	}
	if len(problems) > 0 {
		return sc, config.Problems(problems)
	}
	return sc, nil
}
