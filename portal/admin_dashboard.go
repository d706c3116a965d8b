package portal

import (
	"bytes"
	"context"
	"fmt"
	"html/template"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"

	"tollgate/billing"
	"tollgate/radius"
)

// The admin's dashboard (/admin): who is online, how logins go, what was earned, who
// is in grace or isolation, which routers answer, with three charts. Every number comes
// from one of the stores in Ops (the query that computes it is named on the store's
// method), or from this process's RADIUS counters (radius.NASActivity); none is made up
// here. /admin/dashboard.json sends the page's live parts again, rendered by the same
// templates, and static/dashboard.js swaps them in every Config.DashboardRefresh.

// Ops are what the operator's pages call: the dashboard, the sessions page, the edit
// pages of NAS, plans, resellers and users, and the webhooks page. cmd fills it with the
// Postgres stores and the services; nil leaves those pages out (the dashboard then shows
// its links only).
type Ops struct {
	Activity radius.ActivityStore
	Revenue  billing.RevenueStore
	Routers  radius.RouterHealthReader
	Sessions radius.SessionViews
	// Disconnect ends a session on its router: RFC 5176 Disconnect-Request, or through
	// the RouterOS API when the NAS takes none or does not answer.
	Disconnect radius.Disconnector
	// RADIUS is this process's RADIUS server, whose per-NAS counters the NAS pages
	// show; nil when the process runs no radius role.
	RADIUS interface {
		NASActivity() []radius.NASActivity
	}
	// NAS edits routers (radius/postgres.Store); Plans edits plans (billing.Service);
	// PlanCoA sends a plan's new rate limit to its sessions online; Resellers edits
	// resellers (billing.ResellerService).
	NAS       NASEditor
	Plans     PlanEditor
	PlanCoA   PlanCoA
	Resellers ResellerEditor
	// Webhooks runs the outgoing webhooks page (nil: no page).
	Webhooks WebhookAdmin
	// Now is the clock (time.Now when nil).
	Now func() time.Time

	mu     sync.Mutex
	cached *dashboard
}

func (o *Ops) now() time.Time {
	if o.Now != nil {
		return o.Now()
	}
	return time.Now()
}

// dashboardTTL is how long one reading of the dashboard's queries serves every admin
// and every poll: the page refreshes every ten seconds, and several admins watching it
// must not multiply the queries.
const dashboardTTL = 5 * time.Second

// dashboard is one reading of everything the dashboard shows.
type dashboard struct {
	At time.Time
	// Open sessions (the sessions table, stopped_at IS NULL): by NAS and by plan.
	Online       int64
	OnlineByNAS  []radius.NamedCount
	OnlineByPlan []radius.NamedCount
	// The auth log: the last whole minute, the last hour, the top reject reasons.
	LastMinute               radius.AuthMinute
	HourAccepts, HourRejects int64
	Reasons                  []radius.NamedCount
	// The ledger: today and this month in the operator's time zone.
	Today, Month billing.Revenue
	// Subscriptions by state.
	Grace, Isolated int64
	// The routers' heartbeats.
	Routers           []radius.RouterState
	RoutersDown       int
	SessionsChart     template.HTML
	AuthChart         template.HTML
	RevenueChart      template.HTML
	SessionsChartDesc string
}

// load reads the dashboard as of now, or returns the reading of the last dashboardTTL.
func (o *Ops) load(ctx context.Context, f formats) (*dashboard, error) {
	now := o.now()
	o.mu.Lock()
	defer o.mu.Unlock() // one reading at a time: the others wait for it and share it
	if o.cached != nil && now.Sub(o.cached.At) < dashboardTTL && !now.Before(o.cached.At) {
		return o.cached, nil
	}
	d := &dashboard{At: now}
	var err error
	if d.OnlineByNAS, err = o.Activity.OnlineByNAS(ctx); err != nil {
		return nil, err
	}
	for _, c := range d.OnlineByNAS {
		d.Online += c.Count
	}
	if d.OnlineByPlan, err = o.Activity.OnlineByPlan(ctx); err != nil {
		return nil, err
	}
	minute := now.Truncate(time.Minute)
	hourAgo := minute.Add(-time.Hour)
	mins, err := o.Activity.AuthByMinute(ctx, hourAgo, minute)
	if err != nil {
		return nil, err
	}
	perMinute := map[int64]radius.AuthMinute{}
	for _, m := range mins {
		perMinute[m.At.Unix()] = m
		d.HourAccepts += m.Accepts
		d.HourRejects += m.Rejects
	}
	d.LastMinute = perMinute[minute.Add(-time.Minute).Unix()]
	d.LastMinute.At = minute.Add(-time.Minute)
	if d.Reasons, err = o.Activity.RejectReasons(ctx, hourAgo, 5); err != nil {
		return nil, err
	}
	hourStart := now.Truncate(time.Hour).Add(-23 * time.Hour)
	hours, err := o.Activity.SessionsByHour(ctx, hourStart, 24, now)
	if err != nil {
		return nil, err
	}
	loc := f.loc
	tomorrow := billing.DayBounds(now, 1, loc)[1]
	if d.Today, err = o.Revenue.Revenue(ctx, billing.DayBounds(now, 1, loc)[0], tomorrow); err != nil {
		return nil, err
	}
	if d.Month, err = o.Revenue.Revenue(ctx, billing.MonthStart(now, loc), tomorrow); err != nil {
		return nil, err
	}
	days, err := o.Revenue.RevenueByDay(ctx, billing.DayBounds(now, 30, loc))
	if err != nil {
		return nil, err
	}
	states, err := o.Revenue.SubscriptionStates(ctx)
	if err != nil {
		return nil, err
	}
	d.Grace, d.Isolated = states[radius.SubscriptionGrace], states[radius.SubscriptionIsolated]
	if o.Routers != nil {
		if d.Routers, err = o.Routers.FindRouterStates(ctx); err != nil {
			return nil, err
		}
		for _, r := range d.Routers {
			if r.Down {
				d.RoutersDown++
			}
		}
	}
	d.SessionsChart = sessionsChart(hours, loc)
	d.AuthChart = authChart(mins, hourAgo, loc)
	d.RevenueChart = revenueChart(days, f)
	o.cached = d
	return d, nil
}

// sessionsChart draws the sessions open in each of the last 24 hours.
func sessionsChart(hours []radius.HourCount, loc *time.Location) template.HTML {
	c := barChart{ID: "chart-sessions", Title: "Sessions online in each of the last 24 hours", Ticks: 6,
		Format: func(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }}
	s := chartSeries{Name: "sessions", Class: "s1"}
	for _, h := range hours {
		c.Labels = append(c.Labels, h.At.In(loc).Format("15:04"))
		s.Values = append(s.Values, float64(h.Sessions))
	}
	c.Series = []chartSeries{s}
	return renderBarChart(c)
}

// authChart draws the accepts and rejects of each minute of the last hour (minutes
// without a decision are zero).
func authChart(mins []radius.AuthMinute, from time.Time, loc *time.Location) template.HTML {
	c := barChart{ID: "chart-auth", Title: "Logins accepted and rejected each minute of the last hour", Ticks: 15,
		Format: func(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }}
	acc, rej := chartSeries{Name: "accepted", Class: "s1"}, chartSeries{Name: "rejected", Class: "s3"}
	byMin := map[int64]radius.AuthMinute{}
	for _, m := range mins {
		byMin[m.At.Unix()] = m
	}
	for i := range 60 {
		at := from.Add(time.Duration(i) * time.Minute)
		m := byMin[at.Unix()]
		c.Labels = append(c.Labels, at.In(loc).Format("15:04"))
		acc.Values = append(acc.Values, float64(m.Accepts))
		rej.Values = append(rej.Values, float64(m.Rejects))
	}
	c.Series = []chartSeries{acc, rej}
	return renderBarChart(c)
}

// revenueChart draws each day's renewals and voucher sales of the last 30 days, in the
// main unit of the currency.
func revenueChart(days []billing.RevenueDay, f formats) template.HTML {
	c := barChart{ID: "chart-revenue", Title: "Renewals and voucher sales each day of the last 30 days (" + f.currency + ")", Ticks: 7,
		Format: func(v float64) string { return billing.FormatCents(int64(v * 100)) }}
	ren, vs := chartSeries{Name: "renewals", Class: "s1"}, chartSeries{Name: "vouchers sold", Class: "s2"}
	for _, d := range days {
		c.Labels = append(c.Labels, d.Day.In(f.loc).Format("2 Jan"))
		ren.Values = append(ren.Values, float64(d.RenewalsCents)/100)
		vs.Values = append(vs.Values, float64(d.VoucherSalesCents)/100)
	}
	c.Series = []chartSeries{ren, vs}
	return renderBarChart(c)
}

// dashboardView is the dashboard page's data.
type dashboardView struct {
	*view
	D *dashboard
	// Refresh is how often the page polls, in milliseconds.
	Refresh int64
	Now     time.Time
	loc     *time.Location
}

func (p *Portal) adminDashboard(c *fiber.Ctx) error {
	if err := p.audit(c, "admin.dashboard", "", nil); err != nil {
		return err
	}
	v := &dashboardView{view: p.view(c, "Dashboard"), Refresh: p.cfg.DashboardRefresh.Milliseconds(), loc: p.format().loc}
	if o := p.deps.Ops; o != nil && o.Activity != nil && o.Revenue != nil {
		d, err := o.load(c.UserContext(), p.format())
		if err != nil {
			return err
		}
		v.D, v.Now = d, d.At
	}
	return p.renderAny(c, fiber.StatusOK, "admin", v)
}

// dashboardRegions are the live parts of the page, each a template of admin.html that
// fills the element with data-live="name".
var dashboardRegions = []string{"online", "auth", "revenue", "subscriptions", "routers", "charts", "stamp"}

// adminDashboardJSON answers {"at": …, "regions": {name: html}}: the live parts of the
// dashboard as they render now. It writes no audit entry: the page polls it every few
// seconds, it holds only totals (no subscriber's data), and the page itself is audited
// (admin.dashboard) when it opens.
func (p *Portal) adminDashboardJSON(c *fiber.Ctx) error {
	o := p.deps.Ops
	d, err := o.load(c.UserContext(), p.format())
	if err != nil {
		return err
	}
	v := &dashboardView{view: p.view(c, "Dashboard"), D: d, Now: d.At, loc: p.format().loc}
	regions := make(map[string]string, len(dashboardRegions))
	t := p.pages["admin"]
	for _, name := range dashboardRegions {
		var buf bytes.Buffer
		if err := t.ExecuteTemplate(&buf, "dash-"+name, v); err != nil {
			return fmt.Errorf("portal: dashboard region %s: %w", name, err)
		}
		regions[name] = buf.String()
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.JSON(fiber.Map{"at": d.At.UTC(), "regions": regions})
}

// ago writes how long before now t was, for people: "12 seconds ago", "3 hours ago";
// "never" for the zero time.
func ago(now, t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	d := now.Sub(t)
	if d < time.Second {
		return "just now"
	}
	units := []struct {
		size time.Duration
		name string
	}{{24 * time.Hour, "day"}, {time.Hour, "hour"}, {time.Minute, "minute"}, {time.Second, "second"}}
	for _, u := range units {
		if d >= u.size {
			return plural(int64(d/u.size), u.name) + " ago"
		}
	}
	return "just now"
}

// Ago writes how long before the page's reading t was.
func (v *dashboardView) Ago(t time.Time) string { return ago(v.Now, t) }

// Clock writes t's time of day in the operator's time zone: "14:05".
func (v *dashboardView) Clock(t time.Time) string { return t.In(v.loc).Format("15:04") }

// Up counts the routers polled that are not down.
func (v *dashboardView) Up() int { return len(v.D.Routers) - v.D.RoutersDown }

// ReasonText writes a reject reason's code for people: "bad_password" → "bad password".
func (v *dashboardView) ReasonText(code string) string { return strings.ReplaceAll(code, "_", " ") }
