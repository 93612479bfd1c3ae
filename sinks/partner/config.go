package partner

import (
	"time"

	"github.com/postbackd/postbackd/processors/platform/config"
)

// Duration is a Go duration string or a day count ("30d"), as in the rest
// of the configuration file.
type Duration = config.Duration

// Config is the `sink:` section of the configuration file.
type Config struct {
	// AllowPrivateNetworks lets deliveries reach loopback, private and
	// link-local addresses. Off in production; local tests need it.
	AllowPrivateNetworks bool `yaml:"allow_private_networks"`
	// ProxyURL, when set, sends every partner's postbacks through an
	// egress proxy (http://, https:// or socks5://host:port; a partner's
	// own proxy_url wins). The guard against internal addresses then
	// applies to each postback's final target, not to the proxy.
	ProxyURL string `yaml:"proxy_url"`
	// FX converts revenue into one currency (fx.go).
	FX FXConfig `yaml:"fx"`
	// BatchWait bounds how long Process waits for one partner's deliveries
	// before handing the unfinished ones to the first retry tier.
	BatchWait Duration     `yaml:"batch_wait"`
	Admin     AdminConfig  `yaml:"admin"`
	Retry     RetryConfig  `yaml:"retry"`
	Redact    RedactConfig `yaml:"redact"`
	// NewPartnerStart is where the sink's fan-out group starts on the
	// classified topic when it has no committed offset yet: "earliest"
	// (default: a first deployment misses nothing) or "latest". A partner
	// added to a running system gets what the fan-out reads from then on,
	// never the classified topic's retained history (before the fan-out,
	// "earliest" sent a new partner that history).
	NewPartnerStart string `yaml:"new_partner_start"`
	// StatusCacheSize bounds the latest-status cache the admin API reads.
	StatusCacheSize int             `yaml:"status_cache_size"`
	Partners        []PartnerConfig `yaml:"partners"`
}

// AdminConfig is the admin API listener (status and resend).
type AdminConfig struct {
	Listen string `yaml:"listen"` // default 127.0.0.1:8088
	// Advertise is the host:port other copies reach this admin API at,
	// to forward a state query to the copy that owns the device. Default:
	// the address it listens on, with this machine's hostname when that
	// is every interface (":8088", "0.0.0.0:8088").
	Advertise string `yaml:"advertise"`
	TokenEnv  string `yaml:"token_env"`
	TokenFile string `yaml:"token_file"`
}

// RetryConfig is the retry policy: a short in-process retry, then delay
// tiers (one retry topic each), then the deadletter.
type RetryConfig struct {
	InProcess InProcessRetry `yaml:"in_process"`
	// Tiers are the delays of the retry topics, in order.
	Tiers []Duration `yaml:"tiers"`
	// RetryAfterCap caps a partner's Retry-After, which otherwise only
	// lengthens a wait.
	RetryAfterCap Duration `yaml:"retry_after_cap"`
}

// InProcessRetry is the retry done inside one delivery, before any tier.
type InProcessRetry struct {
	MaxAttempts int      `yaml:"max_attempts"` // tries in all, first included
	MaxWait     Duration `yaml:"max_wait"`     // longest wait between two tries
}

// RedactConfig says which query values are hidden in logs and in the
// delivery log. Empty or ["*"]: every value.
type RedactConfig struct {
	QueryParams []string `yaml:"query_params"`
}

// PartnerConfig is one ad partner.
type PartnerConfig struct {
	ID string `yaml:"id"`
	// SecretEnv or SecretFile hold the signing secret; neither: unsigned.
	SecretEnv  string `yaml:"secret_env"`
	SecretFile string `yaml:"secret_file"`
	// ProxyURL is this partner's egress proxy, instead of the sink's.
	ProxyURL string `yaml:"proxy_url"`
	// Currency is the currency {revenue_partner} converts revenue into
	// (with sink.fx).
	Currency string `yaml:"currency"`
	// Privacy says what may leave for records of devices that opted out,
	// are limited or lack a required consent (privacy.go).
	Privacy PrivacyConfig `yaml:"privacy"`
	// PersonalParams are params whose values identify a person: with
	// privacy.limited strip_ids, a limited record's {param.KEY} of these
	// renders empty, as device_id, user_id and click_id do.
	PersonalParams []string `yaml:"personal_params"`
	// Delay holds each postback back until its event's arrival + Delay
	// (Kochava's "delay postbacks", MinDelay to MaxDelay; 0: none). Its
	// retries are not delayed again.
	Delay Duration `yaml:"delay"`
	// PreviousSecretEnv or PreviousSecretFile hold the secret being
	// rotated out: while one is set, every postback is signed with both
	// (Standard Webhooks: two signatures in webhook-signature; a GET: both
	// in its signature parameter, comma-separated), so the partner may
	// switch to the new secret whenever it is ready.
	PreviousSecretEnv  string `yaml:"previous_secret_env"`
	PreviousSecretFile string `yaml:"previous_secret_file"`
	// Auth is what the partner asks every call to carry.
	Auth AuthConfig `yaml:"auth"`
	// SignatureParam is the query parameter carrying a GET's signature.
	SignatureParam string         `yaml:"signature_param"`
	RatePerSecond  float64        `yaml:"rate_per_second"` // 0: unlimited
	Concurrency    int            `yaml:"concurrency"`
	QueueSize      int            `yaml:"queue_size"` // jobs waiting for a worker before parking
	Timeouts       TimeoutsConfig `yaml:"timeouts"`
	Breaker        BreakerConfig  `yaml:"breaker"`
	Rules          []RuleConfig   `yaml:"rules"`

	// Secret is the resolved signing secret; New fills it from SecretEnv or
	// SecretFile unless it is already set (tests). PreviousSecret and
	// BearerToken likewise.
	Secret         string `yaml:"-"`
	PreviousSecret string `yaml:"-"`
	BearerToken    string `yaml:"-"`
}

// AuthConfig is a partner's call authentication.
type AuthConfig struct {
	// CertFile and KeyFile are the client certificate (PEM, with its
	// chain) and key this partner's endpoint requires (mutual TLS).
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// CAFile, when set, is the only CA the partner's server certificate
	// may chain to (PEM), instead of the system's.
	CAFile string `yaml:"ca_file"`
	// BearerTokenEnv or BearerTokenFile hold a static token sent as
	// "Authorization: Bearer <token>" on every call. Never logged.
	BearerTokenEnv  string `yaml:"bearer_token_env"`
	BearerTokenFile string `yaml:"bearer_token_file"`
	// OAuth2, when its token_url is set, fetches a token with the client
	// credentials grant and sends it as the bearer token.
	OAuth2 OAuth2Config `yaml:"oauth2"`
}

// OAuth2Config is the OAuth2 client credentials grant (RFC 6749, 4.4): the
// token is fetched when first needed, kept until it expires, fetched
// again then, and once more when the partner answers 401.
type OAuth2Config struct {
	TokenURL         string   `yaml:"token_url"`
	ClientID         string   `yaml:"client_id"`
	ClientSecretEnv  string   `yaml:"client_secret_env"`
	ClientSecretFile string   `yaml:"client_secret_file"`
	Scopes           []string `yaml:"scopes"`
	// ClientSecret is the resolved secret (tests may set it).
	ClientSecret string `yaml:"-"`
}

// TimeoutsConfig bounds one try.
type TimeoutsConfig struct {
	Connect Duration `yaml:"connect"`
	Headers Duration `yaml:"headers"`
	Total   Duration `yaml:"total"`
}

// BreakerConfig opens a partner's breaker after Failures consecutive failed
// deliveries, for OpenFor, then lets one probe through.
type BreakerConfig struct {
	Failures int      `yaml:"failures"`
	OpenFor  Duration `yaml:"open_for"`
}

// Sending modes of a rule.
const (
	ModeAttributed = "attributed" // only records attributed to this partner
	ModeAll        = "all"
)

// RuleConfig is one postback rule of a partner. For a record, the first
// rule of the partner that matches is used; a partner gets at most one call
// per postback_id.
type RuleConfig struct {
	Apps       []string `yaml:"apps"`  // app ids, or "*"; empty: all
	Types      []string `yaml:"types"` // record types; required
	Mode       string   `yaml:"mode"`  // attributed (default) or all
	MinRevenue *float64 `yaml:"min_revenue"`
	// Window is the postback window: a record is sent only when its
	// event_ts is at most Window after its attributed_at (0: no window).
	Window Duration `yaml:"window"`
	// IncludeRejected sends records whose event the fraud tool rejected
	// (with rejected and reject_reason); without it they are not sent.
	IncludeRejected bool              `yaml:"include_rejected"`
	EventNames      map[string]string `yaml:"event_names"` // type -> partner_event
	Method          string            `yaml:"method"`      // GET (default) or POST
	URL             string            `yaml:"url"`
	Body            string            `yaml:"body"` // JSON template, POST only
	Headers         map[string]string `yaml:"headers"`
}

// Defaults.
const (
	DefaultAdminListen     = "127.0.0.1:8088"
	DefaultBatchWait       = 2 * time.Second
	DefaultMaxAttempts     = 3
	DefaultMaxWait         = 2 * time.Second
	DefaultRetryAfterCap   = time.Hour
	DefaultSignatureParam  = "signature"
	DefaultConcurrency     = 8
	DefaultQueueSize       = 1000
	DefaultConnectTimeout  = 5 * time.Second
	DefaultHeadersTimeout  = 10 * time.Second
	DefaultTotalTimeout    = 15 * time.Second
	DefaultBreakerFailures = 10
	DefaultBreakerOpenFor  = 30 * time.Second
	DefaultStatusCacheSize = 100_000
)

// MinDelay and MaxDelay bound a partner's delay. Kochava offers 30 s to
// 10 min; shorter than 30 s is allowed (a test, a partner that wants a
// few seconds), longer is not: a delayed postback waits in its partner's
// jobs topic, and 10 minutes of them is what the topic is sized for.
const (
	MinDelay = time.Second
	MaxDelay = 10 * time.Minute
)

// ReservedPartnerID is the one id a partner may not have: a partner's
// consumer group is <group_prefix>.sink.<id>, and the fan-out's is
// <group_prefix>.sink.fanout.
const ReservedPartnerID = "fanout"

// MinTimeout is the shortest timeout a partner may set.
const MinTimeout = time.Millisecond

// DefaultTiers are the retry-tier delays when none are configured.
var DefaultTiers = []time.Duration{time.Minute, 5 * time.Minute, 15 * time.Minute, time.Hour, 6 * time.Hour}

// Values of NewPartnerStart.
const (
	StartEarliest = "earliest"
	StartLatest   = "latest"
)

func (c *Config) setDefaults() {
	if c.NewPartnerStart == "" {
		c.NewPartnerStart = StartEarliest
	}
	if c.BatchWait == 0 {
		c.BatchWait = Duration(DefaultBatchWait)
	}
	if c.Admin.Listen == "" {
		c.Admin.Listen = DefaultAdminListen
	}
	if c.Retry.InProcess.MaxAttempts == 0 {
		c.Retry.InProcess.MaxAttempts = DefaultMaxAttempts
	}
	if c.Retry.InProcess.MaxWait == 0 {
		c.Retry.InProcess.MaxWait = Duration(DefaultMaxWait)
	}
	if c.Retry.Tiers == nil {
		for _, d := range DefaultTiers {
			c.Retry.Tiers = append(c.Retry.Tiers, Duration(d))
		}
	}
	if c.Retry.RetryAfterCap == 0 {
		c.Retry.RetryAfterCap = Duration(DefaultRetryAfterCap)
	}
	if c.StatusCacheSize == 0 {
		c.StatusCacheSize = DefaultStatusCacheSize
	}
	for i := range c.Partners {
		c.Partners[i].setDefaults()
	}
}

func (p *PartnerConfig) setDefaults() {
	p.Privacy.setDefaults()
	if p.SignatureParam == "" {
		p.SignatureParam = DefaultSignatureParam
	}
	if p.Concurrency == 0 {
		p.Concurrency = DefaultConcurrency
	}
	if p.QueueSize == 0 {
		p.QueueSize = DefaultQueueSize
	}
	if p.Timeouts.Connect == 0 {
		p.Timeouts.Connect = Duration(DefaultConnectTimeout)
	}
	if p.Timeouts.Headers == 0 {
		p.Timeouts.Headers = Duration(DefaultHeadersTimeout)
	}
	if p.Timeouts.Total == 0 {
		p.Timeouts.Total = Duration(DefaultTotalTimeout)
	}
	if p.Breaker.Failures == 0 {
		p.Breaker.Failures = DefaultBreakerFailures
	}
	if p.Breaker.OpenFor == 0 {
		p.Breaker.OpenFor = Duration(DefaultBreakerOpenFor)
	}
	for i := range p.Rules {
		r := &p.Rules[i]
		if r.Mode == "" {
			r.Mode = ModeAttributed
		}
		if r.Method == "" {
			r.Method = "GET"
		}
	}
}
