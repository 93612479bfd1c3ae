package generator

import (
	"fmt"
	"time"

	"github.com/postbackd/postbackd/schemas"
)

// App is an app traffic is generated for. Each device of the app gets one of
// its Platforms; a web device visits, a mobile device installs and launches.
type App struct {
	ID        string
	Platforms []string // schemas.PlatformAndroid, PlatformIOS or PlatformWeb
}

// Config says what traffic to generate. The zero value is usable: New
// replaces zero fields with their defaults.
type Config struct {
	// Seed makes the stream reproducible: the same Config gives the same
	// records.
	Seed int64
	// Devices is the number of distinct devices (default 1000). Each takes
	// part in the stream from its first appearance on, for ever.
	Devices int
	// Apps default to two mobile apps (android and ios) and one web app.
	Apps []App
	// Partners are the ad networks touches come from (default adnet,
	// videonet, socialads, searchads).
	Partners []string
	// Start is the simulated time of the first record (default
	// 2026-03-01T00:00:00Z).
	Start time.Time
	// TimeCompression is the simulated time the stream should advance per
	// record, on average. The ordinary gaps between a device's sessions
	// are sized for it, within 1 hour and 20 days; long pauses keep their
	// length (30 days and more, which re-engagements and re-installs
	// need), so in a long run the stream advances at least about
	// 3 days / Devices per record and at most about 8 days / Devices.
	// Zero keeps an ordinary gap of two days: with the default 1000
	// devices, 20,000 records span about 55 days, with hundreds of
	// re-engagements and dozens of re-installs.
	TimeCompression time.Duration
	// MultiDeviceUsers is the share of devices whose user also uses a
	// second device of the same app. Zero means the default, 0.1: set
	// SingleDeviceUsers for none.
	MultiDeviceUsers float64
	// SingleDeviceUsers keeps every user on one device, which exact
	// user-level comparisons between replay and the streaming pipeline
	// need.
	SingleDeviceUsers bool
	// MalformedRate is the share of records that are malformed: garbage
	// bytes, bad JSON, unknown type, negative revenue, a missing required
	// field or revenue without currency (default 0).
	MalformedRate float64
}

// DefaultApps are the apps of a Config without Apps.
func DefaultApps() []App {
	return []App{
		{ID: "com.example.game", Platforms: []string{schemas.PlatformAndroid, schemas.PlatformIOS}},
		{ID: "com.example.shop", Platforms: []string{schemas.PlatformAndroid, schemas.PlatformIOS}},
		{ID: "site.example", Platforms: []string{schemas.PlatformWeb}},
	}
}

// DefaultPartners are the partners of a Config without Partners.
func DefaultPartners() []string {
	return []string{"adnet", "videonet", "socialads", "searchads"}
}

const (
	defaultDevices          = 1000
	defaultMultiDeviceUsers = 0.1
)

var defaultStart = time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)

// Validate reports fields New would have to replace or clamp.
func (c Config) Validate() error {
	if c.Devices < 0 {
		return fmt.Errorf("%w: devices %d is negative", ErrInvalidConfig, c.Devices)
	}
	if c.TimeCompression < 0 {
		return fmt.Errorf("%w: time compression %s is negative", ErrInvalidConfig, c.TimeCompression)
	}
	if c.MultiDeviceUsers < 0 || c.MultiDeviceUsers > 1 {
		return fmt.Errorf("%w: multi-device users %v is not in [0, 1]", ErrInvalidConfig, c.MultiDeviceUsers)
	}
	if c.MalformedRate < 0 || c.MalformedRate > 1 {
		return fmt.Errorf("%w: malformed rate %v is not in [0, 1]", ErrInvalidConfig, c.MalformedRate)
	}
	for i, a := range c.Apps {
		if a.ID == "" {
			return fmt.Errorf("%w: app %d has no id", ErrInvalidConfig, i)
		}
		if len(a.Platforms) == 0 {
			return fmt.Errorf("%w: app %q has no platforms", ErrInvalidConfig, a.ID)
		}
		for _, p := range a.Platforms {
			switch p {
			case schemas.PlatformAndroid, schemas.PlatformIOS, schemas.PlatformWeb:
			default:
				return fmt.Errorf("%w: app %q: unknown platform %q", ErrInvalidConfig, a.ID, p)
			}
		}
	}
	for i, p := range c.Partners {
		if p == "" {
			return fmt.Errorf("%w: partner %d is empty", ErrInvalidConfig, i)
		}
	}
	return nil
}

// setDefaults fills zero fields and clamps out-of-range ones, so that New
// never fails: the generator is a test and demo tool, and a bad rate is
// better clamped than fatal.
func (c *Config) setDefaults() {
	if c.Devices <= 0 {
		c.Devices = defaultDevices
	}
	var apps []App
	for _, a := range c.Apps {
		var ps []string
		for _, p := range a.Platforms {
			switch p {
			case schemas.PlatformAndroid, schemas.PlatformIOS, schemas.PlatformWeb:
				ps = append(ps, p)
			}
		}
		if a.ID != "" && len(ps) > 0 {
			apps = append(apps, App{ID: a.ID, Platforms: ps})
		}
	}
	if len(apps) == 0 {
		apps = DefaultApps()
	}
	c.Apps = apps
	var partners []string
	for _, p := range c.Partners {
		if p != "" {
			partners = append(partners, p)
		}
	}
	if len(partners) == 0 {
		partners = DefaultPartners()
	}
	c.Partners = partners
	if c.Start.IsZero() {
		c.Start = defaultStart
	}
	c.Start = c.Start.UTC().Truncate(time.Second)
	if c.TimeCompression < 0 {
		c.TimeCompression = 0
	}
	switch {
	case c.SingleDeviceUsers:
		c.MultiDeviceUsers = 0
	case c.MultiDeviceUsers == 0:
		c.MultiDeviceUsers = defaultMultiDeviceUsers
	}
	c.MultiDeviceUsers = clamp01(c.MultiDeviceUsers)
	c.MalformedRate = clamp01(c.MalformedRate)
}

func clamp01(v float64) float64 {
	if v < 0 || v != v {
		return 0
	}
	if v > 1 {
		return 1
	}
	return v
}
