package main

import (
	"bufio"
	"context"
	"encoding/csv"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"
	"time"

	billingpg "tollgate/billing/postgres"
	"tollgate/hotspot"
	hotspotpg "tollgate/hotspot/postgres"
	"tollgate/radius"
)

// hotspot returns the voucher service over these stores.
func (d *deps) hotspot() *hotspot.Service {
	plans := billingpg.NewStore(d.pool)
	return &hotspot.Service{
		Store:   hotspotpg.NewStore(d.pool),
		Plans:   plans,
		Sealer:  d.sealer,
		Codes:   d.sealer,
		Changes: &changes{subscribers: plans, cache: d.cache},
		Usage:   d.radius,
		Now:     time.Now,
	}
}

// batchJSON is a generated batch with its credentials: printed once, never logged.
type batchJSON struct {
	ID        int64            `json:"id"`
	Plan      string           `json:"plan"`
	Count     int              `json:"count"`
	Mode      string           `json:"mode"`
	Reseller  string           `json:"reseller,omitempty"`
	CreatedAt time.Time        `json:"created_at"`
	Vouchers  []credentialJSON `json:"vouchers"`
}

// credentialJSON is {code} in code mode, {code, username, password} in userpass mode.
type credentialJSON struct {
	Code     string `json:"code"`
	Username string `json:"username,omitempty"`
	Password string `json:"password,omitempty"`
}

func toBatchJSON(g *hotspot.Generated) batchJSON {
	b := g.Batch
	out := batchJSON{ID: b.ID, Plan: b.PlanName, Count: b.Count, Mode: string(b.Mode), Reseller: b.Reseller, CreatedAt: b.CreatedAt.UTC(),
		Vouchers: make([]credentialJSON, len(g.Vouchers))}
	for i, v := range g.Vouchers {
		out.Vouchers[i].Code = v.Code
		if b.Mode == hotspot.ModeUserPass {
			out.Vouchers[i].Username, out.Vouchers[i].Password = v.Username, v.Password
		}
	}
	return out
}

func cmdVoucherGenerate(ctx context.Context, e *env, args []string) error {
	fs := e.flags("voucher generate")
	var req hotspot.GenerateRequest
	fs.StringVar(&req.Plan, "plan", "", "hotspot plan the vouchers are sold on")
	fs.IntVar(&req.Count, "count", 0, fmt.Sprintf("how many vouchers (1-%d)", hotspot.MaxBatch))
	fs.IntVar(&req.Length, "length", hotspot.DefaultLength, "random characters per code")
	fs.StringVar(&req.Prefix, "prefix", "", "text every code starts with")
	fs.StringVar(&req.Charset, "charset", hotspot.DefaultAlphabet, "characters codes are drawn from")
	mode := fs.String("mode", string(hotspot.ModeCode), "code (the code logs in) or userpass (a username and a password)")
	fs.StringVar(&req.Reseller, "reseller", "", "reseller the batch is made for")
	asCSV := fs.Bool("csv", false, "print one voucher a line, code first")
	if err := e.parse(fs, args); err != nil {
		return err
	}
	if err := required(fs, "plan"); err != nil {
		return err
	}
	if fs.Lookup("count").Value.String() == "0" {
		return usagef("%s: --count is required", fs.Name())
	}
	if e.json && *asCSV {
		return usagef("%s: give at most one of --json and --csv", fs.Name())
	}
	req.Mode = hotspot.Mode(*mode)
	// Check the input before connecting: a typo needs no database.
	if err := hotspot.ValidateGenerate(req); err != nil {
		return err
	}
	d, err := e.open(ctx)
	if err != nil {
		return err
	}
	g, err := d.hotspot().Generate(ctx, req)
	if err != nil {
		return err
	}
	if *asCSV {
		return writeCSV(e.stdout, g)
	}
	out := toBatchJSON(g)
	return e.print(out, func(w io.Writer) {
		bw := bufio.NewWriter(w)
		fmt.Fprintf(bw, "batch %d: %d vouchers on plan %q (%s)\n", out.ID, out.Count, out.Plan, out.Mode)
		for _, v := range out.Vouchers {
			if out.Mode == string(hotspot.ModeUserPass) {
				fmt.Fprintf(bw, "%s\t%s\t%s\n", v.Code, v.Username, v.Password)
			} else {
				fmt.Fprintln(bw, v.Code)
			}
		}
		bw.Flush()
	})
}

// writeCSV prints one voucher a line: code, or code,username,password in userpass mode.
func writeCSV(w io.Writer, g *hotspot.Generated) error {
	bw := bufio.NewWriter(w)
	cw := csv.NewWriter(bw)
	for _, v := range g.Vouchers {
		rec := []string{v.Code}
		if g.Batch.Mode == hotspot.ModeUserPass {
			rec = append(rec, v.Username, v.Password)
		}
		if err := cw.Write(rec); err != nil {
			return err
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return err
	}
	return bw.Flush()
}

// voucherJSON is a stored voucher, without its password.
type voucherJSON struct {
	ID int64 `json:"id"`
	// CodeHint is the code masked: codes are kept only sealed (reprint a batch to read
	// them again).
	CodeHint    string     `json:"code_hint"`
	Username    string     `json:"username"`
	BatchID     int64      `json:"batch_id"`
	Plan        string     `json:"plan"`
	Mode        string     `json:"mode"`
	State       string     `json:"state"`
	Reseller    string     `json:"reseller,omitempty"`
	CreatedAt   time.Time  `json:"created_at"`
	SoldAt      *time.Time `json:"sold_at"`
	ActivatedAt *time.Time `json:"activated_at"`
	ValidUntil  *time.Time `json:"valid_until"`
	RevokedAt   *time.Time `json:"revoked_at"`
	MAC         string     `json:"mac"`
}

func toVoucherJSON(v *hotspot.Voucher) voucherJSON {
	return voucherJSON{ID: v.ID, CodeHint: v.CodeHint, Username: v.Username, BatchID: v.BatchID, Plan: v.PlanName, Mode: string(v.Mode),
		State: string(v.State), Reseller: v.Reseller, CreatedAt: v.CreatedAt.UTC(), SoldAt: timePtr(v.SoldAt),
		ActivatedAt: timePtr(v.ActivatedAt), ValidUntil: timePtr(v.ValidUntil), RevokedAt: timePtr(v.RevokedAt), MAC: v.MAC}
}

// timePtr prints a zero time as null.
func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

func fmtTime(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return t.Format(time.RFC3339)
}

func cmdVoucherList(ctx context.Context, e *env, args []string) error {
	fs := e.flags("voucher list")
	var f hotspot.VoucherFilter
	fs.Int64Var(&f.BatchID, "batch", 0, "only this batch")
	state := fs.String("state", "", "only this state: new, sold, active, expired, exhausted or revoked")
	fs.IntVar(&f.Limit, "limit", hotspot.DefaultListLimit, "how many, newest first (at most 100000)")
	if err := e.parse(fs, args); err != nil {
		return err
	}
	if f.Limit < 1 || f.Limit > hotspot.MaxBatch {
		return usagef("voucher list: --limit must be 1-%d", hotspot.MaxBatch)
	}
	if *state != "" {
		st, err := hotspot.ParseState(*state)
		if err != nil {
			return err
		}
		f.State = st
	}
	d, err := e.open(ctx)
	if err != nil {
		return err
	}
	list, err := d.hotspot().FindVouchers(ctx, f)
	if err != nil {
		return err
	}
	out := make([]voucherJSON, 0, len(list))
	for i := range list {
		out = append(out, toVoucherJSON(&list[i]))
	}
	return e.print(out, func(w io.Writer) {
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tCODE\tUSERNAME\tBATCH\tPLAN\tSTATE\tACTIVATED\tVALID UNTIL\tMAC")
		for _, v := range out {
			fmt.Fprintf(tw, "%d\t%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\n", v.ID, v.CodeHint, v.Username, v.BatchID, v.Plan, v.State,
				fmtTime(v.ActivatedAt), fmtTime(v.ValidUntil), v.MAC)
		}
		tw.Flush()
	})
}

// statusJSON is a voucher as `voucher show` prints it: state is as of now (expired or
// exhausted even before the expiry job stored it), stored_state as stored.
type statusJSON struct {
	voucherJSON
	StoredState   string `json:"stored_state"`
	UptimeSeconds int64  `json:"uptime_seconds"`
	BytesUsed     int64  `json:"bytes_used"`
	UptimeLimit   int64  `json:"uptime_limit_seconds"`
	DataLimit     int64  `json:"data_limit_bytes"`
}

// parseWithArg parses a command that takes one argument (what) before or among its flags.
func (e *env) parseWithArg(fs *flag.FlagSet, args []string, what string) (string, error) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return "", err
		}
		return "", usagef("%s: %v", fs.Name(), err)
	}
	if fs.NArg() == 0 {
		return "", usagef("%s: %s is required", fs.Name(), what)
	}
	arg := fs.Arg(0)
	return arg, e.parse(fs, fs.Args()[1:]) // flags after the argument
}

func cmdVoucherShow(ctx context.Context, e *env, args []string) error {
	fs := e.flags("voucher show")
	code, err := e.parseWithArg(fs, args, "CODE")
	if err != nil {
		return err
	}
	d, err := e.open(ctx)
	if err != nil {
		return err
	}
	st, err := d.hotspot().Show(ctx, code)
	if err != nil {
		return err
	}
	out := statusJSON{voucherJSON: toVoucherJSON(&st.Voucher), StoredState: string(st.State),
		UptimeSeconds: int64(st.Usage.Uptime / time.Second), BytesUsed: st.Usage.Bytes,
		UptimeLimit: int64(st.UptimeLimit / time.Second), DataLimit: st.DataLimit}
	out.State = string(st.Now)
	return e.print(out, func(w io.Writer) {
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		state := out.State
		if out.State != out.StoredState {
			state += " (stored: " + out.StoredState + ")"
		}
		for _, kv := range [][2]string{
			{"code", out.CodeHint}, {"username", out.Username}, {"plan", out.Plan}, {"batch", strconv.FormatInt(out.BatchID, 10)},
			{"state", state}, {"activated", fmtTime(out.ActivatedAt)}, {"valid until", fmtTime(out.ValidUntil)},
			{"uptime used", fmt.Sprintf("%v of %s", time.Duration(out.UptimeSeconds)*time.Second, limit(out.UptimeLimit, time.Second))},
			{"bytes used", fmt.Sprintf("%d of %s", out.BytesUsed, limit(out.DataLimit, 1))},
			{"bound MAC", orDash(out.MAC)}, {"reseller", orDash(out.Reseller)},
		} {
			fmt.Fprintf(tw, "%s:\t%s\n", kv[0], kv[1])
		}
		tw.Flush()
	})
}

// limit prints a plan limit, "unlimited" for 0; unit turns seconds into a duration.
func limit(v int64, unit time.Duration) string {
	switch {
	case v == 0:
		return "unlimited"
	case unit == time.Second:
		return (time.Duration(v) * time.Second).String()
	}
	return strconv.FormatInt(v, 10)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func cmdVoucherRevoke(ctx context.Context, e *env, args []string) error {
	fs := e.flags("voucher revoke")
	code, err := e.parseWithArg(fs, args, "CODE")
	if err != nil {
		return err
	}
	d, err := e.open(ctx)
	if err != nil {
		return err
	}
	v, err := d.hotspot().Revoke(ctx, code)
	if err != nil {
		return err
	}
	// An online voucher is cut now; the enforcer's sweep catches any session missed here.
	enf, err := d.cliEnforcer(ctx)
	if err != nil {
		return err
	}
	res, err := enf.DisconnectUser(ctx, v.Username, radius.ReasonRevoked.String())
	if err != nil {
		return err
	}
	out := struct {
		Voucher      voucherJSON `json:"voucher"`
		Disconnected []coaJSON   `json:"disconnected"`
	}{toVoucherJSON(v), toCoAJSON(res)}
	return e.print(out, func(w io.Writer) {
		fmt.Fprintf(w, "revoked voucher %d (%s)\n", v.ID, v.CodeHint)
		printCoA(w, out.Disconnected)
	})
}
