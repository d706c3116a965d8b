package main

import (
	"context"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"tollgate/hotspot/routeros"
	"tollgate/radius"
)

// The RouterOS API of a NAS: `nas set --api-*` configures it, `nas check` polls it,
// `nas reconcile` compares its active lists with the open sessions, and serve's cron
// does both every TOLLGATE_CRON_INTERVAL.

// nasAPIFlags are the flags of `nas set` that configure a NAS's RouterOS API.
type nasAPIFlags struct {
	address, user, fingerprint *string
	tls                        *bool
}

func addNASAPIFlags(fs *flag.FlagSet) *nasAPIFlags {
	f := &nasAPIFlags{
		address:     fs.String("api-address", "", "RouterOS API as HOST[:PORT] (port 8728, or 8729 with --api-tls); '' removes the API"),
		user:        fs.String("api-user", "", "RouterOS API user (see the README: read, api and write policies)"),
		tls:         fs.Bool("api-tls", false, "log in over api-ssl (8729): on 8728 the login sends the password in clear"),
		fingerprint: fs.String("api-tls-fingerprint", "", "pin the router's certificate by its SHA-256 (64 hex digits); '' verifies it against the system's roots"),
	}
	fs.String("api-password", "", "RouterOS API password; - reads it from stdin")
	fs.String("api-password-file", "", "read the RouterOS API password from the first line of this file")
	return f
}

// read returns the API update the flags give (given: the flags set) and the new
// password in clear; set says whether any API flag was given.
func (f *nasAPIFlags) read(e *env, fs *flag.FlagSet, given map[string]bool) (upd radius.RouterAPIUpdate, password []byte, set bool, err error) {
	for name := range given {
		if strings.HasPrefix(name, "api-") {
			set = true
		}
	}
	if !set {
		return upd, nil, false, nil
	}
	if given["api-address"] && *f.address == "" {
		for name := range given {
			if strings.HasPrefix(name, "api-") && name != "api-address" {
				return upd, nil, true, usagef("%s: --api-address '' removes the API; give no other --api-* flag with it", fs.Name())
			}
		}
		none := ""
		upd.Address = &none
		return upd, nil, true, nil
	}
	if given["api-address"] {
		a, err := radius.ParseAPIAddress(*f.address, *f.tls)
		if err != nil {
			return upd, nil, true, err
		}
		upd.Address = &a
	}
	if given["api-user"] {
		if err := radius.CheckAPIUser(*f.user); err != nil {
			return upd, nil, true, err
		}
		upd.User = f.user
	}
	if given["api-tls"] {
		upd.TLS = f.tls
	}
	if given["api-tls-fingerprint"] {
		var fp []byte
		if *f.fingerprint != "" {
			if fp, err = radius.ParseFingerprint(*f.fingerprint); err != nil {
				return upd, nil, true, err
			}
		}
		upd.Fingerprint = &fp
	}
	pw, pwSet, err := secretFlag(e, fs, "api-password")
	if err != nil {
		return upd, nil, true, err
	}
	if pwSet {
		if err := radius.CheckAPIPassword([]byte(pw)); err != nil {
			return upd, nil, true, err
		}
		password = []byte(pw)
	}
	return upd, password, true, nil
}

// nasAPIJSON is a NAS's API as listings show it: never its password.
type nasAPIJSON struct {
	Address     string `json:"address"`
	User        string `json:"user"`
	TLS         bool   `json:"tls"`
	Fingerprint string `json:"tls_fingerprint,omitempty"`
}

func toNASAPIJSON(t *radius.RouterTarget) *nasAPIJSON {
	if t == nil || !t.API.Configured() {
		return nil
	}
	return &nasAPIJSON{Address: t.API.Address, User: t.API.User, TLS: t.API.TLS, Fingerprint: hex.EncodeToString(t.API.Fingerprint)}
}

// apiText is a NAS's API in one word for `nas list`.
func (a *nasAPIJSON) text() string {
	switch {
	case a == nil:
		return "-"
	case a.TLS:
		return a.Address + " (tls)"
	}
	return a.Address
}

// warnCleartextAPI warns that an API without TLS sends its password in clear.
func warnCleartextAPI(e *env, t *radius.RouterTarget) {
	if t != nil && t.API.Configured() && !t.API.TLS {
		fmt.Fprintf(e.stderr, "tollgate: warning: NAS %q's RouterOS API logs in with the password in clear (RouterOS 6.43+); use --api-tls (api-ssl, 8729) unless the management network is trusted\n", t.NASName)
	}
}

// routerPool is the process's RouterOS API connections, closed with the stores.
func (d *deps) routerPool() *routeros.Pool {
	if d.rpool == nil {
		d.rpool = routeros.New(routeros.Options{Log: d.log})
	}
	return d.rpool
}

// routers is the process's RouterOS service.
func (d *deps) routers() *radius.Routers {
	if d.rts == nil {
		d.rts = &radius.Routers{Store: d.radius, Sessions: d.radius, Closer: d.radius, Live: d.live, Opener: d.sealer,
			Dialer: d.routerPool(), Alerts: logAlerts{log: d.log}, DownAfter: d.downAfter, Now: time.Now, Log: d.log}
	}
	return d.rts
}

// logAlerts logs admin alerts, and hands them to next (the admins' email queue) when set.
type logAlerts struct {
	log  *slog.Logger
	next radius.AdminAlerts
}

var _ radius.AdminAlerts = logAlerts{}

// SendAdminAlert implements radius.AdminAlerts.
func (a logAlerts) SendAdminAlert(ctx context.Context, subject, body string) error {
	a.log.LogAttrs(ctx, slog.LevelWarn, "admin alert", slog.String("subject", subject), slog.String("body", body))
	if a.next == nil {
		return nil
	}
	return a.next.SendAdminAlert(ctx, subject, body)
}

// emailAlerts makes d's RouterOS service alert the admins by email too (the
// notifications' queue, which sends nothing while the email channel is off), for the
// processes that poll: serve's cron and `nas check`.
func emailAlerts(d *deps, cfg *Config) {
	n, err := d.notifier(cfg)
	if err != nil { // the configuration was checked at load: not reached
		d.log.Error("router alerts by email off", "err", err)
		return
	}
	d.routers().Alerts = logAlerts{log: d.log, next: n}
}

type routerStateJSON struct {
	NAS         string     `json:"nas"`
	APIAddress  string     `json:"api_address,omitempty"`
	OK          bool       `json:"ok"`
	Error       string     `json:"error,omitempty"`
	PolledAt    time.Time  `json:"polled_at"`
	Down        bool       `json:"down"`
	Failures    int        `json:"failures"`
	Since       *time.Time `json:"since,omitempty"`
	LastOK      *time.Time `json:"last_ok_at,omitempty"`
	Version     string     `json:"version"`
	BoardName   string     `json:"board_name"`
	Uptime      int64      `json:"uptime_seconds"`
	CPULoad     int        `json:"cpu_load"`
	FreeMemory  int64      `json:"free_memory"`
	TotalMemory int64      `json:"total_memory"`
}

func toRouterStateJSON(st *radius.RouterState) routerStateJSON {
	h := &st.Health
	out := routerStateJSON{NAS: st.NASName, OK: st.Error == "", Error: st.Error, PolledAt: st.PolledAt.UTC(), Down: st.Down,
		Failures: st.Failures, Version: h.Version, BoardName: h.BoardName, Uptime: int64(h.Uptime / time.Second),
		CPULoad: h.CPULoad, FreeMemory: h.FreeMemory, TotalMemory: h.TotalMemory}
	if !st.Since.IsZero() {
		t := st.Since.UTC()
		out.Since = &t
	}
	if !h.PolledAt.IsZero() {
		t := h.PolledAt.UTC()
		out.LastOK = &t
	}
	return out
}

func cmdNASCheck(ctx context.Context, e *env, args []string) error {
	fs := e.flags("nas check")
	name := fs.String("name", "", "the router to poll now, by its NAS name")
	if err := e.parse(fs, args); err != nil {
		return err
	}
	if err := required(fs, "name"); err != nil {
		return err
	}
	d, err := e.open(ctx)
	if err != nil {
		return err
	}
	t, err := d.radius.FindRouterTarget(ctx, *name)
	if err != nil {
		return err
	}
	emailAlerts(d, e.cfg)
	st, err := d.routers().Poll(ctx, t)
	if err != nil {
		return err
	}
	out := toRouterStateJSON(&st)
	out.APIAddress = t.API.Address
	if err := e.print(out, func(w io.Writer) {
		state := "up"
		if st.Down {
			state = "down"
		}
		if out.OK {
			fmt.Fprintf(w, "%s (%s): RouterOS %s on %s, up %s, CPU %d%%, memory %s free of %s; %s\n", out.NAS, t.API.Address,
				out.Version, out.BoardName, st.Health.Uptime, out.CPULoad, mib(out.FreeMemory), mib(out.TotalMemory), state)
		} else {
			fmt.Fprintf(w, "%s (%s): no answer: %s; %d polls missed in a row, %s\n", out.NAS, t.API.Address, out.Error, out.Failures, state)
		}
	}); err != nil {
		return err
	}
	if !out.OK {
		return fmt.Errorf("router %s did not answer", out.NAS)
	}
	return nil
}

// mib formats bytes in MiB.
func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

type routerSessionJSON struct {
	List    string `json:"list"`
	ID      string `json:"id"`
	User    string `json:"user"`
	Address string `json:"address,omitempty"`
	MAC     string `json:"mac,omitempty"`
	Uptime  int64  `json:"uptime_seconds"`
	RADIUS  bool   `json:"radius"`
}

type reconcileJSON struct {
	NAS     string              `json:"nas"`
	Closed  []sessionJSON       `json:"closed"`
	Unknown []routerSessionJSON `json:"unknown"`
	Skipped string              `json:"skipped,omitempty"`
}

func cmdNASReconcile(ctx context.Context, e *env, args []string) error {
	fs := e.flags("nas reconcile")
	name := fs.String("name", "", "the router whose active lists to compare with the open sessions, by its NAS name")
	if err := e.parse(fs, args); err != nil {
		return err
	}
	if err := required(fs, "name"); err != nil {
		return err
	}
	d, err := e.open(ctx)
	if err != nil {
		return err
	}
	t, err := d.radius.FindRouterTarget(ctx, *name)
	if err != nil {
		return err
	}
	res, err := d.routers().Reconcile(ctx, t)
	if err != nil {
		return err
	}
	out := reconcileJSON{NAS: t.NASName, Closed: []sessionJSON{}, Unknown: []routerSessionJSON{}, Skipped: res.Skipped}
	for i := range res.Closed {
		out.Closed = append(out.Closed, toSessionJSON(&res.Closed[i]))
	}
	for _, u := range res.Unknown {
		j := routerSessionJSON{List: u.List, ID: u.ID, User: u.User, MAC: u.MAC, Uptime: int64(u.Uptime / time.Second), RADIUS: u.RADIUS}
		if u.Address.IsValid() {
			j.Address = u.Address.String()
		}
		out.Unknown = append(out.Unknown, j)
	}
	return e.print(out, func(w io.Writer) {
		fmt.Fprintf(w, "%s: %d sessions closed (gone from the router), %d on the router unknown to RADIUS\n", out.NAS, len(out.Closed), len(out.Unknown))
		if out.Skipped != "" {
			fmt.Fprintf(w, "nothing closed: %s\n", out.Skipped)
		}
		for _, s := range out.Closed {
			fmt.Fprintf(w, "closed  %s session %s (%s)\n", s.Username, s.SessionID, s.IP)
		}
		for _, u := range out.Unknown {
			how := "RADIUS"
			if !u.RADIUS {
				how = "local user"
			}
			fmt.Fprintf(w, "unknown %s %s %s %s (%s)\n", u.List, u.User, u.Address, u.MAC, how)
		}
	})
}
