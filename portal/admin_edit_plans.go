package portal

import (
	"context"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"tollgate/billing"
	"tollgate/radius"
)

// The plan pages: the list with every field as people read it, the add form, and the
// edit form of one plan (every field but the kind, which its subscribers and vouchers
// were sold for). When an edit changes the rate limit and sessions online get their
// rate from the plan, the admin is offered to send them the new rate now: a page says
// how many, and its button sends each a CoA (a Disconnect where the router takes no
// CoA, so it redials with the new plan) and shows what each router answered.

// PlanEditor finds and changes plans (billing.Service).
type PlanEditor interface {
	// FindPlanByID returns plan id. ENOTFOUND.
	FindPlanByID(ctx context.Context, id int64) (*billing.Plan, error)
	// UpdatePlan changes plan id. ENOTFOUND, EINVALID naming the field, ECONFLICT.
	UpdatePlan(ctx context.Context, id int64, upd billing.PlanUpdate) (*billing.Plan, error)
	// DeletePlan removes plan id, which nothing may use, and returns it. ENOTFOUND,
	// ECONFLICT naming what uses it.
	DeletePlan(ctx context.Context, id int64) (*billing.Plan, error)
}

// PlanCoA sends the sessions online that get their rate limit from a plan the rate
// limit as now stored.
type PlanCoA interface {
	// CoAPlan sends each open session whose rate comes from plan id (see
	// radius.SessionQuery.RatePlanID) a CoA with its rate limit, and returns each
	// router's answer.
	CoAPlan(ctx context.Context, planID int64) ([]radius.CoAResult, error)
}

// planFields are the plan form's fields.
var planFields = []string{"name", "kind", "price", "reseller_price", "rate_limit", "validity", "uptime_limit", "data_limit",
	"shared_users", "interim", "pool", "address_list", "validity_from", "lock_mac", "nas", "hotspot_servers",
	"period", "grace", "isolation_plan", "confirm"}

// plansView is the data of the plan list and the plan edit page.
type plansView struct {
	*view
	formView
	Plans []billing.Plan
	// Plan is the plan being edited (nil on the list).
	Plan *billing.Plan
	// The CoA offer and its results.
	Online  int
	OldRate string
	Results []coaRow
}

// coaRow is one session's CoA as the results page shows it.
type coaRow struct {
	radius.CoAResult
	NAS  string
	Text string
	OK   bool
}

// formView is what a page with a form adds: the values typed (kept after a refusal)
// and the field the error names.
type formView struct {
	Form map[string]string
	// Bad is the form field the error is about ("" for none): the domain's messages
	// start with the field's name ("rate-limit: …").
	Bad string
}

// Invalid marks the form field name when the error is about it.
func (f *formView) Invalid(name string) bool { return f.Bad == name }

// badField returns the form field an EINVALID or ECONFLICT message is about: its prefix
// before ": ", in the form's spelling ("rate-limit" → "rate_limit"), when the form has
// such a field.
func badField(msg string, fields []string) string {
	head, _, ok := strings.Cut(msg, ": ")
	if !ok {
		return ""
	}
	name := strings.ReplaceAll(strings.ToLower(strings.TrimSpace(head)), "-", "_")
	name = strings.ReplaceAll(name, " ", "_")
	for alias, field := range map[string]string{"address": "address", "require_message_authenticator": "require_ma",
		"login_host": "login_hosts", "credit_limit": "credit_limit", "hotspot_server": "hotspot_servers",
		"coa_port": "coa_port", "coa port": "coa_port"} {
		if name == alias {
			name = field
		}
	}
	if slices.Contains(fields, name) {
		return name
	}
	return ""
}

func (p *Portal) adminPlans(c *fiber.Ctx) error {
	return p.plansPage(c, fiber.StatusOK, map[string]string{"shared_users": "1", "interim": "5m"}, "")
}

func (p *Portal) plansPage(c *fiber.Ctx, status int, f map[string]string, msg string) error {
	plans, err := p.deps.Vouchers.Plans.ListPlans(c.UserContext())
	if err != nil {
		return err
	}
	if status == fiber.StatusOK {
		if err := p.audit(c, "plan.list", "", map[string]any{"count": len(plans)}); err != nil {
			return err
		}
	}
	v := &plansView{view: p.view(c, "Plans"), Plans: plans, formView: formView{Form: f, Bad: badField(msg, planFields)}}
	v.Error = msg
	return p.renderAny(c, status, "admin-plans", v)
}

// adminPlanCreate adds a plan from the plan form, every field included.
func (p *Portal) adminPlanCreate(c *fiber.Ctx) error {
	f := formFields(c, planFields...)
	pl, err := parsePlan(f)
	if err == nil {
		pl, err = p.deps.Vouchers.Plans.CreatePlan(c.UserContext(), *pl)
	}
	if code := radius.ErrorCode(err); code == radius.EINVALID || code == radius.ECONFLICT {
		return p.plansPage(c, httpStatus(err, true), f, radius.ErrorMessage(err))
	}
	if err != nil {
		return err
	}
	if err := p.audit(c, "plan.create", "plan:"+pl.Name, map[string]any{"kind": string(pl.Kind), "price_cents": pl.PriceCents, "reseller_price_cents": pl.ResellerPriceCents}); err != nil {
		return err
	}
	return c.Redirect("/admin/plans", fiber.StatusSeeOther)
}

// parsePlan reads the plan form; empty fields are zero (a period's is the default).
// EINVALID naming the field.
func parsePlan(f map[string]string) (*billing.Plan, error) {
	pl := &billing.Plan{Name: f["name"], Kind: radius.PlanKind(f["kind"]), RateLimit: f["rate_limit"], LockMAC: f["lock_mac"] != "",
		Pool: f["pool"], AddressList: f["address_list"], IsolationPlan: f["isolation_plan"],
		NASNames: splitList(f["nas"]), HotspotServers: splitList(f["hotspot_servers"])}
	if pl.Kind == "" {
		pl.Kind = radius.KindHotspot
	}
	var err error
	cents := func(field, s string) (int64, error) {
		if s == "" {
			return 0, nil
		}
		v, err := billing.ParseCents(s)
		if err != nil {
			return 0, radius.Errorf(radius.EINVALID, "%s: %s", field, radius.ErrorMessage(err))
		}
		return v, nil
	}
	dur := func(field, s string) (time.Duration, error) {
		if s == "" {
			return 0, nil
		}
		v, err := billing.ParseDuration(s)
		if err != nil {
			return 0, radius.Errorf(radius.EINVALID, "%s: %s", field, radius.ErrorMessage(err))
		}
		return v, nil
	}
	if pl.PriceCents, err = cents("price", f["price"]); err != nil {
		return nil, err
	}
	if pl.ResellerPriceCents, err = cents("reseller-price", f["reseller_price"]); err != nil {
		return nil, err
	}
	for _, d := range []struct {
		field string
		dst   *time.Duration
	}{{"validity", &pl.Validity}, {"uptime-limit", &pl.UptimeLimit}, {"interim", &pl.Interim}, {"grace", &pl.Grace}} {
		if *d.dst, err = dur(d.field, f[strings.ReplaceAll(d.field, "-", "_")]); err != nil {
			return nil, err
		}
	}
	if f["data_limit"] != "" {
		if pl.DataLimit, err = billing.ParseSize(f["data_limit"]); err != nil {
			return nil, radius.Errorf(radius.EINVALID, "data-limit: %s", radius.ErrorMessage(err))
		}
	}
	if f["shared_users"] != "" {
		if pl.SharedUsers, err = strconv.Atoi(f["shared_users"]); err != nil || pl.SharedUsers < 0 {
			return nil, radius.Errorf(radius.EINVALID, "shared-users: a number from 0 (0 is unlimited)")
		}
	}
	if f["period"] != "" {
		if pl.Period, err = billing.ParsePeriod(f["period"]); err != nil {
			return nil, err
		}
	}
	if pl.Kind == radius.KindHotspot {
		pl.ValidityFrom = billing.FromFirstLogin
		if f["validity_from"] != "" {
			if pl.ValidityFrom, err = billing.ParseValidityFrom(f["validity_from"]); err != nil {
				return nil, err
			}
		}
	}
	return pl, nil
}

// splitList reads a list typed with commas or spaces between its items.
func splitList(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' })
}

// pathPlan returns plan :id. ENOTFOUND.
func (p *Portal) pathPlan(c *fiber.Ctx) (*billing.Plan, error) {
	id, err := planID(c)
	if err != nil {
		return nil, err
	}
	return p.deps.Ops.Plans.FindPlanByID(c.UserContext(), id)
}

// planID reads :id. ENOTFOUND for anything but a positive number.
func planID(c *fiber.Ctx) (int64, error) {
	id, err := strconv.ParseInt(c.Params("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, radius.Errorf(radius.ENOTFOUND, "no such plan")
	}
	return id, nil
}

// planForm writes a plan into the form's fields, in spellings the form reads back.
func planForm(pl *billing.Plan) map[string]string {
	f := map[string]string{"name": pl.Name, "kind": string(pl.Kind), "rate_limit": pl.RateLimit,
		"validity": inputDuration(pl.Validity), "uptime_limit": inputDuration(pl.UptimeLimit), "data_limit": inputSize(pl.DataLimit),
		"shared_users": strconv.Itoa(pl.SharedUsers), "interim": inputDuration(pl.Interim), "pool": pl.Pool, "address_list": pl.AddressList,
		"validity_from": string(pl.ValidityFrom), "nas": strings.Join(pl.NASNames, ", "), "hotspot_servers": strings.Join(pl.HotspotServers, ", "),
		"period": string(pl.PeriodOrDefault()), "grace": inputDuration(pl.Grace), "isolation_plan": pl.IsolationPlan,
		"price": billing.FormatCents(pl.PriceCents), "reseller_price": billing.FormatCents(pl.ResellerPriceCents)}
	if pl.LockMAC {
		f["lock_mac"] = "on"
	}
	return f
}

// inputDuration writes d as the form reads it: "30d", "1d12h", "90m"; "" for none.
func inputDuration(d time.Duration) string {
	if d == 0 {
		return ""
	}
	var b strings.Builder
	for _, u := range []struct {
		size time.Duration
		unit string
	}{{24 * time.Hour, "d"}, {time.Hour, "h"}, {time.Minute, "m"}, {time.Second, "s"}} {
		if n := d / u.size; n > 0 {
			b.WriteString(strconv.FormatInt(int64(n), 10) + u.unit)
			d -= n * u.size
		}
	}
	if d > 0 {
		b.WriteString(d.String())
	}
	return b.String()
}

// inputSize writes n bytes as the form reads it back exactly: in the largest binary or
// decimal unit that divides it ("1GiB", "500M"); "" for none.
func inputSize(n int64) string {
	if n == 0 {
		return ""
	}
	for _, u := range []struct {
		size int64
		unit string
	}{{1 << 40, "TiB"}, {1e12, "T"}, {1 << 30, "GiB"}, {1e9, "G"}, {1 << 20, "MiB"}, {1e6, "M"}, {1 << 10, "KiB"}, {1e3, "k"}} {
		if n%u.size == 0 {
			return strconv.FormatInt(n/u.size, 10) + u.unit
		}
	}
	return strconv.FormatInt(n, 10)
}

// adminPlan is the edit page of plan :id.
func (p *Portal) adminPlan(c *fiber.Ctx) error {
	pl, err := p.pathPlan(c)
	if err != nil {
		return err
	}
	if err := p.audit(c, "plan.show", "plan:"+pl.Name, nil); err != nil {
		return err
	}
	return p.planPage(c, fiber.StatusOK, pl, planForm(pl), "")
}

func (p *Portal) planPage(c *fiber.Ctx, status int, pl *billing.Plan, f map[string]string, msg string) error {
	plans, err := p.deps.Vouchers.Plans.ListPlans(c.UserContext())
	if err != nil {
		return err
	}
	v := &plansView{view: p.view(c, "Plan "+pl.Name), Plan: pl, Plans: plans, formView: formView{Form: f, Bad: badField(msg, planFields)}}
	v.Error = msg
	return p.renderAny(c, status, "admin-plans", v)
}

// adminPlanUpdate saves the edit form of plan :id. When the rate limit changed and
// sessions online get their rate from the plan, it leads to the CoA offer.
func (p *Portal) adminPlanUpdate(c *fiber.Ctx) error {
	ctx := c.UserContext()
	old, err := p.pathPlan(c)
	if err != nil {
		return err
	}
	id := old.ID
	f := formFields(c, planFields...)
	f["kind"] = string(old.Kind) // the kind never changes
	in, err := parsePlan(f)
	var pl *billing.Plan
	if err == nil {
		period := in.Period
		if period == "" {
			period = billing.DefaultPeriod
		}
		if in.ValidityFrom == "" {
			in.ValidityFrom = old.ValidityFrom // a PPPoE plan's stays what it is
		}
		pl, err = p.deps.Ops.Plans.UpdatePlan(ctx, id, billing.PlanUpdate{
			Name: &in.Name, PriceCents: &in.PriceCents, ResellerPriceCents: &in.ResellerPriceCents, RateLimit: &in.RateLimit,
			Validity: &in.Validity, UptimeLimit: &in.UptimeLimit, DataLimit: &in.DataLimit, SharedUsers: &in.SharedUsers,
			Interim: &in.Interim, Pool: &in.Pool, AddressList: &in.AddressList, LockMAC: &in.LockMAC,
			ValidityFrom: &in.ValidityFrom, NASNames: &in.NASNames, HotspotServers: &in.HotspotServers,
			Period: &period, Grace: &in.Grace, IsolationPlan: &in.IsolationPlan,
		})
	}
	if code := radius.ErrorCode(err); code == radius.EINVALID || code == radius.ECONFLICT {
		return p.planPage(c, httpStatus(err, true), old, f, radius.ErrorMessage(err))
	}
	if err != nil && pl == nil {
		return err
	}
	if aerr := p.audit(c, "plan.update", "plan:"+pl.Name, planChanges(old, pl)); aerr != nil {
		return aerr
	}
	if err != nil {
		return err // stored, but the caches were not told
	}
	if old.RateLimit != pl.RateLimit && p.deps.Ops.PlanCoA != nil {
		n, err := p.onlineOnPlan(ctx, id)
		if err != nil {
			return err
		}
		if n > 0 {
			return c.Redirect("/admin/plans/"+strconv.FormatInt(id, 10)+"/coa?from="+url.QueryEscape(old.RateLimit), fiber.StatusSeeOther)
		}
	}
	return c.Redirect("/admin/plans", fiber.StatusSeeOther)
}

// planChanges lists what an edit changed, for the audit log: field → [old, new].
func planChanges(a, b *billing.Plan) map[string]any {
	out := map[string]any{}
	diff := func(name string, x, y any) {
		if x != y {
			out[name] = []any{x, y}
		}
	}
	diff("name", a.Name, b.Name)
	diff("price_cents", a.PriceCents, b.PriceCents)
	diff("reseller_price_cents", a.ResellerPriceCents, b.ResellerPriceCents)
	diff("rate_limit", a.RateLimit, b.RateLimit)
	diff("validity_seconds", int64(a.Validity/time.Second), int64(b.Validity/time.Second))
	diff("uptime_limit_seconds", int64(a.UptimeLimit/time.Second), int64(b.UptimeLimit/time.Second))
	diff("data_limit_bytes", a.DataLimit, b.DataLimit)
	diff("shared_users", a.SharedUsers, b.SharedUsers)
	diff("interim_seconds", int64(a.Interim/time.Second), int64(b.Interim/time.Second))
	diff("pool", a.Pool, b.Pool)
	diff("address_list", a.AddressList, b.AddressList)
	diff("lock_mac", a.LockMAC, b.LockMAC)
	diff("validity_from", string(a.ValidityFrom), string(b.ValidityFrom))
	diff("nas", strings.Join(a.NASNames, ","), strings.Join(b.NASNames, ","))
	diff("hotspot_servers", strings.Join(a.HotspotServers, ","), strings.Join(b.HotspotServers, ","))
	diff("period", string(a.PeriodOrDefault()), string(b.PeriodOrDefault()))
	diff("grace_seconds", int64(a.Grace/time.Second), int64(b.Grace/time.Second))
	diff("isolation_plan", a.IsolationPlan, b.IsolationPlan)
	return out
}

// onlineOnPlan counts the open sessions whose rate comes from plan id.
func (p *Portal) onlineOnPlan(ctx context.Context, id int64) (int, error) {
	list, err := p.deps.Ops.Sessions.FindSessionViews(ctx, radius.SessionQuery{Online: true, RatePlanID: id, Limit: 10000})
	return len(list), err
}

// adminPlanCoAOffer asks whether to send plan :id's rate limit to its sessions online.
func (p *Portal) adminPlanCoAOffer(c *fiber.Ctx) error {
	ctx := c.UserContext()
	pl, err := p.pathPlan(c)
	if err != nil {
		return err
	}
	id := pl.ID
	n, err := p.onlineOnPlan(ctx, id)
	if err != nil {
		return err
	}
	if err := p.audit(c, "plan.coa_offer", "plan:"+pl.Name, map[string]any{"online": n}); err != nil {
		return err
	}
	v := &plansView{view: p.view(c, "Send the new rate"), Plan: pl, Online: n, OldRate: strings.Clone(c.Query("from"))}
	return p.renderAny(c, fiber.StatusOK, "admin-plan-coa", v)
}

// adminPlanCoA sends plan :id's rate limit to its sessions online and shows each
// router's answer.
func (p *Portal) adminPlanCoA(c *fiber.Ctx) error {
	ctx := c.UserContext()
	pl, err := p.pathPlan(c)
	if err != nil {
		return err
	}
	id := pl.ID
	results, cerr := p.deps.Ops.PlanCoA.CoAPlan(ctx, id)
	if cerr != nil && len(results) == 0 && radius.ErrorCode(cerr) == radius.EINTERNAL {
		return cerr
	}
	v := &plansView{view: p.view(c, "Send the new rate"), Plan: pl}
	names := map[int64]string{}
	if nas, err := p.deps.Vouchers.NAS.ListNAS(ctx); err == nil {
		for _, n := range nas {
			names[n.ID] = n.Name
		}
	}
	counts := map[string]int{}
	for _, r := range results {
		row := coaRow{CoAResult: r, NAS: names[r.NASID]}
		switch {
		case r.Kind == "coa" && r.Result == "ack":
			row.Text, row.OK = "ACK: the router applied the new rate.", true
		case r.Kind == "disconnect" && r.Result == "ack":
			row.Text, row.OK = "ACK: disconnected; the session redials with the new rate.", true
		default:
			d := describeDisconnect(r, nil)
			row.Text, row.OK = d.Text, d.OK
		}
		counts[r.Result]++
		v.Results = append(v.Results, row)
	}
	if cerr != nil {
		v.Error = "Some sessions could not be reached: " + radius.ErrorMessage(cerr)
	}
	if len(results) == 0 && cerr == nil {
		v.Notice = "No session online gets its rate from this plan now: nothing was sent."
	}
	if err := p.audit(c, "plan.coa", "plan:"+pl.Name, map[string]any{"sessions": len(results), "results": counts}); err != nil {
		return err
	}
	return p.renderAny(c, fiber.StatusOK, "admin-plan-coa", v)
}

// Period writes a billed plan's period: "month" or "30 days".
func (v *plansView) Period(pl billing.Plan) string {
	per := pl.PeriodOrDefault()
	if per == billing.PeriodMonth {
		return "month"
	}
	d, _ := strconv.Atoi(strings.TrimSuffix(string(per), "d"))
	return plural(int64(d), "day")
}

// adminPlanDelete deletes plan :id when the form's confirm field repeats its name. A
// plan that subscribers, vouchers or renewals used is kept (their records name it): the
// page says what uses it.
func (p *Portal) adminPlanDelete(c *fiber.Ctx) error {
	ctx := c.UserContext()
	pl, err := p.pathPlan(c)
	if err != nil {
		return err
	}
	id := pl.ID
	if strings.TrimSpace(c.FormValue("confirm")) != pl.Name {
		return p.planPage(c, fiber.StatusUnprocessableEntity, pl, planForm(pl), "confirm: type the plan's name, "+pl.Name+", to delete it")
	}
	if _, err := p.deps.Ops.Plans.DeletePlan(ctx, id); radius.ErrorCode(err) == radius.ECONFLICT {
		return p.planPage(c, fiber.StatusConflict, pl, planForm(pl), radius.ErrorMessage(err))
	} else if err != nil {
		return err
	}
	if err := p.audit(c, "plan.delete", "plan:"+pl.Name, map[string]any{"kind": string(pl.Kind), "price_cents": pl.PriceCents}); err != nil {
		return err
	}
	return c.Redirect("/admin/plans", fiber.StatusSeeOther)
}
