package partner

import (
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/postbackd/postbackd/schemas"
)

// rule is a compiled RuleConfig.
type rule struct {
	index      int
	apps       map[string]bool // nil: every app
	types      map[string]bool
	mode       string
	minRevenue *float64
	window     time.Duration // 0: none
	rejected   bool          // include_rejected
	eventNames map[string]string
	method     string
	url        *template
	body       *template // POST only
	headers    []headerTemplate
}

type headerTemplate struct {
	name string
	t    *template
}

// problem is a configuration problem at a field relative to its parent.
type problem struct {
	field string
	msg   string
}

// Why a rule does not take a record (explain): the first check that fails,
// in the order matches makes them.
const (
	WhyType       = "type"        // not one of the rule's types
	WhyApp        = "app"         // not one of the rule's apps
	WhyMode       = "mode"        // attributed mode, and attributed to another partner (or organic)
	WhyRejected   = "rejected"    // the fraud tool rejected it, and the rule has no include_rejected
	WhyWindow     = "window"      // event_ts later than attributed_at + window
	WhyMinRevenue = "min_revenue" // no revenue, or less than min_revenue
	WhyNoRate     = "no_rate"     // min_revenue in the base currency, and no exchange rate for its currency and day
)

// matches reports whether r sends rec to partner (mismatch says why not).
func (r *rule) matches(partner string, rec *schemas.Classified, fx *fxTable) bool {
	return r.mismatch(partner, rec, fx) == ""
}

// mismatch is why r does not send rec to partner, "" when it does. With
// fx, min_revenue compares the revenue in the base currency, and a record
// without a rate does not match. A record the fraud tool rejected matches
// only with include_rejected; with a window, only a record whose event_ts
// is at most the window after its attributed_at (inclusive, like the
// lookbacks; a record without attributed_at, written before v3, is not
// held to it: the sink cannot tell its age).
func (r *rule) mismatch(partner string, rec *schemas.Classified, fx *fxTable) string {
	switch {
	case !r.types[rec.Type]:
		return WhyType
	case r.apps != nil && !r.apps[rec.AppID]:
		return WhyApp
	case r.mode == ModeAttributed && rec.Attribution.Partner != partner:
		return WhyMode
	case rec.Rejected && !r.rejected:
		return WhyRejected
	case r.window > 0 && !rec.AttributedAt.IsZero() && rec.EventTS.Sub(rec.AttributedAt) > r.window:
		return WhyWindow
	case r.minRevenue == nil:
		return ""
	case rec.Revenue == nil:
		return WhyMinRevenue
	}
	rev := *rec.Revenue
	if fx != nil {
		var ok bool
		if rev, ok = fx.convert(rev, rec.Currency, fx.base, rec.EventTS); !ok {
			return WhyNoRate
		}
	}
	if rev < *r.minRevenue {
		return WhyMinRevenue
	}
	return ""
}

// partnerEvent is the partner's name for a record type.
func (r *rule) partnerEvent(recordType string) string {
	if e, ok := r.eventNames[recordType]; ok {
		return e
	}
	return recordType
}

// compileRule checks rc and compiles its templates; knownApps nil accepts
// every app.
func compileRule(index int, rc RuleConfig, knownApps func(string) bool) (*rule, []problem) {
	var probs []problem
	add := func(field, format string, args ...any) {
		probs = append(probs, problem{field, fmt.Sprintf(format, args...)})
	}
	r := &rule{index: index, mode: rc.Mode, minRevenue: rc.MinRevenue, eventNames: rc.EventNames,
		window: time.Duration(rc.Window), rejected: rc.IncludeRejected,
		method: strings.ToUpper(rc.Method), types: make(map[string]bool)}
	if r.window < 0 {
		add("window", "must not be negative, got %v", time.Duration(rc.Window))
	}
	for i, a := range rc.Apps {
		switch {
		case a == "*":
			r.apps = nil
		case a == "":
			add(fmt.Sprintf("apps[%d]", i), "empty app id")
		case knownApps != nil && !knownApps(a):
			add(fmt.Sprintf("apps[%d]", i), "unknown app %q (not listed under apps)", a)
		}
	}
	if len(rc.Apps) > 0 && !slices.Contains(rc.Apps, "*") {
		r.apps = make(map[string]bool, len(rc.Apps))
		for _, a := range rc.Apps {
			r.apps[a] = true
		}
	}
	if len(rc.Types) == 0 {
		add("types", "required: list the record types this rule sends")
	}
	for i, t := range rc.Types {
		if !schemas.IsRecordType(t) {
			add(fmt.Sprintf("types[%d]", i), "unknown record type %q", t)
		}
		r.types[t] = true
	}
	for t := range rc.EventNames {
		if !schemas.IsRecordType(t) {
			add("event_names."+t, "unknown record type %q", t)
		}
	}
	switch r.mode {
	case ModeAttributed, ModeAll:
	default:
		add("mode", "want attributed or all, got %q", rc.Mode)
	}
	switch r.method {
	case "GET":
		if rc.Body != "" {
			add("body", "a GET has no body: use method POST")
		}
	case "POST":
	default:
		add("method", "want GET or POST, got %q", rc.Method)
	}
	sample := sampleVars()
	if rc.URL == "" {
		add("url", "required")
	} else if t, err := compileTemplate(rc.URL, kindURL); err != nil {
		add("url", "%v", err)
	} else {
		r.url = t
		u, err := url.Parse(string(t.render(nil, sample)))
		switch {
		case err != nil:
			add("url", "bad URL: %v", err)
		case u.Scheme != "http" && u.Scheme != "https":
			add("url", "want an http or https URL, got scheme %q", u.Scheme)
		case u.Host == "":
			add("url", "no host")
		case u.User != nil:
			add("url", "credentials in the URL: use headers with a secret instead")
		}
	}
	if r.method == "POST" && rc.Body != "" {
		if t, err := compileTemplate(rc.Body, kindBody); err != nil {
			add("body", "%v", err)
		} else if out := t.render(nil, sample); !json.Valid(out) {
			add("body", "not valid JSON once rendered: %s", out)
		} else {
			r.body = t
		}
	}
	names := make([]string, 0, len(rc.Headers))
	for name := range rc.Headers {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		if !validHeaderName(name) {
			add("headers."+name, "bad header name")
			continue
		}
		t, err := compileTemplate(rc.Headers[name], kindHeader)
		if err != nil {
			add("headers."+name, "%v", err)
			continue
		}
		r.headers = append(r.headers, headerTemplate{name: name, t: t})
	}
	return r, probs
}

func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
			return false
		}
	}
	return true
}

// sampleVars has every field set, with characters that need escaping, to
// check at load that templates render to valid URLs and JSON.
func sampleVars() *vars {
	rev := 1.5
	return &vars{
		rec: &schemas.Classified{
			PostbackID: "0123456789abcdef0123456789abcdef", Type: schemas.TypeInstall,
			EventID: "e/1 ?&\"", AppID: "app", Platform: schemas.PlatformIOS, DeviceID: "d 1",
			UserID: "u\"1", EventTS: time.Unix(1700000000, 0), Name: "n\\1", Revenue: &rev,
			Currency: "USD", Params: map[string]string{},
			Attribution:  schemas.Attribution{Partner: "p", Campaign: "c#1", ClickID: "k", Touch: schemas.TouchClick},
			AttributedAt: time.Unix(1690000000, 0), Rejected: true, RejectReason: "r\"1 &",
		},
		partner: "p", partnerEvent: "ev ent",
	}
}
