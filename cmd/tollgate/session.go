package main

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"tollgate/radius"
	"tollgate/radius/server"
)

type sessionJSON struct {
	NAS            string     `json:"nas"`
	SessionID      string     `json:"acct_session_id"`
	Username       string     `json:"username"`
	MAC            string     `json:"mac"`
	IP             string     `json:"ip"`
	Start          time.Time  `json:"start"`
	Stop           *time.Time `json:"stop"`
	Duration       uint32     `json:"duration_seconds"`
	InputOctets    uint64     `json:"input_octets"`
	OutputOctets   uint64     `json:"output_octets"`
	TerminateCause string     `json:"terminate_cause"`
	Online         bool       `json:"online"`
	NASAddr        string     `json:"nas_addr,omitempty"` // the router its accounting came from
}

func toSessionJSON(s *radius.Session) sessionJSON {
	out := sessionJSON{NAS: s.NASName, SessionID: s.SessionID, Username: s.Username, MAC: s.MAC, Start: s.StartedAt.UTC(),
		Duration: s.SessionTime, InputOctets: s.InputOctets, OutputOctets: s.OutputOctets, TerminateCause: s.TerminateCause, Online: s.Open()}
	if s.FramedIP.IsValid() {
		out.IP = s.FramedIP.String()
	}
	if s.NASAddr.IsValid() {
		out.NASAddr = s.NASAddr.String()
	}
	if !s.StoppedAt.IsZero() {
		t := s.StoppedAt.UTC()
		out.Stop = &t
	}
	return out
}

func cmdSessionList(ctx context.Context, e *env, args []string) error {
	fs := e.flags("session list")
	var f radius.SessionFilter
	fs.StringVar(&f.Username, "user", "", "only this username")
	fs.StringVar(&f.NASName, "nas", "", "only this NAS")
	fs.BoolVar(&f.Online, "online", false, "only open sessions")
	fs.IntVar(&f.Limit, "limit", 100, "how many, newest first (at most 10000)")
	reason := fs.String("reason", "", "why you read this user's sessions (required when the subscriber restricted processing)")
	if err := e.parse(fs, args); err != nil {
		return err
	}
	if f.Limit < 1 || f.Limit > 10000 {
		return usagef("session list: --limit must be 1-10000")
	}
	d, err := e.open(ctx)
	if err != nil {
		return err
	}
	if f.Username != "" {
		if err := staffRead(ctx, e, d, f.Username, *reason, "sessions"); err != nil {
			return err
		}
	}
	list, err := d.radius.FindSessions(ctx, f)
	if err != nil {
		return err
	}
	out := make([]sessionJSON, 0, len(list))
	for i := range list {
		out = append(out, toSessionJSON(&list[i]))
	}
	return e.print(out, func(w io.Writer) {
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "NAS\tSESSION\tUSER\tMAC\tIP\tSTART\tSTOP\tDURATION\tIN\tOUT\tCAUSE")
		for _, s := range out {
			stop := "online"
			if s.Stop != nil {
				stop = s.Stop.Format(time.RFC3339)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%d\t%s\n", s.NAS, s.SessionID, s.Username, s.MAC, s.IP,
				s.Start.Format(time.RFC3339), stop, time.Duration(s.Duration)*time.Second, s.InputOctets, s.OutputOctets, s.TerminateCause)
		}
		tw.Flush()
	})
}

func cmdSessionStats(ctx context.Context, e *env, args []string) error {
	fs := e.flags("session stats")
	if err := e.parse(fs, args); err != nil {
		return err
	}
	d, err := e.open(ctx)
	if err != nil {
		return err
	}
	st, err := d.radius.SessionStats(ctx)
	if err != nil {
		return err
	}
	out := map[string]int64{"sessions": st.Sessions, "open": st.Open, "closed": st.Closed, "input_octets": st.InputOctets, "output_octets": st.OutputOctets}
	return e.print(out, func(w io.Writer) {
		fmt.Fprintf(w, "sessions %d (open %d, closed %d), input %d octets, output %d octets\n", st.Sessions, st.Open, st.Closed, st.InputOctets, st.OutputOctets)
	})
}

type coaJSON struct {
	NAS        int64  `json:"nas_id"`
	SessionID  string `json:"acct_session_id"`
	Username   string `json:"username"`
	Kind       string `json:"kind"`
	Result     string `json:"result"`
	ErrorCause int    `json:"error_cause,omitempty"`
}

func toCoAJSON(rs []radius.CoAResult) []coaJSON {
	out := make([]coaJSON, 0, len(rs))
	for _, r := range rs {
		out = append(out, coaJSON{NAS: r.NASID, SessionID: r.SessionID, Username: r.Username, Kind: r.Kind, Result: r.Result, ErrorCause: r.ErrorCause})
	}
	return out
}

func printCoA(w io.Writer, rs []coaJSON) {
	if len(rs) == 0 {
		fmt.Fprintln(w, "no open session")
	}
	for _, r := range rs {
		fmt.Fprintf(w, "%s %s session %s on NAS %d: %s", r.Kind, r.Username, r.SessionID, r.NAS, r.Result)
		if r.ErrorCause != 0 {
			fmt.Fprintf(w, " (Error-Cause %d)", r.ErrorCause)
		}
		fmt.Fprintln(w)
	}
}

func cmdSessionDisconnect(ctx context.Context, e *env, args []string) error {
	fs := e.flags("session disconnect")
	user := fs.String("user", "", "disconnect every open session of this user")
	id := fs.String("id", "", "disconnect the open session with this Acct-Session-Id")
	via := fs.String("via", viaAuto, "auto: Disconnect-Request, or the RouterOS API when the NAS has no CoA port or does not answer; coa: Disconnect-Request only; api: remove the session from the router's active list")
	if err := e.parse(fs, args); err != nil {
		return err
	}
	if (*user == "") == (*id == "") {
		return usagef("session disconnect: give exactly one of --user or --id")
	}
	if *via != viaAuto && *via != viaCoA && *via != viaAPI {
		return usagef("session disconnect: --via must be auto, coa or api")
	}
	d, err := e.open(ctx)
	if err != nil {
		return err
	}
	enf, err := d.cliEnforcer(ctx)
	if err != nil {
		return err
	}
	enf.Disconnect.(*disconnector).via = *via
	var res []radius.CoAResult
	if *user != "" {
		res, err = enf.DisconnectUser(ctx, *user, "admin")
	} else {
		var open []radius.Session
		open, err = d.radius.FindSessions(ctx, radius.SessionFilter{SessionID: *id, Online: true, Limit: 100})
		if err == nil && len(open) == 0 {
			return radius.Errorf(radius.ENOTFOUND, "id: no open session %q", *id)
		}
		for i := range open {
			var r radius.CoAResult
			r, err = enf.Disconnect.Disconnect(ctx, open[i].Live(), "admin")
			if err != nil && r.Result == "" {
				break
			}
			err = nil
			res = append(res, r)
		}
	}
	if err != nil {
		return err
	}
	out := toCoAJSON(res)
	return e.print(out, func(w io.Writer) { printCoA(w, out) })
}

// How a disconnect reaches the router (session disconnect --via).
const (
	viaAuto = "auto"
	viaCoA  = "coa"
	viaAPI  = "api"
)

// disconnector ends sessions on their router and records each outcome in the CoA log:
// by Disconnect-Request to the session's router (the address its accounting came from,
// for a NAS that is a range), or through the router's RouterOS API, which removes the
// session from its active list. By default (via "" or "auto") the API is the fallback
// for a NAS without a CoA port (0) and for a Disconnect-Request that timed out.
type disconnector struct {
	coa   *server.CoAClient
	nas   func(id int64) (radius.NAS, bool)
	store interface {
		RecordCoA(ctx context.Context, r radius.CoAResult) error
	}
	routers *radius.Routers // nil: no API
	via     string
}

var _ radius.Disconnector = (*disconnector)(nil)

// Disconnect implements radius.Disconnector.
func (d *disconnector) Disconnect(ctx context.Context, s radius.LiveSession, reason string) (radius.CoAResult, error) {
	n, ok := d.nas(s.Key.NASID)
	if !ok {
		return radius.CoAResult{}, radius.Errorf(radius.ENOTFOUND, "nas: no NAS with id %d", s.Key.NASID)
	}
	if d.via == viaAPI {
		return d.byAPI(ctx, s, reason)
	}
	if n.CoAPort == 0 {
		if d.via == viaCoA {
			return radius.CoAResult{}, radius.Errorf(radius.EINVALID, "nas: NAS %q takes no Disconnect-Request (CoA port 0); use --via api", n.Name)
		}
		return d.byAPI(ctx, s, reason)
	}
	res, err := d.coa.Disconnect(ctx, server.CoATarget{NAS: n, Addr: s.NASAddr, Username: s.Username, SessionID: s.Key.SessionID, FramedIP: s.FramedIP})
	res.Reason = reason
	d.record(ctx, res, &err)
	if d.via == viaCoA || res.Result != "timeout" || d.routers == nil {
		return res, err
	}
	// The router did not answer its Disconnect-Request: try its API, if it has one.
	apiRes, apiErr := d.byAPI(ctx, s, reason)
	if apiRes.Result == "" && radius.ErrorCode(apiErr) == radius.ENOTFOUND {
		return res, err // no API: the timeout stands
	}
	return apiRes, apiErr
}

// byAPI removes the session through the NAS's RouterOS API and records the outcome.
func (d *disconnector) byAPI(ctx context.Context, s radius.LiveSession, reason string) (radius.CoAResult, error) {
	if d.routers == nil {
		return radius.CoAResult{}, radius.Errorf(radius.ENOTFOUND, "nas: no RouterOS API to disconnect through")
	}
	res, err := d.routers.Disconnect(ctx, s, reason)
	if res.Result == "" && radius.ErrorCode(err) == radius.ENOTFOUND {
		if n, ok := d.nas(s.Key.NASID); ok && n.CoAPort == 0 {
			err = radius.Errorf(radius.ENOTFOUND, "nas: NAS %q has neither a CoA port nor a RouterOS API: nothing can disconnect its sessions (tollgate nas set --api-address)", n.Name)
		}
	}
	d.record(ctx, res, &err)
	return res, err
}

// record writes an outcome to the CoA log; a failure to write it becomes err unless err
// is set already.
func (d *disconnector) record(ctx context.Context, res radius.CoAResult, err *error) {
	if res.Result == "" {
		return
	}
	if rerr := d.store.RecordCoA(ctx, res); rerr != nil && *err == nil {
		*err = rerr
	}
}

// coaRateLimit sends a CoA with the account's new rate limit to each of its open sessions.
func (d *disconnector) coaRateLimit(ctx context.Context, open []radius.Session, a *radius.Account, reason string) ([]radius.CoAResult, error) {
	var out []radius.CoAResult
	for _, s := range open {
		n, ok := d.nas(s.NASID)
		if !ok {
			continue
		}
		t := server.CoATarget{NAS: n, Addr: s.NASAddr, Username: s.Username, SessionID: s.SessionID, FramedIP: s.FramedIP}
		var res radius.CoAResult
		var err error
		if n.CoAPort == 0 {
			// No CoA on this router: reconnecting through its API gives the new plan.
			res, err = d.byAPI(ctx, s.Live(), reason)
			if err != nil && res.Result == "" {
				return out, err
			}
			out = append(out, res)
			continue
		}
		if a.RateLimit == "" {
			// A CoA cannot remove a rate limit: reconnecting gives the session the new plan.
			res, err = d.coa.Disconnect(ctx, t)
		} else {
			res, err = d.coa.CoA(ctx, t, a.RateLimit, 0)
		}
		res.Reason = reason
		if res.Result != "" {
			if rerr := d.store.RecordCoA(ctx, res); rerr != nil && err == nil {
				err = rerr
			}
		}
		if err != nil && res.Result == "" {
			return out, err
		}
		out = append(out, res)
	}
	return out, nil
}
