package partner

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"golang.org/x/time/rate"

	"github.com/postbackd/postbackd/processors/platform/config"
	"github.com/postbackd/postbackd/schemas"
	"github.com/postbackd/postbackd/state"
)

// Sink delivers postbacks to partners. One Sink serves every partition of
// a process, for every partner or (ForPartner) for one, as the sink stage
// runs it, so that a slow partner's batches hold back no other partner's;
// Process may be called concurrently for different partitions.
type Sink struct {
	cfg       Config
	erased    ErasedFunc // nil: no erasures are checked
	pub       Publisher
	log       *zap.Logger
	version   string
	userAgent string // postbackd/<version>
	metrics   *metrics
	fx        *fxTable // nil: no conversion
	redact    redactor
	status    *statusCache
	activity  *activity
	lanes     []*lane // config order
	byID      map[string]*lane
	tiers     []time.Duration

	ctx     context.Context // deliveries' context: outlives Process calls
	cancel  context.CancelFunc
	workers sync.WaitGroup
	bg      sync.WaitGroup // reports of handed-off deliveries

	submitMu sync.RWMutex // held to send to lane queues; Close takes it to close them
	closed   bool

	mu        sync.Mutex
	pending   map[state.Store]*pendingWrites
	inflight  map[string]bool // dedup keys of handed-off deliveries still running
	inflightN atomic.Int64    // len(inflight), read without mu
}

// pendingWrites are dedup writes of deliveries that finished after their
// batch; the next Process call for the same store returns them.
type pendingWrites struct {
	writes []state.Write
	keys   map[string]bool
}

// Option is a test seam or an injected dependency of New.
type Option func(*options)

type options struct {
	log     *zap.Logger
	reg     prometheus.Registerer
	version string
	shared  *Shared
	only    string
	erased  ErasedFunc
}

// ErasedFunc reports whether a record's device or user was erased after
// the record arrived (arrival zero: unknown, then any erasure of its ids
// counts). It is called for every delivery and must be safe for
// concurrent use.
type ErasedFunc func(rec *schemas.Classified, arrival time.Time) bool

// WithErased has the Sink skip, as skipped_erased, the postbacks erased
// reports (PRIVACY.md, "Erasure": records still waiting in postbackd when
// their device or user is erased are not delivered).
func WithErased(f ErasedFunc) Option { return func(o *options) { o.erased = f } }

// Shared is what the Sinks of one process share when each delivers to one
// partner (ForPartner): the Prometheus collectors, which a registry takes
// only once, and the latest-status cache, so that the admin API sees every
// partner's statuses and status_cache_size bounds them all together.
type Shared struct {
	metrics  *metrics
	status   *statusCache
	activity *activity
}

// NewShared builds the shared parts for cfg, registering the metrics on
// the registerer of opts (WithRegisterer; none without); the other options
// are ignored, so a caller can pass the same options here and to New.
func NewShared(cfg Config, opts ...Option) (*Shared, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	cfg.setDefaults()
	m, err := newMetrics(o.reg)
	if err != nil {
		return nil, fmt.Errorf("register metrics: %w", err)
	}
	return &Shared{metrics: m, status: newStatusCache(cfg.StatusCacheSize), activity: newActivity()}, nil
}

// WithShared makes the Sink use sh's metrics and status cache instead of
// its own; WithRegisterer is then ignored.
func WithShared(sh *Shared) Option { return func(o *options) { o.shared = sh } }

// ForPartner makes the Sink deliver to partner id only: fresh records are
// offered to that partner's rules alone. The caller passes it only that
// partner's retry jobs (see Sink.Handles). The whole Config is still
// validated, so that every Sink of a process agrees on it.
func ForPartner(id string) Option { return func(o *options) { o.only = id } }

// WithLogger sets the logger (default zap.NewNop()).
func WithLogger(l *zap.Logger) Option { return func(o *options) { o.log = l } }

// WithRegisterer registers the sink's metrics on reg (default: none).
func WithRegisterer(reg prometheus.Registerer) Option { return func(o *options) { o.reg = reg } }

// WithVersion sets the version in the User-Agent header, postbackd/<version>.
func WithVersion(v string) Option { return func(o *options) { o.version = v } }

// New completes cfg with defaults, validates it, reads the partners'
// secrets and starts every partner's workers. Close stops them.
func New(cfg Config, pub Publisher, opts ...Option) (*Sink, error) {
	o := options{log: zap.NewNop(), version: "dev"}
	for _, opt := range opts {
		opt(&o)
	}
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	compiled, _ := cfg.compile(nil)
	if o.only != "" {
		var kept []compiledPartner
		for _, cp := range compiled {
			if cp.cfg.ID == o.only {
				kept = append(kept, cp)
			}
		}
		if len(kept) == 0 {
			return nil, fmt.Errorf("%w: partner %q is not configured", ErrInvalidConfig, o.only)
		}
		compiled = kept
	}
	sh := o.shared
	if sh == nil {
		var err error
		if sh, err = NewShared(cfg, WithRegisterer(o.reg)); err != nil {
			return nil, err
		}
	}
	s := &Sink{
		cfg: cfg, pub: pub, log: o.log, version: o.version, userAgent: "postbackd/" + o.version, metrics: sh.metrics,
		status: sh.status, activity: sh.activity, byID: make(map[string]*lane),
		pending: make(map[state.Store]*pendingWrites), inflight: make(map[string]bool),
	}
	for _, t := range cfg.Retry.Tiers {
		s.tiers = append(s.tiers, t.D())
	}
	fx, err := loadFX(cfg.FX)
	if err != nil {
		return nil, fmt.Errorf("%w: sink.fx: %w", ErrInvalidConfig, err)
	}
	if fx != nil {
		fx.missing = sh.metrics.fxMissing
	}
	s.fx = fx
	var sigParams []string
	for _, cp := range compiled {
		secret, err := readSecret(cp.cfg)
		if err != nil {
			return nil, fmt.Errorf("partner %s: %w", cp.cfg.ID, err)
		}
		l := &lane{sink: s, id: cp.cfg.ID, cfg: cp.cfg, rules: cp.rules, breaker: newBreaker(cp.cfg.Breaker),
			queue: make(chan *task, cp.cfg.QueueSize), metrics: &laneMetrics{m: sh.metrics, id: cp.cfg.ID}}
		if secret != "" {
			if l.key, err = signingKey(secret); err != nil {
				return nil, fmt.Errorf("partner %s: %w", cp.cfg.ID, err)
			}
			sigParams = append(sigParams, cp.cfg.SignatureParam)
		}
		if l.prevKey, l.bearer, err = readRotationAndAuth(cp.cfg); err != nil {
			return nil, fmt.Errorf("partner %s: %w", cp.cfg.ID, err)
		}
		if cp.cfg.Auth.OAuth2.TokenURL != "" {
			if l.oauth, err = newOAuthTokens(cp.cfg.Auth.OAuth2, cp.cfg.Timeouts.Total.D()); err != nil {
				return nil, fmt.Errorf("partner %s: %w", cp.cfg.ID, err)
			}
		}
		if l.prevKey != nil && l.key == nil {
			return nil, fmt.Errorf("partner %s: %w: a previous secret without a current one", cp.cfg.ID, ErrInvalidConfig)
		}
		if cp.cfg.RatePerSecond > 0 {
			l.limiter = rate.NewLimiter(rate.Limit(cp.cfg.RatePerSecond), max(1, int(cp.cfg.RatePerSecond/10)))
		}
		proxy := cfg.ProxyURL
		if cp.cfg.ProxyURL != "" {
			proxy = cp.cfg.ProxyURL
		}
		proxyURL, err := parseProxy(proxy)
		if err != nil {
			return nil, fmt.Errorf("partner %s: %w: %w", cp.cfg.ID, ErrInvalidConfig, err)
		}
		tlsConf, err := loadTLS(cp.cfg.Auth)
		if err != nil {
			return nil, fmt.Errorf("partner %s: %w: %w", cp.cfg.ID, ErrMissingSecret, err)
		}
		l.client, l.transport = newClient(cp.cfg, cfg.Retry, cfg.AllowPrivateNetworks, proxyURL, tlsConf)
		s.lanes = append(s.lanes, l)
		s.byID[l.id] = l
	}
	s.redact = newRedactor(cfg.Redact, sigParams)
	s.erased = o.erased
	s.ctx, s.cancel = context.WithCancel(context.Background())
	for _, l := range s.lanes {
		for range l.cfg.Concurrency {
			s.workers.Add(1)
			go l.work()
		}
	}
	return s, nil
}

// Handles reports whether the Sink delivers to partner id.
func (s *Sink) Handles(id string) bool { return s.byID[id] != nil }

// Partners lists the partners the Sink delivers to, in config order.
func (s *Sink) Partners() []string {
	ids := make([]string, len(s.lanes))
	for i, l := range s.lanes {
		ids[i] = l.id
	}
	return ids
}

// readSecret returns the partner's signing secret ("" when it signs
// nothing). It is never logged.
func readSecret(p PartnerConfig) (string, error) {
	if p.Secret != "" {
		return p.Secret, nil
	}
	return requiredSecret(p.SecretEnv, p.SecretFile, "")
}

// readRotationAndAuth returns the signing key being rotated out (nil:
// none) and the bearer token ("": none) of p. Neither is ever logged.
func readRotationAndAuth(p PartnerConfig) ([]byte, string, error) {
	prev := p.PreviousSecret
	if prev == "" && (p.PreviousSecretEnv != "" || p.PreviousSecretFile != "") {
		var err error
		if prev, err = requiredSecret(p.PreviousSecretEnv, p.PreviousSecretFile, "previous secret: "); err != nil {
			return nil, "", err
		}
	}
	var key []byte
	if prev != "" {
		var err error
		if key, err = signingKey(prev); err != nil {
			return nil, "", err
		}
	}
	token := p.BearerToken
	if token == "" && (p.Auth.BearerTokenEnv != "" || p.Auth.BearerTokenFile != "") {
		var err error
		if token, err = requiredSecret(p.Auth.BearerTokenEnv, p.Auth.BearerTokenFile, "bearer token: "); err != nil {
			return nil, "", err
		}
		token = strings.TrimSpace(token) // a file's trailing newline is not part of it
	}
	return key, token, nil
}

// requiredSecret reads a secret with config.Secret, where an empty value
// from the environment counts as missing; what names the secret in errors.
func requiredSecret(env, file, what string) (string, error) {
	v, err := config.Secret(env, file)
	if err == nil && env != "" && v == "" {
		err = fmt.Errorf("environment variable %s is not set", env)
	}
	if err != nil {
		return "", fmt.Errorf("%w: %s%w", ErrMissingSecret, what, err)
	}
	return v, nil
}

// Close stops taking work, lets queued and running deliveries finish
// until ctx ends, then cancels what is left and releases connections.
func (s *Sink) Close(ctx context.Context) error {
	s.submitMu.Lock()
	if s.closed {
		s.submitMu.Unlock()
		return nil
	}
	s.closed = true
	for _, l := range s.lanes {
		close(l.queue)
	}
	s.submitMu.Unlock()
	done := make(chan struct{})
	go func() { s.workers.Wait(); s.bg.Wait(); close(done) }()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = ctx.Err()
		s.cancel()
		<-done
	}
	s.cancel()
	for _, l := range s.lanes {
		l.transport.CloseIdleConnections()
	}
	return err
}

// Forget drops what the sink holds for a store, when its partition is
// revoked: dedup writes of late deliveries not yet returned are lost, and
// the partner's Idempotency-Key dedup covers the repeat that may follow.
func (s *Sink) Forget(store state.Store) {
	s.mu.Lock()
	delete(s.pending, store)
	s.mu.Unlock()
}

// DedupKey is the state key recording that postbackID was delivered to
// partner.
func DedupKey(partner, postbackID string) []byte {
	return []byte(dedupKeyString(partner, postbackID))
}

func dedupKeyString(partner, postbackID string) string {
	return "d/" + partner + "/" + postbackID
}
