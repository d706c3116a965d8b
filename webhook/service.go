package webhook

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"tollgate/radius"
)

// Service manages endpoints and delivers the queue. Every replica may run it: a
// delivery is claimed by one sender at a time (its row lock), and the outbox's reading
// is one row locked per collection.
type Service struct {
	// Store runs on the pool; InTx binds one to a transaction (a claim, the outbox).
	Store  Store
	InTx   InTx
	Sealer Sealer
	Opener radius.Opener
	// Client posts the messages; nil means one with no redirects followed.
	Client *http.Client
	Now    func() time.Time
	Log    *slog.Logger
	// Batch bounds the events one collection reads and the deliveries one SendDue
	// pass makes (default 100); Timeout one POST (default 10s).
	Batch   int
	Timeout time.Duration

	secrets sync.Map // endpoint id → its secret in clear
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Service) batch() int {
	if s.Batch <= 0 {
		return 100
	}
	return s.Batch
}

func (s *Service) timeout() time.Duration {
	if s.Timeout <= 0 {
		return 10 * time.Second
	}
	return s.Timeout
}

func (s *Service) logger() *slog.Logger {
	if s.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Log
}

// client is the HTTP client the messages go out on: a redirect is an answer, not a
// place to send the signed body again.
func (s *Service) client() *http.Client {
	if s.Client != nil {
		return s.Client
	}
	return &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// AddEndpoint validates n and stores an enabled endpoint with a new signing secret,
// sealed to its row. It returns the endpoint and the secret in clear: shown once, never
// again. EINVALID naming the field.
func (s *Service) AddEndpoint(ctx context.Context, n NewEndpoint) (*Endpoint, string, error) {
	if err := n.Validate(); err != nil {
		return nil, "", err
	}
	id, err := s.Store.NextEndpointID(ctx)
	if err != nil {
		return nil, "", err
	}
	secret := NewSecret()
	e := &Endpoint{ID: id, URL: n.URL, Description: n.Description, Events: n.Events, Enabled: true, CreatedBy: n.CreatedBy}
	if err := s.Store.CreateEndpoint(ctx, e, s.Sealer.Seal([]byte(secret), radius.SealWebhookSecret.AD(id))); err != nil {
		return nil, "", err
	}
	return e, secret, nil
}

// ListEndpoints returns every endpoint, by id.
func (s *Service) ListEndpoints(ctx context.Context) ([]Endpoint, error) {
	return s.Store.ListEndpoints(ctx)
}

// SetEnabled turns endpoint id on or off: a disabled endpoint gets no new messages,
// and its queued ones wait. ENOTFOUND.
func (s *Service) SetEnabled(ctx context.Context, id int64, on bool) error {
	return s.Store.SetEndpointEnabled(ctx, id, on)
}

// DeleteEndpoint removes endpoint id, its queue and its log. ENOTFOUND.
func (s *Service) DeleteEndpoint(ctx context.Context, id int64) error {
	if err := s.Store.DeleteEndpoint(ctx, id); err != nil {
		return err
	}
	s.secrets.Delete(id)
	return nil
}

// Deliveries lists the delivery log, newest first. EINVALID for a bad state or limit.
func (s *Service) Deliveries(ctx context.Context, f DeliveryFilter) ([]Delivery, error) {
	switch f.State {
	case "", StateQueued, StateDelivered, StateFailed:
	default:
		return nil, radius.Errorf(radius.EINVALID, "state: %q is not queued, delivered or failed", f.State)
	}
	switch {
	case f.Limit == 0:
		f.Limit = 50
	case f.Limit < 0 || f.Limit > 1000:
		return nil, radius.Errorf(radius.EINVALID, "limit: 1 to 1000")
	}
	return s.Store.FindDeliveries(ctx, f)
}

// Attempts lists delivery id's attempts.
func (s *Service) Attempts(ctx context.Context, id int64) ([]Attempt, error) {
	return s.Store.FindAttempts(ctx, id)
}

// Retry queues delivery id again now. ENOTFOUND.
func (s *Service) Retry(ctx context.Context, id int64) error {
	return s.Store.RetryDelivery(ctx, id, s.now())
}

// SendTest queues a "webhook.test" message to endpoint id, whatever events it wants.
func (s *Service) SendTest(ctx context.Context, id int64) (Message, error) {
	now := s.now()
	key := strconv.FormatInt(id, 10) + ":" + strconv.FormatInt(now.UnixNano(), 10)
	m := Message{ID: MessageID("webhook.test", key), Type: "webhook.test",
		Payload: fmt.Appendf(nil, `{"type":"webhook.test","timestamp":%q,"data":{"endpoint_id":%d}}`, now.UTC().Format(time.RFC3339), id)}
	return m, s.Store.QueueMessage(ctx, id, m)
}

// Keep is how long the delivery log keeps a delivery that is done.
const Keep = 30 * 24 * time.Hour

// Prune deletes the deliveries done more than Keep ago (cron, daily).
func (s *Service) Prune(ctx context.Context) error {
	_, err := s.Store.PruneDeliveries(ctx, s.now().Add(-Keep))
	return err
}

// Settle is how old an outbox event must be before the reading's cursor passes it: a
// transaction that wrote an event with a lower id may commit after one with a higher
// id, so the events younger than this are marked one by one instead.
const Settle = time.Hour

// Collect queues the outbox's billing events that webhooks announce, a batch per
// transaction, and returns how many events it read.
func (s *Service) Collect(ctx context.Context) (int, error) {
	total := 0
	for {
		var n int
		err := s.InTx(ctx, func(st Store) error {
			var err error
			n, err = st.CollectBilling(ctx, s.batch(), Settle)
			return err
		})
		if err != nil {
			return total, err
		}
		total += n
		if n < s.batch() {
			return total, nil
		}
	}
}

// retryDelays are the waits before each retry: after the first failure 5 seconds, then
// longer, for about a day and a half in all; after the last the delivery has failed.
var retryDelays = []time.Duration{5 * time.Second, 30 * time.Second, 2 * time.Minute, 10 * time.Minute, 30 * time.Minute,
	time.Hour, 2 * time.Hour, 4 * time.Hour, 8 * time.Hour, 16 * time.Hour}

// MaxAttempts is how many times a message is tried.
var MaxAttempts = len(retryDelays) + 1

// NextAttempt returns when a delivery that failed its attempt-th attempt at at is tried
// again, and false when that was its last.
func NextAttempt(attempt int, at time.Time) (time.Time, bool) {
	if attempt < 1 || attempt > len(retryDelays) {
		return time.Time{}, false
	}
	return at.Add(retryDelays[attempt-1]), true
}

// SendResult is what one SendDue pass did.
type SendResult struct {
	Delivered, Retrying, Failed int
}

// SendDue delivers the deliveries that are due, one transaction each: it claims one
// (other senders skip it), posts it, logs the attempt and moves it on (delivered,
// queued for its next try, or failed after MaxAttempts) in that transaction. It stops
// after Batch deliveries or when none is due. As with the notifications, a message
// whose receiver answered but whose record did not commit (the process died between)
// is sent again, with the same webhook-id.
func (s *Service) SendDue(ctx context.Context) (SendResult, error) {
	var res SendResult
	for i := 0; i < s.batch() && ctx.Err() == nil; i++ {
		var state string
		done := false
		txCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.timeout()+30*time.Second)
		err := s.InTx(txCtx, func(st Store) error {
			d, err := st.ClaimDelivery(txCtx, s.now())
			if radius.ErrorCode(err) == radius.ENOTFOUND {
				done = true
				return nil
			}
			if err != nil {
				return err
			}
			a := s.post(ctx, d)
			if a.Status == 0 && ctx.Err() != nil {
				return ctx.Err() // shutting down: no attempt, the delivery stays due
			}
			state = StateDelivered
			var next time.Time
			if !a.OK() {
				state = StateFailed
				if t, ok := NextAttempt(a.Attempt, a.At); ok {
					state, next = StateQueued, t
				}
			}
			return st.RecordAttempt(txCtx, a, state, next)
		})
		cancel()
		if err != nil {
			if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
				return res, nil
			}
			return res, err
		}
		if done {
			break
		}
		switch state {
		case StateDelivered:
			res.Delivered++
		case StateQueued:
			res.Retrying++
		case StateFailed:
			res.Failed++
		}
	}
	return res, nil
}

// post sends d once and returns the attempt.
func (s *Service) post(ctx context.Context, d *Delivery) Attempt {
	a := Attempt{DeliveryID: d.ID, Attempt: d.Attempts + 1, At: s.now()}
	secret, err := s.secret(ctx, d.EndpointID)
	if err != nil {
		a.Error = clip(err.Error(), 500)
		return a
	}
	sent := s.now()
	sig, err := Sign(secret, d.MsgID, sent, d.Payload)
	if err != nil {
		a.Error = clip(err.Error(), 500)
		return a
	}
	pctx, cancel := context.WithTimeout(ctx, s.timeout())
	defer cancel()
	req, err := http.NewRequestWithContext(pctx, http.MethodPost, d.URL, bytes.NewReader(d.Payload))
	if err != nil {
		a.Error = clip(err.Error(), 500)
		return a
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "tollgate-webhooks")
	req.Header.Set("webhook-id", d.MsgID)
	req.Header.Set("webhook-timestamp", strconv.FormatInt(sent.Unix(), 10))
	req.Header.Set("webhook-signature", sig)
	start := time.Now()
	resp, err := s.client().Do(req)
	a.Duration = time.Since(start)
	if err != nil {
		msg := err.Error()
		if errors.Is(pctx.Err(), context.DeadlineExceeded) && !strings.Contains(msg, "timeout") {
			msg = "timeout: " + msg
		}
		a.Error = clip(msg, 500)
		return a
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 300))
	a.Status = resp.StatusCode
	if !a.OK() {
		a.Error = clip(strings.Join(strings.Fields(resp.Status+" "+string(body)), " "), 500)
	}
	return a
}

// secret returns endpoint id's secret in clear, opened once.
func (s *Service) secret(ctx context.Context, id int64) (string, error) {
	if v, ok := s.secrets.Load(id); ok {
		return v.(string), nil
	}
	sealed, err := s.Store.EndpointSecret(ctx, id)
	if err != nil {
		return "", err
	}
	plain, err := s.Opener.Open(sealed, radius.SealWebhookSecret.AD(id))
	if err != nil {
		return "", fmt.Errorf("webhook: the secret of endpoint %d does not open (is TOLLGATE_SECRET_KEY the key it was sealed with?): %w", id, err)
	}
	s.secrets.Store(id, string(plain))
	return string(plain), nil
}

// Run collects and sends every interval until ctx ends; each pass's failure is logged.
// Every replica running cron runs it.
func (s *Service) Run(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if _, err := s.Collect(ctx); err != nil && ctx.Err() == nil {
			s.logger().LogAttrs(ctx, slog.LevelError, "webhooks: collect", slog.String("err", err.Error()))
		}
		res, err := s.SendDue(ctx)
		if err != nil && ctx.Err() == nil {
			s.logger().LogAttrs(ctx, slog.LevelError, "webhooks: send", slog.String("err", err.Error()))
		}
		if res.Failed > 0 {
			s.logger().LogAttrs(ctx, slog.LevelWarn, "webhooks: deliveries failed for good", slog.Int("count", res.Failed))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// clip cuts s to at most n bytes, on a rune boundary.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
