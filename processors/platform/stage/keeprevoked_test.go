package stage

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/postbackd/postbackd/processors/platform/stream"
	"github.com/postbackd/postbackd/state"
)

// TestRevokedStoreDeletedAfterKeepRevoked: the store of a partition given
// up is deleted once it has stayed away KeepRevoked (its new owner may
// erase what it holds); one assigned again before that is kept.
func TestRevokedStoreDeletedAfterKeepRevoked(t *testing.T) {
	dir := t.TempDir()
	s, err := New(Config{Name: "d", ChangelogTopic: "cl", StateDir: dir, Brokers: []string{"unused:9092"}, KeepRevoked: 50 * time.Millisecond,
		Consumer: stream.ConsumerConfig{Topics: []string{"in"}}, Producer: &fakeProducer{}, Logic: &passLogic{write: true}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	give := func(part int) string {
		t.Helper()
		d := s.partitionDir(part)
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, "data"), []byte("held"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := s.keep(part, state.NewMemory()); err != nil {
			t.Fatal(err)
		}
		s.Revoked(context.Background(), "in", part)
		return d
	}
	gone := give(1)
	back := give(2)
	s.mu.Lock()
	s.stores[2] = &owned{refs: 1, store: state.NewMemory()} // assigned again, as Assigned does
	s.cancelRemoval(2)
	s.mu.Unlock()
	for {
		if _, err := os.Stat(gone); os.IsNotExist(err) {
			break
		}
		time.Sleep(10 * time.Millisecond) // the deletion comes after KeepRevoked, however busy the machine
	}
	s.mu.Lock()
	pending := s.removals[2]
	s.mu.Unlock()
	if _, err := os.Stat(filepath.Join(back, "data")); err != nil || pending != nil {
		t.Errorf("the store of a partition assigned again was deleted: %v", err)
	}
}
