package portal

import (
	"bytes"
	"context"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"tollgate/billing/payments"
	"tollgate/portal/auth"
	"tollgate/radius"
)

// The payment providers' webhooks: POST /webhooks/paystack (Paystack's
// x-paystack-signature) and POST /webhooks/payments (Standard Webhooks). They are
// public routes on the guests' listener (TOLLGATE_HTTP_ADDR, which providers reach),
// exempt from the CSRF check because each request is signed, and verified on the raw
// body before anything is parsed (billing/payments).
//
// Answers, so a provider retries exactly what may succeed later:
//
//	200  handled: credited, a duplicate of one handled before, recorded for review,
//	     a top-up failed, or an event tollgate does not act on (stop sending it)
//	400  malformed body or headers, or a Standard Webhooks timestamp more than 5
//	     minutes away (stale)
//	401  missing or wrong signature
//	404  the provider is not set up on this server (no secret)
//	413  a body over 64 KiB
//	429  more than 600 requests a minute from one address (IPv4, or IPv6 /64)
//	500  the database failed: nothing was recorded, the retry will be handled
//
// A valid event is answered as soon as its credit committed; the work after the commit
// (caches, the Disconnect of a restored subscriber) runs on the payments service's
// workers. Every answer is counted in tollgate_portal_webhooks_total{provider, result}.

// PaymentService is what the webhooks and the review pages call (payments.Service).
type PaymentService interface {
	// Paystack handles a Paystack webhook. ErrNotEnabled, ErrSignature, EINVALID.
	Paystack(ctx context.Context, body []byte, signature string) (*payments.Received, error)
	// Standard handles a Standard Webhooks delivery. ErrNotEnabled, ErrSignature,
	// ErrStale, EINVALID.
	Standard(ctx context.Context, h payments.StandardHeaders, body []byte) (*payments.Received, error)
	// Reviews lists reviews in state ("" all), newest first. EINVALID.
	Reviews(ctx context.Context, state payments.ReviewState, limit int) ([]payments.Review, error)
	// Resolve credits or dismisses open review id once. ECONFLICT, EINVALID, ENOTFOUND.
	Resolve(ctx context.Context, id int64, r payments.Resolution) (*payments.Resolved, error)
}

// Limits of the webhooks.
const (
	webhookRateLimit = 600 // requests a minute per source address
	webhookPrefix    = "/webhooks/"
)

// csrfExempt reports whether path is exempt from the CSRF check: the signed webhooks,
// which no browser sends and no cookie authorizes.
func csrfExempt(path string) bool { return strings.HasPrefix(path, webhookPrefix) }

// registerWebhooks adds the webhooks when the portal has payments.
func (p *Portal) registerWebhooks() {
	if p.deps.Payments == nil {
		return
	}
	p.handle("POST", "/webhooks/paystack", accessPublic, p.webhook(payments.Paystack, func(c *fiber.Ctx, body []byte) (*payments.Received, error) {
		return p.deps.Payments.Paystack(c.UserContext(), body, strings.Clone(c.Get("X-Paystack-Signature")))
	}))
	p.handle("POST", "/webhooks/payments", accessPublic, p.webhook(payments.Generic, func(c *fiber.Ctx, body []byte) (*payments.Received, error) {
		h := payments.StandardHeaders{ID: strings.Clone(c.Get("Webhook-Id")), Timestamp: strings.Clone(c.Get("Webhook-Timestamp")),
			Signature: strings.Clone(c.Get("Webhook-Signature"))}
		return p.deps.Payments.Standard(c.UserContext(), h, body)
	}))
}

// webhookAnswer is the body of every webhook answer.
type webhookAnswer struct {
	Status string `json:"status"`
	Reason string `json:"reason,omitempty"`
	Error  string `json:"error,omitempty"`
}

// webhook wraps a provider's handling with the rate limit, the body limit, the status
// of each outcome and the metric.
func (p *Portal) webhook(provider payments.Provider, handle func(c *fiber.Ctx, body []byte) (*payments.Received, error)) fiber.Handler {
	return func(c *fiber.Ctx) error {
		answer := func(status int, result string, a webhookAnswer) error {
			p.metrics.webhooks.WithLabelValues(string(provider), result).Inc()
			c.Set(fiber.HeaderCacheControl, "no-store")
			return c.Status(status).JSON(a)
		}
		ctx := c.UserContext()
		if p.deps.Limits != nil {
			n, reset, err := p.deps.Limits.Hit(ctx, "webhook:"+auth.AddrKey(p.clientIP(c)), time.Minute)
			switch {
			case err != nil:
				// Money matters more than the limit: with Redis down, serve anyway.
				p.log.LogAttrs(ctx, slog.LevelWarn, "webhook rate limit unavailable", slog.String("err", err.Error()))
			case n > webhookRateLimit:
				c.Set(fiber.HeaderRetryAfter, strconv.Itoa(int(max(reset, time.Second).Seconds())))
				return answer(fiber.StatusTooManyRequests, "rate_limited", webhookAnswer{Status: "refused", Error: "too many requests"})
			}
		}
		if len(c.Body()) > payments.MaxBody {
			return answer(fiber.StatusRequestEntityTooLarge, "too_large", webhookAnswer{Status: "refused", Error: "body over 64 KiB"})
		}
		res, err := handle(c, bytes.Clone(c.Body()))
		if err == nil {
			return answer(fiber.StatusOK, res.Result, webhookAnswer{Status: res.Result, Reason: string(res.Reason)})
		}
		refused := webhookAnswer{Status: "refused", Error: radius.ErrorMessage(err)}
		switch radius.ErrorCode(err) {
		case radius.ENOTFOUND:
			return answer(fiber.StatusNotFound, "disabled", refused)
		case radius.EUNAUTHORIZED:
			return answer(fiber.StatusUnauthorized, "bad_signature", refused)
		case radius.EEXPIRED:
			return answer(fiber.StatusBadRequest, "stale", refused)
		case radius.EINVALID:
			return answer(fiber.StatusBadRequest, "malformed", refused)
		}
		p.log.LogAttrs(ctx, slog.LevelError, "webhook failed", slog.String("provider", string(provider)),
			slog.String("err", err.Error()))
		return answer(fiber.StatusInternalServerError, "error", webhookAnswer{Status: "error", Error: "try again later"})
	}
}
