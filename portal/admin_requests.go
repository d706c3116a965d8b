package portal

import (
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"tollgate/billing"
	"tollgate/radius"
)

// The admins' data-requests queue, /admin/requests: the open requests by due date
// (exports answered by email, erasures waiting for their grace, reviews of automated
// decisions), the restrictions in force, and what was answered in the last 30 days,
// each with its audit trail. An admin decides a review with a note, carries out a
// pending erasure at once, or erases a subscriber on a request received elsewhere,
// through the same code path as the scheduled erasures and `tollgate privacy erase`.

// registerAdminRequests adds the queue's routes when the portal has the rights.
func (p *Portal) registerAdminRequests() {
	if p.deps.My == nil || p.deps.My.Rights == nil {
		return
	}
	p.handle("GET", "/admin/requests", accessAdmin, p.adminRequests)
	p.handle("POST", "/admin/requests/:id/decide", accessAdmin, p.adminDecideReview)
	if p.deps.My.Erasure != nil {
		p.handle("POST", "/admin/requests/:id/erase", accessAdmin, p.adminEraseRequest)
		p.handle("POST", "/admin/requests/erase", accessAdmin, p.adminErase)
	}
}

// requestsView is the data of /admin/requests.
type requestsView struct {
	*view
	Queue    *billing.Queue
	CanErase bool
	Username string // the erase form, typed again after a failure
	Reason   string
}

// Overdue reports whether r is past its due date now (for the template).
func (v *requestsView) Overdue(r billing.DataRequest) bool { return r.Overdue(v.Now) }

// DueIn says how long until t, or how long past it, in days.
func (v *requestsView) DueIn(t time.Time) string {
	d := t.Sub(v.Now)
	days := int(d.Hours() / 24)
	switch {
	case d < 0:
		return strconv.Itoa(-days) + " days overdue"
	case days == 0:
		return "due today"
	}
	return "due in " + strconv.Itoa(days) + " days"
}

// adminRequests shows the queue, with the notice of the action that redirected here
// (?decided=ID, ?erased=PSEUDONYM).
func (p *Portal) adminRequests(c *fiber.Ctx) error {
	notice := ""
	if id := c.Query("decided"); id != "" {
		notice = "Review " + strings.Clone(id) + " is decided; the subscriber is told."
	}
	if ps := c.Query("erased"); strings.HasPrefix(ps, billing.PseudonymPrefix) {
		notice = "Erased: the kept records now carry " + strings.Clone(ps) + "."
	}
	return p.showRequests(c, fiber.StatusOK, notice, "", "", "")
}

// showRequests renders the queue with a notice or an error, and audits the read.
func (p *Portal) showRequests(c *fiber.Ctx, status int, notice, errMsg, username, reason string) error {
	q, err := p.deps.My.Rights.Queue(c.UserContext())
	if err != nil {
		return err
	}
	if err := p.audit(c, "privacy_request.list", "", map[string]any{"requests": len(q.Requests), "restrictions": len(q.Restrictions)}); err != nil {
		return err
	}
	v := &requestsView{view: p.view(c, "Data requests"), Queue: q, CanErase: p.deps.My.Erasure != nil, Username: username, Reason: reason}
	v.Now, v.Status, v.Notice, v.Error = p.deps.Auth.Now(), status, notice, errMsg
	return p.renderData(c, status, "admin-requests", v)
}

// requestsError shows the queue with the error of a form, or hands an internal error
// on.
func (p *Portal) requestsError(c *fiber.Ctx, err error, username, reason string) error {
	status := httpStatus(err, true)
	if status >= 500 {
		return err
	}
	p.metrics.errors.WithLabelValues(errorCode(err, status)).Inc()
	return p.showRequests(c, status, "", errorMessage(err, status), username, reason)
}

// requestID reads the :id parameter. ENOTFOUND for anything but a positive number.
func requestID(c *fiber.Ctx) (int64, error) {
	id, err := strconv.ParseInt(c.Params("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, radius.Errorf(radius.ENOTFOUND, "no such request")
	}
	return id, nil
}

func (p *Portal) adminDecideReview(c *fiber.Ctx) error {
	id, err := requestID(c)
	if err != nil {
		return err
	}
	outcome, note := strings.Clone(c.FormValue("outcome")), strings.Clone(c.FormValue("note"))
	r, err := p.deps.My.Rights.DecideReview(c.UserContext(), id, outcome, note, session(c).Email)
	if err != nil {
		return p.requestsError(c, err, "", "")
	}
	if err := p.audit(c, "review.decide", billing.RequestTarget(id), map[string]any{"outcome": outcome}); err != nil {
		return err
	}
	return c.Redirect("/admin/requests?decided="+strconv.FormatInt(r.ID, 10), fiber.StatusSeeOther)
}

// erased audits an erasure carried out (its pseudonym, never an old identifier: the
// entry is written after the erasure) and goes back to the queue. Warnings (a
// disconnect or the purge of Redis that failed) go to the log.
func (p *Portal) erased(c *fiber.Ctx, out *billing.Erased) error {
	detail := map[string]any{"pseudonym": out.Pseudonym, "notified": out.Notified, "disconnected": out.Disconnected}
	if out.NoNotice != "" {
		detail["no_notice"] = out.NoNotice
	}
	if len(out.Warnings) > 0 {
		detail["warnings"] = len(out.Warnings)
		p.log.Warn("erasure done with warnings", "request", out.RequestID, "warnings", strings.Join(out.Warnings, "; "))
	}
	if err := p.audit(c, "erasure.done", billing.RequestTarget(out.RequestID), detail); err != nil {
		return err
	}
	return c.Redirect("/admin/requests?erased="+out.Pseudonym, fiber.StatusSeeOther)
}

// eraseFailed audits an erasure that did not happen (its request stays open and due)
// and shows why.
func (p *Portal) eraseFailed(c *fiber.Ctx, err error, id int64, username, reason string) error {
	if httpStatus(err, true) < 500 && id != 0 {
		if aerr := p.audit(c, "erasure.postponed", billing.RequestTarget(id), map[string]any{"code": radius.ErrorCode(err)}); aerr != nil {
			return aerr
		}
	}
	return p.requestsError(c, err, username, reason)
}

// adminEraseRequest carries out a pending erasure now.
func (p *Portal) adminEraseRequest(c *fiber.Ctx) error {
	id, err := requestID(c)
	if err != nil {
		return err
	}
	out, err := p.deps.My.Erasure.EraseRequest(c.UserContext(), id, billing.EraseOptions{NoNotice: c.FormValue("no_notice") == "on"})
	if err != nil {
		return p.eraseFailed(c, err, id, "", "")
	}
	return p.erased(c, out)
}

// adminErase erases the subscriber named in the form on a request received elsewhere
// (by email, on paper), with its reason.
func (p *Portal) adminErase(c *fiber.Ctx) error {
	username, reason := strings.TrimSpace(strings.Clone(c.FormValue("username"))), strings.Clone(c.FormValue("reason"))
	pr, err := p.deps.My.Privacy.Store.FindProfileByUsername(c.UserContext(), username)
	if err != nil {
		return p.requestsError(c, err, username, reason)
	}
	// The request (made by this admin, with the reason) is the record until the
	// erasure's own audit entry.
	out, err := p.deps.My.Erasure.EraseNow(c.UserContext(), pr.SubscriberID, billing.SourceAdmin, session(c).Email, reason,
		billing.EraseOptions{NoNotice: c.FormValue("no_notice") == "on"})
	if err != nil {
		var id int64
		if r, perr := p.deps.My.Rights.PendingErasure(c.UserContext(), pr.SubscriberID); perr == nil {
			id = r.ID
		}
		return p.eraseFailed(c, err, id, username, reason)
	}
	return p.erased(c, out)
}
