package portal

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"tollgate/billing"
)

// Staff reads of a restricted subscriber (issue 9): the admin names a reason first
// (billing.CheckStaffRead). The reason form audits it (subscriber.reason) and leaves a
// grant in a cookie: the subscriber's id, the reason and an end grantTTL later, signed
// with an HMAC keyed by the session's CSRF token, so a grant is good for that session
// only and ends with it. Every read under a grant is audited with its reason.

// grantTTL is how long a reason opens a restricted subscriber's pages.
const grantTTL = 30 * time.Minute

// staffRead is how a read of a subscriber's data is made: of a restricted subscriber,
// with the reason given.
type staffRead struct {
	restricted bool
	reason     string
}

// detail is an audit entry's detail with the read's reason added (d may be nil).
func (r *staffRead) detail(d map[string]any) map[string]any {
	if !r.restricted {
		return d
	}
	if d == nil {
		d = map[string]any{}
	}
	d["restricted"], d["reason"] = true, r.reason
	return d
}

// grantCookie names the grant of subscriber id.
func grantCookie(id int64) string { return "tg_read_" + strconv.FormatInt(id, 10) }

// grantMAC signs a grant of subscriber id until exp (Unix seconds) for reason with key.
func grantMAC(key string, id, exp int64, reason string) []byte {
	h := hmac.New(sha256.New, []byte(key))
	h.Write([]byte("tollgate staff read\x00" + strconv.FormatInt(id, 10) + "\x00" + strconv.FormatInt(exp, 10) + "\x00" + reason))
	return h.Sum(nil)
}

// grantValue is the cookie value of a grant: exp.reason.mac, the last two base64url.
func grantValue(key string, id, exp int64, reason string) string {
	enc := base64.RawURLEncoding
	return strconv.FormatInt(exp, 10) + "." + enc.EncodeToString([]byte(reason)) + "." + enc.EncodeToString(grantMAC(key, id, exp, reason))
}

// readGrant returns the reason of the request's grant for subscriber id, if it holds
// one that is signed for this session and has not ended.
func (p *Portal) readGrant(c *fiber.Ctx, id int64) (string, bool) {
	s := session(c)
	if s == nil || s.CSRF == "" {
		return "", false
	}
	parts := strings.Split(c.Cookies(grantCookie(id)), ".")
	if len(parts) != 3 {
		return "", false
	}
	exp, err := strconv.ParseInt(parts[0], 10, 64)
	if err != nil || p.deps.Auth.Now().Unix() >= exp {
		return "", false
	}
	enc := base64.RawURLEncoding
	reason, err1 := enc.DecodeString(parts[1])
	mac, err2 := enc.DecodeString(parts[2])
	if err1 != nil || err2 != nil || !hmac.Equal(mac, grantMAC(s.CSRF, id, exp, string(reason))) || len(reason) == 0 {
		return "", false
	}
	return string(reason), true
}

// staffRead applies the staff-read rule to a request for subscriber id's data. For a
// subscriber who is not restricted, or a request with a grant, it returns the read.
// Otherwise it answers with the reason form, which goes on to next, and returns nil:
// a page with 200, a form submitted without a grant (it ran out) with 403.
func (p *Portal) staffRead(c *fiber.Ctx, id int64, next string) (*staffRead, error) {
	pr, err := p.deps.Subscribers.Profiles.FindProfile(c.UserContext(), id)
	if err != nil {
		return nil, err
	}
	if !pr.Restricted {
		return &staffRead{}, nil
	}
	if reason, ok := p.readGrant(c, id); ok {
		return &staffRead{restricted: true, reason: reason}, nil
	}
	status, msg := fiber.StatusOK, ""
	if c.Method() != fiber.MethodGet && c.Method() != fiber.MethodHead {
		status, msg = fiber.StatusForbidden, "Your reason for reading this subscriber's data has run out: give it again, then repeat what you were doing."
	}
	return nil, p.renderReason(c, status, pr, next, "", msg)
}

// renderReason shows the reason form of the restricted subscriber pr.
func (p *Portal) renderReason(c *fiber.Ctx, status int, pr *billing.Profile, next, reason, msg string) error {
	v := p.newSubscriberView(c, "Reason needed")
	v.Sub = &billing.Subscriber{ID: pr.SubscriberID, Username: pr.Username}
	v.Restricted, v.Next, v.Reason, v.Error = true, next, reason, msg
	v.Status = status
	return p.renderData(c, status, "admin-subscriber-reason", v)
}

// safeNext is where the reason form of subscriber id may go on to: one of that
// subscriber's pages, a document or the payment reviews; anything else is the
// subscriber's page.
func safeNext(next string, id int64) string {
	base := subscriberURL(id)
	ok := next == base || strings.HasPrefix(next, base+"/") || strings.HasPrefix(next, base+"?") ||
		strings.HasPrefix(next, "/admin/invoices/") || next == "/admin/payments/reviews" || strings.HasPrefix(next, "/admin/payments/reviews?")
	if !ok || strings.ContainsAny(next, "\\\r\n") || strings.Contains(next, "//") {
		return base
	}
	return next
}

// adminSubscriberReason takes the reason form (reason, next): the reason is checked
// (billing.CheckStaffRead), audited, and kept in a grant for grantTTL; then the admin
// goes on to next.
func (p *Portal) adminSubscriberReason(c *fiber.Ctx) error {
	s, err := p.subscriberParam(c)
	if err != nil {
		return err
	}
	pr, err := p.deps.Subscribers.Profiles.FindProfile(c.UserContext(), s.ID)
	if err != nil {
		return err
	}
	f := formFields(c, "reason", "next")
	next := safeNext(f["next"], s.ID)
	reason, err := billing.CheckStaffRead(pr, f["reason"])
	if err != nil {
		if _, msg, ok := formError(err); ok {
			return p.renderReason(c, httpStatus(err, true), pr, next, f["reason"], "Reason: "+msg)
		}
		return err
	}
	if reason != "" {
		exp := p.deps.Auth.Now().Add(grantTTL)
		c.Cookie(&fiber.Cookie{Name: grantCookie(s.ID), Value: grantValue(session(c).CSRF, s.ID, exp.Unix(), reason),
			Path: "/admin", HTTPOnly: true, Secure: secure(c), SameSite: fiber.CookieSameSiteStrictMode, MaxAge: int(grantTTL / time.Second)})
	}
	if err := p.audit(c, "subscriber.reason", targetOf(s.ID), map[string]any{"reason": reason, "restricted": pr.Restricted}); err != nil {
		return err
	}
	return c.Redirect(next, fiber.StatusSeeOther)
}
