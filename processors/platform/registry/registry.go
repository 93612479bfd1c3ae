// Package registry is postbackd's side of a Confluent-compatible schema
// registry (kafka.schema_registry_url): at start it registers the schemas
// of the topics data teams read under each topic's "-value" subject (the
// registry checks them against the subject's earlier versions, at the
// compatibility level it is configured with) and keeps their ids for the
// Confluent framing; and it resolves the schema ids of Confluent-framed
// records (raw input, and postbackd's own classified records), fetched
// once each and cached (an id never changes its schema).
//
// The REST client is franz-go's pkg/sr: the registry's API, its error
// bodies and its paths (Apicurio's ccompat prefix included) are its work,
// not this package's.
package registry

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/linkedin/goavro/v2"
	"github.com/twmb/franz-go/pkg/sr"
	"go.uber.org/zap"

	"github.com/postbackd/postbackd/schemas"
)

// Timeouts: one request, and how long Resolve keeps trying a registry that
// does not answer before it gives up (the stage then stops, so that its
// supervisor restarts it while the registry is away, rather than dead
// letters the records of an outage).
const (
	RequestTimeout = 10 * time.Second
	ResolveRetry   = time.Minute
)

// Registry is a schema registry client with the ids of the schemas
// postbackd registered, and a cache of the schemas it resolved.
type Registry struct {
	cl    *sr.Client
	log   *zap.Logger
	ids   map[string]int // subject -> id of the schema postbackd writes there
	retry time.Duration  // ResolveRetry; shorter in tests

	mu     sync.Mutex
	codecs map[int]*goavro.Codec
}

// Subject is the registry subject of topic's values (Confluent's
// TopicNameStrategy).
func Subject(topic string) string { return topic + "-value" }

// New returns a client of the registry at rawURL (its Confluent API's base,
// e.g. http://registry:8081 or Apicurio's http://registry:8080/apis/ccompat/v7).
// The config's validation has checked the URL (http or https, a host, no
// credentials).
func New(rawURL, version string, log *zap.Logger) (*Registry, error) {
	if log == nil {
		log = zap.NewNop()
	}
	cl, err := sr.NewClient(sr.URLs(rawURL), sr.HTTPClient(&http.Client{Timeout: RequestTimeout}), sr.UserAgent("postbackd/"+version))
	if err != nil {
		return nil, fmt.Errorf("schema registry: %w", err)
	}
	return &Registry{cl: cl, log: log, ids: map[string]int{}, codecs: map[int]*goavro.Codec{}, retry: ResolveRetry}, nil
}

// Register registers s under Subject(topic), or finds it there, and keeps
// its id for ID. A schema the registry finds incompatible with the
// subject's earlier versions is an error that says so.
func (r *Registry) Register(ctx context.Context, topic string, s *schemas.AvroSchema) (int, error) {
	subject := Subject(topic)
	ss, err := r.cl.CreateSchema(ctx, subject, sr.Schema{Schema: s.JSON, Type: sr.TypeAvro})
	if err != nil {
		var re *sr.ResponseError
		if errors.As(err, &re) && re.StatusCode == http.StatusConflict {
			return 0, fmt.Errorf("schema registry refuses %s for subject %s as incompatible with its earlier versions (the subject's compatibility level decides): %w", s.Name, subject, err)
		}
		return 0, fmt.Errorf("schema registry: register %s under %s: %w", s.Name, subject, err)
	}
	r.mu.Lock()
	r.ids[subject] = ss.ID
	r.codecs[ss.ID] = s.Codec // its own records never wait for a lookup
	r.mu.Unlock()
	r.log.Info("schema registered", zap.String("subject", subject), zap.String("schema", s.Name), zap.Int("id", ss.ID), zap.Int("version", ss.Version))
	return ss.ID, nil
}

// ID is the id Register got for topic's values, 0 when it was not
// registered (a nil Registry has none).
func (r *Registry) ID(topic string) int {
	if r == nil {
		return 0
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.ids[Subject(topic)]
}

// Resolve returns the codec of schema id (a schemas.Resolver). An id the
// registry does not know fails with schemas.ErrUnknownSchema (the record
// goes to the deadletter); a registry that cannot be reached is tried
// again for ResolveRetry, then fails with schemas.ErrRegistryUnavailable.
func (r *Registry) Resolve(id int) (*goavro.Codec, error) {
	r.mu.Lock()
	c := r.codecs[id]
	r.mu.Unlock()
	if c != nil {
		return c, nil
	}
	deadline := time.Now().Add(r.retry)
	wait := 100 * time.Millisecond
	for {
		ctx, cancel := context.WithTimeout(context.Background(), RequestTimeout)
		s, err := r.cl.SchemaByID(ctx, id)
		cancel()
		var re *sr.ResponseError
		switch {
		case err == nil:
			if s.Type != sr.TypeAvro {
				return nil, fmt.Errorf("schema id %d is %s, not avro: %w", id, s.Type, schemas.ErrUnknownSchema)
			}
			c, err := goavro.NewCodec(s.Schema)
			if err != nil {
				return nil, fmt.Errorf("schema id %d: %v: %w", id, err, schemas.ErrUnknownSchema)
			}
			r.mu.Lock()
			r.codecs[id] = c
			r.mu.Unlock()
			return c, nil
		case errors.As(err, &re) && re.StatusCode == http.StatusNotFound:
			return nil, fmt.Errorf("schema id %d not in the registry: %w", id, schemas.ErrUnknownSchema)
		case time.Now().After(deadline):
			return nil, fmt.Errorf("schema id %d: %w: %w", id, schemas.ErrRegistryUnavailable, err)
		}
		r.log.Warn("schema registry lookup failed; trying again", zap.Int("id", id), zap.Duration("in", wait), zap.Error(err))
		time.Sleep(wait)
		wait = min(2*wait, 5*time.Second)
	}
}
