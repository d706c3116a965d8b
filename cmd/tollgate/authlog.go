package main

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"tollgate/radius"
)

type authLogJSON struct {
	At       time.Time `json:"at"`
	NAS      string    `json:"nas"`
	Username string    `json:"username"`
	MAC      string    `json:"mac"`
	Method   string    `json:"method"`
	Reason   string    `json:"reason"`
	Accepted bool      `json:"accepted"`
}

func cmdAuthLog(ctx context.Context, e *env, args []string) error {
	fs := e.flags("authlog")
	user := fs.String("user", "", "only this username")
	limit := fs.Int("limit", 50, "how many, newest first")
	reason := fs.String("reason", "", "why you read this user's log (required when the subscriber restricted processing)")
	if err := e.parse(fs, args); err != nil {
		return err
	}
	if *limit < 1 || *limit > 10000 {
		return usagef("authlog: --limit must be 1-10000")
	}
	d, err := e.open(ctx)
	if err != nil {
		return err
	}
	if *user != "" {
		if err := staffRead(ctx, e, d, *user, *reason, "auth_log"); err != nil {
			return err
		}
	}
	rows, err := d.radius.FindAuthLog(ctx, radius.AuthLogFilter{Username: *user, Limit: *limit})
	if err != nil {
		return err
	}
	out := make([]authLogJSON, 0, len(rows))
	for _, r := range rows {
		out = append(out, authLogJSON{At: r.At.UTC(), NAS: r.NASName, Username: r.Username, MAC: r.MAC, Method: r.Method, Reason: r.Reason, Accepted: r.Reason == "ok"})
	}
	return e.print(out, func(w io.Writer) {
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "TIME\tNAS\tUSER\tMAC\tMETHOD\tRESULT")
		for _, r := range out {
			res := "accept"
			if !r.Accepted {
				res = "reject: " + r.Reason
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.At.Format(time.RFC3339), r.NAS, r.Username, r.MAC, r.Method, res)
		}
		tw.Flush()
	})
}
