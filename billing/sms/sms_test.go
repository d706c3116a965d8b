package sms_test

import (
	"context"
	"encoding/json"
	"net/url"
	"strings"
	"testing"
	"time"

	"tollgate/billing"
	"tollgate/billing/billingtest"
	"tollgate/billing/sms"
	"tollgate/radius"
)

// text has what a URL or a body must escape: spaces, &, =, +, #, ?, /, %, quotes, a
// backslash, a line break and non-ASCII.
const text = `Example ISP: paid 20.00 & more = "ok"? 100% /yes #1 +x \ done
é✓`

var note = &billing.Notification{ID: 7, Channel: billing.ChannelSMS, Recipient: "+15550001111", Body: text}

func mustSender(t *testing.T, cfg sms.Config) *sms.Sender {
	t.Helper()
	s, err := sms.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestSendGET: the placeholders are query-escaped into the URL (path-escaped before the
// "?"), the auth header goes along, and the gateway's message id comes back.
func TestSendGET(t *testing.T) {
	gw := billingtest.MustGateway(t)
	s := mustSender(t, sms.Config{
		URL:        gw.URL + "/send/{to}?api_key=k3y&to={to}&text={text}",
		Method:     "get",
		AuthHeader: "Authorization: Bearer t0ken",
	})
	id, err := s.Send(context.Background(), note)
	if err != nil {
		t.Fatal(err)
	}
	r := gw.WaitRequests(t, 1)[0]
	if r.Method != "GET" || r.Body != "" {
		t.Fatalf("method %s body %q", r.Method, r.Body)
	}
	if r.Path != "/send/+15550001111" || r.Query["to"][0] != "+15550001111" || r.Query["text"][0] != text || r.Query["api_key"][0] != "k3y" {
		t.Fatalf("path %q query %v", r.Path, r.Query)
	}
	if !strings.Contains(r.RawQuery, "to=%2B15550001111") {
		t.Fatalf("raw query %q: the + of the number must be escaped", r.RawQuery)
	}
	if r.Header.Get("Authorization") != "Bearer t0ken" {
		t.Fatalf("Authorization = %q", r.Header.Get("Authorization"))
	}
	if id != "gw-1" {
		t.Fatalf("provider id = %q", id)
	}
}

// TestSendPOST: the body template is escaped as its content type says.
func TestSendPOST(t *testing.T) {
	cases := []struct {
		name, body, contentType string
		wantType                string
		check                   func(t *testing.T, r billingtest.Request)
	}{
		{"json", `{"to": "{to}", "message": "{text}", "sender": "ISP"}`, "", "application/json",
			func(t *testing.T, r billingtest.Request) {
				var got map[string]string
				if err := json.Unmarshal([]byte(r.Body), &got); err != nil {
					t.Fatalf("body %q: %v", r.Body, err)
				}
				if got["to"] != "+15550001111" || got["message"] != text || got["sender"] != "ISP" {
					t.Fatalf("body = %q", r.Body)
				}
			}},
		{"vendor json", `[{"to":"{to}","text":"{text}"}]`, "application/vnd.gw+json; charset=utf-8", "application/vnd.gw+json; charset=utf-8",
			func(t *testing.T, r billingtest.Request) {
				var got []map[string]string
				if err := json.Unmarshal([]byte(r.Body), &got); err != nil || got[0]["text"] != text {
					t.Fatalf("body %q: %v", r.Body, err)
				}
			}},
		{"form", `To={to}&From=%2B15559990000&Body={text}`, "", "application/x-www-form-urlencoded",
			func(t *testing.T, r billingtest.Request) {
				v, err := url.ParseQuery(r.Body)
				if err != nil || v.Get("To") != "+15550001111" || v.Get("Body") != text || v.Get("From") != "+15559990000" {
					t.Fatalf("body %q: %v", r.Body, err)
				}
			}},
		{"default form", "", "", "application/x-www-form-urlencoded",
			func(t *testing.T, r billingtest.Request) {
				v, err := url.ParseQuery(r.Body)
				if err != nil || v.Get("to") != "+15550001111" || v.Get("text") != text {
					t.Fatalf("body %q: %v", r.Body, err)
				}
			}},
		{"plain text", "{to}\n{text}", "text/plain", "text/plain",
			func(t *testing.T, r billingtest.Request) {
				if r.Body != "+15550001111\n"+text {
					t.Fatalf("body %q", r.Body)
				}
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			gw := billingtest.MustGateway(t)
			gw.Answer = func(int, billingtest.Request) (int, string) { return 201, `{"data":{"id":12345}}` }
			s := mustSender(t, sms.Config{URL: gw.URL + "/messages", Body: tc.body, ContentType: tc.contentType, AuthHeader: "X-Api-Key: k3y"})
			id, err := s.Send(context.Background(), note)
			if err != nil {
				t.Fatal(err)
			}
			r := gw.WaitRequests(t, 1)[0]
			if r.Method != "POST" || r.Header.Get("Content-Type") != tc.wantType || r.Header.Get("X-Api-Key") != "k3y" {
				t.Fatalf("method %s content type %q key %q", r.Method, r.Header.Get("Content-Type"), r.Header.Get("X-Api-Key"))
			}
			tc.check(t, r)
			if id != "12345" {
				t.Fatalf("provider id = %q", id)
			}
		})
	}
}

// TestSendFailures: anything but a 2xx is a failure, and so is a gateway slower than the
// timeout; no error shows the URL's key or the auth header.
func TestSendFailures(t *testing.T) {
	ctx := context.Background()
	gw := billingtest.MustGateway(t)
	gw.Answer = func(n int, _ billingtest.Request) (int, string) {
		if n == 1 {
			return 503, "<html>\n  busy, try later\n</html>"
		}
		return 302, ""
	}
	s := mustSender(t, sms.Config{URL: gw.URL + "/send?key=k3y&to={to}&text={text}", Method: "GET", AuthHeader: "Authorization: Bearer t0ken", Timeout: 300 * time.Millisecond})
	_, err := s.Send(ctx, note)
	if err == nil || err.Error() != "gateway answered 503 Service Unavailable: <html> busy, try later </html>" {
		t.Fatalf("503: err = %v", err)
	}
	if _, err := s.Send(ctx, note); err == nil {
		t.Fatal("a 302 without Location was a success")
	}
	slow := billingtest.MustGateway(t)
	slow.Delay = 5 * time.Second
	s = mustSender(t, sms.Config{URL: slow.URL + "/send?key=k3y&to={to}&text={text}", Method: "GET", AuthHeader: "Authorization: Bearer t0ken", Timeout: 300 * time.Millisecond})
	start := time.Now()
	_, err = s.Send(ctx, note)
	if err == nil || !strings.Contains(err.Error(), "timeout") || time.Since(start) > 3*time.Second {
		t.Fatalf("slow gateway: err = %v after %v", err, time.Since(start))
	}
	for _, secret := range []string{"k3y", "t0ken", "15550001111", "127.0.0.1"} {
		if strings.Contains(err.Error(), secret) {
			t.Fatalf("error %q shows %q", err, secret)
		}
	}
	down := mustSender(t, sms.Config{URL: "http://127.0.0.1:1/send?key=k3y&to={to}&text={text}"})
	if _, err := down.Send(ctx, note); err == nil || strings.Contains(err.Error(), "k3y") {
		t.Fatalf("gateway down: err = %v", err)
	}
}

func TestNewRefuses(t *testing.T) {
	cases := []struct {
		name string
		cfg  sms.Config
		want string
	}{
		{"no url", sms.Config{}, "url: "},
		{"ftp", sms.Config{URL: "ftp://gw/{to}/{text}"}, "url: "},
		{"no host", sms.Config{URL: "http:///send?to={to}&text={text}"}, "url: "},
		{"no text", sms.Config{URL: "https://gw/send?to={to}", Method: "GET"}, "url: neither the URL nor the body holds the placeholder {text}"},
		{"no to in post body", sms.Config{URL: "https://gw/send", Body: `{"text":"{text}"}`}, "url: neither the URL nor the body holds the placeholder {to}"},
		{"bad method", sms.Config{URL: "https://gw/send?to={to}&text={text}", Method: "PUT"}, "method: "},
		{"get with body", sms.Config{URL: "https://gw/send?to={to}&text={text}", Method: "GET", Body: "x"}, "body: "},
		{"bad content type", sms.Config{URL: "https://gw/send", ContentType: "json"}, "content-type: "},
		{"bad auth header", sms.Config{URL: "https://gw/send", AuthHeader: "Bearer s3cret"}, "auth-header: "},
		{"auth header with a line break", sms.Config{URL: "https://gw/send", AuthHeader: "X-Key: a\r\nX-Other: b"}, "auth-header: "},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := sms.New(tc.cfg)
			if radius.ErrorCode(err) != radius.EINVALID || !strings.HasPrefix(radius.ErrorMessage(err), tc.want) || strings.Contains(err.Error(), "s3cret") {
				t.Fatalf("New = %v, want EINVALID %q…", err, tc.want)
			}
		})
	}
}

func TestRedactURL(t *testing.T) {
	cases := map[string]string{
		"https://gw.example/send?api_key=s3cret&to={to}&text={text}": "https://gw.example/send?api_key=xxxxx&to={to}&text={text}",
		"https://user:s3cret@gw.example/send/{to}/{text}":            "https://user:xxxxx@gw.example/send/{to}/{text}",
		"https://gw.example/send":                                    "https://gw.example/send",
	}
	for in, want := range cases {
		if got := sms.RedactURL(in); got != want {
			t.Errorf("RedactURL(%q) = %q, want %q", in, got, want)
		}
	}
}
