// Package billingtest holds the real parts that billing's tests talk to: an SMTP
// server (emersion/go-smtp), an SMS gateway and a fake of Paystack's API
// (net/http/httptest), all in process on the loopback, recording what they receive.
// Import it from _test.go files only.
package billingtest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"math/big"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// Mail is one message the SMTP server accepted.
type Mail struct {
	From string
	To   []string
	Data []byte
	// TLS says whether the session was encrypted (STARTTLS or implicit TLS), User who
	// authenticated ("" for nobody).
	TLS  bool
	User string
}

// SMTPOptions configure MustSMTP.
type SMTPOptions struct {
	// StartTLS offers STARTTLS with a test certificate; ImplicitTLS speaks TLS from the
	// first byte (smtps).
	StartTLS    bool
	ImplicitTLS bool
	// Username and Password, when set, are required (AUTH PLAIN, offered only over TLS).
	Username string
	Password string
	// InsecureAuth offers AUTH on a connection in clear too (a careless server).
	InsecureAuth bool
}

// SMTPServer is an SMTP server in process, on 127.0.0.1.
type SMTPServer struct {
	Host string
	Port int
	// ClientTLS trusts the server's test certificate.
	ClientTLS *tls.Config

	opts     SMTPOptions
	mu       sync.Mutex
	mails    []Mail
	failNext int
	arrived  chan struct{}
}

// MustSMTP starts an SMTP server that the test's end stops.
func MustSMTP(tb testing.TB, opts SMTPOptions) *SMTPServer {
	tb.Helper()
	s := &SMTPServer{opts: opts, arrived: make(chan struct{}, 1000)}
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		_, isTLS := c.TLSConnectionState()
		return &session{s: s, tls: isTLS, conn: c}, nil
	}))
	srv.Domain = "mx.test"
	srv.AllowInsecureAuth = opts.InsecureAuth
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 10*time.Second
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	if opts.StartTLS || opts.ImplicitTLS {
		cert, pool := MustCert(tb, "127.0.0.1")
		s.ClientTLS = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
		cfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		if opts.ImplicitTLS {
			l = tls.NewListener(l, cfg)
		} else {
			srv.TLSConfig = cfg
		}
	}
	addr := l.Addr().(*net.TCPAddr)
	s.Host, s.Port = "127.0.0.1", addr.Port
	go func() { _ = srv.Serve(l) }()
	tb.Cleanup(func() { srv.Close() })
	return s
}

// Addr is host:port.
func (s *SMTPServer) Addr() string { return net.JoinHostPort(s.Host, strconv.Itoa(s.Port)) }

// FailNext makes the next n messages fail at DATA with a 451 (a temporary failure).
func (s *SMTPServer) FailNext(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failNext = n
}

// Mails returns the messages accepted so far.
func (s *SMTPServer) Mails() []Mail {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Mail(nil), s.mails...)
}

// WaitMails waits up to 10 seconds until n messages were accepted, and returns them.
func (s *SMTPServer) WaitMails(tb testing.TB, n int) []Mail {
	tb.Helper()
	deadline := time.After(10 * time.Second)
	for {
		if m := s.Mails(); len(m) >= n {
			return m
		}
		select {
		case <-s.arrived:
		case <-deadline:
			tb.Fatalf("billingtest: %d mails arrived, want %d", len(s.Mails()), n)
		}
	}
}

type session struct {
	s    *SMTPServer
	conn *smtp.Conn
	tls  bool
	user string
	mail Mail
}

func (x *session) AuthMechanisms() []string {
	if x.s.opts.Username == "" {
		return nil
	}
	return []string{sasl.Plain}
}

func (x *session) Auth(mech string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(identity, username, password string) error {
		if username != x.s.opts.Username || password != x.s.opts.Password {
			return smtp.ErrAuthFailed
		}
		x.user = username
		return nil
	}), nil
}

func (x *session) Mail(from string, _ *smtp.MailOptions) error {
	if x.s.opts.Username != "" && x.user == "" {
		return smtp.ErrAuthRequired
	}
	_, x.tls = x.conn.TLSConnectionState()
	x.mail = Mail{From: from, TLS: x.tls, User: x.user}
	return nil
}

func (x *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	x.mail.To = append(x.mail.To, to)
	return nil
}

func (x *session) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	x.s.mu.Lock()
	defer x.s.mu.Unlock()
	if x.s.failNext > 0 {
		x.s.failNext--
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try again later"}
	}
	x.mail.Data = b
	x.s.mails = append(x.s.mails, x.mail)
	select {
	case x.s.arrived <- struct{}{}:
	default:
	}
	return nil
}

func (x *session) Reset()        { x.mail = Mail{} }
func (x *session) Logout() error { return nil }

// MustCert makes a self-signed certificate for host (an IP address or a name), valid
// for an hour, and a pool that trusts it.
func MustCert(tb testing.TB, host string) (tls.Certificate, *x509.CertPool) {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	tpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: host},
		NotBefore:             time.Now().Add(-time.Minute),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	if ip := net.ParseIP(host); ip != nil {
		tpl.IPAddresses = []net.IP{ip}
	} else {
		tpl.DNSNames = []string{host}
	}
	der, err := x509.CreateCertificate(rand.Reader, tpl, tpl, &key.PublicKey, key)
	if err != nil {
		tb.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		tb.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}
