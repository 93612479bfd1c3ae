package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/postbackd/postbackd/sinks/partner"
)

// TestSendTest: `postbackd send-test` renders a synthetic purchase through
// the partner's POST rule, signs it and sends it once to a loopback
// partner, and prints the request (the bearer token and the signature
// redacted, the postback_id a test- one) and the answer; a partner that
// answers 500 makes it exit 1 with that answer shown.
func TestSendTest(t *testing.T) {
	var (
		mu   sync.Mutex
		got  []*http.Request
		body []string
		fail bool
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got, body = append(got, r), append(body, string(b))
		f := fail
		mu.Unlock()
		if f {
			http.Error(w, "partner is down", http.StatusInternalServerError)
			return
		}
		fmt.Fprint(w, `{"ok":true}`)
	}))
	defer srv.Close()
	t.Setenv("SENDTEST_SECRET", "s3cret-signing-key")
	t.Setenv("SENDTEST_TOKEN", "t0ken-value")
	cfg := filepath.Join(t.TempDir(), "postbackd.yaml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(`sink:
  allow_private_networks: true
  retry: {in_process: {max_attempts: 3}}
  partners:
    - id: acme
      secret_env: SENDTEST_SECRET
      auth: {bearer_token_env: SENDTEST_TOKEN}
      rules:
        - types: [purchase]
          apps: [com.acme.game]
          method: POST
          url: "%s/pb?app={app_id}"
          body: '{"id": "{postback_id}", "rev": {revenue}, "device": "{device_id}", "extra": {"api_key": "k3y-in-the-template"}}'
          headers: {X-Partner: "{partner}"}
`, srv.URL)), 0o600); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	env := &environment{stdout: &stdout, stderr: &stderr}
	if code := run(context.Background(), []string{"send-test", "--config", cfg, "--partner", "acme", "--type", "purchase"}, env); code != 0 {
		t.Fatalf("exit %d:\n%s\n%s", code, stdout.String(), stderr.String())
	}
	out := stdout.String()
	t.Logf("send-test:\n%s", out)
	if len(got) != 1 {
		t.Fatalf("the partner got %d requests, want 1", len(got))
	}
	r := got[0]
	key := r.Header.Get("Idempotency-Key")
	for _, want := range []string{
		"> POST " + srv.URL + "/pb?app=com.acme.game",
		"> Authorization: Bearer " + partner.Redacted,
		"> Webhook-Signature: " + partner.Redacted,
		"> Idempotency-Key: " + key,
		"> X-Partner: acme",
		`"rev":1.99`,
		`"api_key":"[redacted]"`,
		"< 200 OK",
		`< {"ok":true}`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	if !strings.HasPrefix(key, partner.TestPostbackIDPrefix) || !strings.Contains(body[0], key) {
		t.Errorf("Idempotency-Key %q, body %s: want a test- postback_id in both", key, body[0])
	}
	if r.Header.Get("Authorization") != "Bearer t0ken-value" || r.Header.Get("Webhook-Signature") == "" {
		t.Errorf("the partner got Authorization %q, signature %q: the real ones must be sent", r.Header.Get("Authorization"), r.Header.Get("Webhook-Signature"))
	}
	if !strings.Contains(body[0], "k3y-in-the-template") {
		t.Errorf("the partner got body %s: the template's field must be sent as it is", body[0])
	}
	for _, secret := range []string{"t0ken-value", "s3cret-signing-key", r.Header.Get("Webhook-Signature"), "k3y-in-the-template"} {
		if strings.Contains(out, secret) {
			t.Errorf("the output shows a secret: %q", secret)
		}
	}

	// A failing partner: one try (not the config's 3), the answer shown, exit 1.
	mu.Lock()
	fail = true
	mu.Unlock()
	stdout.Reset()
	stderr.Reset()
	if code := run(context.Background(), []string{"send-test", "--config", cfg, "--partner", "acme", "--type", "purchase", "--json"}, env); code != 1 {
		t.Fatalf("exit %d against a failing partner, want 1", code)
	}
	var tp partner.TestPostback
	if err := json.Unmarshal(stdout.Bytes(), &tp); err != nil {
		t.Fatalf("--json: %v\n%s", err, stdout.String())
	}
	if tp.Status != 500 || !strings.Contains(tp.Answer, "partner is down") || tp.Delivered {
		t.Errorf("failing partner: %+v", tp)
	}
	if len(got) != 2 {
		t.Errorf("the partner got %d requests in all, want 2 (one try each)", len(got))
	}
	if !strings.Contains(stderr.String(), "did not accept") {
		t.Errorf("stderr: %s", stderr.String())
	}

	// A type no rule lists is refused before anything is sent.
	stderr.Reset()
	if code := run(context.Background(), []string{"send-test", "--config", cfg, "--partner", "acme", "--type", "install"}, env); code != 1 || !strings.Contains(stderr.String(), "no rule") {
		t.Errorf("install: exit %d, %s", code, stderr.String())
	}
}
