package schemas

import (
	"encoding/json"
	"testing"

	"github.com/linkedin/goavro/v2"
)

// TestInlinedSchemasMatch: the records inlined in input.avsc,
// user_event.avsc and classified.avsc are the same as their own files (or
// as each other), by canonical-form fingerprint.
func TestInlinedSchemasMatch(t *testing.T) {
	field := func(t *testing.T, avsc, name string) any {
		t.Helper()
		var rec struct {
			Fields []struct {
				Name string `json:"name"`
				Type any    `json:"type"`
			} `json:"fields"`
		}
		if err := json.Unmarshal([]byte(avsc), &rec); err != nil {
			t.Fatal(err)
		}
		for _, f := range rec.Fields {
			if f.Name == name {
				if u, ok := f.Type.([]any); ok {
					return u[1]
				}
				return f.Type
			}
		}
		t.Fatalf("no field %s", name)
		return nil
	}
	fingerprint := func(t *testing.T, schema any) uint64 {
		t.Helper()
		b, err := json.Marshal(schema)
		if err != nil {
			t.Fatal(err)
		}
		c, err := goavro.NewCodec(string(b))
		if err != nil {
			t.Fatal(err)
		}
		return c.Rabin
	}
	tests := []struct {
		name        string
		avsc, field string
		want        uint64
	}{
		{"input.click", inputAVSC, "click", ClickAvro.Fingerprint},
		{"input.event", inputAVSC, "event", EventAvro.Fingerprint},
		{"user_event.event", userEventAVSC, "event", EventAvro.Fingerprint},
		{"user_event.attribution vs classified.attribution", userEventAVSC, "attribution",
			fingerprint(t, field(t, classifiedAVSC, "attribution"))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := fingerprint(t, field(t, tt.avsc, tt.field)); got != tt.want {
				t.Errorf("fingerprint %#x, want %#x: the inlined copy drifted", got, tt.want)
			}
		})
	}
}

// TestFingerprintsDistinct: single-object messages are told apart by
// fingerprint alone.
func TestFingerprintsDistinct(t *testing.T) {
	seen := map[uint64]string{}
	for _, s := range []*AvroSchema{ClickAvro, EventAvro, InputAvro, UserEventAvro, ClassifiedAvro, DeliveryLogAvro, RejectAvro} {
		if other, ok := seen[s.Fingerprint]; ok {
			t.Errorf("%s and %s share fingerprint %#x", s.Name, other, s.Fingerprint)
		}
		seen[s.Fingerprint] = s.Name
		if s.Codec.Rabin != s.Fingerprint {
			t.Errorf("%s: fingerprint mismatch", s.Name)
		}
	}
}
