//go:build integration

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/postbackd/postbackd/processors/devtools/demopartner"
	"github.com/postbackd/postbackd/processors/devtools/testkit"
	"github.com/postbackd/postbackd/processors/platform/stream/kafkatest"
	"github.com/postbackd/postbackd/schemas"
)

// redriveStall fails a wait when nothing moved for this long.
const redriveStall = 2 * time.Minute

// TestIntegrationRedriveAfterOutage: a partner answers 503 until every
// one of its postbacks has used its tries and retry tier and sits in the
// delivery deadletter; then it comes back. A dry run lists the postbacks
// and sends nothing; one `postbackd redrive` delivers every one exactly
// once (the partner counts Idempotency-Keys); a second run finds them all
// delivered and sends nothing. The sink runs as a copy of postbackd, the
// redrives as the command, on the real broker.
func TestIntegrationRedriveAfterOutage(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	bin := buildBinary(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	var down atomic.Bool
	down.Store(true)
	var calls atomic.Int64
	dp := demopartner.New(nil)
	dp.SetMaxRequests(0)
	dp.SetFault("demo", demopartner.Fault{Answer: func(w http.ResponseWriter, _ *http.Request, _ int) bool {
		calls.Add(1)
		if down.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			return true
		}
		return false
	}})
	url, err := dp.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = dp.Close() })

	prefix := fmt.Sprintf("redrive%d.", time.Now().UnixNano())
	adminAddr := freeAddr(t)
	t.Setenv("REDRIVE_ADMIN_TOKEN", "t0ken")
	cfgFile, cfg := writeConfig(t, ctx, brokers, fmt.Sprintf(`kafka:
  brokers: [%s]
  partitions: 4
  group_prefix: %sg
topics:
  prefix: %s
classified_format: json
sink:
  allow_private_networks: true
  retry: {in_process: {max_attempts: 2, max_wait: 50ms}, tiers: [1s]}
  admin: {listen: "%s", token_env: REDRIVE_ADMIN_TOKEN}
  partners:
    - id: demo
      concurrency: 4
      rate_per_second: 200
      breaker: {failures: 1000000}
      rules:
        - {types: [install, purchase], mode: all, url: "%s/demo?id={postback_id}&type={type}"}
`, strings.Join(brokers, ","), prefix, prefix, adminAddr, url))

	const installs, purchases = 30, 10
	var msgs []kafka.Message
	want := map[string]bool{}
	for i := range installs + purchases {
		typ := schemas.TypeInstall
		if i >= installs {
			typ = schemas.TypePurchase
		}
		ts := time.Date(2026, 11, 30, 23, 0, i, 0, time.UTC)
		r := schemas.Classified{
			PostbackID: schemas.PostbackID("app.redrive", fmt.Sprintf("dev-%d", i), fmt.Sprintf("ev-%d", i), ts, typ),
			Type:       typ, EventID: fmt.Sprintf("ev-%d", i), AppID: "app.redrive", Platform: "android",
			DeviceID: fmt.Sprintf("dev-%d", i), EventTS: ts,
		}
		want[r.PostbackID] = true
		msgs = append(msgs, kafka.Message{Topic: cfg.Topics.Classified, Key: []byte(r.PostbackID), Value: schemas.AppendClassifiedJSON(nil, &r)})
	}
	testkit.Produce(t, ctx, brokers, msgs...)
	sink := startCopy(t, bin, cfgFile, "sink", "sink")

	// The outage: every postback ends in the delivery deadletter.
	dead := map[string]bool{}
	testkit.Wait{Stall: redriveStall, Progress: calls.Load}.ReadTopic(t, ctx, brokers, cfg.Topics.DeliveryDeadletter, func(ms []kafka.Message) bool {
		dead[string(ms[len(ms)-1].Key)] = true
		return len(dead) >= len(want)
	})
	for id := range want {
		if !dead[id] {
			t.Fatalf("postback %s not in the deadletter", id)
		}
	}
	if n := dp.Stats().Partners["demo"].Unique; n != 0 {
		t.Fatalf("the partner accepted %d postbacks while down", n)
	}
	down.Store(false)

	redrive := func(args ...string) string {
		t.Helper()
		var out, errOut bytes.Buffer
		cmd := exec.CommandContext(ctx, bin, append([]string{"redrive", "--config", cfgFile, "--partner", "demo"}, args...)...)
		cmd.Stdout, cmd.Stderr = &out, &errOut
		if err := cmd.Run(); err != nil {
			t.Fatalf("postbackd redrive %v: %v\nstdout:\n%s\nstderr:\n%s\nsink log:\n%s", args, err, out.String(), errOut.String(), tail(sink.log.String(), 4000))
		}
		t.Logf("postbackd redrive %s:\n%s%s", strings.Join(args, " "), tail(out.String(), 1500), tail(errOut.String(), 1500))
		return out.String()
	}

	// The admin API's dry run: behind the token, every postback counted.
	before := calls.Load()
	var ans struct {
		Count  int  `json:"count"`
		Queued int  `json:"queued"`
		Listed bool `json:"listed"`
		Send   []struct {
			PostbackID string `json:"postback_id"`
		} `json:"send"`
	}
	if code := adminPost(t, "http://"+adminAddr+"/v1/redrive", "", `{"partner":"demo","dry_run":true}`, nil); code != http.StatusUnauthorized {
		t.Errorf("redrive without the token: %d, want 401", code)
	}
	if code := adminPost(t, "http://"+adminAddr+"/v1/redrive", "t0ken", `{"partner":"demo","dry_run":true}`, &ans); code != http.StatusOK {
		t.Fatalf("admin dry run: %d", code)
	}
	if ans.Count != len(want) || len(ans.Send) != len(want) || !ans.Listed || ans.Queued != 0 {
		t.Errorf("admin dry run: count %d, listed %d (%v), queued %d; want %d listed, none queued", ans.Count, len(ans.Send), ans.Listed, ans.Queued, len(want))
	}
	if code := adminPost(t, "http://"+adminAddr+"/v1/redrive", "t0ken", `{"partner":"nobody","dry_run":true}`, nil); code != http.StatusBadRequest {
		t.Errorf("redrive of an unknown partner: %d, want 400", code)
	}

	// A dry run of the installs lists exactly them and sends nothing.
	out := redrive("--dry-run", "--types", "install", "--since", "1h")
	if n := strings.Count(out, "would send\t"); n != installs {
		t.Errorf("dry run lists %d postbacks, want the %d installs", n, installs)
	}
	if !strings.Contains(out, fmt.Sprintf("would send %d postbacks to demo", installs)) {
		t.Errorf("dry run summary missing:\n%s", out)
	}
	if strings.Contains(out, "\tpurchase\t") {
		t.Errorf("dry run of installs lists a purchase:\n%s", out)
	}
	if got := calls.Load(); got != before {
		t.Errorf("the partner got %d calls during the dry run", got-before)
	}

	// One redrive delivers every postback, once.
	out = redrive()
	if !strings.Contains(out, fmt.Sprintf("done: %d of %d delivered", len(want), len(want))) {
		t.Errorf("redrive summary does not say every postback was delivered:\n%s", out)
	}
	keys := dp.Keys("demo")
	for id := range want {
		if k := keys[id]; k.Accepted != 1 {
			t.Errorf("postback %s accepted %d times, want once", id, k.Accepted)
		}
	}
	if n := dp.Stats().Partners["demo"].Unique; n != len(want) {
		t.Errorf("the partner accepted %d distinct postbacks, want %d", n, len(want))
	}

	// A second run finds them delivered and sends nothing.
	before = calls.Load()
	out = redrive()
	if !strings.Contains(out, "send 0 postbacks to demo") || !strings.Contains(out, fmt.Sprintf("left out: %d delivered already", len(want))) {
		t.Errorf("second redrive should send nothing, all delivered already:\n%s", out)
	}
	if got := calls.Load(); got != before {
		t.Errorf("the partner got %d calls from the second redrive", got-before)
	}
	// From the classified topic, by outcome: nothing failed is left.
	out = redrive("--from", "classified", "--outcome", "failed")
	if !strings.Contains(out, "send 0 postbacks to demo from the classified topic") {
		t.Errorf("redrive of failed postbacks from the classified topic should find none:\n%s", out)
	}
	if got := calls.Load(); got != before {
		t.Errorf("the partner got %d calls from the redrives that had nothing to send", got-before)
	}
	for id, k := range dp.Keys("demo") {
		if k.Accepted > 1 {
			t.Errorf("postback %s accepted %d times", id, k.Accepted)
		}
	}
}

// adminPost posts body to the admin API with the bearer token (none when
// empty) and decodes the answer into v (when not nil); it returns the
// status code.
func adminPost(t *testing.T, url, token, body string, v any) int {
	t.Helper()
	for {
		req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			time.Sleep(100 * time.Millisecond) // the copy is still starting its listener
			continue
		}
		defer res.Body.Close()
		if v != nil && res.StatusCode == http.StatusOK {
			if err := json.NewDecoder(res.Body).Decode(v); err != nil {
				t.Fatal(err)
			}
		}
		return res.StatusCode
	}
}
