package devmode

import (
	"fmt"
	"os"
	"strings"

	"github.com/postbackd/postbackd/processors/platform/config"
)

// demoPartnerURLVar is replaced in a --config file by the demo partner's
// base URL, so your own rules can still be tried against it.
const demoPartnerURLVar = "${DEMO_PARTNER_URL}"

// demoConfig is the built-in config of `postbackd dev`: the generator's four
// partners, each with rules that cover every record type and both methods,
// all pointing at the demo partner. X-Record-Type lets the demo partner
// count what it received by type. Short retry tiers let a failed delivery
// come back within the demo instead of an hour later.
const demoConfig = `
classified_format: json
sink:
  allow_private_networks: true
  admin: {listen: "127.0.0.1:0", token_env: POSTBACKD_DEV_ADMIN_TOKEN}
  retry:
    in_process: {max_attempts: 3, max_wait: 200ms}
    tiers: [2s, 5s, 10s]
  partners:
    - id: adnet
      rules:
        - types: [install, reinstall, reengagement, new_user, reengagement_user,
                  first_purchase, first_purchase_ca, purchase, purchase_ca,
                  first_registration, registration, registration_ca,
                  first_login, login, login_ca,
                  first_custom_revenue, first_custom_revenue_ca, custom_revenue, custom_revenue_ca,
                  custom_event, custom_event_ca]
          event_names: {install: af_install, purchase: af_purchase, purchase_ca: af_purchase}
          url: "${DEMO_PARTNER_URL}/adnet/postback?pb={postback_id}&event={partner_event}&app={app_id}&device={device_id}&click={click_id}&campaign={campaign}&revenue={revenue}&currency={currency}&ts={event_unix}"
          headers: {X-Record-Type: "{type}"}
    - id: videonet
      rules:
        - types: [install, reinstall, reengagement, new_user, reengagement_user,
                  first_purchase_ca, purchase_ca, first_registration, registration_ca,
                  first_login, login_ca, first_custom_revenue_ca, custom_revenue_ca, custom_event_ca]
          method: POST
          url: "${DEMO_PARTNER_URL}/videonet/events"
          body: '{"postback_id": "{postback_id}", "event": "{partner_event}", "app": "{app_id}", "platform": "{platform}", "device": "{device_id}", "user": "{user_id}", "campaign": "{campaign}", "revenue": {revenue}, "currency": "{currency}", "ts": "{event_ts}"}'
          headers: {Content-Type: application/json, X-Record-Type: "{type}"}
    - id: socialads
      rules:
        - types: [first_purchase, first_purchase_ca, purchase, purchase_ca]
          min_revenue: 1
          method: POST
          url: "${DEMO_PARTNER_URL}/socialads/conversions"
          body: '{"id": "{postback_id}", "name": "{partner_event}", "value": {revenue}, "currency": "{currency}", "click_id": "{click_id}"}'
          headers: {Content-Type: application/json, X-Record-Type: "{type}"}
        - types: [install, reinstall, reengagement, first_registration, first_login, custom_event, custom_event_ca]
          url: "${DEMO_PARTNER_URL}/socialads/pb?id={postback_id}&ev={partner_event}&click_id={click_id}&name={name}"
          headers: {X-Record-Type: "{type}"}
    - id: searchads
      rules:
        - types: [install, reinstall, reengagement, first_purchase, purchase, first_registration, registration]
          url: "${DEMO_PARTNER_URL}/searchads/track/{partner_event}?pb={postback_id}&campaign={campaign}&revenue={revenue}&currency={currency}"
          headers: {X-Record-Type: "{type}"}
`

// devRunSettings are what a dev run imposes on any config: its own broker,
// topics, groups, state directory and listeners, so that runs never see
// each other's data or ports.
type devRunSettings struct {
	brokers    []string
	partitions int
	runID      string // unique per run: topic and group names
	stateDir   string
	partnerURL string
	inProcess  bool // the in-process broker has one node
}

// devConfig loads the user's file (or the built-in demo config) and applies
// the run's settings.
func devConfig(path string, s devRunSettings) (*config.Config, error) {
	file, text := "(built-in demo config)", demoConfig
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("read config: %w", err)
		}
		file, text = path, string(data)
	}
	text = strings.ReplaceAll(text, demoPartnerURLVar, s.partnerURL)
	cfg, err := config.Parse(file, []byte(text))
	if err != nil {
		return nil, err
	}
	// Topic names come from the run's prefix: Parse fills every empty name
	// from the prefix, so parse one that has only the prefix set.
	topics, err := config.Parse("(dev topics)", []byte("topics: {prefix: "+s.runID+".}\n"))
	if err != nil {
		return nil, fmt.Errorf("dev topics: %w", err)
	}
	cfg.Topics = topics.Topics
	cfg.Kafka.Brokers = s.brokers
	cfg.Kafka.Partitions = s.partitions
	cfg.Kafka.GroupPrefix = s.runID
	if s.inProcess {
		cfg.Kafka.ReplicationFactor = 1
	}
	cfg.StateDir = s.stateDir
	// Port 0: tests and a second dev run must not collide on 9090.
	cfg.HTTP.Listen = "127.0.0.1:0"
	return cfg, nil
}
