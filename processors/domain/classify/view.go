package classify

import (
	"time"

	"github.com/postbackd/postbackd/schemas"
)

// DeviceView is what a device's stored state says, for the admin API's
// state query (GET /v1/devices/{app_id}/{device_id}). Times are UTC;
// a time the state does not know is absent.
type DeviceView struct {
	// FirstAttribution is the attribution of the device's first install
	// (the one install and new_user postbacks are credited to);
	// CurrentAttribution is the latest one, moved by re-installs and
	// re-engagements. Each with the ts of the event that made it.
	FirstAttribution   AttributionView `json:"first_attribution"`
	CurrentAttribution AttributionView `json:"current_attribution"`
	// LastActivity is the ts of the latest activity, the start of the
	// inactivity windows.
	LastActivity *time.Time `json:"last_activity,omitempty"`
	// NewestEvent and NewestRecord are the newest ts of an event, and of
	// any record (clicks too): the dedup horizon and the lookbacks count
	// back from them, and state_ttl from NewestRecord.
	NewestEvent  *time.Time `json:"newest_event,omitempty"`
	NewestRecord *time.Time `json:"newest_record,omitempty"`
	// Clicks and Impressions are the touches kept in the lookbacks
	// (counted back from NewestRecord), in arrival order.
	Clicks      []TouchView `json:"clicks"`
	Impressions []TouchView `json:"impressions"`
	// Flags name what has been seen: "installed", "first_purchase_sent",
	// "first_custom_revenue_sent", "first_registration_sent",
	// "first_login_sent", and the current attribution period's
	// "period_purchase" and "period_custom_revenue".
	Flags []string `json:"flags"`
	// Privacy holds the latest value of each privacy signal sent.
	Privacy PrivacyView `json:"privacy"`
	// EventIDs and TransactionIDs are how many ids are kept for dedup.
	EventIDs       int `json:"event_ids_kept"`
	TransactionIDs int `json:"transaction_ids_kept"`
}

// AttributionView is an attribution with the ts of the event that made
// it (absent in a state written before the times were kept).
type AttributionView struct {
	schemas.Attribution
	At *time.Time `json:"at,omitempty"`
}

// TouchView is a click or impression kept for attribution.
type TouchView struct {
	TS       time.Time `json:"ts"`
	ClickID  string    `json:"click_id,omitempty"`
	Partner  string    `json:"partner"`
	Campaign string    `json:"campaign"`
}

// PrivacyView is schemas.Privacy with its JSON names.
type PrivacyView struct {
	LimitAdTracking   *bool  `json:"limit_ad_tracking,omitempty"`
	ATTStatus         string `json:"att_status,omitempty"`
	OptOut            *bool  `json:"opt_out,omitempty"`
	AdUserData        string `json:"ad_user_data,omitempty"`
	AdPersonalization string `json:"ad_personalization,omitempty"`
}

var flagNames = []struct {
	flag uint8
	name string
}{
	{flagKnown, "installed"},
	{flagFirstPurchase, "first_purchase_sent"},
	{flagFirstCustomRevenue, "first_custom_revenue_sent"},
	{flagFirstRegistration, "first_registration_sent"},
	{flagFirstLogin, "first_login_sent"},
	{flagPeriodPurchase, "period_purchase"},
	{flagPeriodCustomRevenue, "period_custom_revenue"},
}

// ViewDevice decodes a stored device state (the value under the key
// of the device in the device stage's store) for the state query.
func ViewDevice(value []byte) (DeviceView, error) {
	var s deviceState
	if err := decodeDeviceState(value, &s); err != nil {
		return DeviceView{}, err
	}
	v := DeviceView{
		FirstAttribution:   AttributionView{Attribution: s.first, At: nanos(s.firstAt)},
		CurrentAttribution: AttributionView{Attribution: s.current, At: nanos(s.currentAt)},
		NewestEvent:        nanos(s.newestEvent),
		NewestRecord:       nanos(s.newestSeen),
		Clicks:             touchViews(s.clicks),
		Impressions:        touchViews(s.impressions),
		Flags:              []string{},
		Privacy: PrivacyView{LimitAdTracking: s.privacy.LimitAdTracking, ATTStatus: s.privacy.ATTStatus, OptOut: s.privacy.OptOut,
			AdUserData: s.privacy.AdUserData, AdPersonalization: s.privacy.AdPersonalization},
		EventIDs: len(s.eventIDs), TransactionIDs: len(s.transactions),
	}
	if s.has(flagHasActivity) {
		v.LastActivity = nanos(s.lastActivity)
		if v.LastActivity == nil { // activity at the epoch itself
			t := time.Unix(0, 0).UTC()
			v.LastActivity = &t
		}
	}
	for _, f := range flagNames {
		if s.has(f.flag) {
			v.Flags = append(v.Flags, f.name)
		}
	}
	return v, nil
}

// UserView is what a user's stored state says.
type UserView struct {
	LastActivity *time.Time `json:"last_activity,omitempty"`
	// NewestEvent is absent in a state written before it was kept.
	NewestEvent *time.Time `json:"newest_event,omitempty"`
}

// ViewUser decodes a stored user state for the state query.
func ViewUser(value []byte) (UserView, error) {
	s, err := decodeUserState(value)
	if err != nil {
		return UserView{}, err
	}
	var v UserView
	if s.hasActivity {
		t := time.Unix(0, s.lastActivity).UTC()
		v.LastActivity = &t
	}
	if value[0] != userStateV1 {
		v.NewestEvent = nanos(s.newest)
	}
	return v, nil
}

// DeviceKey and UserKey are the store keys of a device's and a user's
// state.
func DeviceKey(appID, deviceID string) []byte { return appendStateKey(nil, appID, deviceID) }

// UserKey: see DeviceKey.
func UserKey(appID, userID string) []byte { return appendStateKey(nil, appID, userID) }

func nanos(n int64) *time.Time {
	if n == 0 {
		return nil
	}
	t := time.Unix(0, n).UTC()
	return &t
}

func touchViews(ts []touch) []TouchView {
	out := make([]TouchView, 0, len(ts))
	for _, t := range ts {
		out = append(out, TouchView{TS: time.Unix(0, t.ts).UTC(), ClickID: t.clickID, Partner: t.partner, Campaign: t.campaign})
	}
	return out
}
