// Command tollgate is the RADIUS/AAA and hotspot voucher server, and its admin command line.
// It is the only place where the concrete stores meet: everything is wired here.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"

	"tollgate/radius"
)

var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// usageError is wrong usage of the command line: exit status 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return &usageError{msg: fmt.Sprintf(format, args...)} }

// env is one command invocation: its streams and, once opened, its stores.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	cfg            *Config
	json           bool
	deps           *deps
}

type command struct {
	summary string
	run     func(ctx context.Context, e *env, args []string) error
}

func commands() map[string]command {
	return map[string]command{
		"serve":              {"run RADIUS, the portal and cron until interrupted", cmdServe},
		"migrate":            {"apply the database migrations and exit", cmdMigrate},
		"demo":               {"load the demo NAS, plans and subscriber (idempotent)", cmdDemo},
		"config":             {"print the configuration, secrets redacted", cmdConfig},
		"version":            {"print the version", cmdVersion},
		"nas add":            {"add a router: --name --address IP[/PREFIX] --secret S|- | --secret-file FILE [--login-host HOST]...", cmdNASAdd},
		"nas set":            {"change a router: --name [--address] [--secret S|- | --secret-file FILE] [--coa-port] [--login-host HOST]... [--api-address HOST[:PORT] --api-user U --api-password P|- | --api-password-file FILE [--api-tls]]", cmdNASSet},
		"nas list":           {"list routers", cmdNASList},
		"nas check":          {"poll a router's RouterOS API now and print its health: --name", cmdNASCheck},
		"nas reconcile":      {"close sessions a router no longer has and list its sessions RADIUS does not know: --name", cmdNASReconcile},
		"plan add":           {"add a plan: --name --kind pppoe|hotspot [--price] [--period 30d|month] [--grace D] [--isolation-plan NAME] ...", cmdPlanAdd},
		"plan list":          {"list plans", cmdPlanList},
		"subscriber add":     {"add a subscriber: --username --password P|- | --password-file FILE --plan [--name] [--email] [--phone] [--auto-renew=BOOL]", cmdSubscriberAdd},
		"subscriber set":     {"change a subscriber: --username [--status] [--plan [--now]] [--password P|- | --password-file FILE] [--name] [--email] [--phone] [--auto-renew=BOOL]", cmdSubscriberSet},
		"subscriber import":  {"import subscribers from CSV: --file FILE.csv [--plan P]; a header may add plan,name,email,phone,mac,static_ip", cmdSubscriberImport},
		"subscriber invite":  {"make a one-time link that sets a subscriber's portal password, emailed: --username U [--print]", cmdSubscriberInvite},
		"privacy show":       {"show a subscriber's consents, restriction and their history: --username U [--reason R]", cmdPrivacyShow},
		"privacy export":     {"write everything held about a subscriber as JSON, for a request by email: --username U [--out FILE] [--reason R]", cmdPrivacyExport},
		"privacy erase":      {"erase a subscriber now on a request received elsewhere: --username U --reason TEXT [--no-email]", cmdPrivacyErase},
		"privacy run":        {"carry out the erasures that are due [--now RFC3339]", cmdPrivacyRun},
		"privacy reviews":    {"list the reviews of automated decisions subscribers asked for [--all]", cmdPrivacyReviews},
		"privacy decide":     {"decide a review: --id N --outcome upheld|changed --note TEXT", cmdPrivacyDecide},
		"policy publish":     {"publish a privacy policy version: --file policy.md --effective YYYY-MM-DD [--minor]", cmdPolicyPublish},
		"policy list":        {"list the privacy policy versions", cmdPolicyList},
		"retention run":      {"drop the monthly log partitions past TOLLGATE_RETENTION_MONTHS [--now RFC3339]", cmdRetentionRun},
		"authlog":            {"show the latest authorization decisions [--user U]", cmdAuthLog},
		"session list":       {"list sessions [--user U] [--nas NAME] [--online] [--limit N]", cmdSessionList},
		"session stats":      {"print session totals", cmdSessionStats},
		"session disconnect": {"disconnect --user U or --id ACCT-SESSION-ID [--via auto|coa|api]", cmdSessionDisconnect},
		"voucher generate":   {"make vouchers: --plan --count N [--length 8] [--prefix P] [--charset C] [--mode code|userpass] [--reseller R] [--csv]", cmdVoucherGenerate},
		"voucher list":       {"list vouchers [--batch ID] [--state S] [--limit N]", cmdVoucherList},
		"voucher show":       {"show a voucher's state, validity and usage: CODE", cmdVoucherShow},
		"voucher revoke":     {"revoke a voucher and disconnect it: CODE", cmdVoucherRevoke},
		"admin add":          {"add a portal admin (or --role reseller --reseller NAME): --email E; password from the terminal or stdin", cmdAdminAdd},
		"admin disable":      {"disable a portal account and end its open sessions: --email E", cmdAdminDisable},
		"admin enable":       {"let a disabled portal account sign in again: --email E", cmdAdminEnable},
		"admin role":         {"change a portal account's role, ending its sessions: --email E --role admin|reseller [--reseller NAME]", cmdAdminRole},
		"reseller add":       {"add a reseller: --name [--email] [--credit-limit 0.00]", cmdResellerAdd},
		"reseller list":      {"list resellers with their balances", cmdResellerList},
		"reseller credit":    {"top a wallet up: --name --amount 12.50 --note TEXT [--idempotency-key K]", cmdResellerCredit},
		"reseller ledger":    {"show a reseller's ledger, newest first: --name [--limit 50]", cmdResellerLedger},
		"notify run":         {"dispatch pending billing events and send the due emails and SMS once, as cron does", cmdNotifyRun},
		"notification list":  {"show queued, sent and failed messages and every attempt [--subscriber U] [--state S] [--limit N]", cmdNotificationList},

		"import freeradius": {"import a FreeRADIUS SQL database: --from-database-url URL [--dry-run] [--with-accounting]", cmdImportFreeRADIUS},
		"token add":         {"make an API token, shown once: --name N --scope read|write [--expires 90d]", cmdTokenAdd},
		"token list":        {"list API tokens (never the tokens themselves)", cmdTokenList},
		"token revoke":      {"revoke an API token: --name N", cmdTokenRevoke},

		"wallet show":        {"show a subscriber's balance and entries, newest first: --subscriber U [--limit 50] [--reason R]", cmdWalletShow},
		"wallet credit":      {"top a subscriber's wallet up and settle what is due: --subscriber U --amount 20.00 --note TEXT [--idempotency-key K]", cmdWalletCredit},
		"subscription show":  {"show a subscriber's subscription, next renewal and balance: --username U [--reason R]", cmdSubscriptionShow},
		"subscription renew": {"renew an owed period now from the wallet (also with auto-renew off): --username U", cmdSubscriptionRenew},
		"subscription set":   {"move the current period (migration, correction): --username U --period-start RFC3339 [--paid=BOOL]", cmdSubscriptionSet},
		"billing run":        {"run one billing pass: renewals, grace, isolation, reminders [--now RFC3339]", cmdBillingRun},
		"invoice list":       {"list invoices and receipts, newest first [--subscriber U [--reason R]] [--kind invoice|receipt] [--limit 100]", cmdInvoiceList},
		"invoice show":       {"show an invoice or receipt with its lines: NUMBER [--reason R]", cmdInvoiceShow},
		"topup create":       {"start an online top-up and print the checkout URL: --subscriber U --amount 20.00 [--provider paystack|generic]", cmdTopUpCreate},
		"topup list":         {"list online top-ups, newest first [--subscriber U [--reason R]] [--state pending|paid|failed|expired] [--limit 50]", cmdTopUpList},
		"topup show":         {"show an online top-up: REFERENCE [--reason R]", cmdTopUpShow},
		"payment reviews":    {"list payments waiting for review, with the event as received (of a subscriber who restricted processing, only with --reason) [--state open|credited|dismissed|all] [--reason R]", cmdPaymentReviews},
		"payment resolve":    {"resolve a payment review once: --id N (--credit USER | --dismiss) [--note TEXT]", cmdPaymentResolve},

		"hotspot router-files": {"write a router's hotspot login.html and setup.rsc: --nas NAME --out DIR [--portal-url URL] [--radius-address IP]", cmdHotspotRouterFiles},

		"webhook add":        {"add a webhook endpoint; its signing secret is shown once: --url URL --events T1,T2 [--description D]", cmdWebhookAdd},
		"webhook list":       {"list webhook endpoints (never their secrets)", cmdWebhookList},
		"webhook remove":     {"remove a webhook endpoint with its queue: --id N", cmdWebhookRemove},
		"webhook deliveries": {"show the webhook delivery log, newest first [--endpoint N] [--state queued|delivered|failed] [--limit N]", cmdWebhookDeliveries},
	}
}

func printUsage(w io.Writer) {
	fmt.Fprintf(w, "tollgate %s: RADIUS/AAA and hotspot voucher server for MikroTik\n\nUsage: tollgate COMMAND [flags] (every command takes --json)\n\n", version)
	cmds := commands()
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-18s %s\n", n, cmds[n].summary)
	}
}

// run executes one command line and returns the exit status: 0 ok, 1 rejected input or
// failure, 2 wrong usage or bad configuration.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		printUsage(stdout)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	cmds := commands()
	name, rest := args[0], args[1:]
	if len(rest) > 0 && !strings.HasPrefix(rest[0], "-") {
		if _, ok := cmds[name+" "+rest[0]]; ok {
			name, rest = name+" "+rest[0], rest[1:]
		}
	}
	c, ok := cmds[name]
	if !ok {
		fmt.Fprintf(stderr, "tollgate: unknown command %q\n\n", strings.Join(args[:min(2, len(args))], " "))
		printUsage(stderr)
		return 2
	}
	e := &env{stdin: stdin, stdout: stdout, stderr: stderr}
	defer e.close()
	err := c.run(ctx, e, rest)
	return exitCode(stderr, err)
}

func exitCode(stderr io.Writer, err error) int {
	if err == nil {
		return 0
	}
	var ue *usageError
	var ce *configError
	switch {
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &ue):
		fmt.Fprintln(stderr, "tollgate: "+ue.msg)
		return 2
	case errors.As(err, &ce):
		fmt.Fprintln(stderr, "tollgate: "+ce.msg)
		return 2
	}
	switch radius.ErrorCode(err) {
	case radius.EINTERNAL:
		fmt.Fprintln(stderr, "tollgate: "+err.Error())
	default:
		fmt.Fprintln(stderr, "tollgate: "+radius.ErrorMessage(err))
	}
	return 1
}

// flags returns a FlagSet for a command with the shared --json flag bound to e.json.
func (e *env) flags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet("tollgate "+name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.BoolVar(&e.json, "json", false, "print JSON")
	return fs
}

// parse parses args; a flag error or a stray argument is a usage error.
func (e *env) parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usagef("%s: %v", fs.Name(), err)
	}
	if fs.NArg() > 0 {
		return usagef("%s: unexpected argument %q", fs.Name(), fs.Arg(0))
	}
	return nil
}

// required returns a usage error naming the first flag in names left empty.
func required(fs *flag.FlagSet, names ...string) error {
	for _, n := range names {
		if f := fs.Lookup(n); f != nil && f.Value.String() == "" {
			return usagef("%s: --%s is required", fs.Name(), n)
		}
	}
	return nil
}

// print writes v as JSON with --json, or calls text otherwise.
func (e *env) print(v any, text func(w io.Writer)) error {
	if e.json {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	text(e.stdout)
	return nil
}

func cmdVersion(ctx context.Context, e *env, args []string) error {
	fs := e.flags("version")
	if err := e.parse(fs, args); err != nil {
		return err
	}
	return e.print(map[string]string{"version": version}, func(w io.Writer) { fmt.Fprintln(w, version) })
}

func cmdConfig(ctx context.Context, e *env, args []string) error {
	fs := e.flags("config")
	if err := e.parse(fs, args); err != nil {
		return err
	}
	cfg, err := loadConfig()
	if err != nil {
		return err
	}
	pairs := cfg.redacted()
	m := make(map[string]string, len(pairs))
	for _, p := range pairs {
		m[p[0]] = p[1]
	}
	return e.print(m, func(w io.Writer) {
		for _, p := range pairs {
			fmt.Fprintf(w, "%s=%s\n", p[0], p[1])
		}
	})
}
