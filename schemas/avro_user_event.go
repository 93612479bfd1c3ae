package schemas

import "fmt"

// AppendUserEventAvro appends the Avro binary body of u (schema
// UserEventAvro).
func AppendUserEventAvro(dst []byte, u *UserEvent) []byte {
	b := appendEventAvro(dst, &u.Event)
	return appendAttributionAvro(b, &u.Attribution)
}

// EncodeUserEvent appends u as a single-object encoded UserEventAvro
// message, the form of the user stream (events.by-user).
func EncodeUserEvent(dst []byte, u *UserEvent) ([]byte, error) {
	return AppendUserEventAvro(appendSingleObjectHeader(dst, UserEventAvro.Fingerprint), u), nil
}

// DecodeUserEventAvro decodes an Avro binary body of schema UserEventAvro.
func DecodeUserEventAvro(body []byte) (UserEvent, error) {
	r := avroReader{b: body}
	u := UserEvent{Event: r.event(), Attribution: r.attribution()}
	if err := r.end(); err != nil {
		return UserEvent{}, fmt.Errorf("decode user event: %w", err)
	}
	return u, nil
}

// DecodeUserEvent decodes a single-object encoded UserEventAvro message.
func DecodeUserEvent(b []byte) (UserEvent, error) {
	body, err := singleObjectBody(b, UserEventAvro)
	if err != nil {
		return UserEvent{}, err
	}
	return DecodeUserEventAvro(body)
}
