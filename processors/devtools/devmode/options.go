package devmode

import (
	"fmt"
	"time"
)

// Options are what a dev run is asked for (the flags of `postbackd dev`).
type Options struct {
	Events     int64         // stop after this many generated records are produced and processed
	Duration   time.Duration // stop producing after this long
	Rate       float64       // records produced per second
	Config     string        // a config file with your own partner rules; empty: the built-in demo config
	Brokers    string        // comma-separated brokers instead of the in-process broker
	Seed       int64         // the same seed gives the same traffic
	Devices    int           // distinct devices in the traffic
	Partitions int           // partitions per topic
	// DrainTimeout bounds how long, once traffic stops, the pipeline may
	// make no progress at all before the run gives up waiting for it.
	DrainTimeout time.Duration
}

// DefaultDuration makes the no-flag demo last about a minute with the
// drain and the start-up.
const DefaultDuration = 45 * time.Second

// Validate refuses options a run cannot use, and gives a run with neither
// Events nor Duration the DefaultDuration.
func (o *Options) Validate() error {
	switch {
	case o.Events < 0:
		return fmt.Errorf("--events must not be negative")
	case o.Duration < 0:
		return fmt.Errorf("--duration must not be negative")
	case o.Rate <= 0:
		return fmt.Errorf("--rate must be positive")
	case o.Devices < 1:
		return fmt.Errorf("--devices must be at least 1")
	case o.Partitions < 1:
		return fmt.Errorf("--partitions must be at least 1")
	}
	if o.Events == 0 && o.Duration == 0 {
		o.Duration = DefaultDuration
	}
	return nil
}
