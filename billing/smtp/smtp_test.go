package smtp_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"io"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"strings"
	"testing"
	"time"

	"tollgate/billing"
	"tollgate/billing/billingtest"
	"tollgate/billing/smtp"
	"tollgate/radius"
)

func TestParseURL(t *testing.T) {
	cases := []struct {
		in   string
		want smtp.Server
		ok   bool
	}{
		{"smtp://mail.example.net", smtp.Server{Host: "mail.example.net", Port: 587}, true},
		{"smtp://u:p@mail.example.net:2525", smtp.Server{Host: "mail.example.net", Port: 2525, Username: "u", Password: "p"}, true},
		{"smtps://billing%40example.net:s%3Acret@mail.example.net", smtp.Server{Host: "mail.example.net", Port: 465, ImplicitTLS: true, Username: "billing@example.net", Password: "s:cret"}, true},
		{"smtp://[::1]:25", smtp.Server{Host: "::1", Port: 25}, true},
		{"http://mail.example.net", smtp.Server{}, false},
		{"smtp://", smtp.Server{}, false},
		{"smtp://mail.example.net:0", smtp.Server{}, false},
		{"smtp://mail.example.net:99999", smtp.Server{}, false},
		{"smtp://mail.example.net/path", smtp.Server{}, false},
		{"smtp://mail.example.net?tls=no", smtp.Server{}, false},
		{"mail.example.net:587", smtp.Server{}, false},
	}
	for _, tc := range cases {
		t.Run(tc.in, func(t *testing.T) {
			got, err := smtp.ParseURL(tc.in)
			if tc.ok != (err == nil) || got != tc.want {
				t.Fatalf("ParseURL = %+v, %v; want %+v (ok %v)", got, err, tc.want, tc.ok)
			}
			if err != nil && radius.ErrorCode(err) != radius.EINVALID {
				t.Fatalf("error code %q, want EINVALID", radius.ErrorCode(err))
			}
		})
	}
	if s, _ := smtp.ParseURL("smtp://u:secret@mail.example.net"); strings.Contains(s.String(), "secret") || s.String() != "smtp://mail.example.net:587" {
		t.Fatalf("String() = %q", s.String())
	}
}

// mustSender returns a Sender for srv with the given credentials.
func mustSender(t *testing.T, srv *billingtest.SMTPServer, scheme, userinfo string, tc *tls.Config) *smtp.Sender {
	t.Helper()
	u := scheme + "://" + userinfo + srv.Addr()
	server, err := smtp.ParseURL(u)
	if err != nil {
		t.Fatal(err)
	}
	from, err := smtp.ParseFrom("Example ISP <billing@example.net>")
	if err != nil {
		t.Fatal(err)
	}
	s, err := smtp.New(smtp.Config{Server: server, From: from, Timeout: 5 * time.Second, TLS: tc})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

var note = &billing.Notification{
	ID: 42, Kind: billing.EventRenewed, Channel: billing.ChannelEmail, Recipient: "alice@example.org",
	Subject: "Your Home subscription is renewed – merci", Body: "Hello Alice,\n\nWe renewed your subscription for USD 20.00.\n\nExample ISP\n",
}

// checkMail parses a received message and checks its envelope, headers and body.
func checkMail(t *testing.T, m billingtest.Mail, messageID string) {
	t.Helper()
	if m.From != "billing@example.net" || len(m.To) != 1 || m.To[0] != "alice@example.org" {
		t.Fatalf("envelope from %q to %q", m.From, m.To)
	}
	msg, err := mail.ReadMessage(bytes.NewReader(m.Data))
	if err != nil {
		t.Fatalf("%v:\n%s", err, m.Data)
	}
	var dec mime.WordDecoder
	subject, err := dec.DecodeHeader(msg.Header.Get("Subject"))
	if err != nil || subject != note.Subject {
		t.Errorf("Subject = %q (%v), want %q", subject, err, note.Subject)
	}
	from, err := msg.Header.AddressList("From")
	if err != nil || len(from) != 1 || from[0].Name != "Example ISP" || from[0].Address != "billing@example.net" {
		t.Errorf("From = %v, %v", from, err)
	}
	to, err := msg.Header.AddressList("To")
	if err != nil || len(to) != 1 || to[0].Address != "alice@example.org" {
		t.Errorf("To = %v, %v", to, err)
	}
	if got := msg.Header.Get("Message-Id"); got != messageID || got != "<tollgate-notification-42@example.net>" {
		t.Errorf("Message-ID = %q, returned %q", got, messageID)
	}
	if _, err := msg.Header.Date(); err != nil {
		t.Errorf("Date: %v", err)
	}
	if msg.Header.Get("Auto-Submitted") != "auto-generated" {
		t.Errorf("Auto-Submitted = %q", msg.Header.Get("Auto-Submitted"))
	}
	if ct := msg.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("Content-Type = %q", ct)
	}
	var body io.Reader = msg.Body
	if strings.EqualFold(msg.Header.Get("Content-Transfer-Encoding"), "quoted-printable") {
		body = quotedprintable.NewReader(msg.Body)
	}
	b, err := io.ReadAll(body)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.ReplaceAll(string(b), "\r\n", "\n"); got != note.Body {
		t.Errorf("body = %q, want %q", got, note.Body)
	}
}

// TestSendSTARTTLS: on smtp:// the sender upgrades with STARTTLS (verifying the test
// certificate), authenticates, and delivers the message with its headers and body.
func TestSendSTARTTLS(t *testing.T) {
	srv := billingtest.MustSMTP(t, billingtest.SMTPOptions{StartTLS: true, Username: "tollgate", Password: "s3cret"})
	s := mustSender(t, srv, "smtp", "tollgate:s3cret@", srv.ClientTLS)
	id, err := s.Send(context.Background(), note)
	if err != nil {
		t.Fatal(err)
	}
	m := srv.WaitMails(t, 1)[0]
	if !m.TLS || m.User != "tollgate" {
		t.Fatalf("session TLS %v user %q; want STARTTLS and AUTH", m.TLS, m.User)
	}
	checkMail(t, m, id)
}

// TestSendImplicitTLS: smtps:// speaks TLS from the first byte.
func TestSendImplicitTLS(t *testing.T) {
	srv := billingtest.MustSMTP(t, billingtest.SMTPOptions{ImplicitTLS: true, Username: "tollgate", Password: "s3cret"})
	s := mustSender(t, srv, "smtps", "tollgate:s3cret@", srv.ClientTLS)
	id, err := s.Send(context.Background(), note)
	if err != nil {
		t.Fatal(err)
	}
	m := srv.WaitMails(t, 1)[0]
	if !m.TLS || m.User != "tollgate" {
		t.Fatalf("session TLS %v user %q", m.TLS, m.User)
	}
	checkMail(t, m, id)
}

// TestSendOpportunistic: a relay that offers no STARTTLS (a local one) gets the mail in
// clear when no credentials are configured.
func TestSendOpportunistic(t *testing.T) {
	srv := billingtest.MustSMTP(t, billingtest.SMTPOptions{})
	s := mustSender(t, srv, "smtp", "", nil)
	id, err := s.Send(context.Background(), note)
	if err != nil {
		t.Fatal(err)
	}
	m := srv.WaitMails(t, 1)[0]
	if m.TLS {
		t.Fatal("TLS without STARTTLS offered?")
	}
	checkMail(t, m, id)
}

// TestSendRefusals: the password never goes over a clear connection, a certificate
// that does not verify stops the send, a temporary refusal is an error, and a server
// that never answers is given up after the timeout. None delivers anything.
func TestSendRefusals(t *testing.T) {
	ctx := context.Background()
	t.Run("credentials without TLS", func(t *testing.T) {
		// The server offers AUTH PLAIN in clear; the sender declines to use it.
		srv := billingtest.MustSMTP(t, billingtest.SMTPOptions{Username: "tollgate", Password: "s3cret", InsecureAuth: true})
		_, err := mustSender(t, srv, "smtp", "tollgate:s3cret@", nil).Send(ctx, note)
		if err == nil || strings.Contains(err.Error(), "s3cret") {
			t.Fatalf("err = %v; want a refusal that does not show the password", err)
		}
		if n := len(srv.Mails()); n != 0 {
			t.Fatalf("%d mails delivered", n)
		}
	})
	t.Run("untrusted certificate", func(t *testing.T) {
		srv := billingtest.MustSMTP(t, billingtest.SMTPOptions{StartTLS: true})
		_, other := billingtest.MustCert(t, "127.0.0.1")
		_, err := mustSender(t, srv, "smtp", "", &tls.Config{RootCAs: other}).Send(ctx, note)
		if err == nil || !strings.Contains(err.Error(), "certificate") {
			t.Fatalf("err = %v; want a certificate error", err)
		}
		if n := len(srv.Mails()); n != 0 {
			t.Fatalf("%d mails delivered", n)
		}
	})
	t.Run("temporary failure", func(t *testing.T) {
		srv := billingtest.MustSMTP(t, billingtest.SMTPOptions{StartTLS: true})
		srv.FailNext(1)
		s := mustSender(t, srv, "smtp", "", srv.ClientTLS)
		if _, err := s.Send(ctx, note); err == nil || !strings.Contains(err.Error(), "451") {
			t.Fatalf("err = %v; want the 451", err)
		}
		if _, err := s.Send(ctx, note); err != nil {
			t.Fatalf("second try: %v", err)
		}
		srv.WaitMails(t, 1)
	})
	t.Run("silent server", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		go func() {
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				defer c.Close() // accept, say nothing
			}
		}()
		server, _ := smtp.ParseURL("smtp://" + l.Addr().String())
		from, _ := smtp.ParseFrom("billing@example.net")
		s, err := smtp.New(smtp.Config{Server: server, From: from, Timeout: 300 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		if _, err := s.Send(ctx, note); err == nil {
			t.Fatal("a silent server accepted the mail")
		}
		if took := time.Since(start); took > 3*time.Second {
			t.Fatalf("gave up after %v, want about the 300ms timeout", took)
		}
	})
}
