package billing

import (
	"testing"
	"time"

	"tollgate/radius"
)

func TestMayNotify(t *testing.T) {
	all := NotifyState{Consents: Consents{RemindersEmail: true, RemindersSMS: true, Marketing: true}}
	none := NotifyState{}
	emailOnly := NotifyState{Consents: Consents{RemindersEmail: true}}
	restricted := all
	restricted.Restricted = true
	for _, tc := range []struct {
		name string
		kind EventKind
		ch   Channel
		st   NotifyState
		want bool
	}{
		{"reset link without any consent", EventPasswordReset, ChannelEmail, none, true},
		{"invite while restricted", EventPortalInvite, ChannelEmail, restricted, true},
		{"reset link by SMS", EventPasswordReset, ChannelSMS, none, true},
		{"requested on an unknown channel", EventPasswordReset, Channel("fax"), all, false},
		{"notice with the channel's consent", EventIsolated, ChannelEmail, emailOnly, true},
		{"notice without the channel's consent", EventIsolated, ChannelSMS, emailOnly, false},
		{"notice while restricted", EventRenewed, ChannelSMS, restricted, true},
		{"policy change while restricted", EventPolicyPublished, ChannelEmail, restricted, true},
		{"policy change without email consent", EventPolicyPublished, ChannelEmail, none, false},
		{"payment received", EventPaymentReceived, ChannelEmail, emailOnly, true},
		{"reminder with consent", EventReminder, ChannelEmail, emailOnly, true},
		{"reminder without consent", EventReminder, ChannelSMS, emailOnly, false},
		{"reminder while restricted", EventReminder, ChannelEmail, restricted, false},
		{"unknown kind is optional", EventKind("something_new"), ChannelEmail, emailOnly, true},
		{"unknown kind while restricted", EventKind("something_new"), ChannelEmail, restricted, false},
		{"marketing with every consent", EventKind("marketing.offer"), ChannelEmail, all, true},
		{"marketing.offer with every consent", EventKind("marketing.offer"), ChannelSMS, all, true},
		{"marketing without its consent", EventKind("marketing.offer"), ChannelEmail, emailOnly, false},
		{"marketing without the channel", EventKind("marketing.offer"), ChannelSMS, NotifyState{Consents: Consents{RemindersEmail: true, Marketing: true}}, false},
		{"marketing while restricted", EventKind("marketing.offer"), ChannelEmail, restricted, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := MayNotify(tc.kind, tc.ch, tc.st); got != tc.want {
				t.Fatalf("MayNotify(%s, %s, %+v) = %v; want %v", tc.kind, tc.ch, tc.st, got, tc.want)
			}
		})
	}
}

func TestCheckStaffRead(t *testing.T) {
	for _, tc := range []struct {
		name       string
		restricted bool
		reason     string
		want       string
		code       string
	}{
		{"open, no reason", false, "", "", ""},
		{"open, a reason kept", false, " ticket 42 ", "ticket 42", ""},
		{"restricted, no reason", true, "  ", "", radius.EINVALID},
		{"restricted, a reason", true, "billing dispute #7", "billing dispute #7", ""},
		{"a reason too long", false, string(make([]byte, MaxReasonLen+1)), "", radius.EINVALID},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := CheckStaffRead(&Profile{Username: "u", Restricted: tc.restricted}, tc.reason)
			if radius.ErrorCode(err) != tc.code && !(tc.code == "" && err == nil) || got != tc.want {
				t.Fatalf("= %q, %v; want %q, %s", got, err, tc.want, tc.code)
			}
		})
	}
}

func TestMasks(t *testing.T) {
	for in, want := range map[string]string{"jane@example.com": "j***@example.com", "": "", "x": ""} {
		if got := MaskEmail(in); got != want {
			t.Errorf("MaskEmail(%q) = %q", in, got)
		}
	}
	for in, want := range map[string]string{"+254712345678": "+•••••••••678", "": "", "+12": ""} {
		if got := MaskPhone(in); got != want {
			t.Errorf("MaskPhone(%q) = %q", in, got)
		}
	}
}

func TestCheckPolicyVersion(t *testing.T) {
	loc := time.FixedZone("EAT", 3*3600)
	now := time.Date(2026, 12, 2, 22, 30, 0, 0, loc)
	day := func(s string) time.Time { d, _ := ParsePolicyDate(s, loc); return d }
	for _, tc := range []struct {
		name      string
		effective string
		minor     bool
		ok        bool
	}{
		{"material 30 days ahead", "2027-01-01", false, true},
		{"material 29 days ahead", "2026-12-31", false, false},
		{"material today", "2026-12-02", false, false},
		{"minor today", "2026-12-02", true, true},
		{"minor tomorrow", "2026-12-03", true, true},
		{"minor yesterday", "2026-12-01", true, false},
		{"material in the past", "2025-01-01", false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckPolicyVersion(now, day(tc.effective), tc.minor, loc)
			if (err == nil) != tc.ok {
				t.Fatalf("= %v; want ok=%v", err, tc.ok)
			}
			if err != nil && (radius.ErrorCode(err) != radius.EINVALID || radius.ErrorMessage(err)[:9] != "effective") {
				t.Fatalf("error %v does not name effective", err)
			}
		})
	}
	if _, err := ParsePolicyDate("1 Jan 2027", loc); radius.ErrorCode(err) != radius.EINVALID {
		t.Fatalf("ParsePolicyDate of a bad date = %v", err)
	}
}

func TestRequiredPolicy(t *testing.T) {
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	past, future := now.AddDate(0, 0, -10), now.AddDate(0, 0, 10)
	v := func(n int, at time.Time, minor bool) PolicyVersion {
		return PolicyVersion{Version: n, EffectiveAt: at, Minor: minor}
	}
	for _, tc := range []struct {
		name     string
		versions []PolicyVersion
		accepted int
		want     int // 0: nothing to accept
	}{
		{"none published", nil, 0, 0},
		{"only a future one", []PolicyVersion{v(1, future, false)}, 0, 0},
		{"first, minor, in effect", []PolicyVersion{v(1, past, true)}, 0, 1},
		{"first accepted", []PolicyVersion{v(1, past, true)}, 1, 0},
		{"a minor change keeps the acceptance", []PolicyVersion{v(1, past, false), v(2, now, true)}, 1, 0},
		{"a material change asks again", []PolicyVersion{v(1, past, false), v(2, now, false)}, 1, 2},
		{"a material change not in effect yet", []PolicyVersion{v(1, past, false), v(2, future, false)}, 1, 0},
		{"accepting early is enough", []PolicyVersion{v(1, past, false), v(2, future, false)}, 2, 0},
		{"material then minor: the material one", []PolicyVersion{v(1, past, false), v(2, past, false), v(3, now, true)}, 1, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := PolicyToAccept(tc.versions, tc.accepted, now)
			if (got == nil) != (tc.want == 0) || got != nil && got.Version != tc.want {
				t.Fatalf("= %+v; want version %d", got, tc.want)
			}
		})
	}
	cur := CurrentPolicy([]PolicyVersion{v(1, past, false), v(2, now, true), v(3, future, false)}, now)
	if cur == nil || cur.Version != 2 {
		t.Fatalf("CurrentPolicy = %+v", cur)
	}
}

func TestRetentionCutoff(t *testing.T) {
	utc := time.UTC
	for _, tc := range []struct {
		now    time.Time
		months int
		want   time.Time
	}{
		{time.Date(2026, 12, 2, 10, 0, 0, 0, utc), 12, time.Date(2025, 12, 1, 0, 0, 0, 0, utc)},
		{time.Date(2026, 1, 31, 23, 0, 0, 0, utc), 12, time.Date(2025, 1, 1, 0, 0, 0, 0, utc)},
		{time.Date(2026, 3, 1, 0, 0, 0, 0, utc), 1, time.Date(2026, 2, 1, 0, 0, 0, 0, utc)},
		{time.Date(2026, 3, 15, 0, 0, 0, 0, utc), 26, time.Date(2024, 1, 1, 0, 0, 0, 0, utc)},
	} {
		if got := RetentionCutoff(tc.now, tc.months, utc); !got.Equal(tc.want) {
			t.Errorf("RetentionCutoff(%s, %d) = %s; want %s", tc.now, tc.months, got, tc.want)
		}
	}
	cut := time.Date(2025, 12, 1, 0, 0, 0, 0, utc)
	for _, tc := range []struct {
		to   time.Time
		want bool
	}{
		{time.Date(2025, 12, 1, 0, 0, 0, 0, utc), true},  // November 2025: the whole month is before the cutoff
		{time.Date(2026, 1, 1, 0, 0, 0, 0, utc), false},  // December 2025 is kept
		{time.Date(2025, 11, 30, 0, 0, 0, 0, utc), true}, // older
		{time.Time{}, false},                             // no bound: the default partition
	} {
		if got := PartitionExpired(tc.to, cut); got != tc.want {
			t.Errorf("PartitionExpired(%s) = %v", tc.to, got)
		}
	}
}
