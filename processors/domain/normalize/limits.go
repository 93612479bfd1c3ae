package normalize

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/postbackd/postbackd/schemas"
)

// Limits of CLASSIFICATION.md, "Limits and well-formed text".
const (
	// DefaultMaxRecordBytes is max_record_bytes when Config leaves it 0.
	DefaultMaxRecordBytes = 64 << 10
	// maxIDBytes bounds every id (event_id, click_id, app_id, device_id,
	// user_id, partner, campaign, transaction_id), name and reject_reason.
	maxIDBytes = 256
	// maxParams bounds the number of params entries.
	maxParams = 50
	// maxParamKeyBytes and maxParamValueBytes bound each params entry.
	maxParamKeyBytes   = 64
	maxParamValueBytes = 1024

	// maxReasonBytes bounds a reason taken from a decoder, whose text may
	// quote the input: a dead letter must not grow with what it refuses.
	maxReasonBytes = 256
)

// textProblem says what is wrong with s, "" when nothing: it must be valid
// UTF-8, at most max bytes (no limit when max < 0) and, when noControl,
// free of control characters (U+0000-U+001F, U+007F).
func textProblem(s string, max int, noControl bool) string {
	if max >= 0 && len(s) > max {
		return fmt.Sprintf("%d bytes, longer than the limit of %d", len(s), max)
	}
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if noControl && (c < 0x20 || c == 0x7f) {
				return fmt.Sprintf("control character U+%04X at byte %d", c, i)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			return "invalid utf-8 at byte " + strconv.Itoa(i)
		}
		i += size
	}
	return ""
}

// textCheck is one field for checkTexts, which checks them in order: ids and name are bounded
// and free of control characters, other strings only valid UTF-8.
type textCheck struct {
	field string
	value string
	id    bool
}

func checkTexts(checks ...textCheck) error {
	for _, c := range checks {
		max := -1
		if c.id {
			max = maxIDBytes
		}
		if why := textProblem(c.value, max, c.id); why != "" {
			return reject(c.field, why)
		}
	}
	return nil
}

func checkClickText(c *schemas.Click) error {
	return checkTexts(
		textCheck{"click_id", c.ClickID, true},
		textCheck{"touch", c.Touch, false},
		textCheck{"partner", c.Partner, true},
		textCheck{"campaign", c.Campaign, true},
		textCheck{"app_id", c.AppID, true},
		textCheck{"device_id", c.DeviceID, true},
		textCheck{"reject_reason", c.RejectReason, true},
	)
}

func checkEventText(e *schemas.Event) error {
	if err := checkTexts(
		textCheck{"event_id", e.EventID, true},
		textCheck{"app_id", e.AppID, true},
		textCheck{"platform", e.Platform, false},
		textCheck{"device_id", e.DeviceID, true},
		textCheck{"user_id", e.UserID, true},
		textCheck{"type", e.Type, false},
		textCheck{"name", e.Name, true},
		textCheck{"currency", e.Currency, false},
		textCheck{"transaction_id", e.TransactionID, true},
		textCheck{"reject_reason", e.RejectReason, true},
	); err != nil {
		return err
	}
	return checkParams(e.Params)
}

// checkParams: at most maxParams entries; keys at most maxParamKeyBytes,
// valid UTF-8 without control characters; values at most
// maxParamValueBytes and valid UTF-8. When several entries are wrong, the
// one with the smallest key is reported, so the reason does not depend on
// map order.
func checkParams(p map[string]string) error {
	if len(p) > maxParams {
		return reject("params", fmt.Sprintf("%d entries, more than the limit of %d", len(p), maxParams))
	}
	var badKey, reason string
	for k, v := range p {
		why := ""
		if w := textProblem(k, maxParamKeyBytes, true); w != "" {
			why = "key " + schemas.QuotePrefix(k) + ": " + w
		} else if w := textProblem(v, maxParamValueBytes, false); w != "" {
			why = "value of " + schemas.QuotePrefix(k) + ": " + w
		}
		if why != "" && (reason == "" || k < badKey) {
			badKey, reason = k, why
		}
	}
	if reason != "" {
		return reject("params", reason)
	}
	return nil
}

// shortReason bounds a decoder's reason to maxReasonBytes and makes it
// valid UTF-8.
func shortReason(s string) string {
	if len(s) > maxReasonBytes {
		cut := maxReasonBytes
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "..."
	}
	return strings.ToValidUTF8(s, "?")
}
