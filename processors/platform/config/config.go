package config

import (
	"fmt"
	"net/url"
	"os"
	"strconv"
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
	// MaxRecordBytes bounds a raw record as received (default 64 KiB): no
	// record the pipeline derives from it can then exceed the broker's
	// message size (CLASSIFICATION.md, "Limits").
	MaxRecordBytes int `yaml:"max_record_bytes"`
	// Merge is the arrival-time merge of the raw topics.
	Merge Merge `yaml:"merge"`
	// StateKeepRevoked is how long a copy keeps the store of a partition
	// it gave up before deleting it (default 2m; a rebalance that gives
	// it back sooner resumes from it): a partition another copy took
	// over must not keep, on this disk, what that copy later erases.
	StateKeepRevoked Duration `yaml:"state_keep_revoked"`

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
	// MaxMessageBytes is the largest record the stages produce, the
	// brokers' message.max.bytes (default 1 MiB, Kafka's own default). A
	// derived record over it sends its input to the deadletter instead.
	MaxMessageBytes int  `yaml:"max_message_bytes"`
	TLS             TLS  `yaml:"tls"`
	SASL            SASL `yaml:"sasl"`
}

// Merge configures the merge of the raw topics by arrival time
// (docs/ARCHITECTURE.md, "Arrival order"): the device stage classifies a
// device's records in the order they arrived, whichever raw topic they
// came on, holding a record back until every raw partition has said it
// will send nothing older.
type Merge struct {
	// Enabled is true unless set false: then records are classified in
	// the order the device stage reads them, as before the merge.
	Enabled *bool `yaml:"enabled"`
	// MaxWait bounds how long a record waits, in wall-clock time, for a
	// raw partition that neither sends records nor says how far it got
	// (its normalize copy is stopped or far behind): past it, the record
	// is classified anyway. Default 2m.
	MaxWait Duration `yaml:"max_wait"`
	// ProducerAllowance is how much earlier than the time a raw partition
	// was last caught up (or than its newest record) a record may still
	// arrive on it: the producers' linger, retries and clock, with
	// CreateTime timestamps. A record older than that is late: classified
	// when it comes and counted (postbackd_late_records_total). Default
	// 2s; with LogAppendTime topics, a few hundred ms (replication and
	// the clocks' difference).
	ProducerAllowance Duration `yaml:"producer_allowance"`
	// WatermarkInterval is how often normalize says, for each raw
	// partition it owns, how far it got. Default 200ms.
	WatermarkInterval Duration `yaml:"watermark_interval"`
	// MaxRecords and MaxBytes bound what waits per device-stage
	// partition (defaults 100,000 and 32 MiB); past them the oldest
	// records are classified anyway.
	MaxRecords int `yaml:"max_records"`
	MaxBytes   int `yaml:"max_bytes"`
}

// On reports whether the merge runs.
func (m Merge) On() bool { return m.Enabled == nil || *m.Enabled }

// Defaults of the merge section.
const (
	DefaultMergeMaxWait           = 2 * time.Minute
	DefaultMergeProducerAllowance = 2 * time.Second
	DefaultMergeWatermarkInterval = 200 * time.Millisecond
	DefaultMergeMaxRecords        = 100_000
	DefaultMergeMaxBytes          = 32 << 20
)

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
	// MaxClockSkew is how far after its arrival a record's ts may lie
	// before the ts is taken for a wrong device clock and replaced by the
	// arrival time.
	MaxClockSkew Duration `yaml:"max_clock_skew"`
	// StateTTL deletes a device or user whose newest record is older than
	// this, in event time relative to the newest record of its partition
	// (PRIVACY.md, "Retention of idle state"); 0 (the default): never.
	StateTTL Duration `yaml:"state_ttl"`
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
	DefaultMaxClockSkew       = 24 * time.Hour
	// MaxMaxClockSkew bounds max_clock_skew: a ts years ahead is never a
	// clock that is merely off.
	MaxMaxClockSkew       = 366 * 24 * time.Hour
	DefaultMaxRecordBytes = 64 << 10
	// DefaultStateKeepRevoked is state_keep_revoked's default.
	DefaultStateKeepRevoked = 2 * time.Minute
	DefaultMaxMessageBytes  = 1 << 20
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
		MaxClockSkew:       Duration(DefaultMaxClockSkew),
	})
	if c.MaxRecordBytes == 0 {
		c.MaxRecordBytes = DefaultMaxRecordBytes
	}
	if c.StateKeepRevoked == 0 {
		c.StateKeepRevoked = Duration(DefaultStateKeepRevoked)
	}
	if c.Kafka.MaxMessageBytes == 0 {
		c.Kafka.MaxMessageBytes = DefaultMaxMessageBytes
	}
	c.Merge.setDefaults()
	c.Topics.setDefaults()
}

func (m *Merge) setDefaults() {
	if m.MaxWait == 0 {
		m.MaxWait = Duration(DefaultMergeMaxWait)
	}
	if m.ProducerAllowance == 0 {
		m.ProducerAllowance = Duration(DefaultMergeProducerAllowance)
	}
	if m.WatermarkInterval == 0 {
		m.WatermarkInterval = Duration(DefaultMergeWatermarkInterval)
	}
	if m.MaxRecords == 0 {
		m.MaxRecords = DefaultMergeMaxRecords
	}
	if m.MaxBytes == 0 {
		m.MaxBytes = DefaultMergeMaxBytes
	}
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
	if w.MaxClockSkew == 0 {
		w.MaxClockSkew = d.MaxClockSkew
	}
	if w.StateTTL == 0 {
		w.StateTTL = d.StateTTL
	}
	return w
}

// AnyStateTTL reports whether any app (or the defaults) sets state_ttl:
// only then do the stages sweep their state.
func (c *Config) AnyStateTTL() bool {
	if c.Defaults.StateTTL > 0 {
		return true
	}
	for _, a := range c.Apps {
		if a.StateTTL > 0 {
			return true
		}
	}
	return false
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
	if c.StateKeepRevoked < 0 {
		d.Add(at("state_keep_revoked"), "state_keep_revoked", "must not be negative, got %v", c.StateKeepRevoked.D())
	}
	if c.MaxRecordBytes < 1024 {
		d.Add(at("max_record_bytes"), "max_record_bytes", "must be at least 1024, got %d", c.MaxRecordBytes)
	}
	if c.Kafka.MaxMessageBytes < 4*c.MaxRecordBytes {
		// A raw record's derived records (the device stream's, a
		// deadletter record holding it) are a few times its size.
		d.Add(at("kafka", "max_message_bytes"), "kafka.max_message_bytes", "must be at least 4 x max_record_bytes (%d), got %d", 4*c.MaxRecordBytes, c.Kafka.MaxMessageBytes)
	}
	if u := c.Kafka.SchemaRegistryURL; u != "" {
		if why := registryURLProblem(u); why != "" {
			d.Add(at("kafka", "schema_registry_url"), "kafka.schema_registry_url", "%s", why)
		}
	}
	c.Merge.validate(d, at("merge"))
	// An explicit 0 would read as unset and give the default: refuse it
	// rather than run with 24h where the file says 0.
	checkSkew := func(parent *yaml.Node, field string, w Windows) {
		n := find(parent, "max_clock_skew")
		present := n != nil && n != parent
		switch s := time.Duration(w.MaxClockSkew); {
		case s < 0 || s > MaxMaxClockSkew:
			d.Add(n, field, "must be between 0 and %s, got %s", MaxMaxClockSkew, s)
		case present && s == 0:
			d.Add(n, field, "must be more than 0 (leave it out for the default, %s)", DefaultMaxClockSkew)
		}
	}
	checkTTL := func(parent *yaml.Node, field string, w Windows) {
		if ttl := time.Duration(w.StateTTL); ttl < 0 || (ttl > 0 && ttl < time.Hour) {
			d.Add(find(parent, "state_ttl"), field, "must be at least 1h (or left out: never), got %s", ttl)
		}
	}
	checkSkew(at("defaults"), "defaults.max_clock_skew", c.Defaults)
	checkTTL(at("defaults"), "defaults.state_ttl", c.Defaults)
	seen := make(map[string]bool)
	appsNode := at("apps")
	for i, app := range c.Apps {
		var n *yaml.Node
		if appsNode != nil && i < len(appsNode.Content) {
			n = appsNode.Content[i]
		}
		checkSkew(n, fmt.Sprintf("apps[%d].max_clock_skew", i), app.Windows)
		checkTTL(n, fmt.Sprintf("apps[%d].state_ttl", i), app.Windows)
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

func (m Merge) validate(d *Decoder, node *yaml.Node) {
	check := func(field string, bad bool, format string, args ...any) {
		if bad {
			d.Add(find(node, field), "merge."+field, format, args...)
		}
	}
	w, a, iv := time.Duration(m.MaxWait), time.Duration(m.ProducerAllowance), time.Duration(m.WatermarkInterval)
	check("watermark_interval", iv < 10*time.Millisecond || iv > 10*time.Second, "must be between 10ms and 10s, got %s", iv)
	check("producer_allowance", a > 10*time.Minute, "must be at most 10m, got %s", a)
	check("max_wait", w < time.Second || w > time.Hour, "must be between 1s and 1h, got %s", w)
	check("max_wait", w >= time.Second && w <= a+iv, "must be more than producer_allowance + watermark_interval (%s), got %s", a+iv, w)
	check("max_records", m.MaxRecords < 1, "must be at least 1, got %d", m.MaxRecords)
	check("max_bytes", m.MaxBytes < 1<<20, "must be at least 1048576 (1 MiB), got %d", m.MaxBytes)
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

// registryURLProblem says what is wrong with a schema registry URL, ""
// when nothing: http or https, a host, and no credentials (they would be
// logged; the registry is used without authentication).
func registryURLProblem(raw string) string {
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return err.Error()
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Sprintf("want an http or https URL, got %q", raw)
	case u.Host == "":
		return "no host in " + strconv.Quote(raw)
	case u.User != nil:
		return "credentials in the URL would be logged: the registry is used without authentication"
	}
	return ""
}
