package pipeline

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/postbackd/postbackd/processors/platform/config"
)

func TestDialerForManagedKafka(t *testing.T) {
	if d, err := Dialer(config.Kafka{}); d != nil || err != nil {
		t.Fatalf("no TLS, no SASL: want no dialer, got %v, %v", d, err)
	}

	t.Setenv("KAFKA_PW", "s3cret")
	for _, mech := range []string{"PLAIN", "SCRAM-SHA-256", "scram-sha-512"} {
		d, err := Dialer(config.Kafka{ClientID: "pd", SASL: config.SASL{Mechanism: mech, Username: "u", PasswordEnv: "KAFKA_PW"}})
		if err != nil || d == nil || d.SASLMechanism == nil {
			t.Fatalf("%s: dialer %v, %v", mech, d, err)
		}
		if got := d.SASLMechanism.Name(); !strings.EqualFold(got, mech) {
			t.Errorf("mechanism %q, want %q", got, mech)
		}
	}

	pwFile := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pwFile, []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Dialer(config.Kafka{SASL: config.SASL{Mechanism: "PLAIN", Username: "u", PasswordFile: pwFile}}); err != nil {
		t.Fatalf("password file: %v", err)
	}
	if _, err := Dialer(config.Kafka{SASL: config.SASL{Mechanism: "PLAIN", Username: "u", PasswordEnv: "NOT_SET_ANYWHERE"}}); err == nil ||
		!strings.Contains(err.Error(), "NOT_SET_ANYWHERE") {
		t.Fatalf("unset password env: %v", err)
	}

	d, err := Dialer(config.Kafka{TLS: config.TLS{Enabled: true}})
	if err != nil || d.TLS == nil {
		t.Fatalf("TLS: %v, %v", d, err)
	}
	badCA := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(badCA, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Dialer(config.Kafka{TLS: config.TLS{Enabled: true, CAFile: badCA}}); err == nil || !strings.Contains(err.Error(), "kafka.tls.ca_file") {
		t.Fatalf("bad CA file: %v", err)
	}
}
