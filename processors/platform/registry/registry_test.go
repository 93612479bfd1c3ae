package registry

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/sr"
	"github.com/twmb/franz-go/pkg/sr/srfake"

	"github.com/postbackd/postbackd/schemas"
)

// TestRegisterAndResolve, on franz-go's in-process fake registry (the real
// one, Apicurio, is in the pipeline's integration tests): Register gives
// the subject's id, registering again gives the same, Resolve reads a
// producer's schema once and then from its cache, and an unknown id is an
// unknown schema (the record's fault), not an unavailable registry.
func TestRegisterAndResolve(t *testing.T) {
	fake := srfake.New()
	defer fake.Close()
	var lookups atomic.Int64
	fake.Intercept(func(w http.ResponseWriter, r *http.Request) bool {
		if strings.Contains(r.URL.Path, "/schemas/ids/") {
			lookups.Add(1)
		}
		return false
	})
	reg, err := New(fake.URL(), "test", nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	id, err := reg.Register(ctx, "t.classified", schemas.ClassifiedAvro)
	if err != nil || id == 0 || reg.ID("t.classified") != id {
		t.Fatalf("register: id %d, %v", id, err)
	}
	if again, err := reg.Register(ctx, "t.classified", schemas.ClassifiedAvro); err != nil || again != id {
		t.Fatalf("register again: id %d (first %d), %v", again, id, err)
	}
	lookups.Store(0) // the client's own, while registering
	if c, err := reg.Resolve(id); err != nil || c.Rabin != schemas.ClassifiedAvro.Legacy || lookups.Load() != 0 {
		t.Fatalf("own schema: %v, %d lookups", err, lookups.Load())
	}
	cl, _ := sr.NewClient(sr.URLs(fake.URL()))
	other, err := cl.CreateSchema(ctx, "raw-value", sr.Schema{Schema: `{"type":"record","name":"E","fields":[{"name":"event_id","type":"string"}]}`})
	if err != nil {
		t.Fatal(err)
	}
	lookups.Store(0)
	for range 3 {
		if _, err := reg.Resolve(other.ID); err != nil {
			t.Fatal(err)
		}
	}
	if n := lookups.Load(); n != 1 {
		t.Errorf("%d lookups of one id, want 1", n)
	}
	if _, err := reg.Resolve(424242); !errors.Is(err, schemas.ErrUnknownSchema) {
		t.Errorf("unknown id: %v", err)
	}
}

// TestResolveRegistryAway: a registry that answers 503 is tried again, then
// the lookup fails as unavailable, which the stages do not dead letter.
func TestResolveRegistryAway(t *testing.T) {
	var calls atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	reg, err := New(srv.URL, "test", nil)
	if err != nil {
		t.Fatal(err)
	}
	reg.retry = 300 * time.Millisecond
	if _, err := reg.Resolve(7); !errors.Is(err, schemas.ErrRegistryUnavailable) || errors.Is(err, schemas.ErrUnknownSchema) {
		t.Fatalf("resolve with the registry away: %v", err)
	}
	if calls.Load() < 2 {
		t.Errorf("%d calls: not tried again", calls.Load())
	}
}
