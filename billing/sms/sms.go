// Package sms sends billing's SMS (or WhatsApp) notifications through an HTTP gateway:
// one request per message, built from a URL template and, for POST, a body template,
// both with the placeholders {to} (the E.164 number) and {text}. It uses net/http alone,
// since a gateway is "a request with the number and the text" whatever its vendor.
//
// Escaping: in the URL, a placeholder before the "?" is path-escaped and one after it
// query-escaped. In a body, escaping follows the content type: JSON string escaping for
// application/json (and any +json type), so the template writes the quotes itself
// ({"to":"{to}","text":"{text}"}); form escaping for application/x-www-form-urlencoded;
// none for any other type. The content type, when not given, is application/json for a
// body that starts with "{" or "[" and application/x-www-form-urlencoded otherwise. A
// POST without a body template sends the form "to={to}&text={text}".
package sms

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"tollgate/billing"
	"tollgate/radius"
)

// Config is a gateway's configuration, from TOLLGATE_SMS_*.
type Config struct {
	// URL is the request's URL template, e.g.
	// https://gw.example/send?to={to}&text={text}.
	URL string
	// Method is GET or POST ("" means POST).
	Method string
	// Body is POST's body template ("" means the form to={to}&text={text}); GET has none.
	Body string
	// ContentType is POST's Content-Type ("" means chosen from Body, see the package doc).
	ContentType string
	// AuthHeader is one header sent with every request, "Name: value" (e.g.
	// "Authorization: Bearer …"); "" for none. It is a secret: it never appears in an
	// error.
	AuthHeader string
	// Timeout bounds one request, answer included; 0 means 10 s.
	Timeout time.Duration
}

// Sender delivers SMS notifications through the gateway; it is safe for concurrent use.
type Sender struct {
	url         string
	method      string
	body        string
	contentType string
	escapeBody  func(string) string
	authName    string
	authValue   string
	client      *http.Client
	host        string
}

var _ billing.Sender = (*Sender)(nil)

func invalid(format string, args ...any) error {
	return radius.Errorf(radius.EINVALID, format, args...)
}

var (
	headerName   = regexp.MustCompile(`^[A-Za-z0-9!#$%&'*+.^_|~-]+$`)
	userPassword = regexp.MustCompile(`^([a-zA-Z][a-zA-Z0-9+.-]*://[^:/@]*:)[^@/]*@`)
)

// ParseAuthHeader splits "Name: value" into its name and value. EINVALID, with a
// message that does not repeat the value.
func ParseAuthHeader(h string) (name, value string, err error) {
	name, value, ok := strings.Cut(h, ":")
	name, value = strings.TrimSpace(name), strings.TrimSpace(value)
	if !ok || !headerName.MatchString(name) || value == "" || strings.ContainsAny(value, "\r\n") {
		return "", "", invalid(`want "Name: value", e.g. "Authorization: Bearer <token>"`)
	}
	return name, value, nil
}

// New checks cfg and returns a Sender; it sends nothing until Send. EINVALID naming the
// setting at fault: "url: …", "method: …", "body: …", "content-type: …", "auth-header: …".
func New(cfg Config) (*Sender, error) {
	s := &Sender{url: cfg.URL, method: strings.ToUpper(cfg.Method), body: cfg.Body, contentType: cfg.ContentType}
	if s.method == "" {
		s.method = http.MethodPost
	}
	if s.method != http.MethodGet && s.method != http.MethodPost {
		return nil, invalid("method: %q is not GET or POST", cfg.Method)
	}
	u, err := url.Parse(expandURL(cfg.URL, "+10000000000", "text"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, invalid("url: want http(s)://host/path?to={to}&text={text}")
	}
	s.host = u.Scheme + "://" + u.Host
	if s.method == http.MethodGet {
		if s.body != "" {
			return nil, invalid("body: a GET request has no body; put {to} and {text} in the URL, or use POST")
		}
	} else if s.body == "" {
		s.body = "to={to}&text={text}"
	}
	for _, p := range []string{"{to}", "{text}"} {
		if !strings.Contains(cfg.URL, p) && !strings.Contains(s.body, p) {
			return nil, invalid("url: neither the URL nor the body holds the placeholder %s", p)
		}
	}
	if s.method == http.MethodPost {
		if s.contentType == "" {
			s.contentType = "application/x-www-form-urlencoded"
			if b := strings.TrimSpace(s.body); strings.HasPrefix(b, "{") || strings.HasPrefix(b, "[") {
				s.contentType = "application/json"
			}
		}
		mt, _, err := mime.ParseMediaType(s.contentType)
		if err != nil || !strings.Contains(mt, "/") || strings.ContainsAny(s.contentType, "\r\n") {
			return nil, invalid("content-type: %q is not a media type", s.contentType)
		}
		switch {
		case mt == "application/json" || strings.HasSuffix(mt, "+json"):
			s.escapeBody = jsonEscape
		case mt == "application/x-www-form-urlencoded":
			s.escapeBody = url.QueryEscape
		default:
			s.escapeBody = func(v string) string { return v }
		}
	}
	if cfg.AuthHeader != "" {
		if s.authName, s.authValue, err = ParseAuthHeader(cfg.AuthHeader); err != nil {
			return nil, invalid("auth-header: %s", radius.ErrorMessage(err))
		}
	}
	timeout := cfg.Timeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	s.client = &http.Client{Timeout: timeout}
	return s, nil
}

// String names the gateway (scheme and host only: the rest may hold a key), for logs.
func (s *Sender) String() string { return s.method + " " + s.host }

// expandURL fills the placeholders of a URL template: path-escaped before the "?",
// query-escaped after it.
func expandURL(tmpl, to, text string) string {
	path, query, hasQuery := strings.Cut(tmpl, "?")
	r := strings.NewReplacer("{to}", url.PathEscape(to), "{text}", url.PathEscape(text))
	out := r.Replace(path)
	if hasQuery {
		q := strings.NewReplacer("{to}", url.QueryEscape(to), "{text}", url.QueryEscape(text))
		out += "?" + q.Replace(query)
	}
	return out
}

// jsonEscape returns v as the inside of a JSON string.
func jsonEscape(v string) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v) // a string always encodes
	out := strings.TrimSuffix(b.String(), "\n")
	return out[1 : len(out)-1]
}

// maxAnswer bounds how much of the gateway's answer is read.
const maxAnswer = 64 << 10

// Send asks the gateway to deliver n.Body to n.Recipient. A 2xx answer is a success,
// and its JSON's message id (message_id, messageId, id or sid, at the top or under
// "data"), when there is one, is returned; any other answer, a network error or a
// timeout is an error. No error names the URL or the auth header.
func (s *Sender) Send(ctx context.Context, n *billing.Notification) (string, error) {
	var body io.Reader
	if s.method == http.MethodPost {
		r := strings.NewReplacer("{to}", s.escapeBody(n.Recipient), "{text}", s.escapeBody(n.Body))
		body = strings.NewReader(r.Replace(s.body))
	}
	req, err := http.NewRequestWithContext(ctx, s.method, expandURL(s.url, n.Recipient, n.Body), body)
	if err != nil {
		return "", errors.New("gateway request: bad URL")
	}
	if body != nil {
		req.Header.Set("Content-Type", s.contentType)
	}
	req.Header.Set("User-Agent", "tollgate")
	if s.authName != "" {
		req.Header.Set(s.authName, s.authValue)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		// A *url.Error names the URL, which may hold the gateway's key and the text:
		// keep its cause alone.
		var ue *url.Error
		if errors.As(err, &ue) {
			if ue.Timeout() {
				return "", fmt.Errorf("gateway: timeout: %w", ue.Err)
			}
			return "", fmt.Errorf("gateway: %w", ue.Err)
		}
		return "", fmt.Errorf("gateway: %w", err)
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return "", fmt.Errorf("gateway answered %s: %s", resp.Status, snippet(answer))
	}
	return messageID(answer), nil
}

// snippet is the start of a gateway's answer, on one line, for the log.
func snippet(b []byte) string {
	s := strings.Join(strings.Fields(string(b)), " ")
	if len(s) > 200 {
		s = strings.ToValidUTF8(s[:200], "") + "…"
	}
	if s == "" {
		s = "(empty)"
	}
	return s
}

// messageID finds a message id in a gateway's JSON answer, or "".
func messageID(answer []byte) string {
	var top map[string]any
	if json.Unmarshal(answer, &top) != nil {
		return ""
	}
	for _, obj := range []any{top, top["data"]} {
		m, ok := obj.(map[string]any)
		if !ok {
			continue
		}
		for _, k := range []string{"message_id", "messageId", "MessageId", "id", "sid"} {
			switch v := m[k].(type) {
			case string:
				if v != "" {
					return v
				}
			case float64:
				return strconv.FormatFloat(v, 'f', -1, 64)
			}
		}
	}
	return ""
}

// RedactURL hides what a URL template may hold of a secret, for `tollgate config`: the
// userinfo's password and every query value that is not a placeholder.
func RedactURL(tmpl string) string {
	path, query, hasQuery := strings.Cut(tmpl, "?")
	path = userPassword.ReplaceAllString(path, "${1}xxxxx@")
	if !hasQuery {
		return path
	}
	parts := strings.Split(query, "&")
	for i, p := range parts {
		k, v, ok := strings.Cut(p, "=")
		if ok && v != "" && v != "{to}" && v != "{text}" {
			parts[i] = k + "=xxxxx"
		}
	}
	return path + "?" + strings.Join(parts, "&")
}
