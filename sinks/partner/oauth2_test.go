package partner

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/postbackd/postbackd/state"
)

// tokenServer is an OAuth2 token endpoint (client credentials) on
// loopback that issues tok-1, tok-2, ... each valid for expiresIn seconds.
type tokenServer struct {
	mu        sync.Mutex
	issued    int
	expiresIn int
	badAuth   int
}

func (s *tokenServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	id, secret, ok := r.BasicAuth()
	if err := r.ParseForm(); err != nil || r.Form.Get("grant_type") != "client_credentials" || !ok || id != "postbackd" || secret != "cs3cret" {
		s.mu.Lock()
		s.badAuth++
		s.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = w.Write([]byte(`{"error":"invalid_client"}`))
		return
	}
	s.mu.Lock()
	s.issued++
	n := s.issued
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"access_token": fmt.Sprintf("tok-%d", n), "token_type": "bearer", "expires_in": s.expiresIn})
}

func (s *tokenServer) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.issued
}

// oauthPartner accepts only the token it is told is current.
type oauthPartner struct {
	mu       sync.Mutex
	accept   string
	seen     []string
	accepted int
}

func (p *oauthPartner) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	defer p.mu.Unlock()
	got := r.Header.Get("Authorization")
	p.seen = append(p.seen, got)
	if got != "Bearer "+p.accept {
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	p.accepted++
	w.WriteHeader(http.StatusNoContent)
}

func (p *oauthPartner) set(tok string) {
	p.mu.Lock()
	p.accept = tok
	p.mu.Unlock()
}

func oauthSink(t *testing.T, ts *tokenServer, partner *oauthPartner) (*Sink, *fakePub) {
	t.Helper()
	tsrv := httptest.NewServer(ts)
	t.Cleanup(tsrv.Close)
	psrv := httptest.NewServer(partner)
	t.Cleanup(psrv.Close)
	cfg := testConfig(PartnerConfig{ID: "p",
		Auth:  AuthConfig{OAuth2: OAuth2Config{TokenURL: tsrv.URL + "/token", ClientID: "postbackd", ClientSecret: "cs3cret", Scopes: []string{"postbacks"}}},
		Rules: []RuleConfig{getRule(psrv.URL+"/pb?id={postback_id}", "install")}})
	return newTestSink(t, cfg)
}

// TestOAuth2TokenCachedAndRefreshedOn401: the token is fetched once and
// reused; when the partner refuses it (401) the sink fetches a new one
// and tries again once, and the postback is delivered.
func TestOAuth2TokenCachedAndRefreshedOn401(t *testing.T) {
	ts := &tokenServer{expiresIn: 3600}
	partner := &oauthPartner{accept: "tok-1"}
	s, pub := oauthSink(t, ts, partner)
	store := state.NewMemory()
	run(t, s, pub, store, jobs(record("e1", "install", "p")))
	run(t, s, pub, store, jobs(record("e2", "install", "p")))
	if n := ts.count(); n != 1 {
		t.Fatalf("%d tokens fetched for two postbacks, want 1 (kept until it expires)", n)
	}
	partner.set("tok-2") // tok-1 revoked
	run(t, s, pub, store, jobs(record("e3", "install", "p")))
	if n := ts.count(); n != 2 {
		t.Fatalf("%d tokens fetched after the 401, want 2", n)
	}
	if partner.accepted != 3 || len(pub.deadLetters()) != 0 {
		t.Fatalf("partner accepted %d of 3 (seen %q), deadletters %+v", partner.accepted, partner.seen, pub.deadLetters())
	}
	if want := []string{"Bearer tok-1", "Bearer tok-1", "Bearer tok-1", "Bearer tok-2"}; fmt.Sprint(partner.seen) != fmt.Sprint(want) {
		t.Errorf("partner saw %q, want %q", partner.seen, want)
	}
	if ts.badAuth != 0 {
		t.Errorf("%d token requests without the client credentials", ts.badAuth)
	}
}

// TestOAuth2TokenRefetchedWhenExpired: a token past its expiry (oauth2
// counts it expired 10 s early) is fetched again before the next call.
func TestOAuth2TokenRefetchedWhenExpired(t *testing.T) {
	ts := &tokenServer{expiresIn: 11} // valid for about a second
	partner := &oauthPartner{accept: "tok-1"}
	s, pub := oauthSink(t, ts, partner)
	store := state.NewMemory()
	run(t, s, pub, store, jobs(record("e1", "install", "p")))
	time.Sleep(1500 * time.Millisecond) // past the token's expiry
	partner.set("tok-2")
	run(t, s, pub, store, jobs(record("e2", "install", "p")))
	if n := ts.count(); n != 2 {
		t.Fatalf("%d tokens fetched, want 2 (the first expired)", n)
	}
	if want := []string{"Bearer tok-1", "Bearer tok-2"}; fmt.Sprint(partner.seen) != fmt.Sprint(want) {
		t.Errorf("partner saw %q, want %q: no 401 should have been needed", partner.seen, want)
	}
}
