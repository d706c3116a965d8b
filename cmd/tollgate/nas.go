package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/jackc/pgx/v5"

	"tollgate/radius"
	"tollgate/radius/pg"
	radiuspg "tollgate/radius/postgres"
)

type nasJSON struct {
	ID                          int64    `json:"id"`
	Name                        string   `json:"name"`
	Address                     string   `json:"address"`
	CoAPort                     int      `json:"coa_port"`
	RequireMessageAuthenticator bool     `json:"require_message_authenticator"`
	LoginHosts                  []string `json:"login_hosts"`
	// API is the RouterOS API (nil: none), Router its last heartbeat ("up", "down", or
	// "" before the first poll); both in `nas list` and `nas set` only.
	API    *nasAPIJSON `json:"api,omitempty"`
	Router string      `json:"router,omitempty"`
}

func toNASJSON(n *radius.NAS) nasJSON {
	hosts := n.LoginHosts
	if hosts == nil {
		hosts = []string{}
	}
	return nasJSON{ID: n.ID, Name: n.Name, Address: n.Prefix.String(), CoAPort: n.CoAPort,
		RequireMessageAuthenticator: n.RequiresMessageAuthenticator(), LoginHosts: hosts}
}

// sealNASSecret and openNASSecret are the only places a NAS secret is sealed or opened.
func sealNASSecret(d *deps, n *radius.NAS, plain []byte) []byte {
	return d.sealer.Seal(plain, radius.SealNASSecret.AD(n.ID))
}

// openNASSecret opens n's sealed secret, bound to n's row.
func openNASSecret(d *deps, n *radius.NAS) ([]byte, error) {
	return d.sealer.Open(n.Secret, radius.SealNASSecret.AD(n.ID))
}

// openNASSecrets opens the secret of every NAS in list in place. A NAS whose secret does
// not open (sealed with another TOLLGATE_SECRET_KEY, or damaged) is left without one, so
// the RADIUS server refuses it alone; their names are returned.
func openNASSecrets(d *deps, list []radius.NAS) (unusable []string) {
	for i := range list {
		plain, err := openNASSecret(d, &list[i])
		if err != nil {
			list[i].Secret = nil
			unusable = append(unusable, list[i].Name)
			continue
		}
		list[i].Secret = plain
	}
	return unusable
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

// parseLoginHosts normalizes the --login-host values (listFlag: repeated or
// comma-separated; --login-host "" gives none), dropping repeats.
func parseLoginHosts(vals []string) ([]string, error) {
	hosts := []string{}
	for _, v := range vals {
		h, err := radius.ParseLoginHost(v)
		if err != nil {
			return nil, err
		}
		if !slices.Contains(hosts, h) {
			hosts = append(hosts, h)
		}
	}
	return hosts, nil
}

// nasSecretFlags are the flags that give a NAS secret.
type nasSecretFlags struct {
	allowWeak *bool
}

func addNASSecretFlags(fs *flag.FlagSet) *nasSecretFlags {
	fs.String("secret", "", "RADIUS shared secret, at least 12 characters; - reads it from stdin")
	fs.String("secret-file", "", "read the RADIUS shared secret from the first line of this file")
	return &nasSecretFlags{allowWeak: fs.Bool("allow-weak-secret", false, "accept a secret shorter than 12 characters (warns)")}
}

// read returns the secret given, checked; set says whether one was given. A weak secret
// allowed with --allow-weak-secret is warned about on stderr.
func (f *nasSecretFlags) read(e *env, fs *flag.FlagSet) (secret []byte, set bool, err error) {
	s, set, err := secretFlag(e, fs, "secret")
	if err != nil || !set {
		return nil, set, err
	}
	if err := radius.CheckNASSecret([]byte(s), *f.allowWeak); err != nil {
		if len(s) > 0 && len(s) < radius.MinNASSecret {
			return nil, true, radius.Errorf(radius.EINVALID, "%s (or give --allow-weak-secret)", radius.ErrorMessage(err))
		}
		return nil, true, err
	}
	if len(s) < radius.MinNASSecret {
		fmt.Fprintf(e.stderr, "tollgate: warning: the secret is %d characters; with fewer than %d it can be guessed offline from one captured packet\n", len(s), radius.MinNASSecret)
	}
	return []byte(s), true, nil
}

func cmdNASAdd(ctx context.Context, e *env, args []string) error {
	fs := e.flags("nas add")
	name := fs.String("name", "", "router name (letters, digits, . _ -)")
	address := fs.String("address", "", "source IP address of its RADIUS packets, or a range of at most /24 (IPv4) or /56 (IPv6)")
	secretFlags := addNASSecretFlags(fs)
	coa := fs.Int("coa-port", 3799, "UDP port for Disconnect/CoA on the router")
	reqMA := fs.Bool("require-message-authenticator", true, "drop Access-Requests without Message-Authenticator (BlastRADIUS; always on for a range)")
	var hostFlags listFlag
	fs.Var(&hostFlags, "login-host", "host of the hotspot's link-login-only (its DNS name or IPv4 address); repeatable: the captive page posts logins only there")
	if err := e.parse(fs, args); err != nil {
		return err
	}
	if err := required(fs, "name", "address"); err != nil {
		return err
	}
	p, err := parsePrefix(*address)
	if err != nil {
		return err
	}
	secret, set, err := secretFlags.read(e, fs)
	if err != nil {
		return err
	}
	if !set {
		return usagef("%s: --secret or --secret-file is required", fs.Name())
	}
	if *coa < 1 || *coa > 65535 {
		return radius.Errorf(radius.EINVALID, "coa-port: %d is not 1-65535", *coa)
	}
	hosts, err := parseLoginHosts(hostFlags)
	if err != nil {
		return err
	}
	n := &radius.NAS{Name: *name, Prefix: p, CoAPort: *coa, RequireMessageAuthenticator: *reqMA, LoginHosts: hosts}
	// Checked before connecting, so a refused NAS needs no database to say why.
	if err := n.Validate(); err != nil {
		return err
	}
	d, err := e.open(ctx)
	if err != nil {
		return err
	}
	// The secret is sealed to the row it goes in: reserve its id first.
	if n.ID, err = d.radius.NextNASID(ctx); err != nil {
		return err
	}
	if err := d.radius.CreateNAS(ctx, n, sealNASSecret(d, n, secret)); err != nil {
		return err
	}
	if err := pg.Notify(ctx, d.pool, "nas"); err != nil {
		return err
	}
	return e.print(toNASJSON(n), func(w io.Writer) {
		fmt.Fprintf(w, "added NAS %q (id %d) at %s\n", n.Name, n.ID, n.Prefix)
	})
}

func cmdNASSet(ctx context.Context, e *env, args []string) error {
	fs := e.flags("nas set")
	name := fs.String("name", "", "the router to change, by its NAS name")
	address := fs.String("address", "", "new source IP address, or a range of at most /24 (IPv4) or /56 (IPv6)")
	secretFlags := addNASSecretFlags(fs)
	coa := fs.Int("coa-port", 3799, "new UDP port for Disconnect/CoA on the router; 0: none, disconnect through its RouterOS API")
	reqMA := fs.Bool("require-message-authenticator", true, "drop Access-Requests without Message-Authenticator (always on for a range)")
	var hostFlags listFlag
	fs.Var(&hostFlags, "login-host", "host of the hotspot's link-login-only, repeatable: replaces the list (--login-host '' empties it)")
	apiFlags := addNASAPIFlags(fs)
	if err := e.parse(fs, args); err != nil {
		return err
	}
	if err := required(fs, "name"); err != nil {
		return err
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	var upd radius.NASUpdate
	if given["address"] {
		p, err := parsePrefix(*address)
		if err != nil {
			return err
		}
		upd.Prefix = &p
	}
	if given["coa-port"] {
		if *coa < 0 || *coa > 65535 {
			return radius.Errorf(radius.EINVALID, "coa-port: %d is not 1-65535 (or 0: none)", *coa)
		}
		upd.CoAPort = coa
	}
	if given["require-message-authenticator"] {
		upd.RequireMessageAuthenticator = reqMA
	}
	if given["login-host"] {
		hosts, err := parseLoginHosts(hostFlags)
		if err != nil {
			return err
		}
		upd.LoginHosts = &hosts
	}
	if given["secret"] && given["api-password"] && fs.Lookup("secret").Value.String() == "-" && fs.Lookup("api-password").Value.String() == "-" {
		return usagef("%s: only one of --secret and --api-password can read stdin; give the other in a file", fs.Name())
	}
	secret, secretSet, err := secretFlags.read(e, fs)
	if err != nil {
		return err
	}
	apiUpd, apiPassword, apiSet, err := apiFlags.read(e, fs, given)
	if err != nil {
		return err
	}
	if upd.Empty() && !secretSet && !apiSet {
		return usagef("%s: nothing to change: give --address, --secret, --secret-file, --coa-port, --require-message-authenticator, --login-host or --api-*", fs.Name())
	}
	if err := upd.Validate(); err != nil {
		return err
	}
	d, err := e.open(ctx)
	if err != nil {
		return err
	}
	n, err := d.radius.FindNASByName(ctx, *name)
	if err != nil {
		return err
	}
	if secretSet {
		upd.SealedSecret = sealNASSecret(d, n, secret)
	}
	if apiPassword != nil {
		// Sealed to the NAS's row, like its secret.
		apiUpd.SealedPassword = d.sealer.Seal(apiPassword, radius.SealNASAPIPassword.AD(n.ID))
	}
	var api *radius.RouterTarget
	// The NAS and its API change together or not at all.
	err = pg.WithTx(ctx, d.pool, func(tx pgx.Tx) error {
		st := radiuspg.New(tx)
		var err error
		if !upd.Empty() || secretSet {
			if n, err = st.UpdateNAS(ctx, *name, upd); err != nil {
				return err
			}
		}
		if apiSet {
			api, err = st.UpdateRouterAPI(ctx, *name, apiUpd)
		}
		return err
	})
	if err != nil {
		return err
	}
	if err := pg.Notify(ctx, d.pool, "nas"); err != nil {
		return err
	}
	if apiSet {
		warnCleartextAPI(e, api)
	} else if api, err = d.radius.FindRouterTarget(ctx, n.Name); radius.ErrorCode(err) == radius.ENOTFOUND {
		api = nil
	} else if err != nil {
		return err
	}
	out := toNASJSON(n)
	out.API = toNASAPIJSON(api)
	return e.print(out, func(w io.Writer) {
		fmt.Fprintf(w, "updated NAS %q (id %d) at %s", n.Name, n.ID, n.Prefix)
		if out.API != nil {
			fmt.Fprintf(w, ", RouterOS API %s as %s", out.API.text(), out.API.User)
		}
		fmt.Fprintln(w)
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
	apis, err := d.radius.FindRouterTargets(ctx)
	if err != nil {
		return err
	}
	states, err := d.radius.FindRouterStates(ctx)
	if err != nil {
		return err
	}
	out := make([]nasJSON, 0, len(list))
	for i := range list {
		j := toNASJSON(&list[i])
		for k := range apis {
			if apis[k].NASID == j.ID {
				j.API = toNASAPIJSON(&apis[k])
			}
		}
		for _, st := range states {
			if st.NASID == j.ID && j.API != nil {
				j.Router = map[bool]string{false: "up", true: "down"}[st.Down]
			}
		}
		out = append(out, j)
	}
	return e.print(out, func(w io.Writer) {
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tNAME\tADDRESS\tCOA PORT\tREQUIRE MA\tLOGIN HOSTS\tROUTEROS API\tROUTER")
		for _, n := range out {
			hosts := strings.Join(n.LoginHosts, ",")
			if hosts == "" {
				hosts = "-"
			}
			router := n.Router
			if router == "" {
				router = "-"
			}
			fmt.Fprintf(tw, "%d\t%s\t%s\t%d\t%v\t%s\t%s\t%s\n", n.ID, n.Name, n.Address, n.CoAPort, n.RequireMessageAuthenticator, hosts, n.API.text(), router)
		}
		tw.Flush()
	})
}
