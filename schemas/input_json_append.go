package schemas

// AppendInputJSON appends in as one raw input line (no newline) in the key
// order of the scenario files, omitting empty optional fields. It is the
// inverse of DecodeInputJSON, for generators and tests. An Input with
// neither Click nor Event appends {}.
func AppendInputJSON(dst []byte, in *Input) []byte {
	switch {
	case in.Click != nil:
		return appendClickJSON(dst, in.Click)
	case in.Event != nil:
		return appendEventJSON(dst, in.Event)
	default:
		return append(dst, "{}"...)
	}
}

func appendClickJSON(b []byte, c *Click) []byte {
	b = append(b, `{"kind": "click", "click_id": `...)
	b = appendString(b, c.ClickID)
	if c.Touch != "" {
		b = append(b, `, "touch": `...)
		b = appendString(b, c.Touch)
	}
	b = append(b, `, "partner": `...)
	b = appendString(b, c.Partner)
	if c.Campaign != "" {
		b = append(b, `, "campaign": `...)
		b = appendString(b, c.Campaign)
	}
	b = append(b, `, "app_id": `...)
	b = appendString(b, c.AppID)
	b = append(b, `, "device_id": `...)
	b = appendString(b, c.DeviceID)
	b = append(b, `, "ts": `...)
	b = appendTime(b, c.TS)
	b = appendVerdictJSON(b, c.Rejected, c.RejectReason)
	return append(b, '}')
}

// appendVerdictJSON appends the fraud verdict's fields when set.
func appendVerdictJSON(b []byte, rejected bool, reason string) []byte {
	if rejected {
		b = append(b, `, "rejected": true`...)
	}
	if reason != "" {
		b = append(b, `, "reject_reason": `...)
		b = appendString(b, reason)
	}
	return b
}

func appendEventJSON(b []byte, e *Event) []byte {
	b = append(b, `{"kind": "event", "event_id": `...)
	b = appendString(b, e.EventID)
	b = append(b, `, "app_id": `...)
	b = appendString(b, e.AppID)
	b = append(b, `, "platform": `...)
	b = appendString(b, e.Platform)
	b = append(b, `, "device_id": `...)
	b = appendString(b, e.DeviceID)
	b = append(b, `, "type": `...)
	b = appendString(b, e.Type)
	b = append(b, `, "ts": `...)
	b = appendTime(b, e.TS)
	if e.UserID != "" {
		b = append(b, `, "user_id": `...)
		b = appendString(b, e.UserID)
	}
	if e.Name != "" {
		b = append(b, `, "name": `...)
		b = appendString(b, e.Name)
	}
	if e.Revenue != nil {
		b = append(b, `, "revenue": `...)
		b = appendFloat(b, *e.Revenue)
	}
	if e.Currency != "" {
		b = append(b, `, "currency": `...)
		b = appendString(b, e.Currency)
	}
	if e.TransactionID != "" {
		b = append(b, `, "transaction_id": `...)
		b = appendString(b, e.TransactionID)
	}
	if len(e.Params) > 0 {
		b = append(b, `, "params": `...)
		b = appendParams(b, e.Params)
	}
	b = appendVerdictJSON(b, e.Rejected, e.RejectReason)
	b = appendEventPrivacyJSON(b, &e.Privacy)
	return append(b, '}')
}

// appendEventPrivacyJSON appends a raw event's privacy signals, the known
// ones.
func appendEventPrivacyJSON(b []byte, p *Privacy) []byte {
	if p.LimitAdTracking != nil {
		b = appendJSONBool(append(b, `, "limit_ad_tracking": `...), *p.LimitAdTracking)
	}
	if p.ATTStatus != "" {
		b = appendString(append(b, `, "att_status": `...), p.ATTStatus)
	}
	if p.OptOut != nil {
		b = appendJSONBool(append(b, `, "opt_out": `...), *p.OptOut)
	}
	if p.AdUserData != "" || p.AdPersonalization != "" {
		b = append(b, `, "consent": {`...)
		if p.AdPersonalization != "" {
			b = appendString(append(b, `"ad_personalization": `...), p.AdPersonalization)
		}
		if p.AdUserData != "" {
			if p.AdPersonalization != "" {
				b = append(b, ", "...)
			}
			b = appendString(append(b, `"ad_user_data": `...), p.AdUserData)
		}
		b = append(b, '}')
	}
	return b
}
