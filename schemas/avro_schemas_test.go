package schemas

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
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
		{"input.click", inputAVSC, "click", ClickAvro.Legacy},
		{"input.event", inputAVSC, "event", EventAvro.Legacy},
		{"user_event.event", userEventAVSC, "event", EventAvro.Legacy},
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
		if s.Codec.Rabin != s.Legacy {
			t.Errorf("%s: legacy fingerprint %#x is not goavro's %#x", s.Name, s.Legacy, s.Codec.Rabin)
		}
		if other, ok := seen[s.Legacy]; ok && other != s.Name {
			t.Errorf("%s's legacy fingerprint is %s's", s.Name, other)
		}
		seen[s.Legacy] = s.Name
	}
}

// TestSpecFingerprints: the fingerprints are those of the Avro
// specification's Parsing Canonical Form: for the v1 Classified schema,
// the one Java Avro 1.12's SchemaNormalization.parsingFingerprint64
// computes (0x97b6e4ba5a99c00d), which goavro's canonical form missed
// (0xf05c5f93760d26f3) by keeping {"type":"long"} where a logical type
// was. Every schema's constant, current and v1, is its own.
func TestSpecFingerprints(t *testing.T) {
	for _, s := range []*AvroSchema{ClickAvro, EventAvro, InputAvro, UserEventAvro, ClassifiedAvro, DeliveryLogAvro, RejectAvro} {
		if fp, err := SpecFingerprint(s.JSON); err != nil || fp != s.Fingerprint {
			t.Errorf("%s: fingerprint %#x, its canonical form's %#x (%v)", s.Name, s.Fingerprint, fp, err)
		}
		pcf, _ := ParsingCanonicalForm(s.JSON)
		if strings.Contains(pcf, "logicalType") || strings.Contains(pcf, `{"type":"long"}`) || strings.ContainsAny(pcf, " \n") {
			t.Errorf("%s: not in canonical form: %s", s.Name, pcf)
		}
	}
	for name, want := range map[string]uint64{
		"input": inputV1SpecFingerprint, "user_event": userEventV1SpecFingerprint,
		"classified": classifiedV1SpecFingerprint, "delivery_log": deliveryLogV1SpecFingerprint,
	} {
		b, err := os.ReadFile(filepath.Join("testdata", "v1", name+".avsc"))
		if err != nil {
			t.Fatal(err)
		}
		if fp, err := SpecFingerprint(string(b)); err != nil || fp != want {
			t.Errorf("v1 %s: canonical fingerprint %#x (%v), the constant says %#x", name, fp, err, want)
		}
	}
	if classifiedV1SpecFingerprint != 0x97b6e4ba5a99c00d {
		t.Errorf("v1 classified: %#x, Java Avro computes 0x97b6e4ba5a99c00d", classifiedV1SpecFingerprint)
	}
	// The specification's own examples.
	for schema, want := range map[string]string{
		`{"type":"long","logicalType":"timestamp-millis"}`:                           `"long"`,
		`{"type": "fixed", "name": "F", "namespace": "a.b", "size": 16, "doc": "x"}`: `{"name":"a.b.F","type":"fixed","size":16}`,
		`{"type":"record","name":"R","namespace":"n","fields":[{"name":"a","type":{"type":"enum","name":"E","symbols":["X"]},"default":"X"},{"name":"b","type":"E"}]}`: `{"name":"n.R","type":"record","fields":[{"name":"a","type":{"name":"n.E","type":"enum","symbols":["X"]}},{"name":"b","type":"n.E"}]}`,
		`{"type":"map","values":{"type":"array","items":["null","string"]}}`:                                                                                           `{"type":"map","values":{"type":"array","items":["null","string"]}}`,
	} {
		if got, err := ParsingCanonicalForm(schema); err != nil || got != want {
			t.Errorf("canonical form of %s: %s (%v), want %s", schema, got, err, want)
		}
	}
}

// TestLegacyFingerprintsStillRead: records that earlier postbackd wrote
// (goavro's fingerprints, v1 and v2) still decode.
func TestLegacyFingerprintsStillRead(t *testing.T) {
	c := Classified{PostbackID: "p", Type: TypeInstall, EventID: "e", AppID: "a", Platform: PlatformAndroid, DeviceID: "d"}
	ours, err := EncodeClassified(nil, &c)
	if err != nil {
		t.Fatal(err)
	}
	legacy := append(appendSingleObjectHeader(nil, ClassifiedAvro.Legacy), ours[10:]...)
	if got, err := DecodeClassified(legacy); err != nil || got.PostbackID != "p" {
		t.Fatalf("a classified record with the legacy fingerprint: %+v, %v", got, err)
	}
}
