package billingtest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"sync"
	"testing"
)

// Paystack is a fake of Paystack's API in process (httptest on 127.0.0.1): POST
// /transaction/initialize checks the Bearer key and the body as Paystack does (email,
// a positive amount in minor units, a reference of letters, digits, "-", "." and "="
// used once) and answers with an authorization URL. Webhooks are signed by the tests
// themselves (payments.SignPaystack).
type Paystack struct {
	URL       string
	SecretKey string

	mu       sync.Mutex
	refuse   string
	inits    []PaystackInit
	seenRefs map[string]bool
}

// PaystackInit is one initialize request the fake accepted.
type PaystackInit struct {
	Email       string         `json:"email"`
	Amount      int64          `json:"amount"`
	Currency    string         `json:"currency"`
	Reference   string         `json:"reference"`
	CallbackURL string         `json:"callback_url"`
	Metadata    map[string]any `json:"metadata"`
	// AuthorizationURL is what the fake answered.
	AuthorizationURL string `json:"-"`
}

// paystackRef is what Paystack accepts in a reference.
var paystackRef = regexp.MustCompile(`^[A-Za-z0-9.=-]+$`)

// MustPaystack starts the fake with secretKey; the test's end stops it.
func MustPaystack(tb testing.TB, secretKey string) *Paystack {
	tb.Helper()
	p := &Paystack{SecretKey: secretKey, seenRefs: map[string]bool{}}
	srv := httptest.NewServer(http.HandlerFunc(p.serve))
	p.URL = srv.URL
	tb.Cleanup(srv.Close)
	return p
}

func (p *Paystack) answer(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (p *Paystack) refused(w http.ResponseWriter, status int, msg string) {
	p.answer(w, status, map[string]any{"status": false, "message": msg})
}

func (p *Paystack) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/transaction/initialize" {
		p.refused(w, http.StatusNotFound, "not found")
		return
	}
	if r.Header.Get("Authorization") != "Bearer "+p.SecretKey {
		p.refused(w, http.StatusUnauthorized, "Invalid key")
		return
	}
	var in PaystackInit
	dec := json.NewDecoder(r.Body)
	if err := dec.Decode(&in); err != nil {
		p.refused(w, http.StatusBadRequest, "Invalid JSON")
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case p.refuse != "":
		p.refused(w, http.StatusBadRequest, p.refuse)
	case in.Email == "":
		p.refused(w, http.StatusBadRequest, "Email is required")
	case in.Amount <= 0:
		p.refused(w, http.StatusBadRequest, "Invalid Amount Sent")
	case in.Reference != "" && !paystackRef.MatchString(in.Reference):
		p.refused(w, http.StatusBadRequest, "Invalid transaction reference")
	case p.seenRefs[in.Reference]:
		p.refused(w, http.StatusBadRequest, "Duplicate Transaction Reference")
	default:
		p.seenRefs[in.Reference] = true
		code := "ac" + strconv.Itoa(len(p.inits)+1)
		in.AuthorizationURL = "https://checkout.paystack.test/" + code
		p.inits = append(p.inits, in)
		p.answer(w, http.StatusOK, map[string]any{"status": true, "message": "Authorization URL created",
			"data": map[string]any{"authorization_url": in.AuthorizationURL, "access_code": code, "reference": in.Reference}})
	}
}

// Refuse makes every initialize answer 400 with msg ("": accept again).
func (p *Paystack) Refuse(msg string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.refuse = msg
}

// Inits returns the initialize requests accepted so far.
func (p *Paystack) Inits() []PaystackInit {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]PaystackInit(nil), p.inits...)
}

// ChargeSuccess is the body of a charge.success event as Paystack sends it (trimmed):
// its transaction id, the reference, the amount in minor units and the currency, with
// the customer's email as personal data.
func ChargeSuccess(id int64, reference string, amount int64, currency string) []byte {
	return fmt.Appendf(nil, `{"event":"charge.success","data":{"id":%d,"domain":"test","status":"success",`+
		`"reference":%q,"amount":%d,"message":null,"gateway_response":"Successful","channel":"card","currency":%q,`+
		`"ip_address":"41.1.25.1","metadata":{"topup_reference":%q},`+
		`"customer":{"id":84312,"first_name":"Ada","last_name":"Obi","email":"ada@example.com"},`+
		`"authorization":{"last4":"4081","bank":"TEST BANK","card_type":"visa"}}}`, id, reference, amount, currency, reference)
}
