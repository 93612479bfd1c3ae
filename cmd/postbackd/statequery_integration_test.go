//go:build integration

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/postbackd/postbackd/processors/devtools/testkit"
	"github.com/postbackd/postbackd/processors/platform/stream/kafkatest"
)

// stateAnswer is the admin API's answer to a state query.
type stateAnswer struct {
	AppID, ID, Stage string
	Partition        int
	AnsweredBy       string `json:"answered_by"`
	Found            bool
	State            struct {
		FirstAttribution struct {
			Partner, Campaign, Touch string
			ClickID                  string     `json:"click_id"`
			At                       *time.Time `json:"at"`
		} `json:"first_attribution"`
		CurrentAttribution struct{ Partner string } `json:"current_attribution"`
		LastActivity       *time.Time               `json:"last_activity"`
		Clicks             []struct {
			ClickID string `json:"click_id"`
		}
		Flags []string
	}
}

func stateGet(t *testing.T, url, token string) (int, stateAnswer) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, stateAnswer{}
	}
	defer res.Body.Close()
	var a stateAnswer
	_ = json.NewDecoder(res.Body).Decode(&a)
	return res.StatusCode, a
}

// TestIntegrationStateQueryAcrossCopies: two copies of every stage, each
// with its admin API. The state of every device is asked of both copies:
// whichever is asked, the answer comes from the store of the copy that
// owns the device's partition (the other forwards, finding the owner in
// the group's description), and both answers are the same: the click's
// attribution as first and current, the install's time as last activity.
// A user's state is asked the same way; an unknown device is 404; no
// token, 401.
func TestIntegrationStateQueryAcrossCopies(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	bin := buildBinary(t)
	ctx := context.Background()
	const app = "com.example.state"
	t.Setenv("STATE_ADMIN_TOKEN", "t0ken")
	_, partnerURL := startCountingPartner(t)
	prefix := fmt.Sprintf("state%d.", time.Now().UnixNano())
	config := func(admin string) string {
		return fmt.Sprintf(`kafka:
  brokers: [%s]
  partitions: 4
  group_prefix: %sg
topics:
  prefix: %s
classified_format: json
sink:
  allow_private_networks: true
  admin: {listen: "%s", token_env: STATE_ADMIN_TOKEN}
  partners:
    - id: demo
      rules:
        - {types: [install], mode: all, url: "%s/demo?id={postback_id}"}
`, strings.Join(brokers, ","), prefix, prefix, admin, partnerURL)
	}
	adminA, adminB := freeAddr(t), freeAddr(t)
	cfgA, cfg := writeConfig(t, ctx, brokers, config(adminA))
	cfgB, _ := writeConfig(t, ctx, brokers, config(adminB))
	brokerList := strings.Join(brokers, ",")
	a := startOutageCopy(t, bin, cfgA, "a", brokerList)
	b := startOutageCopy(t, bin, cfgB, "b", brokerList)

	const devices = 12
	ts := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	var msgs []kafka.Message
	for i := range devices {
		dev := fmt.Sprintf("dev-%d", i)
		msgs = append(msgs,
			rawClick(cfg, app, dev, fmt.Sprintf("c%d", i), "adnet", "winter", ts),
			rawEvent(cfg, app, dev, fmt.Sprintf("e%d", i), "install", ts.Add(time.Minute), map[string]any{"user_id": fmt.Sprintf("user-%d", i)}))
	}
	testkit.Produce(t, ctx, brokers, msgs...)
	installs := map[string]bool{}
	testkit.Wait{Stall: erasureStall}.ReadTopic(t, ctx, brokers, cfg.Topics.Classified, func(ms []kafka.Message) bool {
		var r struct {
			Type     string
			DeviceID string `json:"device_id"`
		}
		if json.Unmarshal(ms[len(ms)-1].Value, &r) == nil && r.Type == "install" {
			installs[r.DeviceID] = true
		}
		return len(installs) == devices
	})

	urlA, urlB := "http://"+adminA, "http://"+adminB
	if code, _ := stateGet(t, urlA+"/v1/devices/"+app+"/dev-0", ""); code != http.StatusUnauthorized {
		t.Errorf("state query without the token: %d, want 401", code)
	}
	// Every device from both copies; settled once both copies own
	// partitions and every answer is found.
	var owners map[string]bool
	forwarded := 0
	testkit.Wait{Stall: erasureStall}.For(t, "every device answered by its owner on both copies", func() bool {
		owners, forwarded = map[string]bool{}, 0
		for i := range devices {
			path := fmt.Sprintf("/v1/devices/%s/dev-%d", app, i)
			codeA, ansA := stateGet(t, urlA+path, "t0ken")
			codeB, ansB := stateGet(t, urlB+path, "t0ken")
			if codeA != http.StatusOK || codeB != http.StatusOK || !ansA.Found || ansA.AnsweredBy != ansB.AnsweredBy {
				t.Logf("dev-%d: %d from a (by %s), %d from b (by %s)", i, codeA, ansA.AnsweredBy, codeB, ansB.AnsweredBy)
				return false
			}
			owners[ansA.AnsweredBy] = true
			if ansA.AnsweredBy == urlB {
				forwarded++ // asked of a, answered from b's store
			}
			s := ansA.State
			if s.FirstAttribution.Partner != "adnet" || s.FirstAttribution.ClickID != fmt.Sprintf("c%d", i) || s.FirstAttribution.Campaign != "winter" ||
				s.CurrentAttribution.Partner != "adnet" || s.FirstAttribution.At == nil || !s.FirstAttribution.At.Equal(ts.Add(time.Minute)) ||
				s.LastActivity == nil || !s.LastActivity.Equal(ts.Add(time.Minute)) || len(s.Clicks) != 1 || !strings.Contains(strings.Join(s.Flags, ","), "installed") {
				t.Fatalf("dev-%d: state %+v", i, s)
			}
		}
		return owners[urlA] && owners[urlB]
	})
	if forwarded == 0 {
		t.Fatal("no device was answered from the other copy's store")
	}
	t.Logf("%d of %d devices asked of copy a were answered from copy b's store", forwarded, devices)

	// A user, asked of both copies.
	testkit.Wait{Stall: erasureStall}.For(t, "a user answered on both copies", func() bool {
		codeA, ansA := stateGet(t, urlA+"/v1/users/"+app+"/user-3", "t0ken")
		codeB, ansB := stateGet(t, urlB+"/v1/users/"+app+"/user-3", "t0ken")
		return codeA == http.StatusOK && codeB == http.StatusOK && ansA.Found && ansA.AnsweredBy == ansB.AnsweredBy && ansA.Stage == "user"
	})
	for _, u := range []string{urlA, urlB} {
		if code, ans := stateGet(t, u+"/v1/devices/"+app+"/nobody", "t0ken"); code != http.StatusNotFound || ans.Found {
			t.Errorf("unknown device on %s: %d found=%v, want 404", u, code, ans.Found)
		}
	}
	// A member that joins the device stage's group with an admin address
	// of its own, not signed with the token, gets no query, and the
	// caller's token never leaves the copies: the queries of its
	// partitions answer 502.
	var stolen atomic.Int64
	attacker := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		stolen.Add(1)
		w.WriteHeader(http.StatusOK)
	}))
	defer attacker.Close()
	rogueCtx, stopRogue := context.WithCancel(ctx)
	defer stopRogue()
	cg, err := kafka.NewConsumerGroup(kafka.ConsumerGroupConfig{ID: cfg.Kafka.GroupPrefix + ".device", Brokers: brokers,
		Topics: []string{cfg.Topics.EventsByDevice}, GroupBalancers: []kafka.GroupBalancer{rogueBalancer{
			data: fmt.Appendf(nil, `{"url":%q,"instance":"rogue","sig":"00"}`, attacker.URL)}}})
	if err != nil {
		t.Fatal(err)
	}
	defer cg.Close()
	go func() {
		for rogueCtx.Err() == nil {
			if _, err := cg.Next(rogueCtx); err != nil {
				return
			}
		}
	}()
	testkit.Wait{Stall: erasureStall}.For(t, "a device owned by the rogue member refused", func() bool {
		for i := range devices {
			req, _ := http.NewRequest(http.MethodGet, fmt.Sprintf("%s/v1/devices/%s/dev-%d", urlA, app, i), nil)
			req.Header.Set("Authorization", "Bearer t0ken")
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				continue
			}
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode == http.StatusBadGateway && strings.Contains(string(body), "not signed") {
				return true
			}
		}
		return false
	})
	if n := stolen.Load(); n != 0 {
		t.Fatalf("the rogue member's address got %d requests", n)
	}
	for _, c := range []*outageCopy{a, b} {
		if err := c.exited(); err != nil {
			t.Fatalf("copy %s exited: %v\n%s", c.name, err, tail(c.logs(), 3000))
		}
	}
}

// rogueBalancer assigns as Kafka's range assignor does and sends data as
// its member's user data: a member that is not a postbackd copy.
type rogueBalancer struct {
	kafka.RangeGroupBalancer
	data []byte
}

func (b rogueBalancer) UserData() ([]byte, error) { return b.data, nil }
