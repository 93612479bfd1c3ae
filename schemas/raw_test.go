package schemas

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/linkedin/goavro/v2"
)

// foreignEventSchema is a producer's own event schema: other names, extra
// fields, optional unions, ts as an RFC 3339 string.
const foreignEventSchema = `{"type": "record", "name": "AppEvent", "namespace": "com.acme",
 "fields": [
  {"name": "event_id", "type": "string"},
  {"name": "app_id", "type": "string"},
  {"name": "platform", "type": "string"},
  {"name": "device_id", "type": "string"},
  {"name": "user_id", "type": ["null", "string"], "default": null},
  {"name": "type", "type": "string"},
  {"name": "ts", "type": "string"},
  {"name": "revenue", "type": ["null", "float"], "default": null},
  {"name": "currency", "type": ["null", "string"], "default": null},
  {"name": "params", "type": ["null", {"type": "map", "values": "string"}], "default": null},
  {"name": "sdk_version", "type": "int"}
 ]}`

const foreignClickSchema = `{"type": "record", "name": "Tap", "fields": [
  {"name": "click_id", "type": "string"},
  {"name": "partner", "type": "string"},
  {"name": "app_id", "type": "string"},
  {"name": "device_id", "type": "string"},
  {"name": "ts", "type": {"type": "long", "logicalType": "timestamp-millis"}}
 ]}`

func mustCodec(t *testing.T, schema string) *goavro.Codec {
	t.Helper()
	c, err := goavro.NewCodec(schema)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestDecodeRaw(t *testing.T) {
	ts := time.Date(2026, 3, 1, 10, 5, 0, 123456000, time.UTC)
	click := Click{ClickID: "c1", Touch: "impression", Partner: "p", AppID: "a", DeviceID: "d", TS: ts}
	event := Event{EventID: "e1", AppID: "a", Platform: "ios", DeviceID: "d", Type: "purchase", TS: ts,
		Revenue: ptr(1.5), Currency: "EUR", Params: map[string]string{"k": "v"}}
	foreignEvent := mustCodec(t, foreignEventSchema)
	foreignClick := mustCodec(t, foreignClickSchema)
	resolver := func(id int) (*goavro.Codec, error) {
		switch id {
		case 1:
			return EventAvro.Codec, nil
		case 2:
			return foreignEvent, nil
		case 3:
			return foreignClick, nil
		case 4:
			return InputAvro.Codec, nil
		}
		return nil, errors.New("no such id")
	}
	confluent := func(id int, c *goavro.Codec, native map[string]any) []byte {
		b, err := c.BinaryFromNative(AppendConfluentHeader(nil, id), native)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	single := func(s *AvroSchema, body []byte) []byte {
		return append(appendSingleObjectHeader(nil, s.Fingerprint), body...)
	}
	eventBody := appendEventAvro(nil, &event)
	inputBytes, _ := EncodeInput(nil, &Input{Click: &click})
	tests := []struct {
		name    string
		decode  func() (Input, error)
		want    Input
		wantErr error
	}{
		{"single-object click", func() (Input, error) { return DecodeRawSingleObject(single(ClickAvro, appendClickAvro(nil, &click))) }, Input{Click: &click}, nil},
		{"single-object event", func() (Input, error) { return DecodeRawSingleObject(single(EventAvro, eventBody)) }, Input{Event: &event}, nil},
		{"single-object input", func() (Input, error) { return DecodeRawSingleObject(inputBytes) }, Input{Click: &click}, nil},
		{"single-object classified is not input", func() (Input, error) {
			b, _ := EncodeClassified(nil, &Classified{})
			return DecodeRawSingleObject(b)
		}, Input{}, ErrUnknownSchema},
		{"single-object truncated", func() (Input, error) { return DecodeRawSingleObject(single(EventAvro, eventBody[:len(eventBody)-3])) }, Input{}, ErrMalformed},
		{"single-object trailing bytes", func() (Input, error) { return DecodeRawSingleObject(append(single(EventAvro, eventBody), 0)) }, Input{}, ErrMalformed},
		{"confluent own schema", func() (Input, error) {
			return DecodeRawConfluent(append(AppendConfluentHeader(nil, 1), eventBody...), resolver)
		}, Input{Event: &event}, nil},
		{"confluent own input schema", func() (Input, error) {
			return DecodeRawConfluent(append(AppendConfluentHeader(nil, 4), inputBytes[soHeaderLen:]...), resolver)
		}, Input{Click: &click}, nil},
		{"confluent foreign event", func() (Input, error) {
			return DecodeRawConfluent(confluent(2, foreignEvent, map[string]any{
				"event_id": "e1", "app_id": "a", "platform": "ios", "device_id": "d", "user_id": nil,
				"type": "purchase", "ts": "2026-03-01T12:05:00.123456+02:00", "revenue": goavro.Union("float", float32(1.5)),
				"currency": goavro.Union("string", "EUR"), "params": goavro.Union("map", map[string]any{"k": "v"}),
				"sdk_version": int32(7),
			}), resolver)
		}, Input{Event: &event}, nil},
		{"confluent foreign click", func() (Input, error) {
			return DecodeRawConfluent(confluent(3, foreignClick, map[string]any{
				"click_id": "c1", "partner": "p", "app_id": "a", "device_id": "d", "ts": ts,
			}), resolver)
		}, Input{Click: &Click{ClickID: "c1", Partner: "p", AppID: "a", DeviceID: "d", TS: ts.Truncate(time.Millisecond)}}, nil},
		{"confluent unknown id", func() (Input, error) { return DecodeRawConfluent(AppendConfluentHeader(nil, 9), resolver) }, Input{}, nil},
		{"confluent without resolver", func() (Input, error) { return DecodeRawConfluent(AppendConfluentHeader(nil, 1), nil) }, Input{}, ErrNoResolver},
		{"confluent foreign bad ts", func() (Input, error) {
			return DecodeRawConfluent(confluent(2, foreignEvent, map[string]any{
				"event_id": "e1", "app_id": "a", "platform": "ios", "device_id": "d", "type": "launch", "ts": "soon", "sdk_version": int32(7),
			}), resolver)
		}, Input{}, ErrBadTime},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.decode()
			if tt.name == "confluent unknown id" {
				if err == nil {
					t.Fatal("want an error")
				}
				return
			}
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Event != nil {
				got.Event.TS = got.Event.TS.UTC()
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v / %+v, want %+v / %+v", got.Click, got.Event, tt.want.Click, tt.want.Event)
			}
		})
	}
}

func TestDetectFormat(t *testing.T) {
	tests := []struct {
		in   string
		want Format
	}{
		{"", FormatUnknown},
		{"{}", FormatJSON},
		{" \r\n\t{", FormatJSON},
		{" x{", FormatUnknown},
		{"[{}]", FormatUnknown},
		{"\xc3\x01\x00\x00\x00\x00\x00\x00\x00\x00", FormatSingleObject},
		{"\xc3\x01\x00", FormatUnknown},
		{"\x00\x00\x00\x00\x01", FormatConfluent},
		{"\x00\x00\x00\x00", FormatUnknown},
	}
	for _, tt := range tests {
		if got := DetectFormat([]byte(tt.in)); got != tt.want {
			t.Errorf("DetectFormat(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}
