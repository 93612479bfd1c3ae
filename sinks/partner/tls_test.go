package partner

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/postbackd/postbackd/state"
)

// testPKI is a CA with a server certificate for 127.0.0.1 and a client
// certificate, written as PEM files.
type testPKI struct {
	caFile, certFile, keyFile string
	pool                      *x509.CertPool
	server                    tls.Certificate
}

func newTestPKI(t *testing.T) testPKI {
	t.Helper()
	dir := t.TempDir()
	key := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	caKey := key()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	issue := func(cn string, usage x509.ExtKeyUsage, ip net.IP) ([]byte, *ecdsa.PrivateKey) {
		k := key()
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage}}
		if ip != nil {
			tmpl.IPAddresses = []net.IP{ip}
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &k.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		return der, k
	}
	write := func(name, typ string, der []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	keyDER := func(k *ecdsa.PrivateKey) []byte {
		b, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	srvDER, srvKey := issue("127.0.0.1", x509.ExtKeyUsageServerAuth, net.ParseIP("127.0.0.1"))
	cliDER, cliKey := issue("postbackd-test-client", x509.ExtKeyUsageClientAuth, nil)
	pki := testPKI{
		caFile: write("ca.pem", "CERTIFICATE", caDER), certFile: write("client.pem", "CERTIFICATE", cliDER),
		keyFile: write("client-key.pem", "PRIVATE KEY", keyDER(cliKey)), pool: x509.NewCertPool(),
	}
	pki.pool.AddCert(ca)
	pki.server = tls.Certificate{Certificate: [][]byte{srvDER}, PrivateKey: srvKey}
	return pki
}

// TestMutualTLS: a partner whose server requires a client certificate
// gets the postback from a partner configured with one (and its CA), and
// none from a partner configured without.
func TestMutualTLS(t *testing.T) {
	pki := newTestPKI(t)
	var mu sync.Mutex
	var clients []string
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		clients = append(clients, r.TLS.PeerCertificates[0].Subject.CommonName)
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshakes are the point
	srv.TLS = &tls.Config{ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pki.pool, Certificates: []tls.Certificate{pki.server}}
	srv.StartTLS()
	defer srv.Close()

	with := testConfig(PartnerConfig{ID: "p", Auth: AuthConfig{CertFile: pki.certFile, KeyFile: pki.keyFile, CAFile: pki.caFile},
		Rules: []RuleConfig{getRule(srv.URL+"/pb?id={postback_id}", "install")}})
	s, pub := newTestSink(t, with)
	run(t, s, pub, state.NewMemory(), jobs(record("e1", "install", "p")))
	if dead := pub.deadLetters(); len(dead) != 0 {
		t.Fatalf("with the client certificate: deadletters %+v", dead)
	}

	without := testConfig(PartnerConfig{ID: "p", Auth: AuthConfig{CAFile: pki.caFile},
		Rules: []RuleConfig{getRule(srv.URL+"/pb?id={postback_id}", "install")}})
	s2, pub2 := newTestSink(t, without)
	run(t, s2, pub2, state.NewMemory(), jobs(record("e2", "install", "p")))
	if dead := pub2.deadLetters(); len(dead) != 1 {
		t.Errorf("without a client certificate: deadletters %+v, want the postback", dead)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(clients) != 1 || clients[0] != "postbackd-test-client" {
		t.Fatalf("the server saw clients %q, want one call from postbackd-test-client", clients)
	}
}

// TestClientCertificateChecked: a missing key file is a problem at the
// partner's auth.cert_file, naming the files and not their content.
func TestClientCertificateChecked(t *testing.T) {
	pki := newTestPKI(t)
	cfg := testConfig(PartnerConfig{ID: "p", Auth: AuthConfig{CertFile: pki.certFile, KeyFile: pki.keyFile + ".missing"},
		Rules: []RuleConfig{getRule("https://example.com/pb", "install")}})
	errs := readSecrets("c.yaml", nil, &cfg)
	if len(errs) != 1 || !strings.Contains(errs[0].Error(), "sink.partners[0].auth.cert_file") || strings.Contains(errs[0].Error(), "BEGIN") {
		t.Fatalf("readSecrets = %v", errs)
	}
	cfg.Partners[0].Auth.KeyFile = ""
	cfg.setDefaults()
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "auth.key_file") {
		t.Errorf("Validate: %v, want a problem at auth.key_file", err)
	}
}
