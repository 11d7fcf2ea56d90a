package poller

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"sync"
	"time"
)

// Idle connection pool of NewTransport.
const (
	defaultIdlePerHost = 8
	defaultIdleTotal   = 64
)

// NewTransport returns the transport of the default client: connections are
// kept alive between polls of the same host, every network phase has its own
// bound, and no proxy is taken from the environment, because a sidecar
// polling an API next to it must not be silently routed elsewhere by an
// HTTP_PROXY meant for other programs.
func NewTransport() *http.Transport { return NewTransportFor(0, 0) }

// NewTransportFor is NewTransport with its idle connection pool sized for
// the jobs: perHost is the most polls that may run at once against one
// host, total the most that may run at once in all. A pool smaller than
// that closes a connection after each burst of polls and opens it again at
// the next, which costs a small source a TCP (and TLS) handshake per poll.
// Zero or less keeps NewTransport's size (8 and 64).
func NewTransportFor(perHost, total int) *http.Transport {
	if perHost <= 0 {
		perHost = defaultIdlePerHost
	}
	if total <= 0 {
		total = max(defaultIdleTotal, perHost)
	}
	dialer := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	return &http.Transport{
		Proxy:               nil,
		DialContext:         dialer.DialContext,
		ForceAttemptHTTP2:   true,
		MaxIdleConns:        max(total, perHost),
		MaxIdleConnsPerHost: perHost,
		IdleConnTimeout:     90 * time.Second,
		TLSHandshakeTimeout: 10 * time.Second,
		// The poller asks for gzip and deflate and decodes them itself
		// (see readBody); the transport must not add its own gzip.
		DisableCompression:     true,
		ExpectContinueTimeout:  time.Second,
		MaxResponseHeaderBytes: 1 << 20,
	}
}

// clientFor returns the client for the TLS setting t: the Poller's own for
// nil, else a client whose transport is a clone of the Poller's with t
// applied. One is built per distinct setting and kept, so that polls with
// the same setting share its kept-alive connections. A setting whose files
// cannot be read is not kept: the next poll tries again.
func (p *Poller) clientFor(t *TLS) (*http.Client, error) {
	if t == nil {
		return p.client, nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if c, ok := p.tlsClients[*t]; ok {
		return c, nil
	}
	if p.base == nil {
		return nil, errors.New("tls: the poller's client has no *http.Transport to apply the tls settings to")
	}
	cfg, err := t.config()
	if err != nil {
		return nil, err
	}
	tr := p.base.Clone()
	tr.TLSClientConfig = cfg
	c := *p.client
	c.Transport = tr
	p.tlsClients[*t] = &c
	return &c, nil
}

// config builds the tls.Config of t. Errors name the file, never quote
// its contents: a key file read by mistake as a CA must not end up in a
// log.
func (t TLS) config() (*tls.Config, error) {
	cfg := &tls.Config{InsecureSkipVerify: t.InsecureSkipVerify}
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("tls: ca_file: %w", err)
		}
		// The CA replaces the system roots: a private CA is the only one
		// a source behind it should be trusted by.
		cfg.RootCAs = x509.NewCertPool()
		if !cfg.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("tls: ca_file %s holds no PEM certificate", t.CAFile)
		}
	}
	switch {
	case t.CertFile == "" && t.KeyFile == "":
		return cfg, nil
	case t.CertFile == "" || t.KeyFile == "":
		return nil, errors.New("tls: cert_file and key_file go together")
	}
	c := &clientCert{certFile: t.CertFile, keyFile: t.KeyFile}
	if err := c.load(); err != nil {
		return nil, err
	}
	cfg.GetClientCertificate = c.get
	return cfg, nil
}

// clientCert is a client certificate read from its files, and read again
// when they change, so that a certificate renewed on disk (cert-manager
// and the like rotate them every few weeks) is used without a restart.
type clientCert struct {
	certFile, keyFile string

	mu    sync.Mutex
	cert  *tls.Certificate
	stamp [2]fileStamp // of certFile and keyFile when cert was read
}

// fileStamp tells a file's versions apart.
type fileStamp struct {
	mod  time.Time
	size int64
}

// stamps returns the stamps of the certificate's files.
func (c *clientCert) stamps() ([2]fileStamp, error) {
	var out [2]fileStamp
	for i, name := range []string{c.certFile, c.keyFile} {
		fi, err := os.Stat(name)
		if err != nil {
			return out, err
		}
		out[i] = fileStamp{fi.ModTime(), fi.Size()}
	}
	return out, nil
}

// load reads the certificate and its key.
func (c *clientCert) load() error {
	stamp, err := c.stamps()
	if err != nil {
		return fmt.Errorf("tls: %w", err)
	}
	certPEM, err := os.ReadFile(c.certFile)
	if err != nil {
		return fmt.Errorf("tls: cert_file: %w", err)
	}
	keyPEM, err := os.ReadFile(c.keyFile)
	if err != nil {
		return fmt.Errorf("tls: key_file: %w", err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return fmt.Errorf("tls: cert_file %s with key_file %s: %w", c.certFile, c.keyFile, err)
	}
	c.cert, c.stamp = &cert, stamp
	return nil
}

// get is the tls.Config's GetClientCertificate. When the files changed
// and cannot be read (a renewal caught between writing the certificate
// and its key), the certificate read before is sent: the next handshake
// reads them again.
func (c *clientCert) get(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if stamp, err := c.stamps(); err == nil && stamp != c.stamp {
		_ = c.load() // on failure the certificate read before stays
	}
	return c.cert, nil
}
