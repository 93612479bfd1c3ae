package normalize

import (
	"errors"
	"testing"
	"time"

	"github.com/linkedin/goavro/v2"

	"github.com/postbackd/postbackd/schemas"
)

// TestNormalizeAvro: Avro input (single-object and Confluent) goes through
// the same validation and normalization as JSON.
func TestNormalizeAvro(t *testing.T) {
	ts := time.Date(2026, 3, 1, 10, 5, 0, 0, time.UTC)
	good := schemas.Event{EventID: "e1", AppID: "a", Platform: "web", DeviceID: "d", Type: "visit", TS: ts}
	bad := good
	bad.Type = "teleport"
	click := schemas.Click{ClickID: "c1", Partner: "p", AppID: "a", DeviceID: "d", TS: ts}
	single := func(in schemas.Input) []byte {
		b, err := schemas.EncodeInput(nil, &in)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	confluent := func(e schemas.Event) []byte {
		b, err := schemas.EventAvro.Codec.BinaryFromNative(schemas.AppendConfluentHeader(nil, 7), map[string]any{
			"event_id": e.EventID, "app_id": e.AppID, "platform": e.Platform, "device_id": e.DeviceID,
			"type": e.Type, "ts": e.TS,
		})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	resolver := func(id int) (*goavro.Codec, error) {
		if id == 7 {
			return schemas.EventAvro.Codec, nil
		}
		return nil, errors.New("unknown id")
	}
	withResolver, err := New(Config{Resolver: resolver})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		n         *Normalizer
		raw       []byte
		wantField string // "-" when accepted
	}{
		{"single-object event", newNormalizer(t), single(schemas.Input{Event: &good}), "-"},
		{"single-object bad type", newNormalizer(t), single(schemas.Input{Event: &bad}), "type"},
		{"single-object click gets default touch", newNormalizer(t), single(schemas.Input{Click: &click}), "-"},
		{"single-object corrupt", newNormalizer(t), single(schemas.Input{Event: &good})[:14], ""},
		{"confluent event", withResolver, confluent(good), "-"},
		{"confluent bad type", withResolver, confluent(bad), "type"},
		{"confluent unknown id", withResolver, append(schemas.AppendConfluentHeader(nil, 8), 0), ""},
		{"confluent without resolver", newNormalizer(t), confluent(good), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in, err := tt.n.Normalize(tt.raw, time.Time{})
			if tt.wantField == "-" {
				if err != nil {
					t.Fatal(err)
				}
				if in.Click != nil && in.Click.Touch != schemas.TouchClick {
					t.Errorf("touch = %q", in.Click.Touch)
				}
				return
			}
			var r *Reject
			if !errors.As(err, &r) || r.Field != tt.wantField {
				t.Fatalf("err = %v, want reject of field %q", err, tt.wantField)
			}
		})
	}
}

func TestNormalizeAvroNonFiniteRevenue(t *testing.T) {
	for _, f := range []float64{nan(), inf()} {
		e := schemas.Event{EventID: "e1", AppID: "a", Platform: "ios", DeviceID: "d", Type: "purchase",
			TS: time.Unix(1, 0), Revenue: &f, Currency: "USD"}
		b, _ := schemas.EncodeInput(nil, &schemas.Input{Event: &e})
		_, err := newNormalizer(t).Normalize(b, time.Time{})
		var r *Reject
		if !errors.As(err, &r) || r.Field != "revenue" {
			t.Errorf("revenue %v: err = %v, want reject of revenue", f, err)
		}
	}
}

func nan() float64 { z := 0.0; return z / z }
func inf() float64 { z := 0.0; return 1 / z }
