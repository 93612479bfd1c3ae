//go:build integration

package schemas

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"math/rand/v2"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// otherLib runs scripts/<script> (Java Avro or fastavro, installed by the
// project's scripts) with args and stdin, and returns its stdout.
func otherLib(t *testing.T, script string, stdin []byte, args ...string) string {
	t.Helper()
	cmd := exec.Command(filepath.Join("..", "scripts", script), args...)
	cmd.Stdin = bytes.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("scripts/%s %v: %v\n%s", script, args, err, errb.String())
	}
	return out.String()
}

// TestIntegrationOtherAvroLibrariesAgree: Java Avro 1.12's
// SchemaNormalization and fastavro compute, for every schema postbackd
// writes and every v1 schema it still reads, the fingerprint postbackd
// puts in its single-object headers; and Java's BinaryMessageDecoder and
// fastavro decode the classified records postbackd writes, header
// included, to the same content.
func TestIntegrationOtherAvroLibrariesAgree(t *testing.T) {
	want := map[string]uint64{
		"click.avsc": ClickAvro.Fingerprint, "event.avsc": EventAvro.Fingerprint, "input.avsc": InputAvro.Fingerprint,
		"user_event.avsc": UserEventAvro.Fingerprint, "classified.avsc": ClassifiedAvro.Fingerprint,
		"delivery_log.avsc": DeliveryLogAvro.Fingerprint, "reject.avsc": RejectAvro.Fingerprint,
		"testdata/v1/input.avsc": inputV1SpecFingerprint, "testdata/v1/user_event.avsc": userEventV1SpecFingerprint,
		"testdata/v1/classified.avsc": classifiedV1SpecFingerprint, "testdata/v1/delivery_log.avsc": deliveryLogV1SpecFingerprint,
	}
	var files []string
	for f := range want {
		files = append(files, f)
	}
	for _, script := range []string{"avro.sh", "fastavro.sh"} {
		got := map[string]uint64{}
		for _, line := range strings.Split(strings.TrimSpace(otherLib(t, script, nil, append([]string{"fingerprint"}, files...)...)), "\n") {
			f, hexfp, ok := strings.Cut(line, " ")
			fp, err := strconv.ParseUint(strings.TrimPrefix(hexfp, "0x"), 16, 64)
			if !ok || err != nil {
				t.Fatalf("%s: line %q", script, line)
			}
			got[f] = fp
		}
		for f, fp := range want {
			if got[f] != fp {
				t.Errorf("%s: %s fingerprint %#016x, postbackd writes %#016x", script, f, got[f], fp)
			}
		}
	}

	r := rand.New(rand.NewPCG(7, 8))
	var records []Classified
	var lines bytes.Buffer
	for range 200 {
		c := randClassified(r)
		b, err := EncodeClassified(nil, &c)
		if err != nil {
			t.Fatal(err)
		}
		records = append(records, c)
		lines.WriteString(hex.EncodeToString(b) + "\n")
	}
	for _, script := range []string{"avro.sh", "fastavro.sh"} {
		out := strings.Split(strings.TrimSpace(otherLib(t, script, lines.Bytes(), "decode", "classified.avsc")), "\n")
		if len(out) != len(records) {
			t.Fatalf("%s decoded %d of %d records", script, len(out), len(records))
		}
		for i, line := range out {
			var got map[string]any
			if err := json.Unmarshal([]byte(line), &got); err != nil {
				t.Fatalf("%s: record %d: %v: %s", script, i, err, line)
			}
			c := records[i]
			for field, v := range map[string]string{"postback_id": c.PostbackID, "type": c.Type, "event_id": c.EventID, "device_id": c.DeviceID, "app_id": c.AppID} {
				if got[field] != v {
					t.Errorf("%s: record %d: %s %v, wrote %q", script, i, field, got[field], v)
				}
			}
		}
	}
}
