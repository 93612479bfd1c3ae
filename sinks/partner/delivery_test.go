package partner

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/postbackd/postbackd/schemas"
	"github.com/postbackd/postbackd/state"
)

func TestSigningPOSTStandardWebhooks(t *testing.T) {
	key := []byte("0123456789abcdef0123456789abcdef")
	secret := "whsec_" + base64.StdEncoding.EncodeToString(key)
	dp, url := newPartner(t, nil)
	p := PartnerConfig{ID: "p", Secret: secret, Rules: []RuleConfig{{Types: []string{"install"}, Method: "POST",
		URL: url + "/hook", Body: `{"id":"{postback_id}"}`}}}
	s, pub := newTestSink(t, testConfig(p))
	rec := record("e1", "install", "p")
	run(t, s, pub, state.NewMemory(), jobs(rec))
	r := dp.Requests()[0]
	id, ts, sig := r.Header.Get("webhook-id"), r.Header.Get("webhook-timestamp"), r.Header.Get("webhook-signature")
	if id != rec.PostbackID || r.Header.Get("Idempotency-Key") != rec.PostbackID {
		t.Fatalf("webhook-id %q", id)
	}
	// Verified here by hand, as a partner would, not with the sink's code.
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id + "." + ts + "." + string(r.Body)))
	want := "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
	if sig != want {
		t.Fatalf("signature %q, want %q", sig, want)
	}
	if !strings.HasPrefix(r.Header.Get("User-Agent"), "postbackd/") {
		t.Errorf("user agent %q", r.Header.Get("User-Agent"))
	}
}

func TestSigningGETQueryParam(t *testing.T) {
	dp, url := newPartner(t, nil)
	t.Setenv("TEST_PARTNER_SECRET", "plain-secret")
	p := PartnerConfig{ID: "p", SecretEnv: "TEST_PARTNER_SECRET", SignatureParam: "sig",
		Rules: []RuleConfig{{Types: []string{"install"}, URL: url + "/pb?id={postback_id}&c={campaign}"}}}
	s, pub := newTestSink(t, testConfig(p))
	run(t, s, pub, state.NewMemory(), jobs(record("e1", "install", "p")))
	uri := dp.Requests()[0].URI
	i := strings.LastIndex(uri, "&sig=")
	if i < 0 {
		t.Fatalf("no signature in %s", uri)
	}
	signed := url + uri[:i]
	mac := hmac.New(sha256.New, []byte("plain-secret"))
	mac.Write([]byte(signed))
	if got, want := uri[i+len("&sig="):], hex.EncodeToString(mac.Sum(nil)); got != want {
		t.Fatalf("sig %s, want %s over %s", got, want, signed)
	}
	for _, e := range pub.entries() {
		if strings.Contains(e.URL, "sig=") && !strings.Contains(e.URL, "sig=REDACTED") {
			t.Errorf("signature in the delivery log: %s", e.URL)
		}
	}
}

func TestRedactionInLogs(t *testing.T) {
	_, url := newPartner(t, func(w http.ResponseWriter, r *http.Request, n int) bool {
		w.WriteHeader(http.StatusBadRequest)
		return true
	})
	core, logs := observer.New(zap.DebugLevel)
	secret := "sup3r-secret-value"
	p := PartnerConfig{ID: "p", Secret: secret, Rules: []RuleConfig{{Types: []string{"install"},
		URL: url + "/pb?token=tok-12345&click={click_id}"}}}
	s, pub := newTestSink(t, testConfig(p), WithLogger(zap.New(core)))
	run(t, s, pub, state.NewMemory(), jobs(record("e1", "install", "p")))
	if logs.Len() == 0 {
		t.Fatal("nothing logged")
	}
	check := func(where, text string) {
		for _, leak := range []string{"tok-12345", "clk", secret} {
			if strings.Contains(text, leak) {
				t.Errorf("%s leaks %q: %s", where, leak, text)
			}
		}
	}
	for _, l := range logs.All() {
		for k, v := range l.ContextMap() {
			check("log field "+k, strings.ReplaceAll(strings.ReplaceAll(toString(v), "%2F", "/"), "%2f", "/"))
		}
	}
	for _, e := range pub.entries() {
		check("delivery log", e.URL+" "+e.Error)
		if !strings.Contains(e.URL, "token=REDACTED") {
			t.Errorf("url not redacted: %s", e.URL)
		}
	}
	for _, d := range pub.deadLetters() {
		check("deadletter", d.reason)
	}
}

func toString(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	return ""
}

func TestDedupSkipsDeliveredPostback(t *testing.T) {
	dp, url := newPartner(t, nil)
	s, pub := newTestSink(t, testConfig(PartnerConfig{ID: "p", Rules: []RuleConfig{getRule(url+"/pb", "install")}}))
	store := state.NewMemory()
	rec := record("e1", "install", "p")
	run(t, s, pub, store, jobs(rec))
	run(t, s, pub, store, jobs(rec, rec)) // replayed batch
	if n := len(dp.Requests()); n != 1 {
		t.Fatalf("partner got %d calls, want 1", n)
	}
	if _, err := store.Get(DedupKey("p", rec.PostbackID)); err != nil {
		t.Fatalf("dedup record: %v", err)
	}
	skipped := 0
	for _, e := range pub.entries() {
		if e.Outcome == OutcomeSkippedDuplicate {
			skipped++
		}
	}
	if skipped != 2 {
		t.Fatalf("skipped_duplicate entries = %d, want 2", skipped)
	}
	run(t, s, pub, store, []Job{{Record: rec, Partner: "p", Resend: true}})
	if n := len(dp.Requests()); n != 2 {
		t.Fatalf("resend job: partner got %d calls, want 2", n)
	}
}

func TestSSRFRefusedAndDeadlettered(t *testing.T) {
	dp, url := newPartner(t, nil)
	for _, target := range []string{url + "/pb", "http://169.254.169.254/latest/meta-data", "http://[::ffff:127.0.0.1]:1/x"} {
		cfg := testConfig(PartnerConfig{ID: "p", Rules: []RuleConfig{getRule(target+"?id={postback_id}", "install")}})
		cfg.AllowPrivateNetworks = false
		s, pub := newTestSink(t, cfg)
		run(t, s, pub, state.NewMemory(), jobs(record("e1", "install", "p")))
		dead := pub.deadLetters()
		if len(dead) != 1 || !strings.Contains(dead[0].reason, "not allowed") {
			t.Fatalf("%s: deadletters %+v", target, dead)
		}
		if n := len(pub.entries()); n != 1 {
			t.Errorf("%s: %d log entries, want 1 (one try, no retry)", target, n)
		}
	}
	if n := len(dp.Requests()); n != 0 {
		t.Fatalf("%d requests reached the server", n)
	}
}

func TestBadRequestDeadletteredAfterOneTry(t *testing.T) {
	dp, url := newPartner(t, func(w http.ResponseWriter, r *http.Request, n int) bool {
		w.WriteHeader(http.StatusBadRequest)
		return true
	})
	s, pub := newTestSink(t, testConfig(PartnerConfig{ID: "p", Rules: []RuleConfig{getRule(url, "install")}}))
	run(t, s, pub, state.NewMemory(), jobs(record("e1", "install", "p")))
	if n := len(dp.Requests()); n != 1 {
		t.Fatalf("%d tries", n)
	}
	if d := pub.deadLetters(); len(d) != 1 || d[0].reason != "status 400" {
		t.Fatalf("deadletters %+v", d)
	}
}

func TestRedirectIsFinal(t *testing.T) {
	dp, url := newPartner(t, func(w http.ResponseWriter, r *http.Request, n int) bool {
		http.Redirect(w, r, "/elsewhere", http.StatusFound)
		return true
	})
	s, pub := newTestSink(t, testConfig(PartnerConfig{ID: "p", Rules: []RuleConfig{getRule(url+"/pb", "install")}}))
	run(t, s, pub, state.NewMemory(), jobs(record("e1", "install", "p")))
	if n := len(dp.Requests()); n != 1 {
		t.Fatalf("%d requests: redirect followed?", n)
	}
	if d := pub.deadLetters(); len(d) != 1 {
		t.Fatalf("deadletters %+v", d)
	}
}

func TestRetryTiersThenDeadletter(t *testing.T) {
	dp, url := newPartner(t, func(w http.ResponseWriter, r *http.Request, n int) bool {
		w.WriteHeader(http.StatusServiceUnavailable)
		return true
	})
	cfg := testConfig(PartnerConfig{ID: "p", Breaker: BreakerConfig{Failures: 1000}, Rules: []RuleConfig{getRule(url, "install")}})
	s, pub := newTestSink(t, cfg)
	run(t, s, pub, state.NewMemory(), jobs(record("e1", "install", "p")))
	// 3 in-process tries, then once more per tier (5 tiers) with 3 tries each.
	if n := len(dp.Requests()); n != 3*6 {
		t.Fatalf("%d tries, want 18", n)
	}
	d := pub.deadLetters()
	if len(d) != 1 || d[0].job.Attempt != 18 || d[0].job.Tier != 5 || !strings.Contains(d[0].reason, "retries exhausted") {
		t.Fatalf("deadletters %+v", d)
	}
}

func TestBreakerParksWithoutSpendingTries(t *testing.T) {
	dp, url := newPartner(t, func(w http.ResponseWriter, r *http.Request, n int) bool {
		w.WriteHeader(http.StatusInternalServerError)
		return true
	})
	cfg := testConfig(PartnerConfig{ID: "p", Concurrency: 1, Breaker: BreakerConfig{Failures: 2, OpenFor: Duration(time.Hour)},
		Rules: []RuleConfig{getRule(url, "install")}})
	cfg.Retry.InProcess.MaxAttempts = 1
	s, pub := newTestSink(t, cfg)
	var batch []Job
	for i := range 10 {
		batch = append(batch, jobs(record("e"+string(rune('a'+i)), "install", "p"))...)
	}
	if _, err := s.Process(context.Background(), state.NewMemory(), batch); err != nil {
		t.Fatal(err)
	}
	if n := len(dp.Requests()); n != 2 {
		t.Fatalf("%d requests, want 2 before the breaker opened", n)
	}
	parked := 0
	for _, r := range pub.takeRetries() {
		if r.Attempt == 0 && r.Tier == 0 {
			parked++
		}
	}
	if parked != 8 {
		t.Fatalf("%d parked jobs with no try spent, want 8", parked)
	}
}

func TestAdminAPI(t *testing.T) {
	dp, url := newPartner(t, nil)
	s, pub := newTestSink(t, testConfig(PartnerConfig{ID: "p", Rules: []RuleConfig{getRule(url, "install")}}))
	rec := record("e1", "install", "p")
	run(t, s, pub, state.NewMemory(), jobs(rec))
	admin := httptest.NewServer(s.AdminHandler("t0ken"))
	defer admin.Close()
	do := func(method, path, token string) *http.Response {
		req, _ := http.NewRequest(method, admin.URL+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	if r := do("GET", "/v1/postbacks/"+rec.PostbackID, ""); r.StatusCode != 401 {
		t.Errorf("no token: %d", r.StatusCode)
	}
	if r := do("GET", "/v1/postbacks/"+rec.PostbackID, "wrong"); r.StatusCode != 401 {
		t.Errorf("bad token: %d", r.StatusCode)
	}
	if r := do("GET", "/v1/postbacks/"+rec.PostbackID, "t0ken"); r.StatusCode != 200 {
		t.Errorf("status: %d", r.StatusCode)
	}
	if r := do("GET", "/v1/postbacks/unknown", "t0ken"); r.StatusCode != 404 {
		t.Errorf("unknown: %d", r.StatusCode)
	}
	if r := do("POST", "/v1/postbacks/"+rec.PostbackID+"/resend", "t0ken"); r.StatusCode != 200 {
		t.Errorf("resend: %d", r.StatusCode)
	}
	if n := len(dp.Requests()); n != 2 {
		t.Fatalf("partner saw %d calls, want 2 after resend", n)
	}
	st, _ := s.status.get(rec.PostbackID), 0
	if len(st) != 1 || st[0].Attempts != 2 || st[0].Outcome != OutcomeDelivered {
		t.Fatalf("status after resend %+v", st)
	}
}

var _ = schemas.TypeInstall
