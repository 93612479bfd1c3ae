package schemas

import (
	"fmt"
	"time"
)

// The record of events.by-user: its type and its Avro form
// (user_event.avsc); the topic is internal, so it has no JSON form.

// UserEvent is an event with a user_id, enriched by the device classifier
// with the device's current attribution as it stands after the event. It is
// the record of the user stream (events.by-user, keyed by user_id).
type UserEvent struct {
	Event       Event
	Attribution Attribution
	// AttributedAt is when Attribution was made (zero: unknown, a v2
	// record).
	AttributedAt time.Time
}

// AppendUserEventAvro appends the Avro binary body of u (schema
// UserEventAvro).
func AppendUserEventAvro(dst []byte, u *UserEvent) []byte {
	b := appendEventAvro(dst, &u.Event)
	b = appendAttributionAvro(b, &u.Attribution)
	b = appendBoolean(b, u.Event.TSAdjusted)
	return appendOptionalMicros(b, u.AttributedAt)
}

// EncodeUserEvent appends u as a single-object encoded UserEventAvro
// message, the form of the user stream (events.by-user).
func EncodeUserEvent(dst []byte, u *UserEvent) ([]byte, error) {
	return AppendUserEventAvro(appendSingleObjectHeader(dst, UserEventAvro.Fingerprint), u), nil
}

// DecodeUserEventAvro decodes an Avro binary body of schema UserEventAvro.
func DecodeUserEventAvro(body []byte) (UserEvent, error) {
	return decodeUserEventAvro(body, schemaV3)
}

func decodeUserEventAvro(body []byte, v schemaVersion) (UserEvent, error) {
	r := avroReader{b: body}
	u := UserEvent{Event: r.event(v), Attribution: r.attribution()}
	if v >= schemaV2 {
		u.Event.TSAdjusted = r.boolean()
	}
	if v >= schemaV3 {
		u.AttributedAt = r.optionalMicros()
	}
	if err := r.end(); err != nil {
		return UserEvent{}, fmt.Errorf("decode user event: %w", err)
	}
	return u, nil
}

// DecodeUserEvent decodes a single-object encoded UserEventAvro message.
func DecodeUserEvent(b []byte) (UserEvent, error) {
	body, v, err := versionedBody(b, userEventLayouts)
	if err != nil {
		return UserEvent{}, err
	}
	return decodeUserEventAvro(body, v)
}
