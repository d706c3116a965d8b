// Package smtp sends billing's email notifications over SMTP with wneessen/go-mail: one
// connection per message, STARTTLS whenever the server offers it (smtp://) or TLS from
// the first byte (smtps://), and SMTP AUTH with the strongest mechanism the server offers
// (never PLAIN or LOGIN over a connection that is not encrypted).
package smtp

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/mail"
	"net/url"
	"strconv"
	"strings"
	"time"

	gomail "github.com/wneessen/go-mail"

	"tollgate/billing"
	"tollgate/radius"
)

// Server is where mail goes, parsed from TOLLGATE_SMTP_URL.
type Server struct {
	Host string
	Port int
	// ImplicitTLS is smtps://: TLS from the first byte. Otherwise STARTTLS is used when
	// the server offers it (opportunistic), and the mail goes in clear when it does not.
	ImplicitTLS bool
	Username    string
	Password    string
}

// String names the server without its credentials, for logs.
func (s Server) String() string {
	scheme := "smtp"
	if s.ImplicitTLS {
		scheme = "smtps"
	}
	return scheme + "://" + net.JoinHostPort(s.Host, strconv.Itoa(s.Port))
}

// ParseURL reads smtp://[user[:password]@]host[:port] (port 587 by default) or
// smtps://… (port 465 by default). The user and password are URL-escaped ("%40" for
// an "@" in a user name). EINVALID.
func ParseURL(raw string) (Server, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Opaque != "" {
		return Server{}, radius.Errorf(radius.EINVALID, "want smtp://user:password@host:587 or smtps://user:password@host:465")
	}
	var s Server
	switch u.Scheme {
	case "smtp":
		s.Port = 587
	case "smtps":
		s.Port, s.ImplicitTLS = 465, true
	default:
		return Server{}, radius.Errorf(radius.EINVALID, "scheme %q: want smtp:// (STARTTLS when offered) or smtps:// (implicit TLS)", u.Scheme)
	}
	if s.Host = u.Hostname(); s.Host == "" {
		return Server{}, radius.Errorf(radius.EINVALID, "no host: want smtp://user:password@host:587")
	}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return Server{}, radius.Errorf(radius.EINVALID, "port %q is not 1-65535", p)
		}
		s.Port = n
	}
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return Server{}, radius.Errorf(radius.EINVALID, "a path or query has no meaning here: want smtp://user:password@host:port")
	}
	if u.User != nil {
		s.Username = u.User.Username()
		s.Password, _ = u.User.Password()
	}
	return s, nil
}

// ParseFrom reads TOLLGATE_MAIL_FROM: an address, with a display name or not
// ("Example ISP <billing@example.net>"). EINVALID.
func ParseFrom(raw string) (*mail.Address, error) {
	a, err := mail.ParseAddress(raw)
	if err != nil {
		return nil, radius.Errorf(radius.EINVALID, "%q is not an email address (e.g. \"Example ISP <billing@example.net>\")", raw)
	}
	return a, nil
}

// Config is a Sender's configuration.
type Config struct {
	Server Server
	From   *mail.Address
	// Timeout bounds one message, from the dial to the server's answer; 0 means 10 s.
	Timeout time.Duration
	// TLS, when set, verifies the server's certificate (tests give their own CA);
	// nil means the system's roots. ServerName defaults to Server.Host.
	TLS *tls.Config
}

// Sender delivers email notifications; it is safe for concurrent use.
type Sender struct {
	cfg    Config
	domain string // of From, for Message-IDs
}

var _ billing.Sender = (*Sender)(nil)

// New returns a Sender for cfg; it connects to nothing until Send.
func New(cfg Config) (*Sender, error) {
	if cfg.Server.Host == "" || cfg.Server.Port == 0 {
		return nil, radius.Errorf(radius.EINVALID, "smtp: no server")
	}
	if cfg.From == nil {
		return nil, radius.Errorf(radius.EINVALID, "smtp: no From address")
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	_, domain, _ := strings.Cut(cfg.From.Address, "@")
	return &Sender{cfg: cfg, domain: domain}, nil
}

// String names the server, for the log line that says which channels are on.
func (s *Sender) String() string { return s.cfg.Server.String() }

// MessageID is the Message-ID of notification id, the same at every attempt: a copy
// sent again after a crash (see billing.Notifier.SendDue) is recognizably the same
// message.
func (s *Sender) MessageID(id int64) string {
	return fmt.Sprintf("tollgate-notification-%d@%s", id, s.domain)
}

// Send delivers n as a plain-text email and returns its Message-ID.
func (s *Sender) Send(ctx context.Context, n *billing.Notification) (string, error) {
	m := gomail.NewMsg(gomail.WithNoDefaultUserAgent())
	m.SetAddrHeaderFromMailAddress(gomail.HeaderFrom, s.cfg.From)
	if err := m.To(n.Recipient); err != nil {
		return "", fmt.Errorf("recipient %q: %w", n.Recipient, err)
	}
	m.Subject(n.Subject)
	m.SetMessageIDWithValue(s.MessageID(n.ID))
	m.SetDate()
	m.SetGenHeader(gomail.HeaderXMailer, "tollgate")
	// Automatic mail: no out-of-office replies to it.
	m.SetGenHeader("Auto-Submitted", "auto-generated")
	m.SetBodyString(gomail.TypeTextPlain, n.Body)

	c, err := s.client()
	if err != nil {
		return "", err
	}
	if err := c.DialAndSendWithContext(ctx, m); err != nil {
		return "", err
	}
	return "<" + s.MessageID(n.ID) + ">", nil
}

func (s *Sender) client() (*gomail.Client, error) {
	srv := s.cfg.Server
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if s.cfg.TLS != nil {
		tc = s.cfg.TLS.Clone()
	}
	if tc.ServerName == "" {
		tc.ServerName = srv.Host
	}
	opts := []gomail.Option{
		gomail.WithPort(srv.Port),
		gomail.WithTimeout(s.cfg.Timeout),
		gomail.WithTLSConfig(tc),
	}
	if srv.ImplicitTLS {
		opts = append(opts, gomail.WithSSL())
	} else {
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSOpportunistic))
	}
	if srv.Username != "" {
		// The strongest mechanism the server offers; PLAIN and LOGIN only once the
		// connection is encrypted.
		opts = append(opts, gomail.WithSMTPAuth(gomail.SMTPAuthAutoDiscover),
			gomail.WithUsername(srv.Username), gomail.WithPassword(srv.Password))
	}
	c, err := gomail.NewClient(srv.Host, opts...)
	if err != nil {
		return nil, fmt.Errorf("smtp client: %w", err)
	}
	return c, nil
}
