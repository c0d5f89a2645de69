package etcdstore

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/keyturn/keyturn/bastion/mpa"
	"github.com/keyturn/keyturn/bastion/store/etcdstore/etcdtest"
)

// writeCert issues a certificate for cn signed by ca (self-signed if ca
// is nil) and writes NAME.pem and NAME-key.pem to dir.
func writeCert(t *testing.T, dir, name, cn string, ca *x509.Certificate, caKey *ecdsa.PrivateKey, isCA bool, usage x509.ExtKeyUsage) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
	}
	if isCA {
		tmpl.IsCA, tmpl.BasicConstraintsValid = true, true
		tmpl.KeyUsage |= x509.KeyUsageCertSign
	} else {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{usage}
		tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
	}
	signer, signerKey := tmpl, key
	if ca != nil {
		signer, signerKey = ca, caKey
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, signer, &key.PublicKey, signerKey)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, name+".pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(filepath.Join(dir, name+"-key.pem"), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert, key
}

// With mutual TLS a gate with a certificate from the cluster's CA works;
// one without a client certificate, or with one from another CA, cannot
// open the store.
func TestMutualTLS(t *testing.T) {
	dir := t.TempDir()
	ca, caKey := writeCert(t, dir, "ca", "keyturn test CA", nil, nil, true, 0)
	writeCert(t, dir, "server", "etcd", ca, caKey, false, x509.ExtKeyUsageServerAuth)
	writeCert(t, dir, "gate", "gate-a", ca, caKey, false, x509.ExtKeyUsageClientAuth)
	other, otherKey := writeCert(t, dir, "other-ca", "another CA", nil, nil, true, 0)
	writeCert(t, dir, "stranger", "stranger", other, otherKey, false, x509.ExtKeyUsageClientAuth)
	p := func(name string) string { return filepath.Join(dir, name) }
	srv, err := etcdtest.StartTLS(etcdtest.TLS{CA: p("ca.pem"), Cert: p("server.pem"), Key: p("server-key.pem")})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	open := func(cert, key string) (*Store, error) {
		tc, err := TLSConfig(p("ca.pem"), cert, key)
		if err != nil {
			return nil, err
		}
		return Open(Options{Endpoints: srv.Endpoints, Prefix: "/tls/", TLS: tc, SecretKey: testKey(), DialTimeout: 3 * time.Second})
	}
	st, err := open(p("gate.pem"), p("gate-key.pem"))
	if err != nil {
		t.Fatalf("gate with a certificate from the CA: %v", err)
	}
	defer st.Close()
	err = st.Update(context.Background(), func(tx mpa.Tx) error { return tx.PutSettings(mpa.Settings{UpdatedBy: "gate-a"}) })
	if err != nil {
		t.Fatal(err)
	}
	if st, err := open(p("stranger.pem"), p("stranger-key.pem")); err == nil {
		st.Close()
		t.Fatal("a client certificate from another CA was accepted")
	}
	if st, err := open("", ""); err == nil {
		st.Close()
		t.Fatal("a client without a certificate was accepted")
	}
}
