package schemas

// decodeClassifiedFast decodes the common shape of a classified record in
// JSON (the one AppendClassifiedJSON writes, in any key order and
// spacing) without reflection, like decodeInputFast: every partner's sink
// group decodes every classified record, and encoding/json was a tenth of
// the sink stage's CPU. ok is false for anything else (escapes, unknown or
// differently cased keys, wrong types, bad syntax); the caller then uses
// encoding/json, which gives the same result on every record this accepts
// (FuzzClassifiedJSONFastMatchesStdlib) and precise errors on the rest.
// Repeated keys behave as encoding/json's do: a later string wins, objects
// merge.
func decodeClassifiedFast(b []byte, r *classifiedJSON) (ok bool) {
	s := jsonScanner{b: b}
	return s.object(func(key []byte) bool { return s.classifiedField(key, r) }) && s.end()
}

// classifiedField decodes the value of a known key of a classified record.
func (s *jsonScanner) classifiedField(key []byte, r *classifiedJSON) bool {
	switch string(key) {
	case "postback_id":
		return s.str(&r.PostbackID)
	case "type":
		return s.str(&r.Type)
	case "event_id":
		return s.str(&r.EventID)
	case "app_id":
		return s.str(&r.AppID)
	case "platform":
		return s.str(&r.Platform)
	case "device_id":
		return s.str(&r.DeviceID)
	case "user_id":
		return s.str(&r.UserID)
	case "event_ts":
		return s.str(&r.EventTS)
	case "name":
		return s.str(&r.Name)
	case "revenue":
		return s.number(&r.Revenue)
	case "currency":
		return s.str(&r.Currency)
	case "transaction_id":
		return s.str(&r.TransactionID)
	case "params":
		return s.params(&r.Params)
	case "attribution":
		return s.attribution(&r.Attribution)
	}
	return false
}

// attribution reads an attribution object of plain strings into a (null
// leaves it as it is, as encoding/json does for a struct).
func (s *jsonScanner) attribution(a *Attribution) bool {
	if s.null() {
		return true
	}
	return s.object(func(key []byte) bool {
		switch string(key) {
		case "partner":
			return s.str(&a.Partner)
		case "campaign":
			return s.str(&a.Campaign)
		case "click_id":
			return s.str(&a.ClickID)
		case "touch":
			return s.str(&a.Touch)
		}
		return false
	})
}
