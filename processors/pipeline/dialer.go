package pipeline

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl"
	"github.com/segmentio/kafka-go/sasl/plain"
	"github.com/segmentio/kafka-go/sasl/scram"

	"github.com/postbackd/postbackd/processors/platform/config"
)

// Dialer builds the Kafka dialer for the cluster's TLS and SASL settings,
// as managed Kafka services need; nil when neither is configured.
func Dialer(k config.Kafka) (*kafka.Dialer, error) {
	if !k.TLS.Enabled && k.SASL.Mechanism == "" {
		return nil, nil
	}
	d := &kafka.Dialer{Timeout: 10 * time.Second, DualStack: true, ClientID: k.ClientID}
	if k.TLS.Enabled {
		tc, err := tlsConfig(k.TLS)
		if err != nil {
			return nil, err
		}
		d.TLS = tc
	}
	if k.SASL.Mechanism != "" {
		m, err := saslMechanism(k.SASL)
		if err != nil {
			return nil, err
		}
		d.SASLMechanism = m
	}
	return d, nil
}

func tlsConfig(c config.TLS) (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: c.InsecureSkipVerify} //nolint:gosec // opt-in, documented
	if c.CAFile != "" {
		pem, err := os.ReadFile(c.CAFile)
		if err != nil {
			return nil, fmt.Errorf("kafka.tls.ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("kafka.tls.ca_file: no certificate in %s", c.CAFile)
		}
		tc.RootCAs = pool
	}
	if c.CertFile != "" || c.KeyFile != "" {
		cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("kafka.tls.cert_file/key_file: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

func saslMechanism(c config.SASL) (sasl.Mechanism, error) {
	password, err := config.Secret(c.PasswordEnv, c.PasswordFile)
	if err != nil {
		return nil, fmt.Errorf("kafka.sasl: %w", err)
	}
	switch strings.ToUpper(c.Mechanism) {
	case "PLAIN":
		return plain.Mechanism{Username: c.Username, Password: password}, nil
	case "SCRAM-SHA-256":
		return scram.Mechanism(scram.SHA256, c.Username, password)
	case "SCRAM-SHA-512":
		return scram.Mechanism(scram.SHA512, c.Username, password)
	}
	return nil, fmt.Errorf("kafka.sasl.mechanism: unsupported %q", c.Mechanism)
}
