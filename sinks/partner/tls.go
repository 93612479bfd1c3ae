package partner

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
)

// loadTLS builds a partner's TLS client settings from its auth section:
// its client certificate (mutual TLS) and the CA its server must chain to.
// nil when it sets neither: the system's roots, no certificate. Errors
// name the files, never their content.
func loadTLS(a AuthConfig) (*tls.Config, error) {
	if a.CertFile == "" && a.KeyFile == "" && a.CAFile == "" {
		return nil, nil
	}
	c := &tls.Config{MinVersion: tls.VersionTLS12}
	if a.CertFile != "" || a.KeyFile != "" {
		if a.CertFile == "" || a.KeyFile == "" {
			return nil, errors.New("a client certificate needs both cert_file and key_file")
		}
		cert, err := tls.LoadX509KeyPair(a.CertFile, a.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("client certificate %s with key %s: %v", a.CertFile, a.KeyFile, unwrapPath(err))
		}
		c.Certificates = []tls.Certificate{cert}
	}
	if a.CAFile != "" {
		pem, err := os.ReadFile(a.CAFile)
		if err != nil {
			return nil, fmt.Errorf("ca_file: %v", unwrapPath(err))
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("ca_file %s: no PEM certificate in it", a.CAFile)
		}
		c.RootCAs = pool
	}
	return c, nil
}
