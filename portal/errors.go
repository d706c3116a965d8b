package portal

import (
	"errors"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/gofiber/fiber/v2"

	"tollgate/portal/auth"
	"tollgate/radius"
)

// httpStatus maps an error to its HTTP status: the one place where a radius.ErrorCode
// becomes a status. EUNAUTHORIZED is 401 before sign-in and 403 after (signed in, but
// not allowed); a rate limit or lockout is 429.
func httpStatus(err error, signedIn bool) int {
	var fe *fiber.Error
	if errors.As(err, &fe) {
		return fe.Code
	}
	var rl *errRateLimited
	if errors.As(err, &rl) {
		return fiber.StatusTooManyRequests
	}
	if _, ok := auth.IsLimit(err); ok {
		return fiber.StatusTooManyRequests
	}
	switch radius.ErrorCode(err) {
	case radius.EINVALID:
		return fiber.StatusUnprocessableEntity
	case radius.EUNAUTHORIZED:
		if signedIn {
			return fiber.StatusForbidden
		}
		return fiber.StatusUnauthorized
	case radius.ENOTFOUND:
		return fiber.StatusNotFound
	case radius.ECONFLICT:
		return fiber.StatusConflict
	case radius.EQUOTA:
		return fiber.StatusPaymentRequired // a balance or quota ran out
	case radius.EEXPIRED:
		return fiber.StatusGone // an expired voucher or link: it will not come back
	}
	return fiber.StatusInternalServerError
}

// errorCode is the code an error is reported under (JSON and the metric label): the
// radius code, or for a fiber error the class of its status.
func errorCode(err error, status int) string {
	var fe *fiber.Error
	switch {
	case errors.As(err, &fe) && status == fiber.StatusNotFound:
		return radius.ENOTFOUND
	case errors.As(err, &fe) && status == fiber.StatusForbidden:
		return radius.EUNAUTHORIZED
	case errors.As(err, &fe) && status < 500:
		return radius.EINVALID
	case errors.As(err, &fe):
		return radius.EINTERNAL
	}
	return radius.ErrorCode(err)
}

// errorMessage is what the user is told: never the cause of an internal error.
func errorMessage(err error, status int) string {
	var fe *fiber.Error
	if errors.As(err, &fe) && status < 500 {
		return fe.Message
	}
	var rl *errRateLimited
	if errors.As(err, &rl) {
		return rl.Error()
	}
	if status >= 500 {
		return "Something went wrong on our side. Please try again."
	}
	return radius.ErrorMessage(err)
}

// errorHandler is the single place where an error becomes an HTTP answer: JSON under
// /api, an error page elsewhere. Internal errors are logged here, once.
func (p *Portal) errorHandler(c *fiber.Ctx, err error) error {
	s := session(c)
	status := httpStatus(err, (s != nil && !s.Pending) || apiToken(c) != nil)
	code := errorCode(err, status)
	msg := errorMessage(err, status)
	if isAPI(c) {
		code = apiErrorCode(err, status)
	}
	p.metrics.errors.WithLabelValues(code).Inc()
	if status >= 500 {
		p.log.LogAttrs(c.UserContext(), slog.LevelError, "portal request failed",
			slog.String("method", c.Method()), slog.String("path", c.Path()),
			slog.String("code", code), slog.String("err", err.Error()))
	}
	setRetryAfter(c, err)
	if isAPI(c) {
		e := apiError{Code: code, Message: msg}
		if status < 500 {
			e.Field = errorField(msg)
		}
		return c.Status(status).JSON(e)
	}
	v := p.view(c, http.StatusText(status))
	v.Status, v.Error = status, msg
	if rerr := p.render(c, status, "error", v); rerr != nil {
		return c.Status(status).SendString(msg)
	}
	return nil
}

// setRetryAfter tells a rate-limited or locked-out client when to come back.
func setRetryAfter(c *fiber.Ctx, err error) {
	if le, ok := auth.IsLimit(err); ok {
		c.Set(fiber.HeaderRetryAfter, strconv.Itoa(int(le.RetryAfter.Seconds())))
	}
}
