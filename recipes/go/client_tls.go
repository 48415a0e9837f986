package main

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"mtls-reference/recipes/go/internal/creds"
)

// clientFor returns an HTTP client bound to one credential set. A new set
// (new certificate or new root.crt) gets a new transport, and the old one's
// idle connections are closed, so the next handshake presents the new
// certificate and verifies against the new roots.
func (c *caller) clientFor(cr *creds.Credentials) *http.Client {
	if cr == c.inUse {
		return c.client
	}
	if c.transport != nil {
		c.transport.CloseIdleConnections()
	}
	c.inUse = cr
	c.transport = &http.Transport{
		Proxy:       nil, // never an environment proxy: the mesh is direct
		DialContext: (&net.Dialer{Timeout: 2 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig: &tls.Config{
			MinVersion:   tls.VersionTLS12,
			CipherSuites: tls12Suites,
			RootCAs:      cr.Roots, // the pinned private root(s) only, never the system store
			ServerName:   c.host,   // hostname verification against the SAN DNS
			GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
				return &cr.Certificate, nil
			},
			VerifyConnection: c.verifyServer,
		},
		TLSHandshakeTimeout:    2 * time.Second,
		ResponseHeaderTimeout:  2 * time.Second,
		IdleConnTimeout:        30 * time.Second,
		MaxIdleConnsPerHost:    1,
		MaxResponseHeaderBytes: 16 << 10,
		DisableCompression:     true,
	}
	c.client = &http.Client{
		Transport: c.transport,
		// A redirect would leave the verified peer: refuse to follow.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return c.client
}

// verifyServer runs after the chain and hostname checks: the server's leaf
// must carry EXPECTED_SERVER_IDENTITY as a SAN URI.
func (c *caller) verifyServer(cs tls.ConnectionState) error {
	if len(cs.PeerCertificates) == 0 {
		return errors.New("the server sent no certificate")
	}
	leaf := cs.PeerCertificates[0]
	var got []string
	for _, u := range leaf.URIs {
		if u.String() == c.expected {
			serial := creds.SerialOf(leaf)
			if prev, _ := c.serverSerial.Swap(serial).(string); prev != serial {
				c.log.Info("server certificate", "identity", c.expected, "serial", serial, "notAfter", creds.Timestamp(leaf.NotAfter))
			}
			return nil
		}
		got = append(got, u.String())
	}
	return fmt.Errorf("server identity %v is not the expected %s", got, c.expected)
}
