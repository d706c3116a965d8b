package main

import (
	"context"
	"fmt"
	"html"
	"io"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"tollgate/radius"
)

// routerFilesJSON is what hotspot router-files prints with --json.
type routerFilesJSON struct {
	LoginHTML string `json:"login_html"`
	SetupRSC  string `json:"setup_rsc"`
}

// cmdHotspotRouterFiles writes the files a MikroTik router needs to send its hotspot
// guests to the portal: login.html, the router's login page, forwards the router's
// variables to PORTAL/hotspot/login (a GET form, so it needs no CSRF token of ours), and
// setup.rsc points the router's RADIUS client and hotspot profile at tollgate and opens
// the walled garden for the portal (mikrotik-radius.md §1.1, §2.2).
func cmdHotspotRouterFiles(ctx context.Context, e *env, args []string) error {
	fs := e.flags("hotspot router-files")
	nasName := fs.String("nas", "", "the router, by its NAS name")
	out := fs.String("out", "", "directory to write login.html and setup.rsc to")
	portalURL := fs.String("portal-url", "", "the portal as guests reach it (default http://RADIUS-ADDRESS:HTTP-PORT)")
	radiusAddr := fs.String("radius-address", "", "tollgate's IP address as the router reaches it (default: the portal URL's host)")
	loginHost := fs.String("login-host", "", "which of the NAS's login hosts the hotspot uses (default: the first; see tollgate nas set --login-host)")
	if err := e.parse(fs, args); err != nil {
		return err
	}
	if err := required(fs, "nas", "out"); err != nil {
		return err
	}
	if *portalURL == "" {
		if *radiusAddr == "" {
			return usagef("hotspot router-files: give --portal-url or --radius-address")
		}
		port := "8080"
		if e.cfg != nil {
			if _, p, err := net.SplitHostPort(e.cfg.HTTPAddr); err == nil && p != "" {
				port = p
			}
		} else if cfg, err := loadConfig(); err == nil {
			if _, p, err := net.SplitHostPort(cfg.HTTPAddr); err == nil && p != "" {
				port = p
			}
		}
		*portalURL = "http://" + net.JoinHostPort(*radiusAddr, port)
	}
	pu, err := url.Parse(*portalURL)
	if err != nil || (pu.Scheme != "http" && pu.Scheme != "https") || pu.Hostname() == "" || pu.User != nil {
		return radius.Errorf(radius.EINVALID, "portal-url: %q is not an http(s) URL", *portalURL)
	}
	portalHost := pu.Hostname()
	portalIP, perr := netip.ParseAddr(portalHost)
	portalIsIP := perr == nil
	if *radiusAddr == "" {
		if !portalIsIP {
			return usagef("hotspot router-files: --radius-address is required when the portal URL's host is a name")
		}
		*radiusAddr = portalIP.String()
	}
	rip, err := netip.ParseAddr(*radiusAddr)
	if err != nil {
		return radius.Errorf(radius.EINVALID, "radius-address: %q is not an IP address", *radiusAddr)
	}
	d, err := e.open(ctx)
	if err != nil {
		return err
	}
	n, err := d.radius.FindNASByName(ctx, *nasName)
	if radius.ErrorCode(err) == radius.ENOTFOUND {
		return radius.Errorf(radius.ENOTFOUND, "nas: no NAS named %q (see tollgate nas list)", *nasName)
	}
	if err != nil {
		return err
	}
	host, err := routerLoginHost(n, *loginHost)
	if err != nil {
		return err
	}
	secret, err := openNASSecret(d, n)
	if err != nil {
		return fmt.Errorf("nas %q: open secret: %w (is TOLLGATE_SECRET_KEY the key it was sealed with?)", n.Name, err)
	}
	base := strings.TrimRight(pu.String(), "/")
	if err := os.MkdirAll(*out, 0o700); err != nil {
		return err
	}
	res := routerFilesJSON{LoginHTML: filepath.Join(*out, "login.html"), SetupRSC: filepath.Join(*out, "setup.rsc")}
	if err := writeFile(res.LoginHTML, []byte(routerLoginHTML(base+"/hotspot/login")), 0o644); err != nil {
		return err
	}
	rsc := routerSetup(n, string(secret), host, rip, portalHost, portalIP, portalIsIP)
	if err := writeFile(res.SetupRSC, []byte(rsc), 0o600); err != nil {
		return err
	}
	return e.print(res, func(w io.Writer) {
		fmt.Fprintf(w, "wrote %s\nwrote %s (it holds the RADIUS secret: mode 0600)\n", res.LoginHTML, res.SetupRSC)
		fmt.Fprintf(w, "upload login.html to the router's hotspot-tollgate/ directory, then /import %s\n", filepath.Base(res.SetupRSC))
	})
}

// routerLoginHost picks the login host the router's hotspot is set up with: want when
// given (one of n's), else n's first. EINVALID explaining what to do when n has none.
func routerLoginHost(n *radius.NAS, want string) (string, error) {
	if len(n.LoginHosts) == 0 {
		return "", radius.Errorf(radius.EINVALID, "login_host: NAS %q has no login host, and the captive page posts logins only to a configured one: run tollgate nas set --name %s --login-host HOST (the host of the hotspot's link-login-only: its DNS name, e.g. hotspot.example.net, or its IPv4 address, e.g. 10.5.50.1)", n.Name, n.Name)
	}
	if want == "" {
		return n.LoginHosts[0], nil
	}
	h, err := radius.ParseLoginHost(want)
	if err != nil {
		return "", err
	}
	if !slices.Contains(n.LoginHosts, h) {
		return "", radius.Errorf(radius.EINVALID, "login_host: %q is not a login host of NAS %q (it has %s)", h, n.Name, strings.Join(n.LoginHosts, ", "))
	}
	return h, nil
}

// writeFile writes b to name with mode perm, also when name exists with another mode.
func writeFile(name string, b []byte, perm os.FileMode) error {
	if err := os.WriteFile(name, b, perm); err != nil {
		return err
	}
	return os.Chmod(name, perm)
}

// routerLoginHTML is the router's hotspot login.html: it sends the guest on to the
// portal's login page with the router's variables, at once with JavaScript, else with a
// button. RouterOS replaces each $(name) before serving the page.
func routerLoginHTML(loginURL string) string {
	return `<!doctype html>
<html>
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="pragma" content="no-cache">
<meta http-equiv="expires" content="-1">
<title>Wi-Fi login</title>
</head>
<body>
<!-- Written by tollgate hotspot router-files: forwards to the tollgate portal. -->
<form name="tollgate" action="` + html.EscapeString(loginURL) + `" method="get">
<input type="hidden" name="link-login-only" value="$(link-login-only)">
<input type="hidden" name="chap-id" value="$(chap-id)">
<input type="hidden" name="chap-challenge" value="$(chap-challenge)">
<input type="hidden" name="mac" value="$(mac)">
<input type="hidden" name="ip" value="$(ip)">
<input type="hidden" name="dst" value="$(link-orig)">
<input type="hidden" name="error" value="$(error)">
<noscript><button type="submit">Continue to the login page</button></noscript>
</form>
<script>document.tollgate.submit();</script>
</body>
</html>
`
}

// rosQuote quotes s for a RouterOS script.
func rosQuote(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, `$`, `\$`, `?`, `\?`)
	return `"` + r.Replace(s) + `"`
}

// routerSetup is setup.rsc, the RouterOS commands that point the router at tollgate.
// loginHost is the host the hotspot's link-login-only must name: a DNS name becomes the
// profile's dns-name; an address must be the hotspot's own, with no dns-name.
func routerSetup(n *radius.NAS, secret, loginHost string, radiusIP netip.Addr, portalHost string, portalIP netip.Addr, portalIsIP bool) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# tollgate: RADIUS and hotspot setup for NAS %q. Run with /import on the router.\n", n.Name)
	b.WriteString("# WARNING: this file holds the RADIUS shared secret in clear. Keep it private (mode 0600)\n")
	b.WriteString("# and delete it from the router after the import.\n")
	src := ""
	if n.Prefix.IsSingleIP() {
		src = " src-address=" + n.Prefix.Addr().String()
	} else {
		fmt.Fprintf(&b, "# The NAS is the range %s: add src-address=<the router's address in it> to /radius add.\n", n.Prefix)
	}
	fmt.Fprintf(&b, "/radius add address=%s secret=%s service=hotspot,ppp%s timeout=1100ms\n", radiusIP, rosQuote(secret), src)
	fmt.Fprintf(&b, "/radius incoming set accept=yes port=%d\n", n.CoAPort)
	b.WriteString("/ip hotspot profile set [find] use-radius=yes radius-accounting=yes radius-interim-update=received html-directory-override=hotspot-tollgate login-by=http-chap,http-pap,mac-cookie\n")
	fmt.Fprintf(&b, "# The captive page posts logins only to a login host of this NAS (%s): link-login-only must be http://%s/login.\n", strings.Join(n.LoginHosts, ", "), loginHost)
	if _, err := netip.ParseAddr(loginHost); err == nil {
		fmt.Fprintf(&b, "# %s must be the hotspot interface's address; with no dns-name the hotspot logs in at its address.\n", loginHost)
		b.WriteString("/ip hotspot profile set [find] dns-name=\"\"\n")
	} else {
		fmt.Fprintf(&b, "/ip hotspot profile set [find] dns-name=%s\n", rosQuote(loginHost))
	}
	b.WriteString("# The portal must be reachable before login (walled garden), or guests loop.\n")
	fmt.Fprintf(&b, "/ip hotspot walled-garden add dst-host=%s\n", rosQuote(portalHost))
	if portalIsIP {
		fmt.Fprintf(&b, "/ip hotspot walled-garden ip add action=accept dst-address=%s\n", portalIP)
	}
	return b.String()
}
