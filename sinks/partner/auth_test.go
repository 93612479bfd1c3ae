package partner

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/postbackd/postbackd/state"
)

const (
	newSecret = "whsec_" + "bmV3LXNlY3JldC1rZXktMzItYnl0ZXMtbG9uZyEhIQ==" // base64 of a 32-byte key
	oldSecret = "whsec_" + "b2xkLXNlY3JldC1rZXktMzItYnl0ZXMtbG9uZyEhIQ=="
)

// TestRotationSignsWithBothSecrets: during a rotation a POST carries a
// Standard Webhooks signature with each secret, so a partner verifying
// with either (here the reference library, verifying once with each)
// accepts it; a GET's signature parameter carries both, comma-separated.
func TestRotationSignsWithBothSecrets(t *testing.T) {
	dp, url := newPartner(t, nil)
	post := RuleConfig{Types: []string{"install"}, Mode: ModeAll, URL: url + "/post", Method: http.MethodPost, Body: `{"id":"{postback_id}"}`}
	get := getRule(url+"/get?id={postback_id}", "purchase")
	cfg := testConfig(PartnerConfig{ID: "p", Secret: newSecret, PreviousSecret: oldSecret, SignatureParam: "sig", Rules: []RuleConfig{post, get}})
	s, pub := newTestSink(t, cfg)
	run(t, s, pub, state.NewMemory(), jobs(record("e1", "install", "p"), record("e2", "purchase", "p")))
	reqs := dp.Requests()
	if len(reqs) != 2 {
		t.Fatalf("%d requests, want 2 (deadletters %+v)", len(reqs), pub.deadLetters())
	}
	for _, r := range reqs {
		switch {
		case strings.HasPrefix(r.Path, "/post"):
			h := http.Header{}
			for _, k := range []string{"webhook-id", "webhook-timestamp", "webhook-signature"} {
				h.Set(k, r.Header.Get(k))
			}
			if n := len(strings.Fields(h.Get("webhook-signature"))); n != 2 {
				t.Errorf("webhook-signature %q: %d signatures, want 2", h.Get("webhook-signature"), n)
			}
			for name, secret := range map[string]string{"new": newSecret, "old": oldSecret} {
				wh, err := standardwebhooks.NewWebhook(secret)
				if err != nil {
					t.Fatal(err)
				}
				if err := wh.Verify(r.Body, h); err != nil {
					t.Errorf("the %s secret does not verify the POST: %v", name, err)
				}
			}
		case strings.HasPrefix(r.Path, "/get"):
			signed, sig, ok := strings.Cut(url+r.URI, "&sig=")
			values := strings.Split(sig, ",")
			if !ok || len(values) != 2 {
				t.Fatalf("GET signature %q, want two values", sig)
			}
			for i, secret := range []string{newSecret, oldSecret} {
				key, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
				m := hmac.New(sha256.New, key)
				m.Write([]byte(signed))
				if want := hex.EncodeToString(m.Sum(nil)); values[i] != want {
					t.Errorf("GET signature %d %s, want %s for %s", i, values[i], want, signed)
				}
			}
		}
	}
}

// TestBearerToken: a static token from a file goes as "Authorization:
// Bearer" on every call (its trailing newline dropped) and appears in no
// delivery log entry.
func TestBearerToken(t *testing.T) {
	dp, url := newPartner(t, nil)
	file := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(file, []byte("s3cr3t-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(PartnerConfig{ID: "p", Auth: AuthConfig{BearerTokenFile: file}, Rules: []RuleConfig{getRule(url+"/pb?id={postback_id}", "install")}})
	s, pub := newTestSink(t, cfg)
	run(t, s, pub, state.NewMemory(), jobs(record("e1", "install", "p")))
	reqs := dp.Requests()
	if len(reqs) != 1 || reqs[0].Header.Get("Authorization") != "Bearer s3cr3t-token" {
		t.Fatalf("requests %+v, want one with the bearer token", reqs)
	}
	if logged := fmt.Sprintf("%+v", pub.entries()); strings.Contains(logged, "s3cr3t") {
		t.Errorf("the token is in the delivery log: %s", logged)
	}
}

// TestRotationAndTokenChecked: a previous secret needs a current one, and
// an empty token file is a problem at its field.
func TestRotationAndTokenChecked(t *testing.T) {
	cfg := testConfig(PartnerConfig{ID: "p", PreviousSecretEnv: "X_PREV", Rules: []RuleConfig{getRule("http://example.com/pb", "install")}})
	cfg.setDefaults()
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "sink.partners[0].previous_secret_env") {
		t.Errorf("Validate: %v, want a problem at previous_secret_env", err)
	}
	empty := filepath.Join(t.TempDir(), "empty")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg = testConfig(PartnerConfig{ID: "p", Auth: AuthConfig{BearerTokenFile: empty}, Rules: []RuleConfig{getRule("http://example.com/pb", "install")}})
	errs := readSecrets("c.yaml", nil, &cfg)
	if len(errs) != 1 || !strings.Contains(errs[0].Error(), "auth.bearer_token_file") {
		t.Errorf("readSecrets = %v, want a problem at auth.bearer_token_file", errs)
	}
}
