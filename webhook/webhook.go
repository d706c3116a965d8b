// Package webhook sends tollgate's events to the operator's own systems: subscribers
// isolated and restored, payments received, sessions started and stopped. An admin
// registers endpoints (a URL, the event types it wants, a signing secret); each event is
// queued in Postgres as one message per endpoint that wants it, and delivered by HTTP
// POST, signed per the Standard Webhooks specification, retried with backoff, every
// attempt logged.
//
// Events come from two places and neither slows the RADIUS path. Billing's outbox
// (billing_events) is read by Service.Collect next to the notification dispatcher, with
// a reading of its own. Sessions come from accounting: SessionFeed takes each recorded
// Start and Stop off the RADIUS worker without blocking, and queues them in batches.
//
// The package imports the standard library and the domain packages below it; its
// Postgres adapter is webhook/postgres.
package webhook

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"tollgate/billing"
	"tollgate/radius"
)

// The event types an endpoint may want.
const (
	SubscriberIsolated = "subscriber.isolated"
	SubscriberRestored = "subscriber.restored"
	PaymentReceived    = "payment.received"
	SessionStart       = "session.start"
	SessionStop        = "session.stop"
)

// EventTypes are every event type, in the order pages list them.
var EventTypes = []string{SubscriberIsolated, SubscriberRestored, PaymentReceived, SessionStart, SessionStop}

// BillingTypes maps the billing events webhooks announce to their types.
var BillingTypes = map[billing.EventKind]string{
	billing.EventIsolated:        SubscriberIsolated,
	billing.EventRestored:        SubscriberRestored,
	billing.EventPaymentReceived: PaymentReceived,
}

// Endpoint is where an admin wants events sent.
type Endpoint struct {
	ID          int64
	URL         string
	Description string
	Events      []string
	Enabled     bool
	CreatedBy   string
	CreatedAt   time.Time
}

// Wants reports whether e takes events of type t.
func (e *Endpoint) Wants(t string) bool { return e.Enabled && slices.Contains(e.Events, t) }

// NewEndpoint is the input of Service.AddEndpoint.
type NewEndpoint struct {
	URL         string
	Description string
	Events      []string
	CreatedBy   string
}

// Limits of an endpoint.
const (
	MaxURL         = 2000
	MaxDescription = 200
)

// Validate checks n and normalizes its events (sorted as EventTypes, once each).
// EINVALID naming the field.
func (n *NewEndpoint) Validate() error {
	n.URL = strings.TrimSpace(n.URL)
	u, err := url.Parse(n.URL)
	switch {
	case n.URL == "":
		return radius.Errorf(radius.EINVALID, "url: required")
	case len(n.URL) > MaxURL:
		return radius.Errorf(radius.EINVALID, "url: at most %d characters", MaxURL)
	case err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "":
		return radius.Errorf(radius.EINVALID, "url: %q is not an http:// or https:// address", n.URL)
	case u.User != nil:
		return radius.Errorf(radius.EINVALID, "url: no user or password in the address; the signature authenticates tollgate")
	case u.Fragment != "":
		return radius.Errorf(radius.EINVALID, "url: no #fragment")
	case len(n.Description) > MaxDescription:
		return radius.Errorf(radius.EINVALID, "description: at most %d characters", MaxDescription)
	}
	var events []string
	for _, t := range EventTypes {
		if slices.Contains(n.Events, t) {
			events = append(events, t)
		}
	}
	for _, t := range n.Events {
		if !slices.Contains(EventTypes, t) {
			return radius.Errorf(radius.EINVALID, "events: %q is not an event type (%s)", t, strings.Join(EventTypes, ", "))
		}
	}
	if len(events) == 0 {
		return radius.Errorf(radius.EINVALID, "events: choose at least one of %s", strings.Join(EventTypes, ", "))
	}
	n.Events = events
	return nil
}

// Delivery states.
const (
	StateQueued    = "queued"
	StateDelivered = "delivered"
	StateFailed    = "failed"
)

// Message is one event as queued for an endpoint: its id (the webhook-id header, the
// same on every retry), its type and the exact body sent.
type Message struct {
	ID      string
	Type    string
	Payload []byte
}

// Delivery is one message to one endpoint, with where it stands.
type Delivery struct {
	ID            int64
	EndpointID    int64
	URL           string
	MsgID         string
	Type          string
	Payload       []byte
	CreatedAt     time.Time
	State         string
	Attempts      int
	NextAttemptAt time.Time
	LastStatus    int
	LastError     string
	DeliveredAt   time.Time
}

// Attempt is one POST of a delivery and what the receiver answered.
type Attempt struct {
	DeliveryID int64
	Attempt    int
	At         time.Time
	Status     int    // the HTTP status; 0 when none came
	Error      string // "" for a 2xx
	Duration   time.Duration
}

// OK reports whether the receiver took the message (a 2xx).
func (a *Attempt) OK() bool { return a.Status >= 200 && a.Status < 300 }

// DeliveryFilter selects deliveries for the log. Zero fields do not filter.
type DeliveryFilter struct {
	EndpointID int64
	State      string
	// BeforeID continues the log below this delivery (newest first).
	BeforeID int64
	Limit    int // default 50, at most 1000
}

// SessionRef names a session whose Start or Stop was recorded.
type SessionRef struct {
	NASID     int64
	SessionID string
	Stop      bool
}

// Store keeps endpoints and the delivery queue (Postgres).
type Store interface {
	// NextEndpointID reserves the id of a new endpoint, which its sealed secret is bound to.
	NextEndpointID(ctx context.Context) (int64, error)
	// CreateEndpoint stores e under its reserved id with its sealed secret, and sets
	// CreatedAt. EINVALID.
	CreateEndpoint(ctx context.Context, e *Endpoint, sealedSecret []byte) error
	// ListEndpoints returns every endpoint, by id.
	ListEndpoints(ctx context.Context) ([]Endpoint, error)
	// EndpointSecret returns endpoint id's sealed secret. ENOTFOUND.
	EndpointSecret(ctx context.Context, id int64) ([]byte, error)
	// SetEndpointEnabled turns endpoint id on or off. ENOTFOUND.
	SetEndpointEnabled(ctx context.Context, id int64, enabled bool) error
	// DeleteEndpoint removes endpoint id and its queue and log. ENOTFOUND.
	DeleteEndpoint(ctx context.Context, id int64) error
	// WantsSessions reports whether an enabled endpoint takes session events.
	WantsSessions(ctx context.Context) (bool, error)

	// CollectBilling queues the billing events of the outbox not read yet (at most
	// limit), each for the enabled endpoints that want its type, marks them read, and
	// moves the reading's cursor past the events older than settle. It returns how
	// many events it read.
	CollectBilling(ctx context.Context, limit int, settle time.Duration) (int, error)
	// QueueSessions queues a message for each session of refs (as stored now) for the
	// enabled endpoints that want its type, once per session and type, and returns how
	// many deliveries it queued.
	QueueSessions(ctx context.Context, refs []SessionRef) (int, error)
	// QueueMessage queues m for endpoint id (a test message from the admin page).
	QueueMessage(ctx context.Context, endpointID int64, m Message) error

	// ClaimDelivery returns the queued delivery due soonest at now, locked until the
	// caller's transaction ends (others skip it), with its endpoint's URL. ENOTFOUND
	// when none is due.
	ClaimDelivery(ctx context.Context, now time.Time) (*Delivery, error)
	// RecordAttempt logs a and moves its delivery to state (next is the next attempt's
	// time when state is queued).
	RecordAttempt(ctx context.Context, a Attempt, state string, next time.Time) error
	// FindDeliveries lists deliveries newest first.
	FindDeliveries(ctx context.Context, f DeliveryFilter) ([]Delivery, error)
	// FindAttempts lists a delivery's attempts, first first.
	FindAttempts(ctx context.Context, deliveryID int64) ([]Attempt, error)
	// RetryDelivery queues delivery id again now, whatever its state. ENOTFOUND.
	RetryDelivery(ctx context.Context, id int64, now time.Time) error
	// PruneDeliveries deletes the deliveries done (delivered or failed) and created
	// before before, with their attempts, and returns how many.
	PruneDeliveries(ctx context.Context, before time.Time) (int64, error)
}

// InTx runs fn with a Store bound to one transaction: committed when fn returns nil.
type InTx func(ctx context.Context, fn func(Store) error) error

// Sealer seals endpoint secrets bound to their rows (radius/seal).
type Sealer interface {
	Seal(plain, ad []byte) []byte
}

// secretPrefix starts every signing secret (Standard Webhooks).
const secretPrefix = "whsec_"

// NewSecret returns a fresh signing secret: "whsec_" and the base64 of 24 random bytes.
func NewSecret() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return secretPrefix + base64.StdEncoding.EncodeToString(b)
}

// secretKey returns the HMAC key of a secret: the bytes its base64 part encodes.
// EINVALID for a secret that is not one.
func secretKey(secret string) ([]byte, error) {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, secretPrefix))
	if err != nil || len(key) == 0 {
		return nil, radius.Errorf(radius.EINVALID, "secret: not a whsec_ secret")
	}
	return key, nil
}

// Sign returns the webhook-signature header of a message sent at ts with body:
// "v1," and the base64 of HMAC-SHA256, keyed with the secret's bytes, over
// "id.timestamp.body" (Standard Webhooks).
func Sign(secret, id string, ts time.Time, body []byte) (string, error) {
	key, err := secretKey(secret)
	if err != nil {
		return "", err
	}
	m := hmac.New(sha256.New, key)
	m.Write([]byte(id))
	m.Write([]byte{'.'})
	m.Write([]byte(strconv.FormatInt(ts.Unix(), 10)))
	m.Write([]byte{'.'})
	m.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil)), nil
}

// Tolerance is how far a webhook-timestamp may be from the receiver's clock.
const Tolerance = 5 * time.Minute

// Verify checks a request as a receiver does: its webhook-timestamp within Tolerance
// of now, and one of the signatures of its webhook-signature header (space-separated,
// "v1,…") the one secret gives. It is what the tests' receivers run, and what the
// README shows integrators.
func Verify(secret string, h http.Header, body []byte, now time.Time) error {
	id, tsText, sigs := h.Get("webhook-id"), h.Get("webhook-timestamp"), h.Get("webhook-signature")
	if id == "" || tsText == "" || sigs == "" {
		return radius.Errorf(radius.EUNAUTHORIZED, "webhook: missing webhook-id, webhook-timestamp or webhook-signature")
	}
	sec, err := strconv.ParseInt(tsText, 10, 64)
	if err != nil {
		return radius.Errorf(radius.EUNAUTHORIZED, "webhook: bad webhook-timestamp")
	}
	ts := time.Unix(sec, 0)
	if d := now.Sub(ts); d > Tolerance || d < -Tolerance {
		return radius.Errorf(radius.EUNAUTHORIZED, "webhook: timestamp too far from now")
	}
	want, err := Sign(secret, id, ts, body)
	if err != nil {
		return err
	}
	for _, s := range strings.Fields(sigs) {
		if hmac.Equal([]byte(s), []byte(want)) {
			return nil
		}
	}
	return radius.Errorf(radius.EUNAUTHORIZED, "webhook: no matching signature")
}

// MessageID derives a message's webhook-id from what makes the event one event (its
// type and key): the same event queued twice, by two replicas or a replay, has one id.
// "msg_" and the URL-safe base64 of the first 18 bytes of SHA-256(type ":" key); the
// Postgres adapter computes the same in SQL (its tests check they agree).
func MessageID(typ, key string) string {
	sum := sha256.Sum256([]byte(typ + ":" + key))
	return "msg_" + base64.RawURLEncoding.EncodeToString(sum[:18])
}
