package payments

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"tollgate/billing"
	"tollgate/radius"
)

// Refusals of a webhook, before anything is recorded. Their codes decide the answer
// (portal/webhooks.go): EUNAUTHORIZED (401, bad or missing signature), EEXPIRED (400,
// a timestamp outside the tolerance), EINVALID (400, a body or header that is not what
// the format says). A provider retries them; an attacker learns nothing.
var (
	ErrSignature = radius.Errorf(radius.EUNAUTHORIZED, "signature: missing or wrong")
	ErrStale     = radius.Errorf(radius.EEXPIRED, "webhook-timestamp: more than 5 minutes away from now")
)

// Tolerance is how far a Standard Webhooks timestamp may be from now.
const Tolerance = 5 * time.Minute

// MaxBody is the largest webhook body accepted (a payment event is a few KiB).
const MaxBody = 64 << 10

// VerifyPaystack reports whether signature (the x-paystack-signature header: lowercase
// hex of the HMAC-SHA512 of the raw body keyed with the secret key) signs body. It
// compares in constant time and must run before the body is parsed.
func VerifyPaystack(secretKey, body []byte, signature string) bool {
	if len(secretKey) == 0 || len(signature) != 2*sha512.Size {
		return false
	}
	got, err := hex.DecodeString(signature)
	if err != nil {
		return false
	}
	m := hmac.New(sha512.New, secretKey)
	m.Write(body)
	return hmac.Equal(m.Sum(nil), got)
}

// SignPaystack returns the x-paystack-signature of body, as Paystack computes it (for
// tests and for the README's example).
func SignPaystack(secretKey, body []byte) string {
	m := hmac.New(sha512.New, secretKey)
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// ParseWebhookSecrets reads TOLLGATE_WEBHOOK_SECRET: one or more Standard Webhooks
// secrets, "whsec_" and the base64 of the key, separated by spaces (several while a
// secret is rotated). EINVALID.
func ParseWebhookSecrets(s string) ([][]byte, error) {
	var keys [][]byte
	for _, f := range strings.Fields(s) {
		b64, ok := strings.CutPrefix(f, "whsec_")
		if !ok {
			return nil, invalid("secret: write it as whsec_ and the base64 of the key")
		}
		k, err := base64.StdEncoding.DecodeString(b64)
		if err != nil {
			return nil, invalid("secret: whsec_%.4s...: not base64", b64)
		}
		if len(k) < 16 || len(k) > 128 {
			return nil, invalid("secret: the key must be 16 to 128 bytes (24 to 32 is usual)")
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return nil, invalid("secret: empty")
	}
	return keys, nil
}

// StandardHeaders are the Standard Webhooks headers of one delivery.
type StandardHeaders struct {
	ID        string // webhook-id
	Timestamp string // webhook-timestamp, Unix seconds
	Signature string // webhook-signature: space-separated "v1,<base64>" entries
}

// SignStandard returns the "v1,<base64>" signature of a delivery with key (for tests and
// the README's example).
func SignStandard(key []byte, id string, ts int64, body []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(id + "." + strconv.FormatInt(ts, 10) + "."))
	m.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// VerifyStandard checks a Standard Webhooks delivery: one of the signature's v1 entries
// is the HMAC-SHA256 of "id.timestamp.body" with one of keys (compared in constant
// time; other versions are skipped), and the timestamp is within Tolerance of now.
// ErrSignature, ErrStale, EINVALID for a missing id or timestamp.
func VerifyStandard(keys [][]byte, h StandardHeaders, body []byte, now time.Time) error {
	if h.ID == "" || len(h.ID) > 200 || !printable(h.ID) {
		return invalid("webhook-id: missing or not 1 to 200 printable characters")
	}
	ts, err := strconv.ParseInt(h.Timestamp, 10, 64)
	if err != nil {
		return invalid("webhook-timestamp: missing or not Unix seconds")
	}
	if h.Signature == "" || len(keys) == 0 {
		return ErrSignature
	}
	ok := false
	for _, k := range keys {
		m := hmac.New(sha256.New, k)
		m.Write([]byte(h.ID + "." + h.Timestamp + "."))
		m.Write(body)
		want := m.Sum(nil)
		for _, entry := range strings.Fields(h.Signature) {
			v, sig, found := strings.Cut(entry, ",")
			if !found || v != "v1" {
				continue
			}
			got, err := base64.StdEncoding.DecodeString(sig)
			if err == nil && hmac.Equal(want, got) {
				ok = true
			}
		}
	}
	if !ok {
		return ErrSignature
	}
	at := time.Unix(ts, 0)
	if at.Before(now.Add(-Tolerance)) || at.After(now.Add(Tolerance)) {
		return ErrStale
	}
	return nil
}

func printable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}

// Event is a verified webhook's payment, or another event tollgate does not act on.
type Event struct {
	// Type is the provider's event type: charge.success, payment.succeeded,
	// payment.failed; anything else is acknowledged and ignored.
	Type     string
	Provider Provider
	// DeliveryID is a Standard Webhooks webhook-id ("" for Paystack).
	DeliveryID string
	Payment    Payment
	Raw        []byte
}

// Actionable event types.
const (
	TypeChargeSuccess    = "charge.success"
	TypePaymentSucceeded = "payment.succeeded"
	TypePaymentFailed    = "payment.failed"
)

// decode reads body as one JSON object into v, numbers kept exact. EINVALID naming body.
func decode(body []byte, v any) error {
	if !utf8.Valid(body) {
		return invalid("body: not UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return invalid("body: not a JSON object: %s", jsonMessage(err))
	}
	if dec.More() {
		return invalid("body: more than one JSON value")
	}
	return nil
}

// jsonMessage is a decoding error without Go's type names.
func jsonMessage(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return te.Field + " has the wrong type"
	}
	return err.Error()
}

// ParsePaystack reads a verified Paystack event: charge.success needs data.id,
// data.reference, data.amount (a positive whole number of minor units) and
// data.currency (ISO 4217). EINVALID naming the field.
func ParsePaystack(body []byte) (*Event, error) {
	var in struct {
		Event string `json:"event"`
		Data  struct {
			ID        json.RawMessage `json:"id"`
			Reference string          `json:"reference"`
			Amount    json.RawMessage `json:"amount"`
			Currency  string          `json:"currency"`
		} `json:"data"`
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if in.Event == "" {
		return nil, invalid("event: missing")
	}
	ev := &Event{Type: in.Event, Provider: Paystack, Raw: body}
	if in.Event != TypeChargeSuccess {
		return ev, nil
	}
	d := in.Data
	id, err := strconv.ParseInt(string(bytes.TrimSpace(d.ID)), 10, 64)
	if err != nil || id <= 0 {
		return nil, invalid("data.id: missing or not a positive number")
	}
	// Whole minor units as a JSON number: "2000" (a string) or 20.5 is not Paystack's.
	amount, err := strconv.ParseInt(string(bytes.TrimSpace(d.Amount)), 10, 64)
	if err != nil || amount <= 0 || amount > billing.MaxAmountCents {
		return nil, invalid("data.amount: missing or not a positive whole number of minor units")
	}
	if err := checkReference("data.reference", d.Reference, true); err != nil {
		return nil, err
	}
	if billing.ValidateCurrency(d.Currency) != nil {
		return nil, invalid("data.currency: %q is not an ISO 4217 code", d.Currency)
	}
	ev.Payment = Payment{Provider: Paystack, ProviderID: strconv.FormatInt(id, 10), Reference: d.Reference,
		AmountCents: amount, Currency: d.Currency}
	return ev, nil
}

// checkReference checks a reference or account as a provider sends it: printable, at
// most 200 bytes.
func checkReference(field, s string, required bool) error {
	switch {
	case s == "" && required:
		return invalid("%s: missing", field)
	case len(s) > 200 || !printable(s):
		return invalid("%s: not 1 to 200 printable characters", field)
	}
	return nil
}

// ParseStandard reads a verified generic event: {"type": "payment.succeeded", "data":
// {"id", "reference" or "account", "amount": "20.00", "currency"}}; payment.failed needs
// data.id and data.reference. EINVALID naming the field.
func ParseStandard(deliveryID string, body []byte) (*Event, error) {
	var in struct {
		Type string `json:"type"`
		Data struct {
			ID        json.RawMessage `json:"id"`
			Reference string          `json:"reference"`
			Account   string          `json:"account"`
			Amount    json.RawMessage `json:"amount"`
			Currency  string          `json:"currency"`
		} `json:"data"`
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if in.Type == "" {
		return nil, invalid("type: missing")
	}
	ev := &Event{Type: in.Type, Provider: Generic, DeliveryID: deliveryID, Raw: body}
	if in.Type != TypePaymentSucceeded && in.Type != TypePaymentFailed {
		return ev, nil
	}
	d := in.Data
	id, err := jsonText(d.ID)
	if err != nil || id == "" {
		return nil, invalid("data.id: missing (the provider's transaction id)")
	}
	if err := checkReference("data.id", id, true); err != nil {
		return nil, err
	}
	if err := checkReference("data.reference", d.Reference, false); err != nil {
		return nil, err
	}
	if err := checkReference("data.account", d.Account, false); err != nil {
		return nil, err
	}
	ev.Payment = Payment{Provider: Generic, ProviderID: id, Reference: d.Reference, Account: d.Account}
	if in.Type == TypePaymentFailed {
		if d.Reference == "" {
			return nil, invalid("data.reference: missing (the top-up that failed)")
		}
		return ev, nil
	}
	if (d.Reference == "") == (d.Account == "") {
		return nil, invalid("data.reference: give either reference (a top-up) or account (a subscriber's username)")
	}
	// A decimal string in the main unit: a JSON number would invite binary fractions.
	var amount string
	if len(d.Amount) == 0 || d.Amount[0] != '"' || json.Unmarshal(d.Amount, &amount) != nil {
		return nil, invalid("data.amount: missing; write it in the main unit as a string, e.g. \"20.00\"")
	}
	cents, err := billing.ParseCents(amount)
	if err != nil || cents <= 0 || cents > billing.MaxAmountCents {
		return nil, invalid("data.amount: %q is not a positive amount like \"20.00\"", amount)
	}
	if billing.ValidateCurrency(d.Currency) != nil {
		return nil, invalid("data.currency: %q is not an ISO 4217 code", d.Currency)
	}
	ev.Payment.AmountCents, ev.Payment.Currency = cents, d.Currency
	return ev, nil
}

// jsonText reads a JSON string or number as its text ("" for absent or null).
func jsonText(raw json.RawMessage) (string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return "", nil
	}
	if raw[0] == '"' {
		var s string
		err := json.Unmarshal(raw, &s)
		return s, err
	}
	var n json.Number
	if err := json.Unmarshal(raw, &n); err != nil {
		return "", err
	}
	return n.String(), nil
}
