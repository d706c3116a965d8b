package main

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"tollgate/billing"
	"tollgate/radius"
)

type planJSON struct {
	ID                 int64    `json:"id"`
	Name               string   `json:"name"`
	Kind               string   `json:"kind"`
	PriceCents         int64    `json:"price_cents"`
	RateLimit          string   `json:"rate_limit"`
	ValiditySeconds    int64    `json:"validity_seconds"`
	UptimeLimitSeconds int64    `json:"uptime_limit_seconds"`
	DataLimitBytes     int64    `json:"data_limit_bytes"`
	SharedUsers        int      `json:"shared_users"`
	InterimSeconds     int64    `json:"interim_seconds"`
	Pool               string   `json:"pool"`
	AddressList        string   `json:"address_list"`
	ResellerPriceCents int64    `json:"reseller_price_cents"`
	ValidityFrom       string   `json:"validity_from"`
	LockMAC            bool     `json:"lock_mac"`
	NAS                []string `json:"nas"`
	HotspotServers     []string `json:"hotspot_servers"`
	Period             string   `json:"period"`
	GraceSeconds       int64    `json:"grace_seconds"`
	IsolationPlan      string   `json:"isolation_plan"`
	Billed             bool     `json:"billed"`
}

func toPlanJSON(p *billing.Plan) planJSON {
	return planJSON{
		ID: p.ID, Name: p.Name, Kind: string(p.Kind), PriceCents: p.PriceCents, RateLimit: p.RateLimit,
		ValiditySeconds: int64(p.Validity / time.Second), UptimeLimitSeconds: int64(p.UptimeLimit / time.Second),
		DataLimitBytes: p.DataLimit, SharedUsers: p.SharedUsers, InterimSeconds: int64(p.Interim / time.Second),
		Pool: p.Pool, AddressList: p.AddressList,
		ResellerPriceCents: p.ResellerPriceCents, ValidityFrom: string(p.ValidityFrom), LockMAC: p.LockMAC,
		NAS: orEmpty(p.NASNames), HotspotServers: orEmpty(p.HotspotServers),
		Period: string(p.PeriodOrDefault()), GraceSeconds: int64(p.Grace / time.Second), IsolationPlan: p.IsolationPlan,
		Billed: p.Billed(),
	}
}

// orEmpty prints a nil list as [] in JSON.
func orEmpty(l []string) []string {
	if l == nil {
		return []string{}
	}
	return l
}

// listFlag is a flag that may be repeated and takes comma-separated lists:
// --nas r1 --nas r2 and --nas r1,r2 are the same.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }

func (l *listFlag) Set(s string) error {
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			*l = append(*l, v)
		}
	}
	return nil
}

// parsePrice reads a price in the currency's main unit ("12.50") into cents.
func parsePrice(s string) (int64, error) {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f < 0 || f > 1e12 {
		return 0, radius.Errorf(radius.EINVALID, "price: %q is not a non-negative amount like 12.50", s)
	}
	return int64(f*100 + 0.5), nil
}

func cmdPlanAdd(ctx context.Context, e *env, args []string) error {
	fs := e.flags("plan add")
	name := fs.String("name", "", "plan name")
	kind := fs.String("kind", "", "pppoe or hotspot")
	price := fs.String("price", "0", "price, e.g. 12.50")
	rate := fs.String("rate-limit", "", `MikroTik rate limit "RX/TX[ BURST...]", e.g. "2M/10M"`)
	validity := fs.String("validity", "0", "how long an account stays valid, e.g. 30d (0 = forever)")
	uptime := fs.String("uptime-limit", "0", "online time allowed, e.g. 10h (0 = no limit)")
	data := fs.String("data-limit", "0", "bytes allowed, e.g. 5G (0 = no limit)")
	shared := fs.Int("shared-users", 1, "simultaneous sessions (0 = no limit)")
	interim := fs.String("interim", "5m", "Acct-Interim-Interval")
	pool := fs.String("pool", "", "IP pool name on the router (Framed-Pool)")
	alist := fs.String("address-list", "", "firewall address list (Mikrotik-Address-List)")
	resellerPrice := fs.String("reseller-price", "0", "what a reseller pays per voucher, e.g. 0.80")
	validFrom := fs.String("validity-from", "first-login", "when a voucher's validity starts: first-login or sale")
	lockMAC := fs.Bool("lock-mac", false, "a voucher works only on the device of its first login (hotspot)")
	period := fs.String("period", "", "PPPoE subscriptions: a paid period, month (calendar, keeps the day) or days like 30d (default 30d)")
	grace := fs.String("grace", "0", "PPPoE subscriptions: service kept after an unpaid renewal before isolation, e.g. 3d")
	isolation := fs.String("isolation-plan", "", "PPPoE subscriptions: the plan (rate limit, pool, address list) an unpaid subscriber gets; none rejects him")
	var nas, servers listFlag
	fs.Var(&nas, "nas", "NAS `NAME` the plan is valid on (repeatable or a comma list; none = every NAS)")
	fs.Var(&servers, "hotspot-server", "hotspot server `NAME` (Called-Station-Id) the plan is valid on (repeatable or a comma list; none = all)")
	if err := e.parse(fs, args); err != nil {
		return err
	}
	if err := required(fs, "name", "kind"); err != nil {
		return err
	}
	p := billing.Plan{Name: *name, Kind: radius.PlanKind(*kind), RateLimit: *rate, SharedUsers: *shared, Pool: *pool, AddressList: *alist,
		LockMAC: *lockMAC, NASNames: nas, HotspotServers: servers, IsolationPlan: *isolation}
	var err error
	if *period != "" {
		if p.Period, err = billing.ParsePeriod(*period); err != nil {
			return err
		}
	}
	if p.PriceCents, err = parsePrice(*price); err != nil {
		return err
	}
	if p.ResellerPriceCents, err = parsePrice(*resellerPrice); err != nil {
		return radius.Errorf(radius.EINVALID, "reseller-%s", radius.ErrorMessage(err))
	}
	if p.ValidityFrom, err = billing.ParseValidityFrom(*validFrom); err != nil {
		return err
	}
	for _, f := range []struct {
		name string
		in   string
		dst  *time.Duration
	}{{"validity", *validity, &p.Validity}, {"uptime-limit", *uptime, &p.UptimeLimit}, {"interim", *interim, &p.Interim}, {"grace", *grace, &p.Grace}} {
		if *f.dst, err = billing.ParseDuration(f.in); err != nil {
			return radius.Errorf(radius.EINVALID, "%s: %v", f.name, err)
		}
	}
	if p.DataLimit, err = billing.ParseSize(*data); err != nil {
		return radius.Errorf(radius.EINVALID, "data-limit: %v", err)
	}
	d, err := e.open(ctx)
	if err != nil {
		return err
	}
	created, err := d.billing.CreatePlan(ctx, p)
	if err != nil {
		return err
	}
	return e.print(toPlanJSON(created), func(w io.Writer) {
		fmt.Fprintf(w, "added plan %q (id %d, %s)\n", created.Name, created.ID, created.Kind)
		if created.Billed() {
			iso := "none: unpaid subscribers are rejected"
			if created.IsolationPlan != "" {
				iso = created.IsolationPlan
			}
			fmt.Fprintf(w, "subscriptions: %s every %s from the wallet, grace %s, isolation plan %s\n",
				billing.FormatMoney(created.PriceCents, e.cfg.Currency), created.PeriodOrDefault(), created.Grace, iso)
		}
	})
}

func cmdPlanList(ctx context.Context, e *env, args []string) error {
	fs := e.flags("plan list")
	if err := e.parse(fs, args); err != nil {
		return err
	}
	d, err := e.open(ctx)
	if err != nil {
		return err
	}
	plans, err := d.billing.ListPlans(ctx)
	if err != nil {
		return err
	}
	out := make([]planJSON, 0, len(plans))
	for i := range plans {
		out = append(out, toPlanJSON(&plans[i]))
	}
	return e.print(out, func(w io.Writer) {
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tNAME\tKIND\tPRICE\tRATE LIMIT\tVALIDITY\tUPTIME\tDATA\tSHARED\tPERIOD\tGRACE\tISOLATION")
		for _, p := range plans {
			period, grace := "-", "-"
			if p.Billed() {
				period, grace = string(p.PeriodOrDefault()), p.Grace.String()
			}
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%d\t%s\t%s\t%s\n", p.ID, p.Name, p.Kind,
				billing.FormatMoney(p.PriceCents, e.cfg.Currency), p.RateLimit, p.Validity, p.UptimeLimit, p.DataLimit, p.SharedUsers,
				period, grace, p.IsolationPlan)
		}
		tw.Flush()
	})
}
