package poller

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// pki is a private CA with a server certificate for 127.0.0.1 and client
// certificates, written as PEM files to a test's temporary directory.
type pki struct {
	t      *testing.T
	dir    string
	ca     *x509.Certificate
	caKey  *ecdsa.PrivateKey
	caFile string
	server tls.Certificate
	serial int64
}

func newPKI(t *testing.T) *pki {
	t.Helper()
	p := &pki{t: t, dir: t.TempDir()}
	p.caKey = p.key()
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "pollhook test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &p.caKey.PublicKey, p.caKey)
	if err != nil {
		t.Fatal(err)
	}
	if p.ca, err = x509.ParseCertificate(der); err != nil {
		t.Fatal(err)
	}
	p.caFile = p.write("ca.pem", "CERTIFICATE", der)
	p.serial = 1
	certFile, keyFile := p.issue("server", "127.0.0.1", x509.ExtKeyUsageServerAuth)
	if p.server, err = tls.LoadX509KeyPair(certFile, keyFile); err != nil {
		t.Fatal(err)
	}
	return p
}

func (p *pki) key() *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		p.t.Fatal(err)
	}
	return k
}

func (p *pki) write(name, kind string, der []byte) string {
	path := filepath.Join(p.dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: der}), 0o600); err != nil {
		p.t.Fatal(err)
	}
	return path
}

// issue signs a certificate for cn (and ip, if set) and writes it and its
// key as cn.pem and cn-key.pem.
func (p *pki) issue(cn, ip string, usage x509.ExtKeyUsage) (certFile, keyFile string) {
	p.serial++
	key := p.key()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(p.serial),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{usage},
	}
	if ip != "" {
		tmpl.IPAddresses = []net.IP{net.ParseIP(ip)}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.ca, &key.PublicKey, p.caKey)
	if err != nil {
		p.t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		p.t.Fatal(err)
	}
	return p.write(cn+".pem", "CERTIFICATE", der), p.write(cn+"-key.pem", "PRIVATE KEY", keyDER)
}

// mtlsServer starts a source that requires a client certificate signed by
// the CA (or, without requireClient, none) and answers with the common
// name of the certificate it got. It counts TLS connections.
func (p *pki) mtlsServer(requireClient bool) (*httptest.Server, *atomic.Int32) {
	var conns atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cn := "anonymous"
		if certs := r.TLS.PeerCertificates; len(certs) > 0 {
			cn = certs[0].Subject.CommonName
		}
		io.WriteString(w, `"`+cn+`"`)
	}))
	pool := x509.NewCertPool()
	pool.AddCert(p.ca)
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{p.server}, ClientCAs: pool}
	if requireClient {
		srv.TLS.ClientAuth = tls.RequireAndVerifyClientCert
	}
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	// The server's own log of refused handshakes is noise here.
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	p.t.Cleanup(srv.Close)
	return srv, &conns
}

func TestPollTLS(t *testing.T) {
	p := newPKI(t)
	certFile, keyFile := p.issue("pollhook-client", "", x509.ExtKeyUsageClientAuth)
	mtls, _ := p.mtlsServer(true)
	open, _ := p.mtlsServer(false)
	tests := []struct {
		name    string
		srv     *httptest.Server
		tls     *TLS
		want    string // the body: the client certificate's name
		wantErr string // after "poll GET <server URL>: "
	}{
		{name: "mTLS", srv: mtls, tls: &TLS{CAFile: p.caFile, CertFile: certFile, KeyFile: keyFile}, want: `"pollhook-client"`},
		{name: "private CA", srv: open, tls: &TLS{CAFile: p.caFile}, want: `"anonymous"`},
		{name: "insecure skip verify", srv: open, tls: &TLS{InsecureSkipVerify: true}, want: `"anonymous"`},
		{name: "system roots", srv: open, wantErr: "tls: failed to verify certificate: x509: certificate signed by unknown authority"},
		{name: "no client certificate", srv: mtls, tls: &TLS{CAFile: p.caFile}, wantErr: "remote error: tls: certificate required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := New(nil).Poll(t.Context(), Request{URL: tt.srv.URL, TLS: tt.tls})
			if tt.wantErr != "" {
				perr, ok := errors.AsType[*Error](err)
				if want := "poll GET " + tt.srv.URL + ": " + tt.wantErr; !ok || perr.Error() != want || perr.Reason != ReasonTransport {
					t.Fatalf("Poll = %v, %v; want %q (transport)", resp, err, want)
				}
				return
			}
			if err != nil {
				t.Fatalf("Poll: %v", err)
			}
			if string(resp.Body) != tt.want {
				t.Errorf("Body = %s, want %s", resp.Body, tt.want)
			}
		})
	}
}

// TestPollTLSFiles: a file that cannot be used fails the poll with its
// name and never its contents.
func TestPollTLSFiles(t *testing.T) {
	p := newPKI(t)
	certFile, keyFile := p.issue("pollhook-client", "", x509.ExtKeyUsageClientAuth)
	_, otherKey := p.issue("other", "", x509.ExtKeyUsageClientAuth)
	missing := filepath.Join(p.dir, "missing.pem")
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		tls  TLS
		want string
	}{
		{name: "missing CA", tls: TLS{CAFile: missing}, want: "tls: ca_file: open " + missing + ": no such file or directory"},
		{name: "key as CA", tls: TLS{CAFile: keyFile}, want: "tls: ca_file " + keyFile + " holds no PEM certificate"},
		{name: "missing cert", tls: TLS{CertFile: missing, KeyFile: keyFile}, want: "tls: stat " + missing + ": no such file or directory"},
		{name: "cert without key", tls: TLS{CertFile: certFile}, want: "tls: cert_file and key_file go together"},
		{name: "key of another cert", tls: TLS{CertFile: certFile, KeyFile: otherKey}, want: "tls: cert_file " + certFile + " with key_file " + otherKey + ": tls: private key does not match public key"},
		{name: "key as cert", tls: TLS{CertFile: keyFile, KeyFile: keyFile}, want: "tls: cert_file " + keyFile + " with key_file " + keyFile + ": tls: failed to find certificate PEM data in certificate input, but did find a private key; PEM inputs may have been switched"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			perr := pollErr(t, New(nil), t.Context(), Request{URL: "https://127.0.0.1:1/x", TLS: &tt.tls})
			if want := "poll GET https://127.0.0.1:1/x: " + tt.want; perr.Error() != want || perr.Reason != ReasonTransport {
				t.Errorf("error\n%q (%s)\nwant\n%q (transport)", perr.Error(), perr.Reason, want)
			}
			body := strings.Split(string(keyPEM), "\n")[1]
			if strings.Contains(perr.Error(), body[:20]) {
				t.Errorf("error quotes the key file")
			}
		})
	}
}

// TestPollTLSTransportCache: polls with the same TLS setting share one
// transport and its connections; another setting gets its own; a
// certificate renewed on disk is sent from the next handshake on.
func TestPollTLSTransportCache(t *testing.T) {
	p := newPKI(t)
	certFile, keyFile := p.issue("pollhook-client", "", x509.ExtKeyUsageClientAuth)
	srv, conns := p.mtlsServer(true)
	pl := New(nil)
	setting := TLS{CAFile: p.caFile, CertFile: certFile, KeyFile: keyFile}
	poll := func(s TLS) string {
		t.Helper()
		resp, err := pl.Poll(t.Context(), Request{URL: srv.URL, TLS: &s})
		if err != nil {
			t.Fatalf("Poll: %v", err)
		}
		return string(resp.Body)
	}
	for range 3 {
		poll(setting)
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("3 polls with one setting opened %d connections, want 1", n)
	}
	skip := setting
	skip.InsecureSkipVerify = true
	poll(skip)
	if n, clients := conns.Load(), len(pl.tlsClients); n != 2 || clients != 2 {
		t.Errorf("another setting: %d connections and %d clients, want 2 and 2", n, clients)
	}

	// Renew the certificate in place, as cert-manager does.
	renewedCert, renewedKey := p.issue("pollhook-client-renewed", "", x509.ExtKeyUsageClientAuth)
	for _, f := range [][2]string{{renewedCert, certFile}, {renewedKey, keyFile}} {
		if err := os.Rename(f[0], f[1]); err != nil {
			t.Fatal(err)
		}
		// A renewal a second later, even where mtimes are coarse.
		later := time.Now().Add(time.Minute)
		if err := os.Chtimes(f[1], later, later); err != nil {
			t.Fatal(err)
		}
	}
	pl.tlsClients[setting].Transport.(*http.Transport).CloseIdleConnections()
	if got := poll(setting); got != `"pollhook-client-renewed"` {
		t.Errorf("after renewal the source saw %s, want the renewed certificate", got)
	}
}

// TestPollTLSForeignTransport: TLS settings need a transport the poller
// can clone.
func TestPollTLSForeignTransport(t *testing.T) {
	ct := &countingTransport{RoundTripper: NewTransport()}
	perr := pollErr(t, New(&http.Client{Transport: ct}), t.Context(), Request{URL: "https://127.0.0.1:1/", TLS: &TLS{InsecureSkipVerify: true}})
	want := "poll GET https://127.0.0.1:1/: tls: the poller's client has no *http.Transport to apply the tls settings to"
	if perr.Error() != want {
		t.Errorf("error %q, want %q", perr.Error(), want)
	}
}
