package server

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"layeh.com/radius"
	"layeh.com/radius/rfc2759"
	"layeh.com/radius/rfc2865"
	"layeh.com/radius/rfc2869"
	"layeh.com/radius/rfc3079"

	tg "tollgate/radius"
	"tollgate/radius/dict/microsoft"
	"tollgate/radius/dict/mikrotik"
	"tollgate/radius/radiustest"
)

const (
	vendorMicrosoft = 311
	msCHAPMPPEKeys  = 12
)

func TestPAPAccept(t *testing.T) {
	tests := []struct {
		name        string
		account     func(a *tg.Account)
		request     func(p *radius.Packet)
		timeout     uint32 // 0: no Session-Timeout expected
		pool        string
		framedIP    string
		dataLimit   uint64 // 0: no Mikrotik-Total-Limit expected
		proxyStates []string
	}{
		{
			name:        "validity gives Session-Timeout, pool",
			timeout:     7200,
			pool:        "pppoe-pool",
			proxyStates: []string{"ps-one", "ps-two"},
		},
		{
			name:     "static IP wins over pool",
			account:  func(a *tg.Account) { a.StaticIP = netip.MustParseAddr("10.9.8.7") },
			timeout:  7200,
			framedIP: "10.9.8.7",
		},
		{
			name:    "uptime limit shorter than validity",
			account: func(a *tg.Account) { a.UptimeLimit = 30 * time.Minute },
			timeout: 1800,
			pool:    "pppoe-pool",
		},
		{
			name: "validity shorter than uptime limit",
			account: func(a *tg.Account) {
				a.ValidUntil = testNow.Add(10*time.Minute + 500*time.Millisecond)
				a.UptimeLimit = time.Hour
			},
			timeout: 601, // rounded up
			pool:    "pppoe-pool",
		},
		{
			name:    "uptime limit only",
			account: func(a *tg.Account) { a.ValidUntil = time.Time{}; a.UptimeLimit = 45 * time.Minute },
			timeout: 2700,
			pool:    "pppoe-pool",
		},
		{
			name:    "no limits",
			account: func(a *tg.Account) { a.ValidUntil = time.Time{} },
			pool:    "pppoe-pool",
		},
		{
			name:      "data limit beyond 32 bits",
			account:   func(a *tg.Account) { a.DataLimit = 5<<32 | 7 },
			timeout:   7200,
			pool:      "pppoe-pool",
			dataLimit: 5<<32 | 7,
		},
		{
			name:    "valid from the past",
			account: func(a *tg.Account) { a.ValidFrom = testNow.Add(-time.Hour) },
			timeout: 7200,
			pool:    "pppoe-pool",
		},
		{
			name:    "hotspot plan, Login-User",
			account: func(a *tg.Account) { a.Kind = tg.KindHotspot },
			request: func(p *radius.Packet) {
				_ = rfc2865.ServiceType_Set(p, rfc2865.ServiceType_Value_LoginUser)
				rfc2865.FramedProtocol_Del(p)
			},
			timeout: 7200,
			pool:    "pppoe-pool",
		},
		{
			name:        "six Proxy-States: the first four are echoed",
			timeout:     7200,
			pool:        "pppoe-pool",
			proxyStates: []string{"p1", "p2", "p3", "p4", "p5", "p6"},
		},
		{
			name:    "password of 40 bytes",
			account: func(a *tg.Account) { a.Password = []byte(strings.Repeat("pw", 20)) },
			request: func(p *radius.Packet) {
				_ = rfc2865.UserPassword_SetString(p, strings.Repeat("pw", 20))
			},
			timeout: 7200,
			pool:    "pppoe-pool",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			acct := pppoeAccount()
			if tt.account != nil {
				tt.account(acct)
			}
			h := MustServer(t, Config{}, testNAS(true), newDirectory(acct).Fake())
			p := papRequest(t, "alice", "s3cret!")
			_ = rfc2865.CallingStationID_SetString(p, "11:22:33:44:55:66")
			if tt.request != nil {
				tt.request(p)
			}
			for _, ps := range tt.proxyStates {
				_ = rfc2865.ProxyState_AddString(p, ps)
			}
			req := MustEncode(t, p, true)
			reply := MustReply(t, MustExchange(t, h.conn, req), req)

			if reply.Code != radius.CodeAccessAccept {
				t.Fatalf("code = %v (%q), want Access-Accept", reply.Code, rfc2865.ReplyMessage_GetString(reply))
			}
			if got := mikrotik.MikrotikRateLimit_GetString(reply); got != "2M/4M 4M/8M 1M/2M 10/10 8" {
				t.Errorf("Mikrotik-Rate-Limit = %q", got)
			}
			if got := mikrotik.MikrotikAddressList_GetString(reply); got != "customers" {
				t.Errorf("Mikrotik-Address-List = %q", got)
			}
			if got := rfc2865.Class_GetString(reply); got != "tg:42" {
				t.Errorf("Class = %q, want tg:42", got)
			}
			if got, err := rfc2869.AcctInterimInterval_Lookup(reply); err != nil || got != 300 {
				t.Errorf("Acct-Interim-Interval = %d, %v; want 300", got, err)
			}
			st, err := rfc2865.SessionTimeout_Lookup(reply)
			switch {
			case tt.timeout == 0 && err == nil:
				t.Errorf("Session-Timeout = %d, want none", st)
			case tt.timeout != 0 && (err != nil || uint32(st) != tt.timeout):
				t.Errorf("Session-Timeout = %d, %v; want %d", st, err, tt.timeout)
			}
			if got := rfc2869.FramedPool_GetString(reply); got != tt.pool {
				t.Errorf("Framed-Pool = %q, want %q", got, tt.pool)
			}
			ip, err := rfc2865.FramedIPAddress_Lookup(reply)
			switch {
			case tt.framedIP == "" && err == nil:
				t.Errorf("Framed-IP-Address = %v, want none", ip)
			case tt.framedIP != "" && (err != nil || ip.String() != tt.framedIP):
				t.Errorf("Framed-IP-Address = %v, %v; want %s", ip, err, tt.framedIP)
			}
			lo, errLo := mikrotik.MikrotikTotalLimit_Lookup(reply)
			hi, errHi := mikrotik.MikrotikTotalLimitGigawords_Lookup(reply)
			switch {
			case tt.dataLimit == 0 && (errLo == nil || errHi == nil):
				t.Errorf("Mikrotik-Total-Limit sent without a data limit")
			case tt.dataLimit != 0 && (errLo != nil || errHi != nil || uint64(hi)<<32|uint64(lo) != tt.dataLimit):
				t.Errorf("Mikrotik-Total-Limit(+Gigawords) = %d/%d, want %d", hi, lo, tt.dataLimit)
			}
			want := tt.proxyStates
			if len(want) > maxProxyStates {
				want = want[:maxProxyStates]
			}
			got, _ := rfc2865.ProxyState_GetStrings(reply)
			if strings.Join(got, ",") != strings.Join(want, ",") {
				t.Errorf("Proxy-State = %q, want %q", got, want)
			}

			st2 := h.srv.Stats()
			if st2.Accepts.Load() != 1 || st2.Rejects.Load() != 0 || st2.Reason(tg.ReasonOK) != 1 {
				t.Errorf("stats: accepts %d rejects %d ok %d", st2.Accepts.Load(), st2.Rejects.Load(), st2.Reason(tg.ReasonOK))
			}
			MustAuthLog(t, h.log, "alice", tg.MethodPAP, tg.ReasonOK)
		})
	}
}

func TestPAPReject(t *testing.T) {
	tests := []struct {
		name    string
		user    string // "" = alice
		pass    string
		account func(a *tg.Account)
		request func(p *radius.Packet)
		reason  tg.Reason
	}{
		{name: "wrong password", pass: "wrong", reason: tg.ReasonBadPassword},
		{name: "password prefix", pass: "s3cret", reason: tg.ReasonBadPassword},
		{name: "password with a suffix", pass: "s3cret!!", reason: tg.ReasonBadPassword},
		{name: "empty password", pass: "", reason: tg.ReasonBadPassword},
		{name: "unknown user", user: "mallory", pass: "s3cret!", reason: tg.ReasonUnknownUser},
		{name: "suspended", pass: "s3cret!", account: func(a *tg.Account) { a.Status = tg.StatusSuspended }, reason: tg.ReasonSuspended},
		{name: "disabled", pass: "s3cret!", account: func(a *tg.Account) { a.Status = tg.StatusDisabled }, reason: tg.ReasonDisabled},
		{name: "unknown status", pass: "s3cret!", account: func(a *tg.Account) { a.Status = "" }, reason: tg.ReasonDisabled},
		{name: "expired", pass: "s3cret!", account: func(a *tg.Account) { a.ValidUntil = testNow.Add(-time.Minute) }, reason: tg.ReasonExpired},
		{name: "expires this instant", pass: "s3cret!", account: func(a *tg.Account) { a.ValidUntil = testNow }, reason: tg.ReasonExpired},
		{name: "not yet valid", pass: "s3cret!", account: func(a *tg.Account) { a.ValidFrom = testNow.Add(time.Hour) }, reason: tg.ReasonNotYetValid},
		{
			name:    "MAC mismatch",
			pass:    "s3cret!",
			account: func(a *tg.Account) { a.MAC = "AA:BB:CC:00:00:01" },
			request: func(p *radius.Packet) { _ = rfc2865.CallingStationID_SetString(p, "aa-bb-cc-00-00-02") },
			reason:  tg.ReasonMACMismatch,
		},
		{
			name:    "MAC bound, no Calling-Station-Id",
			pass:    "s3cret!",
			account: func(a *tg.Account) { a.MAC = "AA:BB:CC:00:00:01" },
			reason:  tg.ReasonMACMismatch,
		},
		{
			name: "pppoe plan, Login-User",
			pass: "s3cret!",
			request: func(p *radius.Packet) {
				_ = rfc2865.ServiceType_Set(p, rfc2865.ServiceType_Value_LoginUser)
				rfc2865.FramedProtocol_Del(p)
			},
			reason: tg.ReasonWrongService,
		},
		{
			name:    "hotspot plan, Framed-User",
			pass:    "s3cret!",
			account: func(a *tg.Account) { a.Kind = tg.KindHotspot },
			reason:  tg.ReasonWrongService,
		},
		{
			name:    "no credential",
			pass:    "s3cret!",
			request: func(p *radius.Packet) { rfc2865.UserPassword_Del(p) },
			reason:  tg.ReasonUnsupportedMethod,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			acct := pppoeAccount()
			if tt.account != nil {
				tt.account(acct)
			}
			user := tt.user
			if user == "" {
				user = "alice"
			}
			method := tg.MethodPAP
			if tt.reason == tg.ReasonUnsupportedMethod {
				method = tg.MethodUnknown
			}
			h := MustServer(t, Config{}, testNAS(true), newDirectory(acct).Fake())
			p := papRequest(t, user, tt.pass)
			if tt.request != nil {
				tt.request(p)
			}
			_ = rfc2865.ProxyState_AddString(p, "proxied")
			req := MustEncode(t, p, true)
			reply := MustReply(t, MustExchange(t, h.conn, req), req)

			if reply.Code != radius.CodeAccessReject {
				t.Fatalf("code = %v, want Access-Reject", reply.Code)
			}
			if got := rfc2865.ReplyMessage_GetString(reply); got != tt.reason.Message() {
				t.Errorf("Reply-Message = %q, want %q", got, tt.reason.Message())
			}
			if got := rfc2865.ProxyState_GetString(reply); got != "proxied" {
				t.Errorf("Proxy-State = %q, want it echoed", got)
			}
			for _, leak := range []radius.Type{rfc2865.Class_Type, rfc2865.SessionTimeout_Type, rfc2865.VendorSpecific_Type, rfc2869.FramedPool_Type} {
				if _, ok := reply.Lookup(leak); ok {
					t.Errorf("reject carries attribute %d", leak)
				}
			}
			st := h.srv.Stats()
			if st.Rejects.Load() != 1 || st.Accepts.Load() != 0 || st.Reason(tt.reason) != 1 {
				t.Errorf("stats: rejects %d accepts %d reason(%v) %d", st.Rejects.Load(), st.Accepts.Load(), tt.reason, st.Reason(tt.reason))
			}
			if tt.reason == tg.ReasonUnknownUser || tt.reason == tg.ReasonUnsupportedMethod {
				user = tg.MaskCode(user) // found nothing: logged masked, it may be a mistyped code
			}
			MustAuthLog(t, h.log, user, method, tt.reason)
		})
	}
}

func TestCHAP(t *testing.T) {
	tests := []struct {
		name      string
		password  string
		challenge []byte // nil: the Request Authenticator is the challenge
		ident     byte
		corrupt   func(chap []byte) []byte
		reason    tg.Reason
	}{
		{name: "with CHAP-Challenge", password: "s3cret!", challenge: seq(0x40, 16), ident: 9, reason: tg.ReasonOK},
		{name: "with a short CHAP-Challenge", password: "s3cret!", challenge: seq(0x40, 8), ident: 1, reason: tg.ReasonOK},
		{name: "Request Authenticator as challenge", password: "s3cret!", ident: 200, reason: tg.ReasonOK},
		{name: "wrong password", password: "wrong", challenge: seq(0x40, 16), ident: 9, reason: tg.ReasonBadPassword},
		{name: "wrong password, authenticator challenge", password: "wrong", ident: 3, reason: tg.ReasonBadPassword},
		{
			name: "wrong ident", password: "s3cret!", challenge: seq(0x40, 16), ident: 9,
			corrupt: func(c []byte) []byte { c[0]++; return c }, reason: tg.ReasonBadPassword,
		},
		{
			name: "truncated CHAP-Password", password: "s3cret!", challenge: seq(0x40, 16), ident: 9,
			corrupt: func(c []byte) []byte { return c[:16] }, reason: tg.ReasonBadPassword,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := MustServer(t, Config{}, testNAS(true), newDirectory(pppoeAccount()).Fake())
			p := newRequest(t, testSecret, "alice")
			_ = rfc2865.ServiceType_Set(p, rfc2865.ServiceType_Value_FramedUser)
			challenge := tt.challenge
			if challenge == nil {
				challenge = p.Authenticator[:]
			} else {
				_ = rfc2865.CHAPChallenge_Add(p, challenge)
			}
			chap := chapPassword(tt.ident, tt.password, challenge)
			if tt.corrupt != nil {
				chap = tt.corrupt(chap)
			}
			_ = rfc2865.CHAPPassword_Add(p, chap)
			req := MustEncode(t, p, true)
			reply := MustReply(t, MustExchange(t, h.conn, req), req)
			want := radius.CodeAccessReject
			if tt.reason == tg.ReasonOK {
				want = radius.CodeAccessAccept
			}
			if reply.Code != want {
				t.Fatalf("code = %v, want %v", reply.Code, want)
			}
			if want == radius.CodeAccessAccept && rfc2865.Class_GetString(reply) != "tg:42" {
				t.Errorf("Class = %q", rfc2865.Class_GetString(reply))
			}
			MustAuthLog(t, h.log, "alice", tg.MethodCHAP, tt.reason)
		})
	}
}

func TestMSCHAPv2(t *testing.T) {
	authCh, peerCh := seq(0x10, 16), seq(0xa0, 16)
	tests := []struct {
		name     string
		user     string
		password string
		reason   tg.Reason
	}{
		{name: "accept", user: "alice", password: "s3cret!", reason: tg.ReasonOK},
		{name: "wrong password", user: "alice", password: "guess", reason: tg.ReasonBadPassword},
		{name: "unknown user", user: "mallory", password: "s3cret!", reason: tg.ReasonUnknownUser},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			acct := pppoeAccount()
			h := MustServer(t, Config{}, testNAS(true), newDirectory(acct).Fake())
			const ident = 0x5c
			p, nt := mschapV2Request(t, tt.user, tt.password, ident, authCh, peerCh)
			req := MustEncode(t, p, true)
			reply := MustReply(t, MustExchange(t, h.conn, req), req)

			if tt.reason != tg.ReasonOK {
				if reply.Code != radius.CodeAccessReject {
					t.Fatalf("code = %v, want Access-Reject", reply.Code)
				}
				want := append([]byte{ident}, "E=691 R=0 C="+strings.ToUpper(hex.EncodeToString(authCh))+" V=3 M=Authentication failed"...)
				if got := microsoft.MSCHAPError_Get(reply); !bytes.Equal(got, want) {
					t.Errorf("MS-CHAP-Error = %q, want %q", got, want)
				}
				if _, ok := vendorAttr(reply, vendorMicrosoft, 26); ok {
					t.Errorf("reject carries MS-CHAP2-Success")
				}
				user := tt.user
				if tt.reason == tg.ReasonUnknownUser {
					user = tg.MaskCode(user)
				}
				MustAuthLog(t, h.log, user, tg.MethodMSCHAPv2, tt.reason)
				return
			}
			if reply.Code != radius.CodeAccessAccept {
				t.Fatalf("code = %v (%q), want Access-Accept", reply.Code, rfc2865.ReplyMessage_GetString(reply))
			}
			authResp, err := rfc2759.GenerateAuthenticatorResponse(authCh, peerCh, nt, []byte(tt.user), []byte(tt.password))
			if err != nil {
				t.Fatal(err)
			}
			if got, want := microsoft.MSCHAP2Success_Get(reply), append([]byte{ident}, authResp...); !bytes.Equal(got, want) {
				t.Errorf("MS-CHAP2-Success = %q, want %q", got, want)
			}
			// The NAS decrypts with the Request Authenticator of its request.
			request, err := radius.Parse(req, testSecret)
			if err != nil {
				t.Fatal(err)
			}
			// The server's send key is the NAS's receive key (RFC 3079 §3.4, IsServer).
			wantSend, _ := rfc3079.MakeKey(nt, []byte(tt.password), true)
			wantRecv, _ := rfc3079.MakeKey(nt, []byte(tt.password), false)
			send, err := microsoft.MSMPPESendKey_Lookup(reply, request)
			if err != nil || !bytes.Equal(send, wantSend) {
				t.Errorf("MS-MPPE-Send-Key = %X, %v; want %X", send, err, wantSend)
			}
			recv, err := microsoft.MSMPPERecvKey_Lookup(reply, request)
			if err != nil || !bytes.Equal(recv, wantRecv) {
				t.Errorf("MS-MPPE-Recv-Key = %X, %v; want %X", recv, err, wantRecv)
			}
			s16, _ := vendorAttr(reply, vendorMicrosoft, 16)
			r17, _ := vendorAttr(reply, vendorMicrosoft, 17)
			if len(s16) < 2 || len(r17) < 2 || s16[0]&0x80 == 0 || r17[0]&0x80 == 0 {
				t.Errorf("MPPE key salts must have the top bit set: %X %X", s16, r17)
			}
			if pol, err := microsoft.MSMPPEEncryptionPolicy_Lookup(reply); err != nil || pol != 1 {
				t.Errorf("MS-MPPE-Encryption-Policy = %d, %v; want 1 (allowed)", pol, err)
			}
			if typ, err := microsoft.MSMPPEEncryptionTypes_Lookup(reply); err != nil || typ != 6 {
				t.Errorf("MS-MPPE-Encryption-Types = %d, %v; want 6 (40 and 128 bit)", typ, err)
			}
			if got := mikrotik.MikrotikRateLimit_GetString(reply); got != acct.RateLimit {
				t.Errorf("Mikrotik-Rate-Limit = %q", got)
			}
			MustAuthLog(t, h.log, tt.user, tg.MethodMSCHAPv2, tg.ReasonOK)
		})
	}
}

// TestMSCHAPv2SuspendedGetsError: a rejected decision after a valid MS-CHAPv2 proof
// still carries MS-CHAP-Error and no keys.
func TestMSCHAPv2SuspendedGetsError(t *testing.T) {
	acct := pppoeAccount()
	acct.Status = tg.StatusSuspended
	h := MustServer(t, Config{}, testNAS(true), newDirectory(acct).Fake())
	p, _ := mschapV2Request(t, "alice", "s3cret!", 1, seq(0, 16), seq(100, 16))
	req := MustEncode(t, p, true)
	reply := MustReply(t, MustExchange(t, h.conn, req), req)
	if reply.Code != radius.CodeAccessReject || rfc2865.ReplyMessage_GetString(reply) != tg.ReasonSuspended.Message() {
		t.Fatalf("code = %v %q, want a suspended reject", reply.Code, rfc2865.ReplyMessage_GetString(reply))
	}
	if microsoft.MSCHAPError_Get(reply) == nil {
		t.Errorf("no MS-CHAP-Error")
	}
	for _, typ := range []byte{16, 17, 26} {
		if _, ok := vendorAttr(reply, vendorMicrosoft, typ); ok {
			t.Errorf("reject carries Microsoft attribute %d", typ)
		}
	}
	MustAuthLog(t, h.log, "alice", tg.MethodMSCHAPv2, tg.ReasonSuspended)
}

func TestMSCHAPv1(t *testing.T) {
	challenge := seq(0x21, 8)
	tests := []struct {
		name     string
		password string
		reason   tg.Reason
	}{
		{name: "accept", password: "s3cret!", reason: tg.ReasonOK},
		{name: "wrong password", password: "nope", reason: tg.ReasonBadPassword},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := MustServer(t, Config{}, testNAS(true), newDirectory(pppoeAccount()).Fake())
			const ident = 0x33
			req := MustEncode(t, mschapV1Request(t, "alice", tt.password, ident, challenge), true)
			reply := MustReply(t, MustExchange(t, h.conn, req), req)
			if tt.reason != tg.ReasonOK {
				if reply.Code != radius.CodeAccessReject {
					t.Fatalf("code = %v, want Access-Reject", reply.Code)
				}
				if got, want := microsoft.MSCHAPError_Get(reply), append([]byte{ident}, "E=691 R=1"...); !bytes.Equal(got, want) {
					t.Errorf("MS-CHAP-Error = %q, want %q", got, want)
				}
				MustAuthLog(t, h.log, "alice", tg.MethodMSCHAPv1, tt.reason)
				return
			}
			if reply.Code != radius.CodeAccessAccept {
				t.Fatalf("code = %v (%q), want Access-Accept", reply.Code, rfc2865.ReplyMessage_GetString(reply))
			}
			// MS-CHAP-MPPE-Keys (RFC 2548 §2.4.1): LM-Key (zeros) ‖ NT-Key ‖ 8 zero
			// octets, encrypted like User-Password with the Request Authenticator.
			enc, ok := vendorAttr(reply, vendorMicrosoft, msCHAPMPPEKeys)
			if !ok || len(enc) != 32 {
				t.Fatalf("MS-CHAP-MPPE-Keys = %X (present %v), want 32 octets", enc, ok)
			}
			plain := decryptUserPassword(enc, testSecret, req[4:20])
			ucs2, _ := rfc2759.ToUTF16([]byte(tt.password))
			ntKey := rfc2759.NTPasswordHash(rfc2759.NTPasswordHash(ucs2))
			want := append(append(make([]byte, 8), ntKey...), make([]byte, 8)...)
			if !bytes.Equal(plain, want) {
				t.Errorf("MS-CHAP-MPPE-Keys decrypt to %X, want %X", plain, want)
			}
			if pol, err := microsoft.MSMPPEEncryptionPolicy_Lookup(reply); err != nil || pol != 1 {
				t.Errorf("MS-MPPE-Encryption-Policy = %d, %v", pol, err)
			}
			if typ, err := microsoft.MSMPPEEncryptionTypes_Lookup(reply); err != nil || typ != 6 {
				t.Errorf("MS-MPPE-Encryption-Types = %d, %v", typ, err)
			}
			MustAuthLog(t, h.log, "alice", tg.MethodMSCHAPv1, tg.ReasonOK)
		})
	}
}

// decryptUserPassword undoes the RFC 2865 §5.2 hiding without stopping at a NUL.
func decryptUserPassword(c, secret, reqAuth []byte) []byte {
	out := make([]byte, len(c))
	prev := reqAuth
	for i := 0; i+16 <= len(c); i += 16 {
		h := md5.New()
		h.Write(secret)
		h.Write(prev)
		sum := h.Sum(nil)
		for j := range 16 {
			out[i+j] = c[i+j] ^ sum[j]
		}
		prev = c[i : i+16]
	}
	return out
}

// TestHotspotMACLogin: a hotspot login (Login-User, or no Service-Type) whose User-Name is
// a MAC finds the subscriber that may log in by that MAC, and only that subscriber
// accepts the MAC login's password (none, empty, or the MAC); a PPPoE (Framed-User)
// request never does, nor one with another Service-Type (Call-Check). The Accept names the account, so the router accounts the session
// under it.
func TestHotspotMACLogin(t *testing.T) {
	// A subscriber whose name is a MAC, with a password of its own and no MAC login.
	named := &tg.Account{ID: 78, Username: "AA:BB:CC:DD:EE:02", Password: []byte("its-own"), Status: tg.StatusActive, Kind: tg.KindHotspot}
	pppoe := &tg.Account{ID: 79, Username: "AA:BB:CC:DD:EE:03", Password: []byte("pppoe-pw"), Status: tg.StatusActive, Kind: tg.KindPPPoE}
	const framed, login, none, callCheck = 1, 2, 0, 3
	tests := []struct {
		name     string
		user     string
		password *string // nil: no User-Password at all
		chap     *string // CHAP of this password instead of User-Password
		service  int
		calling  string
		method   tg.Method
		reason   tg.Reason
		logged   string // the auth log's user name
		macs     []string
		users    []string
	}{
		{name: "upper case, empty password", user: "AA:BB:CC:DD:EE:FF", password: ptr(""), service: login, calling: "AA:BB:CC:DD:EE:FF", method: tg.MethodMAC, reason: tg.ReasonOK, logged: "device-77", macs: []string{"AA:BB:CC:DD:EE:FF"}},
		{name: "no service type, no password", user: "AA:BB:CC:DD:EE:FF", service: none, calling: "AA:BB:CC:DD:EE:FF", method: tg.MethodMAC, reason: tg.ReasonOK, logged: "device-77", macs: []string{"AA:BB:CC:DD:EE:FF"}},
		{name: "lower case, MAC as password", user: "aa:bb:cc:dd:ee:ff", password: ptr("aa:bb:cc:dd:ee:ff"), service: login, calling: "aa:bb:cc:dd:ee:ff", method: tg.MethodMAC, reason: tg.ReasonOK, logged: "device-77", macs: []string{"AA:BB:CC:DD:EE:FF"}},
		{name: "dashes, normalized MAC as password", user: "AA-BB-CC-DD-EE-FF", password: ptr("AA:BB:CC:DD:EE:FF"), service: login, calling: "AA-BB-CC-DD-EE-FF", method: tg.MethodMAC, reason: tg.ReasonOK, logged: "device-77", macs: []string{"AA:BB:CC:DD:EE:FF"}},
		{name: "CHAP of the MAC", user: "AA:BB:CC:DD:EE:FF", chap: ptr("AA:BB:CC:DD:EE:FF"), service: login, calling: "AA:BB:CC:DD:EE:FF", method: tg.MethodMAC, reason: tg.ReasonOK, logged: "device-77", macs: []string{"AA:BB:CC:DD:EE:FF"}},
		{name: "account password", user: "AA:BB:CC:DD:EE:FF", password: ptr("unused-pw"), service: login, calling: "AA:BB:CC:DD:EE:FF", method: tg.MethodPAP, reason: tg.ReasonOK, logged: "device-77", macs: []string{"AA:BB:CC:DD:EE:FF"}},
		{name: "other Calling-Station-Id", user: "AA:BB:CC:DD:EE:FF", password: ptr(""), service: login, calling: "AA:BB:CC:DD:EE:00", method: tg.MethodMAC, reason: tg.ReasonMACMismatch, logged: "device-77", macs: []string{"AA:BB:CC:DD:EE:FF"}},
		{name: "wrong password", user: "AA:BB:CC:DD:EE:FF", password: ptr("guess"), service: login, calling: "AA:BB:CC:DD:EE:FF", method: tg.MethodPAP, reason: tg.ReasonBadPassword, logged: "device-77", macs: []string{"AA:BB:CC:DD:EE:FF"}},
		{name: "PPPoE, MAC user name, empty password", user: "AA:BB:CC:DD:EE:FF", password: ptr(""), service: framed, calling: "AA:BB:CC:DD:EE:FF", method: tg.MethodPAP, reason: tg.ReasonUnknownUser, logged: "AA:BB:CC:DD:EE:FF", users: []string{"AA:BB:CC:DD:EE:FF"}},
		{name: "PPPoE, MAC user name, no password", user: "AA:BB:CC:DD:EE:FF", service: framed, calling: "AA:BB:CC:DD:EE:FF", method: tg.MethodUnknown, reason: tg.ReasonUnsupportedMethod, logged: "AA:BB:CC:DD:EE:FF"},
		{name: "Call-Check, MAC user name, empty password", user: "AA:BB:CC:DD:EE:FF", password: ptr(""), service: callCheck, calling: "AA:BB:CC:DD:EE:FF", method: tg.MethodPAP, reason: tg.ReasonUnknownUser, logged: "AA:BB:CC:DD:EE:FF", users: []string{"AA:BB:CC:DD:EE:FF"}},
		{name: "Call-Check, MAC user name, the MAC as password", user: "AA:BB:CC:DD:EE:FF", password: ptr("AA:BB:CC:DD:EE:FF"), service: callCheck, calling: "AA:BB:CC:DD:EE:FF", method: tg.MethodPAP, reason: tg.ReasonUnknownUser, logged: "AA:BB:CC:DD:EE:FF", users: []string{"AA:BB:CC:DD:EE:FF"}},
		{name: "Call-Check, MAC user name, no password", user: "AA:BB:CC:DD:EE:FF", service: callCheck, calling: "AA:BB:CC:DD:EE:FF", method: tg.MethodUnknown, reason: tg.ReasonUnsupportedMethod, logged: "AA:BB:CC:DD:EE:FF"},
		{name: "PPPoE account named by a MAC needs its password", user: "AA:BB:CC:DD:EE:03", password: ptr("AA:BB:CC:DD:EE:03"), service: framed, calling: "AA:BB:CC:DD:EE:03", method: tg.MethodPAP, reason: tg.ReasonBadPassword, logged: "AA:BB:CC:DD:EE:03", users: []string{"AA:BB:CC:DD:EE:03"}},
		{name: "PPPoE account named by a MAC, its password", user: "AA:BB:CC:DD:EE:03", password: ptr("pppoe-pw"), service: framed, calling: "AA:BB:CC:DD:EE:03", method: tg.MethodPAP, reason: tg.ReasonOK, logged: "AA:BB:CC:DD:EE:03", users: []string{"AA:BB:CC:DD:EE:03"}},
		{name: "no MAC login: the MAC as password is refused", user: "AA:BB:CC:DD:EE:02", password: ptr("AA:BB:CC:DD:EE:02"), service: login, calling: "AA:BB:CC:DD:EE:02", method: tg.MethodPAP, reason: tg.ReasonBadPassword, logged: "AA:BB:CC:DD:EE:02", macs: []string{"AA:BB:CC:DD:EE:02"}, users: []string{"AA:BB:CC:DD:EE:02"}},
		{name: "no MAC login: empty password is refused", user: "AA:BB:CC:DD:EE:02", password: ptr(""), service: login, calling: "AA:BB:CC:DD:EE:02", method: tg.MethodPAP, reason: tg.ReasonBadPassword, logged: "AA:BB:CC:DD:EE:02", macs: []string{"AA:BB:CC:DD:EE:02"}, users: []string{"AA:BB:CC:DD:EE:02"}},
		{name: "no MAC login: its own password", user: "AA:BB:CC:DD:EE:02", password: ptr("its-own"), service: login, calling: "AA:BB:CC:DD:EE:02", method: tg.MethodPAP, reason: tg.ReasonOK, logged: "AA:BB:CC:DD:EE:02", macs: []string{"AA:BB:CC:DD:EE:02"}, users: []string{"AA:BB:CC:DD:EE:02"}},
		{name: "unknown MAC", user: "AA:BB:CC:DD:EE:01", password: ptr(""), service: login, calling: "AA:BB:CC:DD:EE:01", method: tg.MethodPAP, reason: tg.ReasonUnknownUser, logged: "AA:BB:CC:DD:EE:01", macs: []string{"AA:BB:CC:DD:EE:01"}, users: []string{"AA:BB:CC:DD:EE:01"}},
		{name: "not a MAC, empty password", user: "bob", password: ptr(""), service: login, calling: "AA:BB:CC:DD:EE:FF", method: tg.MethodPAP, reason: tg.ReasonUnknownUser, logged: "…", users: []string{"bob"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := newDirectory(macAccount(), named, pppoe)
			h := MustServer(t, Config{}, testNAS(true), dir.Fake())
			p := newRequest(t, testSecret, tt.user)
			switch {
			case tt.password != nil:
				_ = rfc2865.UserPassword_SetString(p, *tt.password)
			case tt.chap != nil:
				_ = rfc2865.CHAPPassword_Add(p, chapPassword(3, *tt.chap, p.Authenticator[:]))
			}
			switch tt.service {
			case login:
				_ = rfc2865.ServiceType_Set(p, rfc2865.ServiceType_Value_LoginUser)
			case framed:
				_ = rfc2865.ServiceType_Set(p, rfc2865.ServiceType_Value_FramedUser)
				_ = rfc2865.FramedProtocol_Set(p, rfc2865.FramedProtocol_Value_PPP)
			case callCheck:
				_ = rfc2865.ServiceType_Set(p, rfc2865.ServiceType_Value_CallCheck)
			}
			_ = rfc2865.CallingStationID_SetString(p, tt.calling)
			_ = rfc2865.CalledStationID_SetString(p, "hotspot1")
			req := MustEncode(t, p, true)
			reply := MustReply(t, MustExchange(t, h.conn, req), req)
			want := radius.CodeAccessReject
			if tt.reason == tg.ReasonOK {
				want = radius.CodeAccessAccept
			}
			if reply.Code != want {
				t.Fatalf("code = %v (%q), want %v", reply.Code, rfc2865.ReplyMessage_GetString(reply), want)
			}
			if want == radius.CodeAccessAccept && tt.logged == "device-77" {
				if rfc2865.Class_GetString(reply) != "tg:77" || mikrotik.MikrotikRateLimit_GetString(reply) != "1M/2M" {
					t.Errorf("Class %q, Rate-Limit %q", rfc2865.Class_GetString(reply), mikrotik.MikrotikRateLimit_GetString(reply))
				}
				if st, err := rfc2865.SessionTimeout_Lookup(reply); err != nil || st != 3600 {
					t.Errorf("Session-Timeout = %d, %v; want 3600", st, err)
				}
			}
			if want == radius.CodeAccessAccept {
				// The router accounts the session under the account, not the MAC.
				if got := rfc2865.UserName_GetString(reply); got != tt.logged {
					t.Errorf("User-Name in the Accept = %q, want %q", got, tt.logged)
				}
			} else if got := rfc2865.ReplyMessage_GetString(reply); got != tt.reason.Message() {
				t.Errorf("Reply-Message = %q, want %q", got, tt.reason.Message())
			}
			users, macs := dir.Lookups()
			if !slices.Equal(users, tt.users) {
				t.Errorf("FindByUsername calls = %q, want %q", users, tt.users)
			}
			if !slices.Equal(macs, tt.macs) {
				t.Errorf("FindByMAC calls = %q, want %q", macs, tt.macs)
			}
			MustAuthLog(t, h.log, tt.logged, tt.method, tt.reason)
		})
	}
}

func ptr[T any](v T) *T { return &v }

// TestMalformedPassword: a User-Password that does not decode to a password and NUL
// padding is a reject, never the empty password a MAC login sends.
func TestMalformedPassword(t *testing.T) {
	for _, tt := range []struct {
		name  string
		clear []byte // before hiding; padded to 16 bytes when shorter
		raw   []byte // the attribute as sent, instead of hiding clear
		twice bool
	}{
		{name: "not a multiple of 16", raw: make([]byte, 17)},
		{name: "shorter than 16", raw: make([]byte, 8)},
		{name: "NUL inside the password", clear: []byte("\x00\x00AA:BB:CC:DD:EE:FF")},
		{name: "NUL then a character", clear: append(make([]byte, 15), 'x')},
		{name: "two User-Passwords", clear: []byte{}, twice: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := newDirectory(macAccount())
			h := MustServer(t, Config{}, testNAS(true), dir.Fake())
			p := newRequest(t, testSecret, "AA:BB:CC:DD:EE:FF")
			attr := tt.raw
			if attr == nil {
				var err error
				if attr, err = radius.NewUserPassword(tt.clear, testSecret, p.Authenticator[:]); err != nil {
					t.Fatal(err)
				}
			}
			p.Add(rfc2865.UserPassword_Type, attr)
			if tt.twice {
				p.Add(rfc2865.UserPassword_Type, attr)
			}
			_ = rfc2865.ServiceType_Set(p, rfc2865.ServiceType_Value_LoginUser)
			_ = rfc2865.CallingStationID_SetString(p, "AA:BB:CC:DD:EE:FF")
			req := MustEncode(t, p, true)
			reply := MustReply(t, MustExchange(t, h.conn, req), req)
			if reply.Code != radius.CodeAccessReject {
				t.Fatalf("code = %v, want Access-Reject", reply.Code)
			}
			if users, macs := dir.Lookups(); len(users)+len(macs) != 0 {
				t.Errorf("a malformed request looked accounts up: %q %q", users, macs)
			}
			MustAuthLog(t, h.log, "AA:BB:CC:DD:EE:FF", tg.MethodPAP, tg.ReasonMalformed)
		})
	}
}

// TestAuthLog: each decision is logged exactly once, with its method and reason, and
// requests that get no decision (dropped, retransmitted, internal failure) log nothing.
func TestAuthLog(t *testing.T) {
	h := MustServer(t, Config{}, testNAS(true), newDirectory(pppoeAccount(), macAccount()).Fake())

	type logged struct {
		user   string
		method tg.Method
		reason tg.Reason
	}
	var want []logged
	exchange := func(t *testing.T, p *radius.Packet) {
		t.Helper()
		req := MustEncode(t, p, true)
		MustReply(t, MustExchange(t, h.conn, req), req)
	}
	steps := []struct {
		name string
		run  func(t *testing.T)
	}{
		{"pap accept", func(t *testing.T) {
			exchange(t, papRequest(t, "alice", "s3cret!"))
			want = append(want, logged{"alice", tg.MethodPAP, tg.ReasonOK})
		}},
		{"pap bad password", func(t *testing.T) {
			exchange(t, papRequest(t, "alice", "x"))
			want = append(want, logged{"alice", tg.MethodPAP, tg.ReasonBadPassword})
		}},
		{"chap accept", func(t *testing.T) {
			p := newRequest(t, testSecret, "alice")
			_ = rfc2865.CHAPPassword_Add(p, chapPassword(4, "s3cret!", p.Authenticator[:]))
			exchange(t, p)
			want = append(want, logged{"alice", tg.MethodCHAP, tg.ReasonOK})
		}},
		{"mschapv2 unknown user", func(t *testing.T) {
			p, _ := mschapV2Request(t, "nobody", "pw", 1, seq(1, 16), seq(2, 16))
			exchange(t, p)
			want = append(want, logged{"…", tg.MethodMSCHAPv2, tg.ReasonUnknownUser}) // masked: it found nothing
		}},
		{"mschapv1 accept", func(t *testing.T) {
			exchange(t, mschapV1Request(t, "alice", "s3cret!", 2, seq(3, 8)))
			want = append(want, logged{"alice", tg.MethodMSCHAPv1, tg.ReasonOK})
		}},
		{"mac accept", func(t *testing.T) {
			p := newRequest(t, testSecret, "AA:BB:CC:DD:EE:FF")
			_ = rfc2865.UserPassword_SetString(p, "")
			_ = rfc2865.CallingStationID_SetString(p, "AA:BB:CC:DD:EE:FF")
			exchange(t, p)
			want = append(want, logged{"device-77", tg.MethodMAC, tg.ReasonOK}) // the account's name
		}},
		{"retransmit logs once", func(t *testing.T) {
			req := MustEncode(t, papRequest(t, "alice", "s3cret!"), true)
			MustReply(t, MustExchange(t, h.conn, req), req)
			MustReply(t, MustExchange(t, h.conn, req), req)
			want = append(want, logged{"alice", tg.MethodPAP, tg.ReasonOK})
		}},
		{"missing Message-Authenticator logs nothing", func(t *testing.T) {
			MustWrite(t, h.conn, MustEncode(t, papRequest(t, "alice", "s3cret!"), false))
			MustNoReply(t, h.conn)
		}},
		{"Status-Server logs nothing", func(t *testing.T) {
			MustNoReply(t, h.conn) // the probe is a Status-Server
		}},
	}
	for _, s := range steps {
		t.Run(s.name, s.run)
	}
	got := h.log.Entries()
	if len(got) != len(want) {
		t.Fatalf("auth log has %d entries, want %d: %+v", len(got), len(want), got)
	}
	for i, w := range want {
		if g := got[i]; g.Username != w.user || g.Method != w.method || g.Reason != w.reason || g.NASID != 7 {
			t.Errorf("entry %d = %+v, want %+v", i, g, w)
		}
	}

	t.Run("store failure logs nothing", func(t *testing.T) {
		h := MustServer(t, Config{}, testNAS(true), &radiustest.Accounts{
			FindByUsernameFn: func(context.Context, string) (*tg.Account, error) { return nil, errStore },
		})
		MustWrite(t, h.conn, MustEncode(t, papRequest(t, "alice", "s3cret!"), true))
		MustNoReply(t, h.conn)
		if n := len(h.log.Entries()); n != 0 {
			t.Errorf("auth log has %d entries, want 0", n)
		}
	})
}
