package payments

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"tollgate/billing"
	"tollgate/radius"
)

// Config is the operator's payment settings.
type Config struct {
	// Currency is the wallets' currency (TOLLGATE_CURRENCY): top-ups are made in it.
	Currency string
	// TTL is how long a top-up may be paid (TOLLGATE_TOPUP_TTL; default DefaultTTL).
	TTL time.Duration
	// PaystackSecret is Paystack's secret key, which signs its webhooks; nil leaves
	// /webhooks/paystack off.
	PaystackSecret []byte
	// WebhookSecrets are the generic provider's Standard Webhooks keys; nil leaves
	// /webhooks/payments off.
	WebhookSecrets [][]byte
}

// DefaultTTL is a top-up's time to live when Config.TTL is 0.
const DefaultTTL = time.Hour

// Retention of what webhooks leave behind: Standard Webhooks delivery ids (only replays
// within Tolerance need them) and the raw events of resolved reviews (personal data).
const (
	DeliveryRetention = 7 * 24 * time.Hour
	RawRetention      = 90 * 24 * time.Hour
)

// queueSize bounds the work after commits waiting for the workers.
const queueSize = 256

// Service starts top-ups, takes the providers' webhooks and runs the review queue.
// Money is billing's money engine: a payment is credited with its CreditIn in the
// transaction that records it. Gateways start checkouts (Paystack's; a generic
// provider needs none). Store reads on the pool; InTx binds Store and the money store
// to one transaction. Now is the clock (time.Now when nil), Log where the background
// work reports what failed.
//
// What follows a credit's commit (telling the caches, disconnecting a restored
// subscriber's sessions: billing.SubscriberService.After) runs on background workers
// once Start was called, so a webhook is answered as soon as the credit committed; a full
// queue, or a service not started (the command line), does it before returning.
type Service struct {
	Store    Store
	InTx     InTx
	Money    *billing.SubscriberService
	Gateways map[Provider]Gateway
	Config   Config
	Now      func() time.Time
	Log      *slog.Logger

	mu      sync.Mutex
	queue   chan []*billing.Outcome
	closed  bool
	wg      sync.WaitGroup
	queued  atomic.Int64
	inlined atomic.Int64
}

func (s *Service) now() time.Time {
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	return now().Round(0).Truncate(time.Microsecond)
}

func (s *Service) ttl() time.Duration {
	if s.Config.TTL > 0 {
		return s.Config.TTL
	}
	return DefaultTTL
}

func (s *Service) log() *slog.Logger {
	if s.Log != nil {
		return s.Log
	}
	return slog.New(slog.DiscardHandler)
}

// NewReference returns a top-up reference: "tg-" and 24 random letters and digits (120
// bits from crypto/rand), which nobody can guess or derive from another. (Paystack
// takes only letters, digits, "-", "." and "=" in a reference: no "_".)
func NewReference() string { return "tg-" + rand.Text()[:24] }

// StartTopUp creates a pending top-up of amountCents for the subscriber username at
// provider ("paystack" or "generic") and starts its checkout: for Paystack, the
// initialize call with the subscriber's email, returning the page to send the payer
// to; for a generic provider no page ("": the payer or the gateway quotes the
// reference). A checkout the provider refuses leaves the top-up failed. EINVALID
// (amount, provider, email), ENOTFOUND, and the gateway's errors.
func (s *Service) StartTopUp(ctx context.Context, username string, amountCents int64, provider string) (*TopUp, string, error) {
	p := Provider(provider)
	switch {
	case !p.Valid():
		return nil, "", invalid("provider: %q is not paystack or generic", provider)
	case p == Paystack && s.Gateways[Paystack] == nil:
		return nil, "", invalid("provider: paystack is not set up on this server (TOLLGATE_PAYSTACK_SECRET_KEY)")
	case p == Generic && len(s.Config.WebhookSecrets) == 0:
		return nil, "", invalid("provider: generic is not set up on this server (TOLLGATE_WEBHOOK_SECRET)")
	case amountCents <= 0:
		return nil, "", invalid("amount: must be more than 0")
	case amountCents > billing.MaxAmountCents:
		return nil, "", invalid("amount: must be at most %s", billing.FormatCents(billing.MaxAmountCents))
	}
	sub, err := s.Money.Store.FindSubscriberByUsername(ctx, username)
	if radius.ErrorCode(err) == radius.ENOTFOUND {
		return nil, "", radius.Errorf(radius.ENOTFOUND, "subscriber: no subscriber named %q", username)
	}
	if err != nil {
		return nil, "", err
	}
	if p == Paystack && sub.Email == "" {
		return nil, "", invalid("email: %q has no email address, which Paystack requires to pay online; set one first (tollgate subscriber set --username %s --email ...)", username, username)
	}
	now := s.now()
	t := &TopUp{Reference: NewReference(), SubscriberID: sub.ID, Username: sub.Username, Provider: p,
		AmountCents: amountCents, Currency: s.Config.Currency, State: Pending, CreatedAt: now, ExpiresAt: now.Add(s.ttl())}
	if err := s.Store.CreateTopUp(ctx, t); err != nil {
		return nil, "", err
	}
	gw := s.Gateways[p]
	if gw == nil {
		return t, "", nil
	}
	url, err := gw.Initialize(ctx, t, sub.Email)
	if err != nil {
		// The checkout never started: the top-up fails, so nothing can pay it.
		note := truncate("checkout refused: "+radius.ErrorMessage(err), 500)
		if cerr := s.Store.CloseTopUp(context.WithoutCancel(ctx), t.ID, Failed, s.now(), note, 0); cerr == nil {
			t.State, t.Note = Failed, note
		}
		return t, "", err
	}
	if err := s.Store.SetTopUpURL(ctx, t.ID, url); err != nil && radius.ErrorCode(err) != radius.ECONFLICT {
		return t, url, err
	}
	t.AuthorizationURL = url
	return t, url, nil
}

// TopUp returns the top-up with reference ref. ENOTFOUND.
func (s *Service) TopUp(ctx context.Context, ref string) (*TopUp, error) {
	return s.Store.FindTopUp(ctx, ref)
}

// TopUps lists top-ups, newest first: of the subscriber username ("" for everyone's)
// in state ("" for any). EINVALID, ENOTFOUND.
func (s *Service) TopUps(ctx context.Context, username string, state State, limit int) ([]TopUp, error) {
	if limit == 0 {
		limit = DefaultTopUpLimit
	}
	if limit < 1 || limit > MaxTopUpLimit {
		return nil, invalid("limit: must be 1 to %d", MaxTopUpLimit)
	}
	switch state {
	case "", Pending, Paid, Failed, Expired:
	default:
		return nil, invalid("state: %q is not pending, paid, failed or expired", state)
	}
	f := TopUpFilter{State: state, Limit: limit}
	if username != "" {
		sub, err := s.Money.Store.FindSubscriberByUsername(ctx, username)
		if radius.ErrorCode(err) == radius.ENOTFOUND {
			return nil, radius.Errorf(radius.ENOTFOUND, "subscriber: no subscriber named %q", username)
		}
		if err != nil {
			return nil, err
		}
		f.SubscriberID = sub.ID
	}
	return s.Store.FindTopUps(ctx, f)
}

// PassReport is what RunPass did.
type PassReport struct {
	Expired          int // top-ups expired
	DeliveriesPurged int
	RawCleared       int // raw events of resolved reviews cleared
}

// RunPass is the payments' part of the billing pass, as of now: every top-up still
// pending whose expiry is not after now expires (a payment for it that comes later
// goes to review). It also forgets old Standard Webhooks deliveries and clears the raw
// events of reviews resolved more than RawRetention ago, both by the service's clock
// (a pass simulated in the future does not purge early).
func (s *Service) RunPass(ctx context.Context, now time.Time) (*PassReport, error) {
	now = now.Round(0).Truncate(time.Microsecond)
	rep := &PassReport{}
	var err error
	if rep.Expired, err = s.Store.ExpireTopUps(ctx, now); err != nil {
		return nil, err
	}
	clock := s.now()
	if rep.DeliveriesPurged, err = s.Store.PurgeDeliveries(ctx, clock.Add(-DeliveryRetention)); err != nil {
		return rep, err
	}
	if rep.RawCleared, err = s.Store.ClearReviewRaw(ctx, clock.Add(-RawRetention), clock); err != nil {
		return rep, err
	}
	return rep, nil
}

// Start starts the background workers that run the work after a credit's commit.
func (s *Service) Start() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.queue != nil || s.closed {
		return
	}
	s.queue = make(chan []*billing.Outcome, queueSize)
	for range 2 {
		s.wg.Add(1)
		go s.work(s.queue)
	}
}

func (s *Service) work(q chan []*billing.Outcome) {
	defer s.wg.Done()
	for outs := range q {
		s.runAfter(context.Background(), outs)
	}
}

// runAfter does the work after the commit of outs within 30 seconds, logging what
// failed (the credit stays committed; a lost disconnect is made up by the isolation
// plan's short Session-Timeout).
func (s *Service) runAfter(ctx context.Context, outs []*billing.Outcome) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := s.Money.After(ctx, outs...); err != nil {
		s.log().LogAttrs(ctx, slog.LevelWarn, "payments: after a credit", slog.String("err", err.Error()))
	}
}

// after hands outs to the workers, or does the work now when they are not running or
// their queue is full.
func (s *Service) after(ctx context.Context, outs []*billing.Outcome) {
	if len(outs) == 0 {
		return
	}
	s.mu.Lock()
	if s.queue != nil && !s.closed {
		select {
		case s.queue <- outs:
			s.mu.Unlock()
			s.queued.Add(1)
			return
		default:
		}
	}
	s.mu.Unlock()
	s.inlined.Add(1)
	s.runAfter(context.WithoutCancel(ctx), outs)
}

// Deferred reports how many commits had their after-work queued to the workers, and
// how many did it before returning (no workers, or a full queue).
func (s *Service) Deferred() (queued, inline int64) { return s.queued.Load(), s.inlined.Load() }

// Shutdown stops taking work and waits until the queued work is done or ctx ends.
// Safe twice; work handed in after it runs inline.
func (s *Service) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	if s.queue != nil {
		close(s.queue)
	}
	s.mu.Unlock()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("payments: shutdown: %w", ctx.Err())
	}
}

// truncate shortens s to at most n bytes on a rune boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n]
}
