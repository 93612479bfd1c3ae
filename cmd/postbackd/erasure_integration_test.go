//go:build integration

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/postbackd/postbackd/processors/devtools/demopartner"
	"github.com/postbackd/postbackd/processors/devtools/testkit"
	"github.com/postbackd/postbackd/processors/platform/stage"
	"github.com/postbackd/postbackd/processors/platform/stream/kafkatest"
	"github.com/postbackd/postbackd/schemas"
	"github.com/postbackd/postbackd/state"
)

// erasureStall fails a wait when nothing moved for this long.
const erasureStall = 3 * time.Minute

// TestIntegrationErasure is PRIVACY.md's erasure on the real broker with
// three copies of every stage. The partner refuses the victim device's
// install, so its postback waits in the retry tier. Then:
//   - `postbackd erase --device victim` is processed: the audit record
//     says the device stage deleted its key;
//   - the copy that processed it is SIGKILLed at once, and a fresh copy
//     starts on an empty disk;
//   - the same request again erases nothing and writes no second audit
//     record;
//   - the retried postback is logged skipped_erased and never sent;
//   - a user erasure removes that user's state and nothing of the other
//     user of the same device, nor the device;
//   - no Badger store of a live copy holds the victim, and the compacted
//     device changelog's last record for it is a tombstone;
//   - the victim's next install, on fresh copies restored from the
//     changelogs, is an install again, and is delivered.
func TestIntegrationErasure(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	bin := buildBinary(t)
	ctx := context.Background()
	const app = "com.example.erase"

	var victimDown atomic.Bool
	victimDown.Store(true)
	var calls, victimCalls atomic.Int64
	dp := demopartner.New(nil)
	dp.SetMaxRequests(0)
	dp.SetFault("demo", demopartner.Fault{Answer: func(w http.ResponseWriter, r *http.Request, _ int) bool {
		calls.Add(1)
		if r.URL.Query().Get("device") == "victim" {
			victimCalls.Add(1)
			if victimDown.Load() {
				w.WriteHeader(http.StatusServiceUnavailable)
				return true
			}
		}
		return false
	}})
	url, err := dp.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = dp.Close() })

	prefix := fmt.Sprintf("erase%d.", time.Now().UnixNano())
	cfgFile, cfg := writeConfig(t, ctx, brokers, fmt.Sprintf(`kafka:
  brokers: [%s]
  partitions: 3
  group_prefix: %sg
topics:
  prefix: %s
classified_format: json
state_keep_revoked: 1s
sink:
  allow_private_networks: true
  retry: {in_process: {max_attempts: 1}, tiers: [30s]}
  partners:
    - id: demo
      breaker: {failures: 1000000}
      rules:
        - {types: [%s], mode: all, url: "%s/demo?id={postback_id}&type={type}&device={device_id}&user={user_id}"}
`, strings.Join(brokers, ","), prefix, prefix, strings.Join(schemas.RecordTypes, ", "), url))
	brokerList := strings.Join(brokers, ",")

	// Three copies, every stage, settled before any data comes: only the
	// final owners hold the data.
	copies := map[string]*outageCopy{}
	for _, name := range []string{"a", "b", "c"} {
		copies[name] = startOutageCopy(t, bin, cfgFile, name, brokerList)
	}
	waitReady := func(cs ...*outageCopy) {
		t.Helper()
		testkit.Wait{Stall: erasureStall}.For(t, "copies ready", func() bool {
			for _, c := range cs {
				if ok, _ := c.ready(); !ok {
					return false
				}
			}
			return true
		})
	}
	waitReady(copies["a"], copies["b"], copies["c"])

	now := time.Now().UTC()
	event := func(id, device, user, typ string, at time.Time) kafka.Message {
		v, _ := json.Marshal(map[string]string{"kind": "event", "event_id": id, "app_id": app, "platform": "android",
			"device_id": device, "user_id": user, "type": typ, "ts": at.Format(time.RFC3339Nano)})
		return kafka.Message{Topic: cfg.Topics.RawEvents, Key: []byte(device), Value: v}
	}
	msgs := []kafka.Message{
		event("v1", "victim", "", schemas.TypeInstall, now.Add(-10*time.Minute)),
		event("s1", "shared", "u1", schemas.TypeInstall, now.Add(-9*time.Minute)),
		event("s2", "shared", "u1", "login", now.Add(-8*time.Minute)),
		event("s3", "shared", "u2", "login", now.Add(-7*time.Minute)),
	}
	for i := range 5 {
		msgs = append(msgs, event(fmt.Sprintf("b%d", i), fmt.Sprintf("bystander-%d", i), "", schemas.TypeInstall, now.Add(-6*time.Minute)))
	}
	testkit.Produce(t, ctx, brokers, msgs...)

	// The classified records of the victim, u1 and u2, and the victim's
	// install failing into the retry tier.
	var victimInstall string
	users := map[string]bool{}
	testkit.Wait{Stall: erasureStall}.ReadTopic(t, ctx, brokers, cfg.Topics.Classified, func(ms []kafka.Message) bool {
		var c schemas.Classified
		if c, err = schemas.DecodeClassifiedJSON(ms[len(ms)-1].Value); err == nil {
			if c.DeviceID == "victim" && c.Type == schemas.TypeInstall {
				victimInstall = c.PostbackID
			}
			if c.Type == schemas.TypeNewUser {
				users[c.UserID] = true
			}
		}
		return victimInstall != "" && users["u1"] && users["u2"]
	})
	logEntries := func(until func(schemas.DeliveryLog) bool) {
		t.Helper()
		testkit.Wait{Stall: erasureStall, Progress: calls.Load}.ReadTopic(t, ctx, brokers, cfg.Topics.DeliveryLog, func(ms []kafka.Message) bool {
			e, err := schemas.DecodeDeliveryLogJSON(ms[len(ms)-1].Value)
			return err == nil && until(e)
		})
	}
	logEntries(func(e schemas.DeliveryLog) bool {
		return e.PostbackID == victimInstall && e.Outcome == schemas.OutcomeRetryScheduled
	})

	erase := func(args ...string) map[string]any {
		t.Helper()
		var out, errOut bytes.Buffer
		cmd := exec.Command(bin, append([]string{"erase", "--config", cfgFile, "--app", app}, args...)...)
		cmd.Stdout, cmd.Stderr = &out, &errOut
		if err := cmd.Run(); err != nil {
			t.Fatalf("postbackd erase %v: %v\n%s%s", args, err, out.String(), errOut.String())
		}
		var ans map[string]any
		if err := json.Unmarshal(out.Bytes(), &ans); err != nil {
			t.Fatalf("postbackd erase %v: %v\n%s", args, err, out.String())
		}
		t.Logf("postbackd erase %s: %s", strings.Join(args, " "), strings.TrimSpace(out.String()))
		return ans
	}

	// Erase the device; kill the copy that processed it at once.
	first := erase("--device", "victim", "--request-id", "req-dev")
	if first["status"] != "done" || fmt.Sprint(first["erased"]) != "map[device:1]" {
		t.Fatalf("erasure answered %v, want done with the device stage's one key", first)
	}
	victimDown.Store(false)
	atErase := victimCalls.Load()
	var owner *outageCopy
	for _, c := range copies {
		if strings.Contains(c.logs(), `"request_id":"req-dev"`) && strings.Contains(c.logs(), "erasure request processed") {
			owner = c
		}
	}
	if owner == nil {
		t.Fatal("no copy logged processing the request")
	}
	if err := owner.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-owner.done
	delete(copies, owner.name)
	t.Logf("copy %s processed the request and was killed", owner.name)
	copies["d"] = startOutageCopy(t, bin, cfgFile, "d", brokerList)

	// The same request again: the first one's answer, nothing more erased.
	again := erase("--device", "victim", "--request-id", "req-dev")
	if again["completed_at"] != first["completed_at"] || fmt.Sprint(again["erased"]) != fmt.Sprint(first["erased"]) {
		t.Errorf("the request again answered %v, want the first one's %v", again, first)
	}
	// A later request on the same partition: once its audit record is
	// there, the repeat has been processed too.
	if probe := erase("--device", "victim", "--request-id", "req-probe"); fmt.Sprint(probe["erased"]) != "map[device:0]" {
		t.Errorf("erasing an erased device: %v, want no key deleted", probe)
	}
	// A user of the shared device.
	if u := erase("--user", "u1", "--request-id", "req-user"); fmt.Sprint(u["erased"]) != "map[user:1]" {
		t.Errorf("user erasure: %v, want the user stage's one key", u)
	}
	// One audit record per request, by source position: a copy killed
	// between writing the audit record and committing its batch writes
	// it again after its replay, with the same postbackd-src header, and
	// readers drop such repeats (docs/ARCHITECTURE.md, "Delivery
	// semantics"); a second record from another position would be a
	// second erasure.
	audits := map[string]int{}
	sources := map[string]map[string]bool{}
	for _, m := range testkit.ReadAll(t, ctx, brokers, cfg.Topics.PrivacyAudit) {
		var a schemas.ErasureAudit
		if err := json.Unmarshal(m.Value, &a); err != nil {
			t.Fatalf("audit record %s: %v", m.Value, err)
		}
		src, ok := stage.SourceOf(&m)
		if !ok {
			t.Errorf("audit record without %s: %s", stage.SourceHeader, m.Value)
		}
		if sources[a.RequestID] == nil {
			sources[a.RequestID] = map[string]bool{}
		}
		if sources[a.RequestID][string(src)] {
			t.Logf("audit record of %s repeated at offset %d (same source: a replay after the kill), dropped as readers do", a.RequestID, m.Offset)
			continue
		}
		sources[a.RequestID][string(src)] = true
		audits[a.RequestID]++
		for _, id := range []string{"victim", "u1"} {
			if strings.Contains(string(m.Value), `"`+id+`"`) {
				t.Errorf("audit record names %s in clear: %s", id, m.Value)
			}
		}
		if a.RequestID == "req-dev" && a.IDSHA256 != schemas.ErasedIDHash(app, schemas.ErasureDevice, "victim") {
			t.Errorf("audit id hash %s", a.IDSHA256)
		}
	}
	if audits["req-dev"] != 1 || audits["req-probe"] != 1 || audits["req-user"] != 1 {
		t.Errorf("audit records per request: %v, want one each", audits)
	}

	// The victim's retry comes due and is not sent.
	logEntries(func(e schemas.DeliveryLog) bool {
		return e.PostbackID == victimInstall && e.Outcome == schemas.OutcomeSkippedErased
	})
	if n := victimCalls.Load() - atErase; n != 0 {
		t.Errorf("the partner got %d calls for the erased device after its erasure", n)
	}

	// No store of a live copy holds the victim or u1; u2 and the shared
	// device are still there.
	var dirs []string
	for name, c := range copies {
		_ = c.cmd.Process.Signal(os.Interrupt)
		<-c.done
		dirs = append(dirs, c.dir)
		delete(copies, name)
	}
	found := map[string]bool{}
	for _, dir := range dirs {
		for _, store := range badgerDirs(t, dir) {
			st, err := state.OpenBadger(store, state.BadgerOptions{})
			if err != nil {
				t.Fatalf("open %s: %v", store, err)
			}
			err = st.Iterate(func(k, v []byte) error {
				for _, id := range []string{"victim", "u1", "u2", "shared"} {
					if bytes.Contains(k, []byte(id)) {
						found[filepath.Base(filepath.Dir(store))+"/"+id] = true
						t.Logf("%s holds %q", store, k)
					}
				}
				if bytes.Contains(v, []byte("victim")) {
					t.Errorf("store %s: a value names the victim under %q", store, k)
				}
				return nil
			})
			st.Close()
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	if found["device/victim"] || found["user/u1"] {
		t.Errorf("erased ids still in stores: %v", found)
	}
	if !found["user/u2"] || !found["device/shared"] {
		t.Errorf("the other user of the shared device, or the device, is gone: %v", found)
	}
	last := map[string][]byte{}
	for _, m := range testkit.ReadAll(t, ctx, brokers, cfg.Topics.DeviceChangelog) {
		last[string(m.Key)] = m.Value
	}
	if v, ok := last[app+"\x00victim"]; !ok || v != nil {
		t.Errorf("device changelog's last record for the victim: present %v, value %q; want a tombstone", ok, v)
	}

	// Fresh copies restore from the changelogs; the victim installs again.
	for _, name := range []string{"e", "f"} {
		copies[name] = startOutageCopy(t, bin, cfgFile, name, brokerList)
	}
	testkit.Produce(t, ctx, brokers, event("v2", "victim", "", schemas.TypeInstall, time.Now().UTC()))
	var again2 schemas.Classified
	testkit.Wait{Stall: erasureStall}.ReadTopic(t, ctx, brokers, cfg.Topics.Classified, func(ms []kafka.Message) bool {
		c, err := schemas.DecodeClassifiedJSON(ms[len(ms)-1].Value)
		if err == nil && c.DeviceID == "victim" && c.EventID == "v2" {
			again2 = c
			return true
		}
		return false
	})
	if again2.Type != schemas.TypeInstall {
		t.Errorf("the erased device's next install is a %s, want install", again2.Type)
	}
	testkit.Wait{Stall: erasureStall, Progress: calls.Load}.For(t, "the new install delivered", func() bool {
		return dp.Keys("demo")[again2.PostbackID].Accepted == 1
	})
}

// badgerDirs lists the Badger stores under a copy's state dir.
func badgerDirs(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	err := filepath.Walk(root, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if !info.IsDir() && info.Name() == "MANIFEST" {
			out = append(out, filepath.Dir(p))
		}
		return nil
	})
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return out
}
