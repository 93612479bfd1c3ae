package config

import (
	"fmt"
	"os"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Config is the whole configuration file.
type Config struct {
	Kafka            Kafka     `yaml:"kafka"`
	Topics           Topics    `yaml:"topics"`
	StateDir         string    `yaml:"state_dir"`
	ClassifiedFormat string    `yaml:"classified_format"` // avro (default) or json
	HTTP             HTTP      `yaml:"http"`
	Defaults         Windows   `yaml:"defaults"`
	Apps             []App     `yaml:"apps"`
	Sink             yaml.Node `yaml:"sink"` // parsed by sinks/partner

	// File is the path the configuration was loaded from ("" for defaults).
	File string `yaml:"-"`
}

// Kafka is how postbackd reaches the cluster.
type Kafka struct {
	Brokers           []string `yaml:"brokers"`
	ClientID          string   `yaml:"client_id"`
	GroupPrefix       string   `yaml:"group_prefix"` // groups are <prefix>.<stage>
	Partitions        int      `yaml:"partitions"`
	ReplicationFactor int      `yaml:"replication_factor"`
	SchemaRegistryURL string   `yaml:"schema_registry_url"`
	TLS               TLS      `yaml:"tls"`
	SASL              SASL     `yaml:"sasl"`
}

// TLS configures encrypted connections to the brokers.
type TLS struct {
	Enabled            bool   `yaml:"enabled"`
	CAFile             string `yaml:"ca_file"`
	CertFile           string `yaml:"cert_file"`
	KeyFile            string `yaml:"key_file"`
	InsecureSkipVerify bool   `yaml:"insecure_skip_verify"`
}

// SASL configures broker authentication.
type SASL struct {
	Mechanism    string `yaml:"mechanism"` // PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512
	Username     string `yaml:"username"`
	PasswordEnv  string `yaml:"password_env"`
	PasswordFile string `yaml:"password_file"`
}

// HTTP is the health and metrics listener.
type HTTP struct {
	Listen string `yaml:"listen"`
}

// Windows are an app's classification windows; zero fields take the
// defaults.
type Windows struct {
	InactivityWindow   Duration `yaml:"inactivity_window"`
	ClickLookback      Duration `yaml:"click_lookback"`
	ImpressionLookback Duration `yaml:"impression_lookback"`
	DedupHorizon       Duration `yaml:"dedup_horizon"`
}

// App is one app's settings.
type App struct {
	AppID   string `yaml:"app_id"`
	Windows `yaml:",inline"`
}

// Defaults of CLASSIFICATION.md.
const (
	DefaultInactivityWindow   = 30 * 24 * time.Hour
	DefaultClickLookback      = 7 * 24 * time.Hour
	DefaultImpressionLookback = 24 * time.Hour
	DefaultDedupHorizon       = 7 * 24 * time.Hour
)

// Env variables that override the file, for secrets and per-host settings.
const (
	EnvBrokers  = "POSTBACKD_KAFKA_BROKERS"
	EnvStateDir = "POSTBACKD_STATE_DIR"
)

func (c *Config) setDefaults() {
	if len(c.Kafka.Brokers) == 0 {
		c.Kafka.Brokers = []string{"127.0.0.1:9092"}
	}
	if c.Kafka.ClientID == "" {
		c.Kafka.ClientID = "postbackd"
	}
	if c.Kafka.GroupPrefix == "" {
		c.Kafka.GroupPrefix = "postbackd"
	}
	if c.Kafka.Partitions == 0 {
		c.Kafka.Partitions = 12
	}
	if c.Kafka.ReplicationFactor == 0 {
		c.Kafka.ReplicationFactor = 1
	}
	if c.StateDir == "" {
		c.StateDir = "./data"
	}
	if c.ClassifiedFormat == "" {
		c.ClassifiedFormat = "avro"
	}
	if c.HTTP.Listen == "" {
		c.HTTP.Listen = "127.0.0.1:9090"
	}
	c.Defaults = c.Defaults.orElse(Windows{
		InactivityWindow:   Duration(DefaultInactivityWindow),
		ClickLookback:      Duration(DefaultClickLookback),
		ImpressionLookback: Duration(DefaultImpressionLookback),
		DedupHorizon:       Duration(DefaultDedupHorizon),
	})
	c.Topics.setDefaults()
}

func (w Windows) orElse(d Windows) Windows {
	if w.InactivityWindow == 0 {
		w.InactivityWindow = d.InactivityWindow
	}
	if w.ClickLookback == 0 {
		w.ClickLookback = d.ClickLookback
	}
	if w.ImpressionLookback == 0 {
		w.ImpressionLookback = d.ImpressionLookback
	}
	if w.DedupHorizon == 0 {
		w.DedupHorizon = d.DedupHorizon
	}
	return w
}

func (c *Config) applyEnv() {
	if b := os.Getenv(EnvBrokers); b != "" {
		c.Kafka.Brokers = strings.Split(b, ",")
	}
	if d := os.Getenv(EnvStateDir); d != "" {
		c.StateDir = d
	}
}

// validate checks what decoding could not; root is the document's mapping
// node, used to point at lines.
func (c *Config) validate(d *Decoder, root *yaml.Node) {
	at := func(path ...string) *yaml.Node { return find(root, path...) }
	if c.Kafka.Partitions < 1 {
		d.Add(at("kafka", "partitions"), "kafka.partitions", "must be at least 1")
	}
	if c.Kafka.ReplicationFactor < 1 {
		d.Add(at("kafka", "replication_factor"), "kafka.replication_factor", "must be at least 1")
	}
	switch c.ClassifiedFormat {
	case "avro", "json":
	default:
		d.Add(at("classified_format"), "classified_format", "want avro or json, got %q", c.ClassifiedFormat)
	}
	switch strings.ToUpper(c.Kafka.SASL.Mechanism) {
	case "", "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512":
	default:
		d.Add(at("kafka", "sasl", "mechanism"), "kafka.sasl.mechanism", "want PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512, got %q", c.Kafka.SASL.Mechanism)
	}
	if c.Kafka.SASL.Mechanism != "" && c.Kafka.SASL.Username == "" {
		d.Add(at("kafka", "sasl"), "kafka.sasl.username", "required with a SASL mechanism")
	}
	seen := make(map[string]bool)
	appsNode := at("apps")
	for i, app := range c.Apps {
		var n *yaml.Node
		if appsNode != nil && i < len(appsNode.Content) {
			n = appsNode.Content[i]
		}
		field := fmt.Sprintf("apps[%d].app_id", i)
		switch {
		case app.AppID == "":
			d.Add(n, field, "required")
		case seen[app.AppID]:
			d.Add(find(n, "app_id"), field, "app %q listed twice", app.AppID)
		}
		seen[app.AppID] = true
	}
}

// WindowsFor returns the windows of appID: its own settings, else the
// defaults.
func (c *Config) WindowsFor(appID string) Windows {
	for _, a := range c.Apps {
		if a.AppID == appID {
			return a.Windows.orElse(c.Defaults)
		}
	}
	return c.Defaults
}

// KnownApp reports whether appID is listed under apps; with no apps listed
// every app is known (the defaults apply to all).
func (c *Config) KnownApp(appID string) bool {
	if len(c.Apps) == 0 || appID == "*" {
		return true
	}
	for _, a := range c.Apps {
		if a.AppID == appID {
			return true
		}
	}
	return false
}

// Default returns the configuration used with no file: every default.
func Default() *Config {
	c := &Config{}
	c.setDefaults()
	c.applyEnv()
	return c
}
