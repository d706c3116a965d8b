package billing

import (
	"slices"
	"strings"
	"testing"
	"time"

	"tollgate/radius"
)

// TestNotifyChannels is the consent rule: a channel gets a message only when it is on,
// the subscriber agreed to it and can be reached on it; marketing needs its own consent.
func TestNotifyChannels(t *testing.T) {
	full := Contact{Email: "a@example.net", Phone: "+15550001111", NotifyEmail: true, NotifySMS: true}
	both := Channels{Email: true, SMS: true}
	with := func(f func(c *Contact)) Contact { c := full; f(&c); return c }
	cases := []struct {
		name string
		kind EventKind
		c    Contact
		on   Channels
		want []Channel
	}{
		{"both consents, both channels", EventReminder, full, both, []Channel{ChannelEmail, ChannelSMS}},
		{"no email consent", EventRenewed, with(func(c *Contact) { c.NotifyEmail = false }), both, []Channel{ChannelSMS}},
		{"no sms consent", EventRenewed, with(func(c *Contact) { c.NotifySMS = false }), both, []Channel{ChannelEmail}},
		{"no consent at all", EventIsolated, with(func(c *Contact) { c.NotifyEmail, c.NotifySMS = false, false }), both, nil},
		{"no email address", EventGrace, with(func(c *Contact) { c.Email = "" }), both, []Channel{ChannelSMS}},
		{"no phone", EventGrace, with(func(c *Contact) { c.Phone = "" }), both, []Channel{ChannelEmail}},
		{"nothing to reach", EventRestored, Contact{NotifyEmail: true, NotifySMS: true}, both, nil},
		{"email channel off", EventPaymentReceived, full, Channels{SMS: true}, []Channel{ChannelSMS}},
		{"sms channel off", EventPaymentReceived, full, Channels{Email: true}, []Channel{ChannelEmail}},
		{"every channel off", EventReminder, full, Channels{}, nil},
		{"marketing without its consent", "marketing.offer", full, both, nil},
		{"marketing with its consent", "marketing.offer", with(func(c *Contact) { c.Marketing = true }), both, []Channel{ChannelEmail, ChannelSMS}},
		{"marketing consent, no sms consent", "marketing.offer", with(func(c *Contact) { c.Marketing, c.NotifySMS = true, false }), both, []Channel{ChannelEmail}},
		{"service message needs no marketing consent", EventReminder, with(func(c *Contact) { c.Marketing = false }), Channels{Email: true}, []Channel{ChannelEmail}},
		{"restricted: no reminder", EventReminder, with(func(c *Contact) { c.Restricted = true }), both, nil},
		{"restricted: no marketing", "marketing.offer", with(func(c *Contact) { c.Restricted, c.Marketing = true, true }), both, nil},
		{"restricted: account notices go on", EventIsolated, with(func(c *Contact) { c.Restricted = true }), both, []Channel{ChannelEmail, ChannelSMS}},
		{"a password link without consent", EventPasswordReset, with(func(c *Contact) { c.NotifyEmail, c.NotifySMS = false, false }), both, []Channel{ChannelEmail, ChannelSMS}},
		{"a password link needs an address", EventPortalInvite, with(func(c *Contact) { c.Email = "" }), Channels{Email: true}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := NotifyChannels(tc.kind, tc.c, tc.on); !slices.Equal(got, tc.want) {
				t.Fatalf("NotifyChannels = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestNextAttempt(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	cases := []struct {
		attempt int
		wait    time.Duration
		ok      bool
	}{
		{1, time.Minute, true},
		{2, 5 * time.Minute, true},
		{3, 30 * time.Minute, true},
		{4, 2 * time.Hour, true},
		{5, 0, false},
		{6, 0, false},
		{0, 0, false},
	}
	for _, tc := range cases {
		next, ok := NextAttempt(tc.attempt, now)
		if ok != tc.ok || (ok && next.Sub(now) != tc.wait) {
			t.Errorf("NextAttempt(%d) = %v, %v; want +%v, %v", tc.attempt, next, ok, tc.wait, tc.ok)
		}
	}
	if MaxAttempts != 5 {
		t.Errorf("MaxAttempts = %d, want 5", MaxAttempts)
	}
}

// eventData is the Data of each event kind, with the keys billing/event.go documents.
var eventData = map[EventKind]map[string]string{
	EventReminder:        {"days": "3", "due_date": "2026-03-31", "amount": "USD 20.00", "balance": "USD 5.00", "plan": "Home 10M"},
	EventRenewed:         {"plan": "Home 10M", "period_end": "2026-04-30", "amount": "USD 20.00", "invoice": "INV-2026-000042"},
	EventGrace:           {"until": "2026-04-03"},
	EventIsolated:        {"amount": "USD 20.00"},
	EventRestored:        {},
	EventPaymentReceived: {"amount": "USD 25.00", "balance": "USD 30.00", "receipt": "RCT-2026-000007", "provider": "paystack"},
	EventPortalInvite:    {"link": "https://wifi.example.com/account/password?token=" + strings.Repeat("x", 43), "expires": "Sat 5 Dec 2026 22:05 UTC"},
	EventPasswordReset:   {"link": "https://wifi.example.com/account/password?token=" + strings.Repeat("y", 43), "expires": "Wed 2 Dec 2026 23:05 UTC"},
	EventPolicyPublished: {"version": "2", "effective": "2027-01-01", "link": "https://wifi.example.com/privacy"},
	EventEmailConfirm:    {"link": "https://wifi.example.com/account/email?token=abc", "expires": "Thu 3 Dec 2026 10:00 UTC", "email": "new@example.net"},
	EventReviewDecided:   {"decision": "isolated for non-payment on 2026-12-01", "outcome": "changed", "note": "Paid in cash at the office."},
	EventErasureDone:     {"at": "Thu 3 Dec 2026 10:00 UTC"},
}

// TestTemplates renders every event kind on both channels: each has a template, every
// documented value appears, an email has a one-line subject and a greeting, an SMS
// fits one 160-character message, and nothing renders "<no value>" even without Data.
func TestTemplates(t *testing.T) {
	tpl, err := ParseTemplates()
	if err != nil {
		t.Fatal(err)
	}
	kinds := tpl.Kinds()
	slices.Sort(kinds)
	want := []EventKind{EventGrace, EventIsolated, EventPaymentReceived, EventReminder, EventRenewed, EventRestored,
		EventPortalInvite, EventPasswordReset, EventPolicyPublished, EventEmailConfirm, EventReviewDecided, EventErasureDone}
	slices.Sort(want)
	if !slices.Equal(kinds, want) {
		t.Fatalf("templates for %v, want %v", kinds, want)
	}
	for kind, data := range eventData {
		d := MessageData{Operator: "Example ISP", Name: "Alice Moyo", Username: "alice", Data: data}
		t.Run(string(kind), func(t *testing.T) {
			subject, body, err := tpl.Render(kind, ChannelEmail, d)
			if err != nil {
				t.Fatal(err)
			}
			if subject == "" || strings.ContainsAny(subject, "\r\n") || !strings.HasPrefix(body, "Hello Alice Moyo,\n\n") ||
				!strings.HasSuffix(body, "Example ISP\n") || strings.Contains(body, "\n\n\n") {
				t.Fatalf("email:\nSubject: %s\n\n%s", subject, body)
			}
			_, sms, err := tpl.Render(kind, ChannelSMS, d)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(sms, "Example ISP: ") || len(sms) > 160 || strings.Contains(sms, "\n") {
				t.Fatalf("sms (%d bytes): %q", len(sms), sms)
			}
			for k, v := range data {
				if !strings.Contains(subject+body, v) {
					t.Errorf("email does not show %s %q:\n%s\n%s", k, v, subject, body)
				}
			}
			for _, d := range []MessageData{d, {Operator: "Example ISP", Name: "bob"}} {
				for _, ch := range []Channel{ChannelEmail, ChannelSMS} {
					s, b, _ := tpl.Render(kind, ch, d)
					if strings.Contains(s+b, "<no value>") || strings.Contains(s+b, "  ") || strings.Contains(s+b, " .") || strings.Contains(s+b, " ,") {
						t.Errorf("%s %s renders %q %q", kind, ch, s, b)
					}
				}
			}
		})
	}
	// The reminder's wording follows the days left.
	d := MessageData{Operator: "Example ISP", Name: "a", Data: map[string]string{"days": "1", "plan": "Home"}}
	if s, _, _ := tpl.Render(EventReminder, ChannelEmail, d); s != "Your Home renewal is due tomorrow" {
		t.Errorf("1-day reminder subject = %q", s)
	}
	// No header through a subject: line breaks in Data fold into spaces.
	d.Data["plan"] = "Home\r\nBcc: victim@example.net"
	if s, _, _ := tpl.Render(EventReminder, ChannelEmail, d); strings.ContainsAny(s, "\r\n") {
		t.Errorf("subject with a line break: %q", s)
	}
	if _, _, err := tpl.Render("marketing.offer", ChannelEmail, d); radius.ErrorCode(err) != radius.ENOTFOUND {
		t.Errorf("Render of a kind without template: %v, want ENOTFOUND", err)
	}
}
