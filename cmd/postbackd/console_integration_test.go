//go:build integration

package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/segmentio/kafka-go"

	"github.com/postbackd/postbackd/processors/devtools/demopartner"
	"github.com/postbackd/postbackd/processors/devtools/testkit"
	"github.com/postbackd/postbackd/processors/platform/stream/kafkatest"
)

// consoleStall fails a browser wait when the page has not come to the
// state awaited for this long (the pipeline moves on meanwhile; the
// page refreshes every 5 s).
const consoleStall = 3 * time.Minute

// chromiumPath is a Chromium from scripts/chromium.sh (Debian's package,
// installed when missing).
func chromiumPath(t *testing.T) string {
	t.Helper()
	out, err := exec.Command(filepath.Join("..", "..", "scripts", "chromium.sh")).Output()
	if err != nil {
		var stderr string
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("scripts/chromium.sh: %v\n%s", err, stderr)
	}
	return strings.TrimSpace(string(out))
}

// TestIntegrationConsole drives the web console in a real headless
// Chromium against a running pipeline (every stage, real broker). The
// partner refuses first purchases (503) until they are all in the
// delivery deadletter and takes installs. In the browser:
//   - without the token nothing: the API answers 401 and the console
//     sends to its login form;
//   - logged in, the partner page shows the partner with its installs
//     delivered (a screenshot goes to the test's artifact directory);
//   - the latest failures list a deadlettered postback, whose lookup
//     shows it deadlettered with its tries;
//   - the device page shows the device's attribution (state query);
//   - once the partner is back, a dry run of the redrive form counts
//     every deadlettered postback and sends nothing, the redrive queues
//     them, and the lookup then shows the postback delivered; the partner
//     took each exactly once.
func TestIntegrationConsole(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	chrome := chromiumPath(t)
	bin := buildBinary(t)
	ctx := context.Background()
	const app, devices = "com.example.console", 5

	var down atomic.Bool
	down.Store(true)
	var calls atomic.Int64
	dp := demopartner.New(nil)
	dp.SetMaxRequests(0)
	dp.SetFault("demo", demopartner.Fault{Answer: func(w http.ResponseWriter, r *http.Request, _ int) bool {
		calls.Add(1)
		if down.Load() && r.URL.Query().Get("type") == "first_purchase" {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte(`<b>down</b> for maintenance`))
			return true
		}
		return false
	}})
	partnerURL, err := dp.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = dp.Close() })

	const token = "c0nsole-t0ken"
	t.Setenv("CONSOLE_ADMIN_TOKEN", token)
	admin := freeAddr(t)
	prefix := fmt.Sprintf("console%d.", time.Now().UnixNano())
	cfgFile, cfg := writeConfig(t, ctx, brokers, fmt.Sprintf(`kafka:
  brokers: [%s]
  partitions: 2
  group_prefix: %sg
topics:
  prefix: %s
classified_format: json
sink:
  allow_private_networks: true
  retry: {in_process: {max_attempts: 2, max_wait: 50ms}, tiers: [1s]}
  admin: {listen: "%s", token_env: CONSOLE_ADMIN_TOKEN}
  partners:
    - id: demo
      breaker: {failures: 1000000}
      rules:
        - {types: [install, first_purchase], mode: all, url: "%s/demo?id={postback_id}&type={type}"}
`, strings.Join(brokers, ","), prefix, prefix, admin, partnerURL))
	pipe := startOutageCopy(t, bin, cfgFile, "a", strings.Join(brokers, ","))

	ts := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
	var msgs []kafka.Message
	for i := range devices {
		dev := fmt.Sprintf("dev-%d", i)
		msgs = append(msgs,
			rawClick(cfg, app, dev, fmt.Sprintf("c%d", i), "demo", "winter", ts),
			rawEvent(cfg, app, dev, fmt.Sprintf("i%d", i), "install", ts.Add(time.Minute), nil),
			rawEvent(cfg, app, dev, fmt.Sprintf("p%d", i), "purchase", ts.Add(2*time.Minute),
				map[string]any{"revenue": 4.99, "currency": "USD", "transaction_id": fmt.Sprintf("t%d", i)}))
	}
	testkit.Produce(t, ctx, brokers, msgs...)

	// The outage: every first purchase ends in the delivery deadletter.
	dead := map[string]bool{}
	testkit.Wait{Stall: consoleStall, Progress: calls.Load}.ReadTopic(t, ctx, brokers, cfg.Topics.DeliveryDeadletter, func(ms []kafka.Message) bool {
		dead[string(ms[len(ms)-1].Key)] = true
		return len(dead) >= devices
	})

	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chrome), chromedp.NoSandbox,
		chromedp.Flag("disable-dev-shm-usage", true), chromedp.WindowSize(1400, 900))
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	defer cancelBrowser()
	base := "http://" + admin
	b := &browser{t: t, ctx: bctx, copy: pipe}
	// The first Run starts the browser, for as long as its context lives:
	// bctx, without the timeout of each step.
	if _, err := chromedp.Run(bctx, chromedp.Steps()); err != nil {
		t.Fatalf("start %s: %v", chrome, err)
	}
	waitJS := func(what, js string) {
		t.Helper()
		b.do(what, func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
			_, err := chromedp.Poll[chromedp.Void](js, chromedp.WithPollingInterval(200*time.Millisecond))(ctx, tg)
			return chromedp.Void{}, err
		})
	}

	// Without the token: nothing.
	b.do("the API without a token", chromedp.Navigate(base+"/v1/partners"))
	if apiBody := browserGet(b, "read the answer", chromedp.Text(chromedp.CSS("body"))); !strings.Contains(apiBody, "unauthorized") || strings.Contains(apiBody, "demo") {
		t.Fatalf("the API without a token answered %q", apiBody)
	}
	b.do("the console without a session", chromedp.Navigate(base+"/console/"), chromedp.WaitVisible(chromedp.ID("token")))
	if loc := browserGet(b, "location", chromedp.Location()); !strings.HasSuffix(loc, "/console/login") {
		t.Fatalf("the console without a session is at %s, want the login form", loc)
	}
	b.do("a wrong token", chromedp.SendKeys(chromedp.ID("token"), "wrong"), chromedp.Submit(chromedp.ID("login")),
		chromedp.WaitVisible(chromedp.ID("login-error")))

	// Log in; the partner page shows the installs delivered.
	b.do("log in", chromedp.SendKeys(chromedp.ID("token"), token), chromedp.Submit(chromedp.ID("login")),
		chromedp.WaitVisible(chromedp.ID("partners-table")))
	waitJS("the partner page shows deliveries", fmt.Sprintf(`(() => { const r = document.querySelector('#partners-table tr[data-partner="demo"]');
		return r !== null && Number(r.querySelector('td.delivered').textContent) >= %d && Number(r.querySelector('td.deadlettered').textContent) >= %d; })()`, devices, devices))
	shot := browserGet(b, "screenshot", chromedp.FullScreenshot(100))
	shotPath := filepath.Join(t.ArtifactDir(), "console-partners.png")
	if err := os.WriteFile(shotPath, shot, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("partner page (screenshot %s):\n%s", shotPath, browserGet(b, "read the partner page", chromedp.Text(chromedp.ID("partners-table"))))

	// The latest failures: a deadlettered postback, looked up.
	b.do("open the failures", chromedp.Click(chromedp.CSS(`a[data-view="failures"]`)))
	waitJS("a deadlettered failure listed", `[...document.querySelectorAll('#failures-table tbody tr')].some(r => r.textContent.includes('deadlettered'))`)
	failed := browserGet(b, "find the failure", chromedp.Evaluate[string](`[...document.querySelectorAll('#failures-table tbody tr')].find(r => r.textContent.includes('deadlettered')).querySelector('a.postback-link').textContent`))
	if !dead[failed] {
		t.Fatalf("the failures list %q, not one of the deadlettered postbacks %v", failed, dead)
	}
	// The partner's answer is shown as text, not markup.
	waitJS("the partner's answer escaped", `[...document.querySelectorAll('#failures-table .excerpt')].some(e => e.textContent.includes('<b>down</b>')) && document.querySelector('#failures-table b') === null`)
	b.do("look the failure up", chromedp.Click(chromedp.CSS(`#failures-table a.postback-link`)))
	waitJS("the lookup shows it deadlettered with its tries", `(() => { const b = document.querySelector('#postback-result .partner-block[data-partner="demo"]');
		return b !== null && b.dataset.outcome === 'deadlettered' && b.querySelectorAll('tbody tr').length >= 2; })()`)

	// The device page: the state query.
	b.do("look a device up", chromedp.Click(chromedp.CSS(`a[data-view="device"]`)),
		chromedp.SendKeys(chromedp.ID("device-app"), app), chromedp.SendKeys(chromedp.ID("device-id"), "dev-0"),
		chromedp.Click(chromedp.CSS("#device-form button")))
	waitJS("the device's attribution shown", `document.querySelector('#device-result').textContent.includes('"click_id": "c0"')`)

	// The partner is back: dry run, then redrive.
	down.Store(false)
	before := calls.Load()
	b.do("dry run", chromedp.Click(chromedp.CSS(`a[data-view="redrive"]`)), chromedp.WaitVisible(chromedp.ID("redrive-form")),
		chromedp.Click(chromedp.ID("redrive-dry")))
	waitJS("the dry run counts every deadlettered postback", fmt.Sprintf(`document.querySelector('#redrive-summary').textContent.includes('would send %d postbacks to demo')`, len(dead)))
	if got := calls.Load(); got != before {
		t.Errorf("the partner got %d calls during the dry run", got-before)
	}
	b.do("redrive", chromedp.Click(chromedp.ID("redrive-run")))
	waitJS("the redrive queued", fmt.Sprintf(`document.querySelector('#redrive-summary').textContent.includes('Queued %d of %d')`, len(dead), len(dead)))
	testkit.Wait{Stall: consoleStall, Progress: calls.Load}.For(t, "every redriven postback delivered", func() bool {
		keys := dp.Keys("demo")
		for id := range dead {
			if keys[id].Accepted != 1 {
				return false
			}
		}
		return true
	})
	b.do("look the postback up again", chromedp.Click(chromedp.CSS(`a[data-view="postback"]`)), chromedp.Click(chromedp.CSS("#postback-form button")))
	waitJS("the lookup shows it delivered", `(() => { const b = document.querySelector('#postback-result .partner-block[data-partner="demo"]');
		return b !== null && b.dataset.outcome === 'delivered'; })()`)
	for id := range dead {
		if k := dp.Keys("demo")[id]; k.Accepted != 1 {
			t.Errorf("postback %s accepted %d times, want once", id, k.Accepted)
		}
	}
}

// browser runs chromedp actions for a test, failing it with the page's
// text and the copy's log.
type browser struct {
	t    *testing.T
	ctx  context.Context
	copy *outageCopy
}

func (b *browser) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	browserGet(b, what, chromedp.Steps(steps...))
}

// browserGet runs a, bounded by consoleStall, and returns its value.
func browserGet[T any](b *browser, what string, a chromedp.Action[T]) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, consoleStall)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		body, _ := chromedp.Run(b.ctx, chromedp.Text(chromedp.CSS("body")))
		b.t.Fatalf("%s: %v\npage:\n%s\ncopy log:\n%s", what, err, tail(body, 3000), tail(b.copy.logs(), 3000))
	}
	return v
}
