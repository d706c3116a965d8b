package main

import (
	"context"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"text/tabwriter"

	"tollgate/radius"
	"tollgate/radius/pg"
)

type nasJSON struct {
	ID                          int64  `json:"id"`
	Name                        string `json:"name"`
	Address                     string `json:"address"`
	CoAPort                     int    `json:"coa_port"`
	RequireMessageAuthenticator bool   `json:"require_message_authenticator"`
}

func toNASJSON(n *radius.NAS) nasJSON {
	return nasJSON{ID: n.ID, Name: n.Name, Address: n.Prefix.String(), CoAPort: n.CoAPort, RequireMessageAuthenticator: n.RequireMessageAuthenticator}
}

// parsePrefix accepts an address or a CIDR range.
func parsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, radius.Errorf(radius.EINVALID, "address: %q is not an IP address or CIDR range", s)
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, radius.Errorf(radius.EINVALID, "address: %q is not an IP address or CIDR range", s)
	}
	return netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()), nil
}

func cmdNASAdd(ctx context.Context, e *env, args []string) error {
	fs := e.flags("nas add")
	name := fs.String("name", "", "router name (letters, digits, . _ -)")
	address := fs.String("address", "", "source IP address or CIDR range of its RADIUS packets")
	secret := fs.String("secret", "", "RADIUS shared secret")
	coa := fs.Int("coa-port", 3799, "UDP port for Disconnect/CoA on the router")
	reqMA := fs.Bool("require-message-authenticator", true, "drop Access-Requests without Message-Authenticator (BlastRADIUS)")
	if err := e.parse(fs, args); err != nil {
		return err
	}
	if err := required(fs, "name", "address", "secret"); err != nil {
		return err
	}
	p, err := parsePrefix(*address)
	if err != nil {
		return err
	}
	switch {
	case len(*secret) < 6:
		return radius.Errorf(radius.EINVALID, "secret: must be at least 6 characters")
	case len(*secret) > 128:
		return radius.Errorf(radius.EINVALID, "secret: must be at most 128 characters")
	case *coa < 1 || *coa > 65535:
		return radius.Errorf(radius.EINVALID, "coa-port: %d is not 1-65535", *coa)
	}
	d, err := e.open(ctx)
	if err != nil {
		return err
	}
	n := &radius.NAS{Name: *name, Prefix: p, CoAPort: *coa, RequireMessageAuthenticator: *reqMA}
	if err := d.radius.CreateNAS(ctx, n, d.sealer.Seal([]byte(*secret))); err != nil {
		return err
	}
	if err := pg.Notify(ctx, d.pool, "nas"); err != nil {
		return err
	}
	return e.print(toNASJSON(n), func(w io.Writer) {
		fmt.Fprintf(w, "added NAS %q (id %d) at %s\n", n.Name, n.ID, n.Prefix)
	})
}

func cmdNASList(ctx context.Context, e *env, args []string) error {
	fs := e.flags("nas list")
	if err := e.parse(fs, args); err != nil {
		return err
	}
	d, err := e.open(ctx)
	if err != nil {
		return err
	}
	list, err := d.radius.ListNAS(ctx)
	if err != nil {
		return err
	}
	out := make([]nasJSON, 0, len(list))
	for i := range list {
		out = append(out, toNASJSON(&list[i]))
	}
	return e.print(out, func(w io.Writer) {
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tNAME\tADDRESS\tCOA PORT\tREQUIRE MA")
		for _, n := range out {
			fmt.Fprintf(tw, "%d\t%s\t%s\t%d\t%v\n", n.ID, n.Name, n.Address, n.CoAPort, n.RequireMessageAuthenticator)
		}
		tw.Flush()
	})
}
