package schemas

import (
	"crypto/sha256"
	"encoding/hex"
	"time"
)

// Erasure (PRIVACY.md, "Erasure"): a request names an app and a device or
// a user; it travels on privacy.requests, through normalize onto
// events.by-device (and, for a user, on to events.by-user) marked with
// ErasureHeader, so that it meets the data it erases on its partition, in
// order; the stage that holds the data deletes it and writes one
// ErasureAudit to privacy.audit.

// ErasureHeader marks a record of events.by-device or events.by-user whose
// value is an ErasureRequest in JSON rather than an event.
const ErasureHeader = "postbackd-erasure"

// ErasureCopyHeader carries the position of the request on
// privacy.requests (topic/partition/offset): the copies of one request (a
// user's goes to every partition) share it, a request sent again with the
// same request_id has another.
const ErasureCopyHeader = "postbackd-erasure-copy"

// Kinds of an erasure: what its id names.
const (
	ErasureDevice = "device"
	ErasureUser   = "user"
)

// ErasureRequest is one request to forget a device or a user of an app.
type ErasureRequest struct {
	RequestID string `json:"request_id"`
	AppID     string `json:"app_id"`
	DeviceID  string `json:"device_id,omitempty"`
	UserID    string `json:"user_id,omitempty"`
	// RequestedAt is when the request reached postbackd (its record's
	// timestamp on privacy.requests): records that arrived before it are
	// erased with it, records after are a new device or user.
	RequestedAt time.Time `json:"requested_at,omitzero"`
}

// Kind is ErasureDevice or ErasureUser (a valid request names one id).
func (r *ErasureRequest) Kind() string {
	if r.DeviceID != "" {
		return ErasureDevice
	}
	return ErasureUser
}

// ID is the device or user id the request names.
func (r *ErasureRequest) ID() string {
	if r.DeviceID != "" {
		return r.DeviceID
	}
	return r.UserID
}

// ErasureAudit is the privacy.audit record of a processed request: what
// was erased, where and when, with the id only as ErasedIDHash.
type ErasureAudit struct {
	RequestID string `json:"request_id"`
	AppID     string `json:"app_id"`
	Kind      string `json:"kind"` // ErasureDevice or ErasureUser
	// IDSHA256 is ErasedIDHash(app_id, kind, id).
	IDSHA256    string    `json:"id_sha256"`
	RequestedAt time.Time `json:"requested_at"`
	CompletedAt time.Time `json:"completed_at"`
	// Erased counts the keys deleted, per stage that held the id.
	Erased map[string]int `json:"erased"`
}

// ErasedIDHash is the SHA-256, in hex, of app_id, kind and id separated
// by NUL: what the audit keeps of the id, and what the sink matches the
// records it still holds against.
func ErasedIDHash(appID, kind, id string) string {
	h := sha256.New()
	h.Write([]byte(appID))
	h.Write([]byte{0})
	h.Write([]byte(kind))
	h.Write([]byte{0})
	h.Write([]byte(id))
	return hex.EncodeToString(h.Sum(nil))
}
