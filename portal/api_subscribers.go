package portal

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"tollgate/billing"
	"tollgate/radius"
)

// /api/v1/subscribers: list with search and filters, get, create, update, and DELETE,
// which disables: a subscriber's accounting, invoices and events must outlive him
// (erasure, which pseudonymises them, is the privacy center's). Suspending or
// disabling cuts the subscriber's open sessions, as the command line does.
//
// Staff reads (issue 9): a read of one subscriber who restricted processing names its
// reason in ?reason= (billing.CheckStaffRead), kept in the read's audit entry; a list,
// and the answer to a write, withholds such a subscriber's name, email, phone, MAC
// and static IP, as the admin's directory does.

type subscriberJSON struct {
	ID         int64      `json:"id"`
	Username   string     `json:"username"`
	Plan       string     `json:"plan"`
	PlanID     int64      `json:"plan_id"`
	Status     string     `json:"status" doc:"active, suspended or disabled"`
	StaticIP   string     `json:"static_ip"`
	MAC        string     `json:"mac"`
	MACLogin   bool       `json:"mac_login"`
	Name       string     `json:"name"`
	Email      string     `json:"email"`
	Phone      string     `json:"phone"`
	ValidFrom  *time.Time `json:"valid_from"`
	ValidUntil *time.Time `json:"valid_until"`
	CreatedAt  time.Time  `json:"created_at"`
	UpdatedAt  time.Time  `json:"updated_at"`
	Restricted bool       `json:"restricted" doc:"the subscriber restricted processing: lists withhold name, email, phone, mac and static_ip; a read of one takes ?reason="`
}

// withhold blanks what a list shows of a restricted subscriber beyond the account.
func (j *subscriberJSON) withhold() {
	if j.Restricted {
		j.Name, j.Email, j.Phone, j.MAC, j.StaticIP = "", "", "", "", ""
	}
}

func toSubscriberJSON(s *billing.Subscriber) subscriberJSON {
	out := subscriberJSON{ID: s.ID, Username: s.Username, Plan: s.PlanName, PlanID: s.PlanID, Status: string(s.Status),
		MAC: s.MAC, MACLogin: s.MACLogin, Name: s.Name, Email: s.Email, Phone: s.Phone,
		ValidFrom: timeOrNil(s.ValidFrom), ValidUntil: timeOrNil(s.ValidUntil), CreatedAt: s.CreatedAt.UTC(), UpdatedAt: s.UpdatedAt.UTC(),
		Restricted: s.Restricted}
	if s.StaticIP.IsValid() {
		out.StaticIP = s.StaticIP.String()
	}
	return out
}

// subscriberInput is the body of a create (username, password and plan required;
// password is write-only).
type subscriberInput struct {
	Username string `json:"username"`
	Password string `json:"password" doc:"write-only"`
	Plan     string `json:"plan" doc:"the plan's name"`
	StaticIP string `json:"static_ip,omitempty"`
	MAC      string `json:"mac,omitempty"`
	MACLogin bool   `json:"mac_login,omitempty"`
	Name     string `json:"name,omitempty"`
	Email    string `json:"email,omitempty"`
	Phone    string `json:"phone,omitempty" doc:"E.164, e.g. +254712345678"`
}

// subscriberUpdate is the body of an update: absent fields stay.
type subscriberUpdate struct {
	Status   *string `json:"status"`
	Plan     *string `json:"plan"`
	Password *string `json:"password" doc:"write-only"`
	MAC      *string `json:"mac" doc:"\"\" unbinds the device"`
	MACLogin *bool   `json:"mac_login"`
}

// subscriberChange is a changed subscriber with the sessions the change cut.
type subscriberChange struct {
	subscriberJSON
	Sessions []coaJSON `json:"sessions"`
}

func (p *Portal) registerAPISubscribers() {
	if p.deps.API.Subscribers == nil {
		return
	}
	p.api("GET", "/api/v1/subscribers", p.apiSubscribers, apiDoc{Summary: "List subscribers by ID.", Params: pageParams(
		apiParam{Name: "search", In: "query", Desc: "a username prefix, or part of the name or email"},
		apiParam{Name: "status", In: "query", Desc: "active, suspended or disabled"},
		apiParam{Name: "plan_id", In: "query", Type: "integer"},
	), Resp: page[subscriberJSON]{}})
	p.api("POST", "/api/v1/subscribers", p.apiSubscriberCreate, apiDoc{Summary: "Add a subscriber.", Body: subscriberInput{}, Resp: subscriberJSON{}, Status: 201})
	p.api("GET", "/api/v1/subscribers/:id", p.apiSubscriber, apiDoc{Summary: "One subscriber.", Params: readParams(idParams()...), Resp: subscriberJSON{}})
	p.api("PATCH", "/api/v1/subscribers/:id", p.apiSubscriberUpdate, apiDoc{Summary: "Change a subscriber's status, plan, password or device; suspending or disabling cuts the open sessions, a new plan reaches them at the next login.",
		Params: idParams(), Body: subscriberUpdate{}, Resp: subscriberChange{}})
	p.api("DELETE", "/api/v1/subscribers/:id", p.apiSubscriberDelete, apiDoc{Summary: "Disable a subscriber and cut its sessions (records are kept; the account can be enabled again).",
		Params: idParams(), Resp: subscriberChange{}})
}

func (p *Portal) apiSubscribers(c *fiber.Ctx) error {
	limit, err := pageLimit(c)
	if err != nil {
		return err
	}
	f := billing.SubscriberFilter{Search: strings.Clone(c.Query("search")), Status: radius.Status(strings.Clone(c.Query("status"))), Limit: limit + 1}
	if s := c.Query("plan_id"); s != "" {
		if f.PlanID, err = strconv.ParseInt(s, 10, 64); err != nil || f.PlanID <= 0 {
			return radius.Errorf(radius.EINVALID, "plan_id: a plan's id")
		}
	}
	var after idCursor
	if _, err := cursor(c, &after); err != nil {
		return err
	}
	f.AfterID = after.ID
	if f.Limit > billing.MaxListLimit {
		f.Limit = billing.MaxListLimit // one more than the page tells whether there is another
	}
	list, err := p.deps.API.Subscribers.FindSubscribers(c.UserContext(), f)
	if err != nil {
		return err
	}
	out := page[subscriberJSON]{Data: []subscriberJSON{}}
	for i := range list {
		if len(out.Data) == limit {
			out.NextCursor = makeCursor(idCursor{ID: list[i-1].ID})
			break
		}
		j := toSubscriberJSON(&list[i])
		j.withhold()
		out.Data = append(out.Data, j)
	}
	if err := p.audit(c, "subscriber.list", "", map[string]any{"count": len(out.Data), "search": f.Search != ""}); err != nil {
		return err
	}
	return c.JSON(out)
}

func (p *Portal) findSubscriber(c *fiber.Ctx) (*billing.Subscriber, error) {
	id, err := idParam(c, "subscriber")
	if err != nil {
		return nil, err
	}
	return p.deps.API.Subscribers.FindSubscriberByID(c.UserContext(), id)
}

func subscriberTarget(s *billing.Subscriber) string {
	return "subscriber:" + strconv.FormatInt(s.ID, 10)
}

// readParams are params with the staff read's reason.
func readParams(params ...apiParam) []apiParam {
	return append(params, apiParam{Name: "reason", In: "query",
		Desc: "why you read this subscriber's data: required (422 naming reason without it) when the subscriber restricted processing; kept in the audit log"})
}

// errNoReason refuses a read of a restricted subscriber that names no reason.
var errNoReason = radius.Errorf(radius.EINVALID,
	"reason: this subscriber restricted the processing of their data: give the reason for this read in ?reason=")

// apiStaffRead applies the staff-read rule (billing.CheckStaffRead) to an API read of
// the data of a subscriber who is restricted or not: the reason comes from ?reason=,
// and the read's audit entry keeps it (staffRead.detail). EINVALID naming reason.
func apiStaffRead(c *fiber.Ctx, restricted bool) (*staffRead, error) {
	q := c.Query("reason")
	if restricted && strings.TrimSpace(q) == "" {
		return nil, errNoReason
	}
	reason, err := billing.CheckStaffRead(&billing.Profile{Restricted: restricted}, q)
	if err != nil {
		return nil, err
	}
	return &staffRead{restricted: restricted, reason: strings.Clone(reason)}, nil
}

func (p *Portal) apiSubscriber(c *fiber.Ctx) error {
	s, err := p.findSubscriber(c)
	if err != nil {
		return err
	}
	r, err := apiStaffRead(c, s.Restricted)
	if err != nil {
		return err
	}
	if err := p.audit(c, "subscriber.show", subscriberTarget(s), r.detail(nil)); err != nil {
		return err
	}
	return c.JSON(toSubscriberJSON(s))
}

func (p *Portal) apiSubscriberCreate(c *fiber.Ctx) error {
	var in subscriberInput
	if err := bodyJSON(c, &in); err != nil {
		return err
	}
	s, err := p.deps.API.Subscribers.AddSubscriber(c.UserContext(), billing.NewSubscriber{
		Username: in.Username, Password: in.Password, Plan: in.Plan, StaticIP: in.StaticIP, MAC: in.MAC, MACLogin: in.MACLogin,
		Name: in.Name, Email: in.Email, Phone: in.Phone,
	})
	if s == nil && err != nil {
		return err
	}
	// Stored; a failure to tell the caches is reported after the audit entry.
	if aerr := p.audit(c, "subscriber.create", subscriberTarget(s), map[string]any{"plan": s.PlanName}); aerr != nil {
		return aerr
	}
	if err != nil {
		return err
	}
	return c.Status(fiber.StatusCreated).JSON(toSubscriberJSON(s))
}

func (p *Portal) apiSubscriberUpdate(c *fiber.Ctx) error {
	s, err := p.findSubscriber(c)
	if err != nil {
		return err
	}
	var in subscriberUpdate
	if err := bodyJSON(c, &in); err != nil {
		return err
	}
	upd := billing.SubscriberUpdate{Plan: in.Plan, Password: in.Password, MAC: in.MAC, MACLogin: in.MACLogin}
	if in.Status != nil {
		st := radius.Status(*in.Status)
		upd.Status = &st
	}
	return p.changeSubscriber(c, s, upd, "subscriber.update")
}

func (p *Portal) apiSubscriberDelete(c *fiber.Ctx) error {
	s, err := p.findSubscriber(c)
	if err != nil {
		return err
	}
	st := radius.StatusDisabled
	return p.changeSubscriber(c, s, billing.SubscriberUpdate{Status: &st}, "subscriber.disable")
}

// changeSubscriber applies upd, audits it and cuts the sessions of a subscriber that is
// no longer active.
func (p *Portal) changeSubscriber(c *fiber.Ctx, s *billing.Subscriber, upd billing.SubscriberUpdate, action string) error {
	ctx := c.UserContext()
	s, err := p.deps.API.Subscribers.UpdateSubscriber(ctx, s.Username, upd)
	if s == nil && err != nil {
		return err
	}
	detail := map[string]any{"status": string(s.Status), "plan": s.PlanName, "password": upd.Password != nil}
	if aerr := p.audit(c, action, subscriberTarget(s), detail); aerr != nil {
		return aerr
	}
	if err != nil {
		return err
	}
	out := subscriberChange{subscriberJSON: toSubscriberJSON(s), Sessions: []coaJSON{}}
	out.withhold() // a write is no read: it answers what the list shows
	if upd.Status != nil && s.Status != radius.StatusActive {
		res, err := p.disconnectUser(ctx, s.Username, string(s.Status))
		out.Sessions = res
		if err != nil {
			return err
		}
	}
	return c.JSON(out)
}

// disconnectUser sends a Disconnect-Request for every open session of username.
func (p *Portal) disconnectUser(ctx context.Context, username, reason string) ([]coaJSON, error) {
	out := []coaJSON{}
	if p.deps.API.Disconnect == nil || p.deps.API.Sessions == nil {
		return out, nil
	}
	open, err := p.deps.API.Sessions.FindSessions(ctx, radius.SessionFilter{Username: username, Online: true, Limit: 1000})
	if err != nil {
		return out, err
	}
	for i := range open {
		r, err := p.deps.API.Disconnect.Disconnect(ctx, open[i].Live(), reason)
		if err != nil && r.Result == "" {
			return out, err
		}
		out = append(out, toCoAJSON(r, open[i].NASName))
	}
	return out, nil
}
