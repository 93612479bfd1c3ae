package schemas

// Avro bodies of the Click, Event and Attribution records, in the field
// order of click.avsc, event.avsc and the Attribution record.

func appendClickAvro(b []byte, c *Click) []byte {
	b = appendAvroString(b, c.ClickID)
	b = appendAvroString(b, c.Touch)
	b = appendAvroString(b, c.Partner)
	b = appendAvroString(b, c.Campaign)
	b = appendAvroString(b, c.AppID)
	b = appendAvroString(b, c.DeviceID)
	return appendMicros(b, c.TS)
}

func (r *avroReader) click() Click {
	return Click{
		ClickID:  r.string(),
		Touch:    r.string(),
		Partner:  r.string(),
		Campaign: r.string(),
		AppID:    r.string(),
		DeviceID: r.string(),
		TS:       r.micros(),
	}
}

func appendEventAvro(b []byte, e *Event) []byte {
	b = appendAvroString(b, e.EventID)
	b = appendAvroString(b, e.AppID)
	b = appendAvroString(b, e.Platform)
	b = appendAvroString(b, e.DeviceID)
	b = appendAvroString(b, e.UserID)
	b = appendAvroString(b, e.Type)
	b = appendMicros(b, e.TS)
	b = appendAvroString(b, e.Name)
	b = appendOptionalDouble(b, e.Revenue)
	b = appendAvroString(b, e.Currency)
	b = appendAvroString(b, e.TransactionID)
	return appendStringMap(b, e.Params)
}

func (r *avroReader) event() Event {
	return Event{
		EventID:       r.string(),
		AppID:         r.string(),
		Platform:      r.string(),
		DeviceID:      r.string(),
		UserID:        r.string(),
		Type:          r.string(),
		TS:            r.micros(),
		Name:          r.string(),
		Revenue:       r.optionalDouble(),
		Currency:      r.string(),
		TransactionID: r.string(),
		Params:        r.stringMap(),
	}
}

func appendAttributionAvro(b []byte, a *Attribution) []byte {
	b = appendAvroString(b, a.Partner)
	b = appendAvroString(b, a.Campaign)
	b = appendAvroString(b, a.ClickID)
	return appendAvroString(b, a.Touch)
}

func (r *avroReader) attribution() Attribution {
	return Attribution{
		Partner:  r.string(),
		Campaign: r.string(),
		ClickID:  r.string(),
		Touch:    r.string(),
	}
}
