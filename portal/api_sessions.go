package portal

import (
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"tollgate/radius"
)

// /api/v1/sessions: the accounting sessions, newest start first, and the RFC 5176
// Disconnect of an open one. A list withholds the username, MAC and IP of a subscriber
// who restricted processing; the list of his (?user=) takes ?reason= (apiStaffRead).

type sessionJSON struct {
	NAS            string     `json:"nas"`
	SessionID      string     `json:"acct_session_id"`
	Username       string     `json:"username"`
	MAC            string     `json:"mac"`
	IP             string     `json:"ip"`
	Start          time.Time  `json:"start"`
	Stop           *time.Time `json:"stop"`
	LastUpdate     time.Time  `json:"last_update"`
	Duration       uint32     `json:"duration_seconds"`
	InputOctets    uint64     `json:"input_octets"`
	OutputOctets   uint64     `json:"output_octets"`
	TerminateCause string     `json:"terminate_cause"`
	Online         bool       `json:"online"`
	Restricted     bool       `json:"restricted" doc:"the subscriber restricted processing: a list withholds username, mac and ip unless it is his (?user=) with ?reason="`
}

func toSessionJSON(s *radius.Session) sessionJSON {
	out := sessionJSON{NAS: s.NASName, SessionID: s.SessionID, Username: s.Username, MAC: s.MAC, Start: s.StartedAt.UTC(),
		Stop: timeOrNil(s.StoppedAt), LastUpdate: s.LastUpdate.UTC(), Duration: s.SessionTime, InputOctets: s.InputOctets,
		OutputOctets: s.OutputOctets, TerminateCause: s.TerminateCause, Online: s.Open()}
	if s.FramedIP.IsValid() {
		out.IP = s.FramedIP.String()
	}
	return out
}

// coaJSON is the outcome of a Disconnect-Request or CoA-Request.
type coaJSON struct {
	NAS        string `json:"nas"`
	SessionID  string `json:"acct_session_id"`
	Username   string `json:"username"`
	Kind       string `json:"kind" doc:"disconnect or coa"`
	Result     string `json:"result" doc:"ack, nak, timeout or error"`
	ErrorCause int    `json:"error_cause,omitempty" doc:"RFC 5176 Error-Cause of a NAK"`
}

func toCoAJSON(r radius.CoAResult, nas string) coaJSON {
	return coaJSON{NAS: nas, SessionID: r.SessionID, Username: r.Username, Kind: r.Kind, Result: r.Result, ErrorCause: r.ErrorCause}
}

// sessionCursor is the position of a session listing.
type sessionCursor struct {
	Start     time.Time `json:"s"`
	NASID     int64     `json:"n"`
	SessionID string    `json:"i"`
}

func (p *Portal) registerAPISessions() {
	if p.deps.API.Sessions == nil {
		return
	}
	p.api("GET", "/api/v1/sessions", p.apiSessions, apiDoc{Summary: "List sessions, newest start first.", Params: readParams(pageParams(
		apiParam{Name: "online", In: "query", Type: "boolean", Desc: "true: open sessions only"},
		apiParam{Name: "user", In: "query", Desc: "only this username"},
		apiParam{Name: "nas", In: "query", Desc: "only this router's (its name)"},
	)...), Resp: page[sessionJSON]{}})
	if p.deps.API.Disconnect != nil {
		p.api("POST", "/api/v1/sessions/:nas/:acct_session_id/disconnect", p.apiSessionDisconnect, apiDoc{
			Summary: "Send the session's router an RFC 5176 Disconnect-Request and answer its outcome (ack, nak with its Error-Cause, timeout).",
			Params:  []apiParam{{Name: "nas", In: "path", Desc: "the router's name"}, {Name: "acct_session_id", In: "path", Desc: "Acct-Session-Id, URL-escaped"}},
			Resp:    coaJSON{}})
	}
}

func (p *Portal) apiSessions(c *fiber.Ctx) error {
	limit, err := pageLimit(c)
	if err != nil {
		return err
	}
	f := radius.SessionQuery{Username: strings.Clone(c.Query("user")), NASName: strings.Clone(c.Query("nas")), Limit: limit + 1}
	if s := c.Query("online"); s != "" {
		if f.Online, err = strconv.ParseBool(s); err != nil {
			return radius.Errorf(radius.EINVALID, "online: true or false")
		}
	}
	var at sessionCursor
	if ok, err := cursor(c, &at); err != nil {
		return err
	} else if ok {
		f.After = &radius.SessionPos{StartedAt: at.Start, NASID: at.NASID, SessionID: at.SessionID}
	}
	list, err := p.deps.API.Sessions.FindSessionViews(c.UserContext(), f)
	if err != nil {
		return err
	}
	// One user's sessions are a read of his: of a restricted subscriber, with a reason.
	r, target := &staffRead{}, ""
	if f.Username != "" && len(list) > 0 {
		if r, err = apiStaffRead(c, list[0].Restricted); err != nil {
			return err
		}
		if id := list[0].SubscriberID; id != 0 {
			target = "subscriber:" + strconv.FormatInt(id, 10)
		}
	}
	out := page[sessionJSON]{Data: []sessionJSON{}}
	for i := range list {
		if len(out.Data) == limit {
			last := list[i-1]
			out.NextCursor = makeCursor(sessionCursor{Start: last.StartedAt, NASID: last.NASID, SessionID: last.SessionID})
			break
		}
		j := toSessionJSON(&list[i].Session)
		if j.Restricted = list[i].Restricted; j.Restricted && !r.restricted {
			j.Username, j.MAC, j.IP = "", "", ""
		}
		out.Data = append(out.Data, j)
	}
	if err := p.audit(c, "session.list", target, r.detail(map[string]any{"count": len(out.Data)})); err != nil {
		return err
	}
	return c.JSON(out)
}

func (p *Portal) apiSessionDisconnect(c *fiber.Ctx) error {
	nas, err1 := url.PathUnescape(c.Params("nas"))
	id, err2 := url.PathUnescape(c.Params("acct_session_id"))
	if err1 != nil || err2 != nil {
		return radius.Errorf(radius.ENOTFOUND, "acct_session_id: not a session")
	}
	nas, id = strings.Clone(nas), strings.Clone(id)
	ctx := c.UserContext()
	open, err := p.deps.API.Sessions.FindSessions(ctx, radius.SessionFilter{NASName: nas, SessionID: id, Online: true, Limit: 1})
	if err != nil {
		return err
	}
	if len(open) == 0 {
		return radius.Errorf(radius.ENOTFOUND, "acct_session_id: no open session %q on NAS %q", id, nas)
	}
	r, err := p.deps.API.Disconnect.Disconnect(ctx, open[0].Live(), "admin")
	if err != nil && r.Result == "" {
		return err
	}
	if err := p.audit(c, "session.disconnect", "session:"+nas+"/"+id, map[string]any{"user": open[0].Username, "result": r.Result}); err != nil {
		return err
	}
	return c.JSON(toCoAJSON(r, nas))
}
