package schemas

// The privacy signals of PRIVACY.md: on a raw event, what the app sent
// with it; on a classified record, the device's signals as they stand for
// its event (each the latest sent, unknown when never sent).

// Values of att_status and of the consent signals.
const (
	ATTAuthorized    = "authorized"
	ATTDenied        = "denied"
	ATTRestricted    = "restricted"
	ATTNotDetermined = "not_determined"

	ConsentGranted = "granted"
	ConsentDenied  = "denied"
)

// Names of the consent signals (require_consent, the macros, the reasons).
const (
	SignalAdUserData        = "ad_user_data"
	SignalAdPersonalization = "ad_personalization"
)

// Privacy holds the five signals; nil or "" is unknown (not sent). An
// explicit false is kept as such.
type Privacy struct {
	LimitAdTracking   *bool
	ATTStatus         string
	OptOut            *bool
	AdUserData        string
	AdPersonalization string
}

// IsZero reports whether no signal is known.
func (p Privacy) IsZero() bool {
	return p.LimitAdTracking == nil && p.ATTStatus == "" && p.OptOut == nil && p.AdUserData == "" && p.AdPersonalization == ""
}

// Limited reports whether a record is limited: limit_ad_tracking true, or
// att_status denied or restricted.
func (p Privacy) Limited() bool {
	return p.LimitAdTracking != nil && *p.LimitAdTracking || p.ATTStatus == ATTDenied || p.ATTStatus == ATTRestricted
}

// OptedOut reports whether opt_out is true.
func (p Privacy) OptedOut() bool { return p.OptOut != nil && *p.OptOut }

// Consent is the value of consent signal name ("" unknown).
func (p Privacy) Consent(name string) string {
	switch name {
	case SignalAdUserData:
		return p.AdUserData
	case SignalAdPersonalization:
		return p.AdPersonalization
	}
	return ""
}

// Merge returns p with every signal that q knows taken from q: a device's
// signals after an event that sent q.
func (p Privacy) Merge(q Privacy) Privacy {
	if q.LimitAdTracking != nil {
		p.LimitAdTracking = q.LimitAdTracking
	}
	if q.ATTStatus != "" {
		p.ATTStatus = q.ATTStatus
	}
	if q.OptOut != nil {
		p.OptOut = q.OptOut
	}
	if q.AdUserData != "" {
		p.AdUserData = q.AdUserData
	}
	if q.AdPersonalization != "" {
		p.AdPersonalization = q.AdPersonalization
	}
	return p
}

// BoolPtr is a pointer to a copy of b, for a known boolean signal.
func BoolPtr(b bool) *bool { return &b }

// Avro: on an event, the four fields that end it (v3): limit_ad_tracking,
// att_status, opt_out as optional values and consent as an optional
// record of two optional strings; on a classified record, one record of
// five optional values.

func appendOptionalBool(b []byte, v *bool) []byte {
	if v == nil {
		return append(b, 0)
	}
	return appendBoolean(append(b, 2), *v)
}

func appendOptionalString(b []byte, s string) []byte {
	if s == "" {
		return append(b, 0)
	}
	return appendAvroString(append(b, 2), s)
}

func (r *avroReader) optionalBool() *bool {
	if r.union(2) == 0 || r.err != nil {
		return nil
	}
	return BoolPtr(r.boolean())
}

func (r *avroReader) optionalString() string {
	if r.union(2) == 0 || r.err != nil {
		return ""
	}
	return r.string()
}

func appendEventPrivacyAvro(b []byte, p *Privacy) []byte {
	b = appendOptionalBool(b, p.LimitAdTracking)
	b = appendOptionalString(b, p.ATTStatus)
	b = appendOptionalBool(b, p.OptOut)
	if p.AdUserData == "" && p.AdPersonalization == "" {
		return append(b, 0)
	}
	b = appendOptionalString(append(b, 2), p.AdUserData)
	return appendOptionalString(b, p.AdPersonalization)
}

func (r *avroReader) eventPrivacy() Privacy {
	p := Privacy{LimitAdTracking: r.optionalBool(), ATTStatus: r.optionalString(), OptOut: r.optionalBool()}
	if r.union(2) == 1 && r.err == nil {
		p.AdUserData, p.AdPersonalization = r.optionalString(), r.optionalString()
	}
	return p
}

func appendPrivacyAvro(b []byte, p *Privacy) []byte {
	b = appendOptionalBool(b, p.LimitAdTracking)
	b = appendOptionalString(b, p.ATTStatus)
	b = appendOptionalBool(b, p.OptOut)
	b = appendOptionalString(b, p.AdUserData)
	return appendOptionalString(b, p.AdPersonalization)
}

func (r *avroReader) privacy() Privacy {
	return Privacy{LimitAdTracking: r.optionalBool(), ATTStatus: r.optionalString(), OptOut: r.optionalBool(),
		AdUserData: r.optionalString(), AdPersonalization: r.optionalString()}
}

// appendPrivacyJSON appends p as the classified record's privacy object,
// keys sorted, unknown signals left out.
func appendPrivacyJSON(b []byte, p *Privacy) []byte {
	b = append(b, '{')
	first := true
	sep := func() {
		if !first {
			b = append(b, ", "...)
		}
		first = false
	}
	if p.AdPersonalization != "" {
		sep()
		b = appendString(append(b, `"ad_personalization": `...), p.AdPersonalization)
	}
	if p.AdUserData != "" {
		sep()
		b = appendString(append(b, `"ad_user_data": `...), p.AdUserData)
	}
	if p.ATTStatus != "" {
		sep()
		b = appendString(append(b, `"att_status": `...), p.ATTStatus)
	}
	if p.LimitAdTracking != nil {
		sep()
		b = appendJSONBool(append(b, `"limit_ad_tracking": `...), *p.LimitAdTracking)
	}
	if p.OptOut != nil {
		sep()
		b = appendJSONBool(append(b, `"opt_out": `...), *p.OptOut)
	}
	return append(b, '}')
}

func appendJSONBool(b []byte, v bool) []byte {
	if v {
		return append(b, "true"...)
	}
	return append(b, "false"...)
}

// privacyJSON is the JSON form of Privacy, for decoding.
type privacyJSON struct {
	LimitAdTracking   *bool  `json:"limit_ad_tracking"`
	ATTStatus         string `json:"att_status"`
	OptOut            *bool  `json:"opt_out"`
	AdUserData        string `json:"ad_user_data"`
	AdPersonalization string `json:"ad_personalization"`
}

func (p privacyJSON) privacy() Privacy { return Privacy(p) }

// optBool reads true, false or null into an optional boolean.
func (s *jsonScanner) optBool(dst **bool) bool {
	if s.null() {
		*dst = nil
		return true
	}
	var v bool
	if !s.boolean(&v) {
		return false
	}
	*dst = BoolPtr(v)
	return true
}

// privacyObject reads a classified record's privacy object (null leaves
// it as it is).
func (s *jsonScanner) privacyObject(p *privacyJSON) bool {
	if s.null() {
		return true
	}
	return s.object(func(key []byte) bool {
		switch string(key) {
		case "limit_ad_tracking":
			return s.optBool(&p.LimitAdTracking)
		case "att_status":
			return s.str(&p.ATTStatus)
		case "opt_out":
			return s.optBool(&p.OptOut)
		case "ad_user_data":
			return s.str(&p.AdUserData)
		case "ad_personalization":
			return s.str(&p.AdPersonalization)
		}
		return false
	})
}
