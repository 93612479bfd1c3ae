package config

// Topics names every topic postbackd reads or writes. Empty names are
// <prefix> + the default suffix.
type Topics struct {
	Prefix             string `yaml:"prefix"`
	RawClicks          string `yaml:"raw_clicks"`
	RawEvents          string `yaml:"raw_events"`
	EventsByDevice     string `yaml:"events_by_device"`
	EventsByUser       string `yaml:"events_by_user"`
	Classified         string `yaml:"classified"`
	Deadletter         string `yaml:"deadletter"`
	DeviceChangelog    string `yaml:"device_changelog"`
	UserChangelog      string `yaml:"user_changelog"`
	SinkChangelog      string `yaml:"sink_changelog"`
	DeliveryLog        string `yaml:"delivery_log"`
	DeliveryDeadletter string `yaml:"delivery_deadletter"`
	DeliveryRetry      string `yaml:"delivery_retry"` // tier topics are <this>.<tier>
	// DeliveryJobs: the sink's fan-out hands each partner its postbacks on
	// <this>.<partner id>.
	DeliveryJobs string `yaml:"delivery_jobs"`
	// PrivacyRequests carries erasure requests (postbackd erase, POST
	// /v1/erasures), PrivacyAudit one record per request processed
	// (PRIVACY.md, "Erasure").
	PrivacyRequests string `yaml:"privacy_requests"`
	PrivacyAudit    string `yaml:"privacy_audit"`
}

// DefaultTopicPrefix is the prefix of every default topic name.
const DefaultTopicPrefix = "postbacks."

func (t *Topics) setDefaults() {
	if t.Prefix == "" {
		t.Prefix = DefaultTopicPrefix
	}
	for _, f := range []struct {
		name   *string
		suffix string
	}{
		{&t.RawClicks, "raw.clicks"},
		{&t.RawEvents, "raw.events"},
		{&t.EventsByDevice, "events.by-device"},
		{&t.EventsByUser, "events.by-user"},
		{&t.Classified, "classified"},
		{&t.Deadletter, "deadletter"},
		{&t.DeviceChangelog, "changelog.device"},
		{&t.UserChangelog, "changelog.user"},
		{&t.SinkChangelog, "changelog.sink"},
		{&t.DeliveryLog, "delivery.log"},
		{&t.DeliveryDeadletter, "delivery.deadletter"},
		{&t.DeliveryRetry, "delivery.retry"},
		{&t.DeliveryJobs, "delivery.jobs"},
		{&t.PrivacyRequests, "privacy.requests"},
		{&t.PrivacyAudit, "privacy.audit"},
	} {
		if *f.name == "" {
			*f.name = t.Prefix + f.suffix
		}
	}
}
