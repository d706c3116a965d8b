package portal

import (
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"tollgate/radius"
)

// /admin/sessions: the sessions online now, each with a Disconnect button, and the
// session history, both filtered by NAS and searched by username (exact, or a prefix
// with "*"), MAC or IP. A disconnect answers with the router's word: ACK, NAK with its
// Error-Cause, no answer, or what the RouterOS API did.
//
// A session of a subscriber who restricted processing shows without its username, IP
// and MAC (withhold), as the directory shows him: they are on his own page, which
// asks the admin for a reason first (billing.CheckStaffRead).

// sessionsPageSize is how many sessions one page of the history shows; the online list
// shows up to onlineMax.
const (
	sessionsPageSize = 50
	onlineMax        = 500
)

// sessionsView is the sessions page's data.
type sessionsView struct {
	*view
	History  bool // the history tab (else the online one)
	NAS      string
	Search   string
	NASNames []string
	Sessions []radius.SessionView
	// Next is the cursor of the next history page ("" on the last); More says the
	// online list was cut at onlineMax.
	Next string
	More bool
	// Result is the outcome of the disconnect just made (nil: none).
	Result *disconnectResult
	Now    time.Time
	loc    *time.Location
}

// disconnectResult is a disconnect's outcome as the page tells it.
type disconnectResult struct {
	User, NAS, SessionID string
	Result               string // radius.CoAResult.Result
	Text                 string // for people
	OK                   bool
}

// Uptime writes how long an open session has been online, or how long a closed one
// lasted.
func (v *sessionsView) Uptime(s *radius.SessionView) string {
	if s.Open() {
		return humanDuration(v.Now.Sub(s.StartedAt).Truncate(time.Second))
	}
	return humanDuration(s.StoppedAt.Sub(s.StartedAt).Truncate(time.Second))
}

// Time writes t in the operator's time zone: "3 Mar 14:05".
func (v *sessionsView) Time(t time.Time) string { return t.In(v.loc).Format("2 Jan 15:04") }

// Pos is a session's cursor in the history.
func (v *sessionsView) Pos(s *radius.SessionView) string {
	return makeCursor(sessionCursor{Start: s.StartedAt, NASID: s.NASID, SessionID: s.SessionID})
}

// Link is the page with its filter on the tab history says, at cursor ("" for the
// first page).
func (v *sessionsView) Link(history bool, cursor string) string {
	q := url.Values{}
	if history {
		q.Set("view", "history")
	}
	if v.NAS != "" {
		q.Set("nas", v.NAS)
	}
	if v.Search != "" {
		q.Set("q", v.Search)
	}
	if cursor != "" {
		q.Set("cursor", cursor)
	}
	if len(q) == 0 {
		return "/admin/sessions"
	}
	return "/admin/sessions?" + q.Encode()
}

func (p *Portal) adminSessions(c *fiber.Ctx) error {
	v := &sessionsView{view: p.view(c, "Sessions"), History: c.Query("view") == "history",
		NAS: strings.TrimSpace(strings.Clone(c.Query("nas"))), Search: strings.TrimSpace(strings.Clone(c.Query("q")))}
	var after *radius.SessionPos
	if v.History && c.Query("cursor") != "" {
		var at sessionCursor
		if _, err := cursor(c, &at); err != nil {
			return err
		}
		after = &radius.SessionPos{StartedAt: at.Start, NASID: at.NASID, SessionID: at.SessionID}
	}
	if err := p.loadSessions(c, v, after); err != nil {
		return err
	}
	target := ""
	if v.Search != "" {
		target = "search:" + v.Search
	}
	if err := p.audit(c, "session.page", target, map[string]any{"history": v.History, "nas": v.NAS, "count": len(v.Sessions)}); err != nil {
		return err
	}
	return p.renderAny(c, fiber.StatusOK, "admin-sessions", v)
}

// loadSessions fills v's list (one page of the history after after, or the online
// sessions) and the NAS filter's choices.
func (p *Portal) loadSessions(c *fiber.Ctx, v *sessionsView, after *radius.SessionPos) error {
	ctx := c.UserContext()
	o := p.deps.Ops
	v.Now, v.loc = o.now(), p.format().loc
	if len(v.Search) > 253 {
		return radius.Errorf(radius.EINVALID, "q: at most 253 characters")
	}
	q := radius.SessionQuery{Online: !v.History, NASName: v.NAS, Search: v.Search, Limit: onlineMax + 1, After: after}
	if v.History {
		q.Limit = sessionsPageSize + 1
	}
	list, err := o.Sessions.FindSessionViews(ctx, q)
	if err != nil {
		return err
	}
	if len(list) == q.Limit {
		list = list[:q.Limit-1]
		if v.History {
			v.Next = v.Pos(&list[len(list)-1])
		} else {
			v.More = true
		}
	}
	for i := range list {
		withhold(&list[i])
	}
	v.Sessions = list
	if p.deps.Vouchers != nil {
		nas, err := p.deps.Vouchers.NAS.ListNAS(ctx)
		if err != nil {
			return err
		}
		for _, n := range nas {
			v.NASNames = append(v.NASNames, n.Name)
		}
	}
	return nil
}

// withhold blanks what identifies the person in a restricted subscriber's session.
func withhold(s *radius.SessionView) {
	if s.Restricted {
		s.Username, s.MAC, s.FramedIP = "", "", netip.Addr{}
	}
}

// adminSessionDisconnect ends the open session of form fields nas and id (its
// Acct-Session-Id) and shows the online list with the router's answer.
func (p *Portal) adminSessionDisconnect(c *fiber.Ctx) error {
	f := formFields(c, "nas", "id")
	o := p.deps.Ops
	ctx := c.UserContext()
	open, err := o.Sessions.FindSessionViews(ctx, radius.SessionQuery{Online: true, NASName: f["nas"], SessionID: f["id"], Limit: 1})
	if err != nil {
		return err
	}
	v := &sessionsView{view: p.view(c, "Sessions")}
	if len(open) == 0 {
		// Nothing to send: the attempt is recorded all the same.
		if err := p.audit(c, "session.disconnect", "session:"+f["nas"]+"/"+f["id"], map[string]any{"result": "not-online"}); err != nil {
			return err
		}
		v.Error = "That session is no longer online: it ended, or its router's Stop arrived meanwhile."
		if err := p.loadSessions(c, v, nil); err != nil {
			return err
		}
		return p.renderAny(c, fiber.StatusOK, "admin-sessions", v)
	}
	s := open[0]
	res, derr := o.Disconnect.Disconnect(ctx, s.Live(), "admin")
	if derr != nil && res.Result == "" {
		if code := radius.ErrorCode(derr); code == radius.EINTERNAL {
			return derr
		}
		res.Result = "error"
	}
	if err := p.audit(c, "session.disconnect", "session:"+s.NASName+"/"+s.SessionID,
		map[string]any{"user": s.Username, "result": res.Result, "error_cause": res.ErrorCause}); err != nil {
		return err
	}
	v.Result = describeDisconnect(res, derr)
	withhold(&s)
	v.Result.User, v.Result.NAS, v.Result.SessionID = s.Username, s.NASName, s.SessionID
	if err := p.loadSessions(c, v, nil); err != nil {
		return err
	}
	return p.renderAny(c, fiber.StatusOK, "admin-sessions", v)
}

// describeDisconnect says what a disconnect's outcome means.
func describeDisconnect(r radius.CoAResult, err error) *disconnectResult {
	d := &disconnectResult{Result: r.Result}
	switch r.Result {
	case "ack":
		d.Text, d.OK = "ACK: the router ended the session.", true
	case "nak":
		d.Text = "NAK: the router refused"
		if r.ErrorCause != 0 {
			d.Text += " (Error-Cause " + strconv.Itoa(r.ErrorCause) + ": " + errorCauseText(r.ErrorCause) + ")"
		}
		d.Text += "."
	case "timeout":
		d.Text = "No answer: the router did not acknowledge the Disconnect-Request in time."
	case radius.APIRemoved:
		d.Text, d.OK = "Removed from the router's active list through its RouterOS API.", true
	case radius.APINotFound:
		d.Text, d.OK = "The router's active list no longer holds the session (RouterOS API).", true
	default:
		d.Text = "Failed"
		if err != nil {
			d.Text += ": " + radius.ErrorMessage(err)
		}
	}
	return d
}

// errorCauseText names an RFC 5176 Error-Cause.
func errorCauseText(c int) string {
	if t, ok := map[int]string{
		201: "Residual Session Context Removed", 202: "Invalid EAP Packet",
		401: "Unsupported Attribute", 402: "Missing Attribute", 403: "NAS Identification Mismatch",
		404: "Invalid Request", 405: "Unsupported Service", 406: "Unsupported Extension", 407: "Invalid Attribute Value",
		501: "Administratively Prohibited", 502: "Request Not Routable (Proxy)", 503: "Session Context Not Found",
		504: "Session Context Not Removable", 505: "Other Proxy Processing Error", 506: "Resources Unavailable",
		507: "Request Initiated", 508: "Multiple Session Selection Unsupported",
	}[c]; ok {
		return t
	}
	return "unknown"
}
