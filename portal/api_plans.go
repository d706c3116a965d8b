package portal

import (
	"slices"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"

	"tollgate/billing"
	"tollgate/radius"
)

// /api/v1/plans: list, get, create, update. Durations are whole seconds, data limits
// bytes, prices decimal strings in the currency's main unit ("12.50"); 0 means
// unlimited (or, for validity, no end).

type planJSON struct {
	ID             int64     `json:"id"`
	Name           string    `json:"name"`
	Kind           string    `json:"kind" doc:"pppoe or hotspot"`
	Price          string    `json:"price" doc:"decimal, in the currency's main unit"`
	ResellerPrice  string    `json:"reseller_price"`
	Currency       string    `json:"currency,omitempty" doc:"ISO 4217, when the server is configured with one"`
	RateLimit      string    `json:"rate_limit" doc:"MikroTik rate limit, e.g. 2M/10M"`
	Validity       int64     `json:"validity" doc:"seconds; 0: no end"`
	UptimeLimit    int64     `json:"uptime_limit" doc:"seconds; 0: unlimited"`
	DataLimit      int64     `json:"data_limit" doc:"bytes; 0: unlimited"`
	SharedUsers    int       `json:"shared_users" doc:"simultaneous sessions; 0: unlimited"`
	Interim        int64     `json:"interim" doc:"Acct-Interim-Interval in seconds; 0: the router's"`
	Pool           string    `json:"pool"`
	AddressList    string    `json:"address_list"`
	ValidityFrom   string    `json:"validity_from" doc:"first_login or sale"`
	LockMAC        bool      `json:"lock_mac"`
	NAS            []string  `json:"nas"`
	HotspotServers []string  `json:"hotspot_servers"`
	CreatedAt      time.Time `json:"created_at"`
}

func (p *Portal) toPlanJSON(pl *billing.Plan) planJSON {
	return planJSON{ID: pl.ID, Name: pl.Name, Kind: string(pl.Kind), Price: billing.FormatCents(pl.PriceCents),
		ResellerPrice: billing.FormatCents(pl.ResellerPriceCents), Currency: p.cfg.Currency, RateLimit: pl.RateLimit,
		Validity: int64(pl.Validity / time.Second), UptimeLimit: int64(pl.UptimeLimit / time.Second), DataLimit: pl.DataLimit,
		SharedUsers: pl.SharedUsers, Interim: int64(pl.Interim / time.Second), Pool: pl.Pool, AddressList: pl.AddressList,
		ValidityFrom: string(pl.ValidityFrom), LockMAC: pl.LockMAC, NAS: orEmpty(pl.NASNames), HotspotServers: orEmpty(pl.HotspotServers),
		CreatedAt: pl.CreatedAt.UTC()}
}

func orEmpty(l []string) []string {
	if l == nil {
		return []string{}
	}
	return l
}

// planInput is the body of a create (name and kind required) or an update (any field
// but kind). Absent fields are unchanged, or zero on create.
type planInput struct {
	Name           *string   `json:"name"`
	Kind           *string   `json:"kind"`
	Price          *string   `json:"price"`
	ResellerPrice  *string   `json:"reseller_price"`
	RateLimit      *string   `json:"rate_limit"`
	Validity       *int64    `json:"validity"`
	UptimeLimit    *int64    `json:"uptime_limit"`
	DataLimit      *int64    `json:"data_limit"`
	SharedUsers    *int      `json:"shared_users"`
	Interim        *int64    `json:"interim"`
	Pool           *string   `json:"pool"`
	AddressList    *string   `json:"address_list"`
	ValidityFrom   *string   `json:"validity_from"`
	LockMAC        *bool     `json:"lock_mac"`
	NAS            *[]string `json:"nas"`
	HotspotServers *[]string `json:"hotspot_servers"`
}

// update reads in as a billing.PlanUpdate. EINVALID naming the field.
func (in *planInput) update() (billing.PlanUpdate, error) {
	var u billing.PlanUpdate
	var err error
	cents := func(field string, s *string) (*int64, error) {
		if s == nil {
			return nil, nil
		}
		v, err := billing.ParseCents(*s)
		if err != nil {
			return nil, radius.Errorf(radius.EINVALID, "%s: %s", field, radius.ErrorMessage(err))
		}
		return &v, nil
	}
	secs := func(v *int64) *time.Duration {
		if v == nil {
			return nil
		}
		d := time.Duration(*v) * time.Second
		if *v > int64(billing.MaxPlanDuration/time.Second) {
			d = billing.MaxPlanDuration + time.Second // refused by ValidatePlan with its message
		}
		return &d
	}
	if u.PriceCents, err = cents("price", in.Price); err != nil {
		return u, err
	}
	if u.ResellerPriceCents, err = cents("reseller_price", in.ResellerPrice); err != nil {
		return u, err
	}
	u.Name, u.RateLimit, u.DataLimit, u.SharedUsers = in.Name, in.RateLimit, in.DataLimit, in.SharedUsers
	u.Validity, u.UptimeLimit, u.Interim = secs(in.Validity), secs(in.UptimeLimit), secs(in.Interim)
	u.Pool, u.AddressList, u.LockMAC = in.Pool, in.AddressList, in.LockMAC
	return u, nil
}

func (p *Portal) registerAPIPlans() {
	list := page[planJSON]{}
	p.api("GET", "/api/v1/plans", p.apiPlans, apiDoc{Summary: "List plans by ID.", Params: pageParams(), Resp: list})
	p.api("POST", "/api/v1/plans", p.apiPlanCreate, apiDoc{Summary: "Add a plan.", Body: planInput{}, Resp: planJSON{}, Status: 201})
	p.api("GET", "/api/v1/plans/:id", p.apiPlan, apiDoc{Summary: "One plan.", Params: idParams(), Resp: planJSON{}})
	p.api("PATCH", "/api/v1/plans/:id", p.apiPlanUpdate, apiDoc{Summary: "Change a plan; absent fields stay. The kind cannot change. Subscribers get the new limits at their next login.",
		Params: idParams(), Body: planInput{}, Resp: planJSON{}})
}

// pageParams are the query parameters of every list.
func pageParams(more ...apiParam) []apiParam {
	return append([]apiParam{
		{Name: "limit", In: "query", Type: "integer", Desc: "1 to 1000 (default 100)"},
		{Name: "cursor", In: "query", Desc: "next_cursor of the previous page"},
	}, more...)
}

func idParams() []apiParam { return []apiParam{{Name: "id", In: "path", Type: "integer"}} }

// pageByID pages an in-memory list ordered by ID.
func pageByID[T, J any](c *fiber.Ctx, all []T, id func(*T) int64, conv func(*T) J) (page[J], error) {
	limit, err := pageLimit(c)
	if err != nil {
		return page[J]{}, err
	}
	var after idCursor
	if _, err := cursor(c, &after); err != nil {
		return page[J]{}, err
	}
	slices.SortFunc(all, func(a, b T) int { return int(min(max(id(&a)-id(&b), -1), 1)) })
	out := page[J]{Data: []J{}}
	for i := range all {
		if id(&all[i]) <= after.ID {
			continue
		}
		if len(out.Data) == limit {
			out.NextCursor = makeCursor(idCursor{ID: id(&all[i-1])})
			break
		}
		out.Data = append(out.Data, conv(&all[i]))
	}
	return out, nil
}

func (p *Portal) apiPlans(c *fiber.Ctx) error {
	plans, err := p.deps.API.Plans.ListPlans(c.UserContext())
	if err != nil {
		return err
	}
	out, err := pageByID(c, plans, func(pl *billing.Plan) int64 { return pl.ID }, p.toPlanJSON)
	if err != nil {
		return err
	}
	if err := p.audit(c, "plan.list", "", map[string]any{"count": len(out.Data)}); err != nil {
		return err
	}
	return c.JSON(out)
}

func (p *Portal) apiPlan(c *fiber.Ctx) error {
	id, err := idParam(c, "plan")
	if err != nil {
		return err
	}
	pl, err := p.deps.API.Plans.FindPlanByID(c.UserContext(), id)
	if err != nil {
		return err
	}
	if err := p.audit(c, "plan.show", "plan:"+strconv.FormatInt(id, 10), nil); err != nil {
		return err
	}
	return c.JSON(p.toPlanJSON(pl))
}

func (p *Portal) apiPlanCreate(c *fiber.Ctx) error {
	var in planInput
	if err := bodyJSON(c, &in); err != nil {
		return err
	}
	if in.Name == nil {
		return radius.Errorf(radius.EINVALID, "name: required")
	}
	if in.Kind == nil {
		return radius.Errorf(radius.EINVALID, "kind: required (pppoe or hotspot)")
	}
	u, err := in.update()
	if err != nil {
		return err
	}
	pl := billing.Plan{Name: *in.Name, Kind: radius.PlanKind(*in.Kind)}
	setPtr(&pl.PriceCents, u.PriceCents)
	setPtr(&pl.ResellerPriceCents, u.ResellerPriceCents)
	setPtr(&pl.RateLimit, u.RateLimit)
	setPtr(&pl.Validity, u.Validity)
	setPtr(&pl.UptimeLimit, u.UptimeLimit)
	setPtr(&pl.DataLimit, u.DataLimit)
	setPtr(&pl.SharedUsers, u.SharedUsers)
	setPtr(&pl.Interim, u.Interim)
	setPtr(&pl.Pool, u.Pool)
	setPtr(&pl.AddressList, u.AddressList)
	setPtr(&pl.LockMAC, u.LockMAC)
	setPtr(&pl.NASNames, in.NAS)
	setPtr(&pl.HotspotServers, in.HotspotServers)
	if in.ValidityFrom != nil {
		if pl.ValidityFrom, err = billing.ParseValidityFrom(*in.ValidityFrom); err != nil {
			return err
		}
	}
	created, err := p.deps.API.Plans.CreatePlan(c.UserContext(), pl)
	if err != nil {
		return err
	}
	if err := p.audit(c, "plan.create", "plan:"+created.Name, map[string]any{"kind": string(created.Kind), "price_cents": created.PriceCents}); err != nil {
		return err
	}
	return c.Status(fiber.StatusCreated).JSON(p.toPlanJSON(created))
}

func (p *Portal) apiPlanUpdate(c *fiber.Ctx) error {
	id, err := idParam(c, "plan")
	if err != nil {
		return err
	}
	var in planInput
	if err := bodyJSON(c, &in); err != nil {
		return err
	}
	switch {
	case in.Kind != nil:
		return radius.Errorf(radius.EINVALID, "kind: cannot change; make a new plan")
	case in.ValidityFrom != nil, in.NAS != nil, in.HotspotServers != nil:
		return radius.Errorf(radius.EINVALID, "validity_from: validity_from, nas and hotspot_servers are set when a plan is made")
	}
	u, err := in.update()
	if err != nil {
		return err
	}
	pl, err := p.deps.API.Plans.UpdatePlan(c.UserContext(), id, u)
	if err != nil {
		return err
	}
	if err := p.audit(c, "plan.update", "plan:"+strconv.FormatInt(id, 10), map[string]any{"name": pl.Name}); err != nil {
		return err
	}
	return c.JSON(p.toPlanJSON(pl))
}

// setPtr copies *src to *dst when src is set.
func setPtr[T any](dst, src *T) {
	if src != nil {
		*dst = *src
	}
}
