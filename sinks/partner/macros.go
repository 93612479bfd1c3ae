package partner

import (
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/postbackd/postbackd/schemas"
)

// macro names a value of a classified record that a template can use.
type macro uint8

const (
	mPostbackID macro = iota
	mType
	mPartnerEvent
	mEventID
	mEventTS
	mEventUnix
	mAppID
	mPlatform
	mDeviceID
	mUserID
	mClickID
	mCampaign
	mTouch
	mRevenue
	mCurrency
	mName
	mPartner
	mRevenueBase     // revenue in sink.fx's base currency
	mRevenuePartner  // revenue in the partner's currency
	mCurrencyPartner // the partner's currency
	mRevenueIn       // revenue_XXX: in currency XXX
	mParam           // param.KEY
	mAttributedAt    // when the attribution was made, RFC 3339
	mAttributedUnix  // likewise, Unix seconds
	mRejected        // the fraud verdict: true or false
	mRejectReason
	mLimitAdTracking // the privacy signals: true, false or empty when unknown
	mOptOut
	mATTStatus // the value or empty
	mAdUserData
	mAdPersonalization
)

var macroNames = map[string]macro{
	"postback_id":   mPostbackID,
	"type":          mType,
	"partner_event": mPartnerEvent,
	"event_id":      mEventID,
	"event_ts":      mEventTS,
	"event_unix":    mEventUnix,
	"app_id":        mAppID,
	"platform":      mPlatform,
	"device_id":     mDeviceID,
	"user_id":       mUserID,
	"click_id":      mClickID,
	"campaign":      mCampaign,
	"touch":         mTouch,
	"revenue":       mRevenue,
	"currency":      mCurrency,
	"name":          mName,
	"partner":       mPartner,
	// With sink.fx; empty (null in a JSON body) without a rate.
	"attributed_at":      mAttributedAt,
	"attributed_unix":    mAttributedUnix,
	"rejected":           mRejected,
	"limit_ad_tracking":  mLimitAdTracking,
	"opt_out":            mOptOut,
	"att_status":         mATTStatus,
	"ad_user_data":       mAdUserData,
	"ad_personalization": mAdPersonalization,
	"reject_reason":      mRejectReason,
	"revenue_base":       mRevenueBase,
	"revenue_partner":    mRevenuePartner,
	"currency_partner":   mCurrencyPartner,
}

// lookupMacro resolves a macro name; ok is false for an unknown one.
func lookupMacro(name string) (m macro, param string, ok bool) {
	if key, found := strings.CutPrefix(name, "param."); found {
		return mParam, key, key != ""
	}
	if cur, found := strings.CutPrefix(name, "revenue_"); found && isCurrency(strings.ToUpper(cur)) {
		return mRevenueIn, strings.ToUpper(cur), true // revenue_usd, revenue_eur, ...
	}
	m, ok = macroNames[name]
	return m, "", ok
}

// vars is what a template is rendered from: one record sent to one partner.
type vars struct {
	rec          *schemas.Classified
	partner      string
	partnerEvent string
	fx           *fxTable // nil: no conversion
	currency     string   // the partner's
	// strip: the record is limited and the partner strips ids: device_id,
	// user_id, click_id and the personal params render empty.
	strip    bool
	personal []string
}

// revenueIn is the record's revenue converted into cur, as text ("" with
// no revenue, no table or no rate).
func (v *vars) revenueIn(cur string) string {
	r := v.rec
	if r.Revenue == nil || v.fx == nil || cur == "" {
		return ""
	}
	x, ok := v.fx.convert(*r.Revenue, r.Currency, cur, r.EventTS)
	if !ok {
		return ""
	}
	return strconv.FormatFloat(math.Round(x*1e6)/1e6, 'f', -1, 64)
}

// text is the macro's value as text ("" when absent; revenue in plain
// decimal notation).
func (v *vars) text(m macro, param string) string {
	r := v.rec
	switch m {
	case mPostbackID:
		return r.PostbackID
	case mType:
		return r.Type
	case mPartnerEvent:
		return v.partnerEvent
	case mEventID:
		return r.EventID
	case mEventTS:
		if r.EventTS.IsZero() {
			return ""
		}
		return r.EventTS.UTC().Format(time.RFC3339Nano)
	case mEventUnix:
		if r.EventTS.IsZero() {
			return ""
		}
		return strconv.FormatInt(r.EventTS.Unix(), 10)
	case mAppID:
		return r.AppID
	case mPlatform:
		return r.Platform
	case mDeviceID:
		if v.strip {
			return ""
		}
		return r.DeviceID
	case mUserID:
		if v.strip {
			return ""
		}
		return r.UserID
	case mClickID:
		if v.strip {
			return ""
		}
		return r.Attribution.ClickID
	case mCampaign:
		return r.Attribution.Campaign
	case mTouch:
		return r.Attribution.Touch
	case mRevenue:
		if r.Revenue == nil {
			return ""
		}
		return strconv.FormatFloat(*r.Revenue, 'f', -1, 64)
	case mCurrency:
		return r.Currency
	case mName:
		return r.Name
	case mPartner:
		return v.partner
	case mParam:
		if v.strip && personalParam(v.personal, param) {
			return ""
		}
		return r.Params[param]
	case mRevenueBase:
		if v.fx == nil {
			return ""
		}
		return v.revenueIn(v.fx.base)
	case mRevenuePartner:
		return v.revenueIn(v.currency)
	case mCurrencyPartner:
		return v.currency
	case mRevenueIn:
		return v.revenueIn(param)
	case mAttributedAt:
		if r.AttributedAt.IsZero() {
			return ""
		}
		return r.AttributedAt.UTC().Format(time.RFC3339Nano)
	case mAttributedUnix:
		if r.AttributedAt.IsZero() {
			return ""
		}
		return strconv.FormatInt(r.AttributedAt.Unix(), 10)
	case mRejected:
		return strconv.FormatBool(r.Rejected)
	case mRejectReason:
		return r.RejectReason
	case mLimitAdTracking:
		return optBoolText(r.Privacy.LimitAdTracking)
	case mOptOut:
		return optBoolText(r.Privacy.OptOut)
	case mATTStatus:
		return r.Privacy.ATTStatus
	case mAdUserData:
		return r.Privacy.AdUserData
	case mAdPersonalization:
		return r.Privacy.AdPersonalization
	}
	return ""
}

// optBoolText is a known signal as true or false, "" when unknown.
func optBoolText(b *bool) string {
	if b == nil {
		return ""
	}
	return strconv.FormatBool(*b)
}

// numeric reports whether the macro renders as a JSON number (or null)
// when it stands outside quotes in a body template.
func (m macro) numeric() bool {
	return m == mRevenue || m == mEventUnix || m == mRevenueBase || m == mRevenuePartner || m == mRevenueIn ||
		m == mAttributedUnix || m == mRejected // true and false are JSON literals too
}
