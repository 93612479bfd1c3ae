package classify

import (
	"strings"
	"testing"
	"time"

	"github.com/postbackd/postbackd/schemas"
)

const day = 24 * time.Hour

// TestDeviceRules checks the rules of CLASSIFICATION.md one by one, each on
// a small stream, as "type@event_id/click_id" (no click id: organic).
func TestDeviceRules(t *testing.T) {
	E := schemas.EventInstall
	L := schemas.EventLaunch
	tests := []struct {
		name   string
		stream []schemas.Input
		want   string
	}{
		{"install credited to click", []schemas.Input{clickAt("c1", t0), eventAt("e1", E, t0.Add(time.Minute))},
			"install@e1/c1"},
		{"click exactly 7 days before counts", []schemas.Input{clickAt("c1", t0), eventAt("e1", E, t0.Add(7*day))},
			"install@e1/c1"},
		{"click 7 days and 1ns before does not", []schemas.Input{clickAt("c1", t0), eventAt("e1", E, t0.Add(7*day+1))},
			"install@e1"},
		{"impression exactly 24h before counts", []schemas.Input{impressionAt("i1", t0), eventAt("e1", E, t0.Add(day))},
			"install@e1/i1"},
		{"impression 24h and 1ns before does not", []schemas.Input{impressionAt("i1", t0), eventAt("e1", E, t0.Add(day+1))},
			"install@e1"},
		{"click beats a later impression", []schemas.Input{clickAt("c1", t0), impressionAt("i1", t0.Add(time.Hour)), eventAt("e1", E, t0.Add(2*time.Hour))},
			"install@e1/c1"},
		{"latest click wins", []schemas.Input{clickAt("c2", t0.Add(time.Hour)), clickAt("c1", t0), eventAt("e1", E, t0.Add(2*time.Hour))},
			"install@e1/c2"},
		{"same ts: later arrived wins", []schemas.Input{clickAt("c1", t0), clickAt("c2", t0), eventAt("e1", E, t0.Add(time.Hour))},
			"install@e1/c2"},
		{"click after the event in the stream does not count", []schemas.Input{eventAt("e1", E, t0.Add(time.Hour)), clickAt("c1", t0)},
			"install@e1"},
		{"click with ts after the event does not count", []schemas.Input{clickAt("c1", t0.Add(2*time.Hour)), eventAt("e1", E, t0.Add(time.Hour))},
			"install@e1"},
		{"click of another app does not count", []schemas.Input{
			{Click: &schemas.Click{ClickID: "c1", Touch: schemas.TouchClick, Partner: "p", AppID: "other.app", DeviceID: "d1", TS: t0}},
			eventAt("e1", E, t0.Add(time.Hour))},
			"install@e1"},
		{"install is unique", []schemas.Input{eventAt("e1", E, t0), eventAt("e2", E, t0.Add(day))},
			"install@e1"},
		{"first seen by launch: organic, no install", []schemas.Input{clickAt("c1", t0), eventAt("e1", L, t0.Add(time.Hour)), eventAt("e2", E, t0.Add(2*time.Hour)),
			eventAt("e3", schemas.EventLogin, t0.Add(3*time.Hour))},
			"first_login@e3 login@e3 login_ca@e3"},
		{"reengagement at exactly 30 days", []schemas.Input{eventAt("e1", E, t0), eventAt("e2", L, t0.Add(30*day))},
			"install@e1 reengagement@e2"},
		{"no reengagement at 30 days minus 1ns", []schemas.Input{eventAt("e1", E, t0), eventAt("e2", L, t0.Add(30*day-1))},
			"install@e1"},
		{"reinstall after the gap", []schemas.Input{eventAt("e1", E, t0), clickAt("c1", t0.Add(40*day)), eventAt("e2", E, t0.Add(40*day+time.Minute))},
			"install@e1 reinstall@e2/c1"},
		{"re-engagement only credited to a touch after the previous activity", []schemas.Input{
			clickAt("c0", t0.Add(-time.Hour)), eventAt("e1", L, t0), eventAt("e2", L, t0.Add(31*day)),
			eventAt("e3", schemas.EventLogin, t0.Add(31*day+time.Minute))},
			"reengagement@e2 first_login@e3 login@e3 login_ca@e3"},
		{"re-engagement credit needs ts strictly after the previous activity", []schemas.Input{
			eventAt("e1", L, t0.Add(-30*day+time.Hour)), clickAt("c1", t0.Add(-30*day+time.Hour)), eventAt("e2", L, t0.Add(time.Hour))},
			"reengagement@e2"},
		{"gap measured from the last activity, not the last event", []schemas.Input{
			eventAt("e1", E, t0), eventAt("e2", schemas.EventCustomEvent, t0.Add(20*day)), eventAt("e3", L, t0.Add(30*day))},
			"install@e1 custom_event@e2 custom_event_ca@e2 reengagement@e3"},
		{"custom revenue is not activity", []schemas.Input{
			eventAt("e1", E, t0), eventAt("e2", schemas.EventCustomRevenue, t0.Add(31*day)), eventAt("e3", L, t0.Add(32*day))},
			"install@e1 first_custom_revenue@e2 first_custom_revenue_ca@e2 custom_revenue@e2 custom_revenue_ca@e2 reengagement@e3"},
		{"known through a custom event: no gap before first activity", []schemas.Input{
			eventAt("e1", schemas.EventCustomEvent, t0), eventAt("e2", E, t0.Add(40*day)), eventAt("e3", L, t0.Add(80*day))},
			"custom_event@e1 custom_event_ca@e1 reengagement@e3"},
		{"late event: no reengagement, last activity stays", []schemas.Input{
			eventAt("e1", E, t0), eventAt("e2", L, t0.Add(40*day)), eventAt("e3", L, t0.Add(-10*day)), eventAt("e4", L, t0.Add(60*day))},
			"install@e1 reengagement@e2"},
		{"duplicate event id dropped", []schemas.Input{eventAt("e1", E, t0), eventAt("e2", schemas.EventLogin, t0.Add(time.Hour)), eventAt("e2", schemas.EventLogin, t0.Add(time.Hour))},
			"install@e1 first_login@e2 login@e2 login_ca@e2"},
		{"duplicate exactly at the horizon is dropped", []schemas.Input{eventAt("e1", E, t0), eventAt("e2", L, t0.Add(7*day)), eventAt("e1", schemas.EventLogin, t0.Add(7*day))},
			"install@e1"},
		{"id older than the horizon is not a duplicate", []schemas.Input{eventAt("e1", E, t0), eventAt("e2", L, t0.Add(7*day+1)), eventAt("e1", schemas.EventLogin, t0.Add(7*day+1))},
			"install@e1 first_login@e1 login@e1 login_ca@e1"},
		{"duplicate leaves no trace", []schemas.Input{eventAt("e1", schemas.EventCustomEvent, t0), eventAt("e1", E, t0.Add(time.Hour)), eventAt("e2", E, t0.Add(2*time.Hour))},
			"custom_event@e1 custom_event_ca@e1"},
		{"duplicate transaction id dropped", []schemas.Input{eventAt("e1", E, t0),
			with(eventAt("e2", schemas.EventPurchase, t0.Add(time.Hour)), func(e *schemas.Event) { e.TransactionID = "t" }),
			with(eventAt("e3", schemas.EventPurchase, t0.Add(2*time.Hour)), func(e *schemas.Event) { e.TransactionID = "t" }),
			with(eventAt("e4", schemas.EventCustomRevenue, t0.Add(3*time.Hour)), func(e *schemas.Event) { e.TransactionID = "t" })},
			"install@e1 first_purchase@e2 first_purchase_ca@e2 purchase@e2 purchase_ca@e2 " +
				"first_custom_revenue@e4 first_custom_revenue_ca@e4 custom_revenue@e4 custom_revenue_ca@e4"},
		{"purchases without transaction id are not deduplicated", []schemas.Input{
			with(eventAt("e1", schemas.EventPurchase, t0), func(e *schemas.Event) { e.TransactionID = "" }),
			with(eventAt("e2", schemas.EventPurchase, t0), func(e *schemas.Event) { e.TransactionID = "" })},
			"first_purchase@e1 first_purchase_ca@e1 purchase@e1 purchase_ca@e1 purchase@e2 purchase_ca@e2"},
		{"first_purchase_ca resets with the period", []schemas.Input{clickAt("c1", t0), eventAt("e1", E, t0), eventAt("e2", schemas.EventPurchase, t0),
			clickAt("c2", t0.Add(40*day)), eventAt("e3", L, t0.Add(40*day)), eventAt("e4", schemas.EventPurchase, t0.Add(40*day))},
			"install@e1/c1 first_purchase@e2/c1 first_purchase_ca@e2/c1 purchase@e2/c1 purchase_ca@e2/c1 reengagement@e3/c2 first_purchase_ca@e4/c2 purchase@e4/c1 purchase_ca@e4/c2"},
		{"web: first event attributed, only web records", []schemas.Input{clickAt("c1", t0),
			web(eventAt("e1", schemas.EventCustomEvent, t0.Add(time.Minute))), web(eventAt("e2", E, t0.Add(time.Minute))),
			web(eventAt("e3", schemas.EventPurchase, t0.Add(time.Minute))), web(eventAt("e4", schemas.EventLogin, t0.Add(time.Minute))),
			web(eventAt("e5", schemas.EventCustomRevenue, t0.Add(time.Minute))), web(eventAt("e6", L, t0.Add(40*day))),
			web(eventAt("e7", E, t0.Add(80*day)))},
			"first_login@e4/c1 login@e4/c1 login_ca@e4/c1 first_custom_revenue@e5/c1 first_custom_revenue_ca@e5/c1 custom_revenue@e5/c1 custom_revenue_ca@e5/c1 reengagement@e6"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, size := range []int{1, len(tt.stream)} {
				got := strings.Join(short(newPipeline(nil).run(t, tt.stream, size)), " ")
				if got != tt.want {
					t.Errorf("batch size %d:\n got %s\nwant %s", size, got, tt.want)
				}
			}
		})
	}
}

func TestSeveralAppsOnOneDevice(t *testing.T) {
	other := func(in schemas.Input) schemas.Input {
		return with(in, func(e *schemas.Event) { e.AppID = "other.app" })
	}
	stream := []schemas.Input{clickAt("c1", t0), eventAt("e1", schemas.EventInstall, t0.Add(time.Minute)),
		other(eventAt("e2", schemas.EventInstall, t0.Add(time.Minute))),
		eventAt("e3", schemas.EventLaunch, t0.Add(40*day)), other(eventAt("e4", schemas.EventLaunch, t0.Add(20*day)))}
	got := strings.Join(short(newPipeline(nil).run(t, stream, 10)), " ")
	if want := "install@e1/c1 install@e2 reengagement@e3"; got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
}

func TestPerAppWindows(t *testing.T) {
	windows := func(appID string) Windows {
		if appID == app {
			return Windows{Inactivity: 2 * day, ClickLookback: time.Hour}
		}
		return Windows{}
	}
	stream := []schemas.Input{clickAt("c1", t0), eventAt("e1", schemas.EventInstall, t0.Add(2*time.Hour)), eventAt("e2", schemas.EventLaunch, t0.Add(2*day+2*time.Hour))}
	got := strings.Join(short(newPipeline(windows).run(t, stream, 10)), " ")
	if want := "install@e1 reengagement@e2"; got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
}

func TestRecordFields(t *testing.T) {
	e := with(eventAt("e1", schemas.EventCustomEvent, t0), func(e *schemas.Event) {
		e.UserID, e.Params = "u1", map[string]string{"k": "v"}
	})
	p := with(eventAt("e2", schemas.EventPurchase, t0), func(e *schemas.Event) { e.UserID = "u1" })
	out := newPipeline(nil).run(t, []schemas.Input{e, p}, 10)
	for _, c := range out {
		switch c.Type {
		case schemas.TypeCustomEvent, schemas.TypeCustomEventCA:
			if c.Name != "level_up" || c.Params["k"] != "v" || c.Revenue != nil {
				t.Errorf("%s: name %q params %v revenue %v", c.Type, c.Name, c.Params, c.Revenue)
			}
		case schemas.TypeNewUser:
			if c.Name != "" || c.Params["k"] != "v" || c.UserID != "u1" {
				t.Errorf("new_user: %+v", c)
			}
		default:
			if c.Revenue == nil || *c.Revenue != 1.5 || c.Currency != "USD" || c.TransactionID != "tx-e2" || c.Name != "" {
				t.Errorf("%s: %+v", c.Type, c)
			}
		}
		if c.PostbackID != schemas.PostbackID(c.AppID, c.DeviceID, c.EventID, c.EventTS, c.Type) || !c.EventTS.Equal(t0) || c.DeviceID != "d1" || c.AppID != app {
			t.Errorf("%s: %+v", c.Type, c)
		}
	}
}

func TestUserRules(t *testing.T) {
	u := func(in schemas.Input, user, device string) schemas.Input {
		return with(in, func(e *schemas.Event) { e.UserID, e.DeviceID = user, device })
	}
	stream := []schemas.Input{
		u(eventAt("e1", schemas.EventCustomEvent, t0), "u1", "d1"),        // new_user from a non-activity event
		u(eventAt("e2", schemas.EventLaunch, t0.Add(40*day)), "u1", "d2"), // first activity: no gap yet
		u(eventAt("e3", schemas.EventLogin, t0.Add(70*day-1)), "u1", "d1"),
		u(eventAt("e4", schemas.EventLogin, t0.Add(100*day-1)), "u1", "d2"), // exactly 30 days after e3
		u(eventAt("e5", schemas.EventLaunch, t0.Add(50*day)), "u1", "d3"),   // late: no gap
		u(eventAt("e6", schemas.EventCustomRevenue, t0.Add(200*day)), "u1", "d1"),
		u(eventAt("e7", schemas.EventLaunch, t0), "u2", "d1"),
		u(eventAt("e7", schemas.EventLaunch, t0), "u2", "d1"), // duplicate: no user record either
	}
	for _, size := range []int{1, 3, 100} {
		var users []string
		for _, c := range newPipeline(nil).run(t, stream, size) {
			if c.Type == schemas.TypeNewUser || c.Type == schemas.TypeReengagementUser {
				users = append(users, c.Type+"@"+c.EventID+"/"+c.UserID)
			}
		}
		got := strings.Join(users, " ")
		if want := "new_user@e1/u1 reengagement_user@e4/u1 new_user@e7/u2"; got != want {
			t.Errorf("batch size %d: got %s, want %s", size, got, want)
		}
	}
}

func TestUserEventsCarryCurrentAttribution(t *testing.T) {
	stream := []schemas.Input{eventAt("e1", schemas.EventInstall, t0), clickAt("c1", t0.Add(40*day)),
		with(eventAt("e2", schemas.EventLaunch, t0.Add(40*day)), func(e *schemas.Event) { e.UserID = "u1" })}
	res, err := NewDevice(nil).Classify(newPipeline(nil).device, stream)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.UserEvents) != 1 || res.UserEvents[0].Attribution.ClickID != "c1" || res.UserEventEnds[0] != 2 {
		t.Fatalf("user events %+v ends %v", res.UserEvents, res.UserEventEnds)
	}
}

func TestReattributionNeedsTouchStrictlyAfterPreviousActivity(t *testing.T) {
	windows := func(string) Windows { return Windows{Inactivity: time.Hour} }
	stream := []schemas.Input{eventAt("e1", schemas.EventInstall, t0), clickAt("c1", t0), eventAt("e2", schemas.EventLaunch, t0.Add(2*time.Hour)),
		clickAt("c2", t0.Add(2*time.Hour+1)), eventAt("e3", schemas.EventLaunch, t0.Add(4*time.Hour))}
	got := strings.Join(short(newPipeline(windows).run(t, stream, 10)), " ")
	if want := "install@e1 reengagement@e2 reengagement@e3/c2"; got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
}
