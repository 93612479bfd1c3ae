package normalize

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

	"github.com/postbackd/postbackd/schemas"
)

// maxErasureBytes bounds an erasure request's JSON.
const maxErasureBytes = 4 << 10

// Erasure decodes and checks an erasure request from privacy.requests (a
// JSON object: request_id, app_id, and device_id or user_id), stamping it
// with arrived, its record's timestamp. A request that is not well formed
// is a *Reject naming the field, like a malformed event.
func Erasure(b []byte, arrived time.Time) (schemas.ErasureRequest, error) {
	var r schemas.ErasureRequest
	if len(b) > maxErasureBytes {
		return r, reject("", fmt.Sprintf("erasure request of %d bytes, more than %d", len(b), maxErasureBytes))
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		return r, reject("", "not an erasure request: "+shortReason(err.Error()))
	}
	if err := checkTexts(
		textCheck{"request_id", r.RequestID, true},
		textCheck{"app_id", r.AppID, true},
		textCheck{"device_id", r.DeviceID, true},
		textCheck{"user_id", r.UserID, true},
	); err != nil {
		return r, err
	}
	switch {
	case r.RequestID == "":
		return r, reject("request_id", "required")
	case r.AppID == "":
		return r, reject("app_id", "required")
	case r.DeviceID == "" && r.UserID == "":
		return r, reject("device_id", "a request names a device_id or a user_id")
	case r.DeviceID != "" && r.UserID != "":
		return r, reject("user_id", "a request names a device_id or a user_id, not both")
	}
	r.RequestedAt = arrived.UTC()
	return r, nil
}
