// Package paystack starts checkouts at Paystack (POST /transaction/initialize) with
// net/http alone. It is the payments.Gateway of the provider "paystack"; Paystack's
// webhooks are verified and read by the payments package itself.
package paystack

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"tollgate/billing/payments"
	"tollgate/radius"
)

// DefaultBaseURL is Paystack's API.
const DefaultBaseURL = "https://api.paystack.co"

// Client calls Paystack's API with the merchant's secret key.
type Client struct {
	// BaseURL is the API's address (DefaultBaseURL when ""); tests point it at a local
	// fake.
	BaseURL   string
	SecretKey string
	// CallbackURL, when set, is where Paystack sends the payer back after paying.
	CallbackURL string
	// HTTP is the client (a 10-second timeout when nil).
	HTTP *http.Client
}

var _ payments.Gateway = (*Client)(nil)

// maxAnswer bounds what is read of an answer.
const maxAnswer = 1 << 20

// Initialize starts the checkout of t for email: it sends the amount in minor units,
// the currency and t's reference (so Paystack's charge.success names it), and returns
// the authorization URL to send the payer to. EINVALID when Paystack refuses (its
// message is quoted), EINTERNAL when it cannot be reached or answers nonsense.
func (c *Client) Initialize(ctx context.Context, t *payments.TopUp, email string) (string, error) {
	body := map[string]any{
		"email":     email,
		"amount":    t.AmountCents,
		"currency":  t.Currency,
		"reference": t.Reference,
		"metadata":  map[string]string{"topup_reference": t.Reference},
	}
	if c.CallbackURL != "" {
		body["callback_url"] = c.CallbackURL
	}
	b, err := json.Marshal(body)
	if err != nil {
		return "", fmt.Errorf("paystack: initialize: %w", err)
	}
	base := c.BaseURL
	if base == "" {
		base = DefaultBaseURL
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(base, "/")+"/transaction/initialize", bytes.NewReader(b))
	if err != nil {
		return "", fmt.Errorf("paystack: initialize: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+c.SecretKey)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	hc := c.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: 10 * time.Second}
	}
	resp, err := hc.Do(req)
	if err != nil {
		return "", &radius.Error{Code: radius.EINTERNAL, Message: "paystack: cannot reach the API", Err: err}
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return "", &radius.Error{Code: radius.EINTERNAL, Message: "paystack: reading the answer", Err: err}
	}
	var out struct {
		Status  bool   `json:"status"`
		Message string `json:"message"`
		Data    struct {
			AuthorizationURL string `json:"authorization_url"`
			Reference        string `json:"reference"`
		} `json:"data"`
	}
	jerr := json.Unmarshal(raw, &out)
	switch {
	case resp.StatusCode >= 500 || jerr != nil && resp.StatusCode >= 400:
		return "", radius.Errorf(radius.EINTERNAL, "paystack: initialize answered %d", resp.StatusCode)
	case resp.StatusCode >= 400 || !out.Status:
		msg := out.Message
		if msg == "" {
			msg = http.StatusText(resp.StatusCode)
		}
		return "", radius.Errorf(radius.EINVALID, "paystack: initialize refused (%d): %s", resp.StatusCode, clip(msg, 200))
	case jerr != nil:
		return "", &radius.Error{Code: radius.EINTERNAL, Message: "paystack: initialize: the answer is not JSON", Err: jerr}
	}
	u, err := url.Parse(out.Data.AuthorizationURL)
	if err != nil || u.Scheme != "https" && u.Scheme != "http" || u.Host == "" {
		return "", radius.Errorf(radius.EINTERNAL, "paystack: initialize gave no authorization URL")
	}
	if out.Data.Reference != "" && out.Data.Reference != t.Reference {
		return "", radius.Errorf(radius.EINTERNAL, "paystack: initialize answered for reference %q, not %q", clip(out.Data.Reference, 64), t.Reference)
	}
	return out.Data.AuthorizationURL, nil
}

// clip shortens a message from the provider to n bytes.
func clip(s string, n int) string {
	s = strings.ToValidUTF8(s, "")
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n] + "..."
}
