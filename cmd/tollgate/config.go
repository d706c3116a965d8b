package main

import (
	"fmt"
	"log/slog"
	"net"
	"net/mail"
	"net/netip"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"
	_ "time/tzdata" // TOLLGATE_TIMEZONE works on hosts without a time zone database

	"github.com/jackc/pgx/v5/pgxpool"

	"tollgate/billing"
	"tollgate/billing/payments"
	"tollgate/billing/payments/paystack"
	"tollgate/billing/sms"
	"tollgate/billing/smtp"
	"tollgate/radius"
	"tollgate/radius/seal"
)

// Config is everything tollgate reads from its environment, read once and validated.
type Config struct {
	DatabaseURL    string
	RedisURL       string
	RedisPrefix    string
	SecretKey      []byte
	RadiusAuthAddr string
	RadiusAcctAddr string
	HTTPAddr       string
	// AdminAddr, when set, serves the admin and reseller pages, /api/v1 and /metrics,
	// and HTTPAddr only the guest pages and /healthz.
	AdminAddr string
	// PortalSessionMax is a portal session's absolute lifetime.
	PortalSessionMax time.Duration
	// APIRateLimit is how many requests a minute one API token may make.
	APIRateLimit int64
	LogLevel     slog.Level
	// SpoolDir holds the accounting spool used while Postgres is unreachable.
	SpoolDir string
	// CronInterval is how often the reaper and the enforcement sweep run.
	CronInterval time.Duration
	// StaleGrace is added to two interim intervals before the reaper closes a session.
	StaleGrace time.Duration
	// RouterDownAfter is how many RouterOS API polls in a row a router may miss before
	// it counts as down (and admins are alerted).
	RouterDownAfter int
	// OperatorName heads printed voucher cards; PublicURL is the portal's address that
	// their QR codes open ("" for the address the print view was opened at).
	OperatorName string
	PublicURL    string
	// TrustedProxies are the reverse proxies whose X-Forwarded-For/-Proto the portal
	// believes (nil: loopback only).
	TrustedProxies []string
	// Notify configures the notifications: how often cron dispatches and sends, and the
	// email and SMS channels (each off when its URL is unset).
	Notify NotifyConfig
	// RetentionMonths is how long the logs in monthly partitions (sessions, auth log)
	// are kept; FinanceRetentionYears how long invoices and the ledger are (see README,
	// "What is kept").
	RetentionMonths int
	// LocalCache is how many accounts (and users' usage) the RADIUS path keeps in
	// process, in front of Redis, invalidated through Redis pub/sub; 0 turns it off.
	LocalCache            int
	FinanceRetentionYears int
	// Privacy is the erasure's grace and the paybill instructions (privacy.go).
	Privacy PrivacyConfig

	// Money: the currency every amount is in (ISO 4217), the tax included in prices
	// (hundredths of a percent) and its name on invoices, where calendar months and
	// invoice years are counted, the days before a renewal on which reminders are due,
	// and how often cron runs the billing pass.
	Currency        string
	TaxRateBP       int
	TaxName         string
	Location        *time.Location
	RemindDays      []int
	BillingInterval time.Duration

	// Payments: Paystack's secret key (its API's Bearer token, and the key of its
	// webhooks' signatures; "" leaves Paystack off) and its API's address, the generic
	// provider's Standard Webhooks secrets (nil leaves /webhooks/payments off), and how
	// long a top-up may be paid.
	PaystackSecretKey string
	PaystackBaseURL   string
	WebhookSecrets    [][]byte
	TopUpTTL          time.Duration
}

// money returns the money engine's settings.
func (c *Config) money() billing.MoneyConfig {
	return billing.MoneyConfig{
		TaxRules: billing.TaxRules{Currency: c.Currency, TaxRateBP: c.TaxRateBP, TaxName: c.TaxName},
		Rules:    billing.Rules{Location: c.Location, RemindDays: c.RemindDays},
	}
}

// NotifyConfig is TOLLGATE_NOTIFY_INTERVAL, TOLLGATE_SMTP_* / TOLLGATE_MAIL_FROM and
// TOLLGATE_SMS_*, checked by the adapters' own parsers.
type NotifyConfig struct {
	Interval       time.Duration
	SMTP           smtp.Server // zero Host: email off
	MailFrom       *mail.Address
	SMS            sms.Config // "" URL: SMS off
	smtpURL        string     // as set, for redaction
	smsAuthHeaderN string     // the auth header's name, shown by tollgate config
}

// loadNotify reads the notification variables into c.Notify.
func (c *Config) loadNotify() error {
	n := &c.Notify
	n.Interval = 30 * time.Second
	if v := os.Getenv("TOLLGATE_NOTIFY_INTERVAL"); v != "" {
		x, err := time.ParseDuration(v)
		if err != nil || x < time.Second || x > 24*time.Hour {
			return badVar("TOLLGATE_NOTIFY_INTERVAL", "%q is not a duration from 1s to 24h (e.g. 30s)", v)
		}
		n.Interval = x
	}
	var err error
	if n.smtpURL, err = getenv("TOLLGATE_SMTP_URL"); err != nil {
		return err
	}
	if n.smtpURL != "" {
		if n.SMTP, err = smtp.ParseURL(n.smtpURL); err != nil {
			return badVar("TOLLGATE_SMTP_URL", "%s", radius.ErrorMessage(err))
		}
		from := os.Getenv("TOLLGATE_MAIL_FROM")
		if from == "" {
			return badVar("TOLLGATE_MAIL_FROM", "not set: the sender of the emails (e.g. \"Example ISP <billing@example.net>\"), needed with TOLLGATE_SMTP_URL")
		}
		if n.MailFrom, err = smtp.ParseFrom(from); err != nil {
			return badVar("TOLLGATE_MAIL_FROM", "%s", radius.ErrorMessage(err))
		}
	}
	if n.SMS.URL, err = getenv("TOLLGATE_SMS_URL"); err != nil {
		return err
	}
	if n.SMS.AuthHeader, err = getenv("TOLLGATE_SMS_AUTH_HEADER"); err != nil {
		return err
	}
	n.SMS.Method = os.Getenv("TOLLGATE_SMS_METHOD")
	n.SMS.Body = os.Getenv("TOLLGATE_SMS_BODY")
	n.SMS.ContentType = os.Getenv("TOLLGATE_SMS_CONTENT_TYPE")
	if n.SMS.URL == "" {
		n.SMS = sms.Config{}
		return nil
	}
	if _, err := sms.New(n.SMS); err != nil {
		msg := radius.ErrorMessage(err)
		field, rest, _ := strings.Cut(msg, ": ")
		name := map[string]string{"url": "TOLLGATE_SMS_URL", "method": "TOLLGATE_SMS_METHOD", "body": "TOLLGATE_SMS_BODY",
			"content-type": "TOLLGATE_SMS_CONTENT_TYPE", "auth-header": "TOLLGATE_SMS_AUTH_HEADER"}[field]
		if name == "" {
			return badVar("TOLLGATE_SMS_URL", "%s", msg)
		}
		return badVar(name, "%s", rest)
	}
	if n.SMS.AuthHeader != "" {
		n.smsAuthHeaderN, _, _ = sms.ParseAuthHeader(n.SMS.AuthHeader)
	}
	return nil
}

// configError names the variable at fault; main prints it as one line and exits 2.
type configError struct{ msg string }

func (e *configError) Error() string { return e.msg }

func badVar(name, format string, args ...any) error {
	return &configError{msg: name + ": " + fmt.Sprintf(format, args...)}
}

// getenv reads NAME, or the file named by NAME_FILE (for secrets kept out of the environment).
func getenv(name string) (string, error) {
	v := os.Getenv(name)
	f := os.Getenv(name + "_FILE")
	if f == "" {
		return v, nil
	}
	if v != "" {
		return "", badVar(name, "set both %s and %s_FILE; set one", name, name)
	}
	b, err := os.ReadFile(f)
	if err != nil {
		return "", badVar(name+"_FILE", "cannot read %s: %v", f, err)
	}
	return strings.TrimSpace(string(b)), nil
}

func loadConfig() (*Config, error) {
	c := &Config{}
	var err error
	if c.DatabaseURL, err = getenv("DATABASE_URL"); err != nil {
		return nil, err
	}
	if c.DatabaseURL == "" {
		return nil, badVar("DATABASE_URL", "not set (e.g. postgres://postgres@127.0.0.1:5432/tollgate)")
	}
	if _, err := pgxpool.ParseConfig(c.DatabaseURL); err != nil {
		return nil, badVar("DATABASE_URL", "not a valid Postgres URL")
	}
	if c.RedisURL, err = getenv("REDIS_URL"); err != nil {
		return nil, err
	}
	if c.RedisURL == "" {
		return nil, badVar("REDIS_URL", "not set (e.g. redis://127.0.0.1:6379/0)")
	}
	if _, err := parseRedisURL(c.RedisURL); err != nil {
		return nil, badVar("REDIS_URL", "not a valid Redis URL: %v", err)
	}
	c.RedisPrefix = os.Getenv("TOLLGATE_REDIS_PREFIX")
	if c.RedisPrefix == "" {
		c.RedisPrefix = "tg:"
	}
	if len(c.RedisPrefix) > 64 || strings.ContainsAny(c.RedisPrefix, " \t\r\n") {
		return nil, badVar("TOLLGATE_REDIS_PREFIX", "must be at most 64 characters without spaces")
	}
	key, err := getenv("TOLLGATE_SECRET_KEY")
	if err != nil {
		return nil, err
	}
	if key == "" {
		return nil, badVar("TOLLGATE_SECRET_KEY", "not set (64 hex characters; `make run` creates one in ./var/secret.key)")
	}
	if c.SecretKey, err = seal.ParseKey(key); err != nil {
		return nil, badVar("TOLLGATE_SECRET_KEY", "%v", err)
	}
	for _, a := range []struct {
		name string
		dst  *string
		def  string
	}{
		{"TOLLGATE_RADIUS_AUTH_ADDR", &c.RadiusAuthAddr, ":1812"},
		{"TOLLGATE_RADIUS_ACCT_ADDR", &c.RadiusAcctAddr, ":1813"},
		{"TOLLGATE_HTTP_ADDR", &c.HTTPAddr, ":8080"},
	} {
		v := os.Getenv(a.name)
		if v == "" {
			v = a.def
		}
		if err := checkAddr(v); err != nil {
			return nil, badVar(a.name, "%q: %v", v, err)
		}
		*a.dst = v
	}
	if v := os.Getenv("TOLLGATE_ADMIN_ADDR"); v != "" {
		if err := checkAddr(v); err != nil {
			return nil, badVar("TOLLGATE_ADMIN_ADDR", "%q: %v", v, err)
		}
		if v == c.HTTPAddr {
			return nil, badVar("TOLLGATE_ADMIN_ADDR", "%q is TOLLGATE_HTTP_ADDR too; give the admin listener an address of its own", v)
		}
		c.AdminAddr = v
	}
	c.PortalSessionMax = 12 * time.Hour
	if v := os.Getenv("TOLLGATE_PORTAL_SESSION_MAX"); v != "" {
		x, err := time.ParseDuration(v)
		if err != nil || x < 5*time.Minute || x > 30*24*time.Hour {
			return nil, badVar("TOLLGATE_PORTAL_SESSION_MAX", "%q is not a duration from 5m to 720h (e.g. 12h)", v)
		}
		c.PortalSessionMax = x
	}
	c.APIRateLimit = 600
	if v := os.Getenv("TOLLGATE_API_RATE_LIMIT"); v != "" {
		x, err := strconv.ParseInt(v, 10, 64)
		if err != nil || x < 1 || x > 1000000 {
			return nil, badVar("TOLLGATE_API_RATE_LIMIT", "%q is not a number of requests a minute from 1 to 1000000", v)
		}
		c.APIRateLimit = x
	}
	c.OperatorName = os.Getenv("TOLLGATE_OPERATOR_NAME")
	for _, p := range strings.Split(os.Getenv("TOLLGATE_TRUSTED_PROXIES"), ",") {
		if p = strings.TrimSpace(p); p == "" {
			continue
		}
		if _, err := netip.ParsePrefix(p); err != nil {
			if _, err := netip.ParseAddr(p); err != nil {
				return nil, badVar("TOLLGATE_TRUSTED_PROXIES", "%q is not an IP address or CIDR range", p)
			}
		}
		c.TrustedProxies = append(c.TrustedProxies, p)
	}
	c.PublicURL = strings.TrimSuffix(os.Getenv("TOLLGATE_PUBLIC_URL"), "/")
	if u, err := url.Parse(c.PublicURL); c.PublicURL != "" && (err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "") {
		return nil, badVar("TOLLGATE_PUBLIC_URL", "%q: want http(s)://host[:port][/path]", c.PublicURL)
	}
	c.SpoolDir = os.Getenv("TOLLGATE_SPOOL_DIR")
	if c.SpoolDir == "" {
		c.SpoolDir = "var/spool"
	}
	for _, d := range []struct {
		name string
		dst  *time.Duration
		def  time.Duration
	}{
		{"TOLLGATE_CRON_INTERVAL", &c.CronInterval, time.Minute},
		{"TOLLGATE_REAPER_GRACE", &c.StaleGrace, time.Minute},
	} {
		*d.dst = d.def
		if v := os.Getenv(d.name); v != "" {
			x, err := time.ParseDuration(v)
			if err != nil || x < time.Second || x > 24*time.Hour {
				return nil, badVar(d.name, "%q is not a duration from 1s to 24h (e.g. 1m)", v)
			}
			*d.dst = x
		}
	}
	c.LocalCache = 100_000
	if v := os.Getenv("TOLLGATE_LOCAL_CACHE"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > 10_000_000 {
			return nil, badVar("TOLLGATE_LOCAL_CACHE", "%q is not a number of accounts from 0 (off) to 10000000", v)
		}
		c.LocalCache = n
	}
	c.RouterDownAfter = radius.DefaultRouterDownAfter
	if v := os.Getenv("TOLLGATE_ROUTER_DOWN_AFTER"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			return nil, badVar("TOLLGATE_ROUTER_DOWN_AFTER", "%q is not a number of polls from 1 to 1000", v)
		}
		c.RouterDownAfter = n
	}
	if c.LogLevel, err = parseLogLevel(os.Getenv("LOG_LEVEL")); err != nil {
		return nil, err
	}
	if err := c.loadNotify(); err != nil {
		return nil, err
	}
	if err := loadRetention(c); err != nil {
		return nil, err
	}
	if err := loadPrivacy(c); err != nil {
		return nil, err
	}
	if err := c.loadMoney(); err != nil {
		return nil, err
	}
	if err := c.loadPayments(); err != nil {
		return nil, err
	}
	return c, nil
}

// loadPayments reads the payment settings.
func (c *Config) loadPayments() error {
	var err error
	if c.PaystackSecretKey, err = getenv("TOLLGATE_PAYSTACK_SECRET_KEY"); err != nil {
		return err
	}
	if k := c.PaystackSecretKey; k != "" && (len(k) < 8 || len(k) > 200 || strings.ContainsFunc(k, func(r rune) bool { return r <= ' ' || r > '~' })) {
		return badVar("TOLLGATE_PAYSTACK_SECRET_KEY", "not a Paystack secret key (sk_live_… or sk_test_…, from the dashboard's API keys)")
	}
	c.PaystackBaseURL = strings.TrimSuffix(os.Getenv("TOLLGATE_PAYSTACK_BASE_URL"), "/")
	if c.PaystackBaseURL == "" {
		c.PaystackBaseURL = paystack.DefaultBaseURL
	}
	if u, err := url.Parse(c.PaystackBaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
		return badVar("TOLLGATE_PAYSTACK_BASE_URL", "%q: want http(s)://host[:port][/path]", c.PaystackBaseURL)
	}
	secret, err := getenv("TOLLGATE_WEBHOOK_SECRET")
	if err != nil {
		return err
	}
	if secret != "" {
		if c.WebhookSecrets, err = payments.ParseWebhookSecrets(secret); err != nil {
			return badVar("TOLLGATE_WEBHOOK_SECRET", "%s (e.g. whsec_ and the base64 of 32 random bytes; several separated by spaces while rotating)",
				strings.TrimPrefix(radius.ErrorMessage(err), "secret: "))
		}
	}
	c.TopUpTTL = payments.DefaultTTL
	if v := os.Getenv("TOLLGATE_TOPUP_TTL"); v != "" {
		x, err := billing.ParseDuration(v)
		if err != nil || x < time.Minute || x > 30*24*time.Hour {
			return badVar("TOLLGATE_TOPUP_TTL", "%q is not a duration from 1m to 30d (e.g. 1h)", v)
		}
		c.TopUpTTL = x
	}
	return nil
}

// loadMoney reads the money settings.
func (c *Config) loadMoney() error {
	c.Currency = os.Getenv("TOLLGATE_CURRENCY")
	if c.Currency == "" {
		c.Currency = billing.DefaultCurrency
	}
	if err := billing.ValidateCurrency(c.Currency); err != nil {
		return badVar("TOLLGATE_CURRENCY", "%q is not an ISO 4217 code like USD, KES or NGN", c.Currency)
	}
	if v := os.Getenv("TOLLGATE_TAX_RATE"); v != "" {
		bp, err := billing.ParseTaxRate(v)
		if err != nil {
			return badVar("TOLLGATE_TAX_RATE", "%q is not a percentage from 0 to 100 like 16 or 7.5", v)
		}
		c.TaxRateBP = bp
	}
	c.TaxName = os.Getenv("TOLLGATE_TAX_NAME")
	if c.TaxName == "" {
		c.TaxName = billing.DefaultTaxName
	}
	if len(c.TaxName) > 32 || strings.ContainsFunc(c.TaxName, func(r rune) bool { return r < ' ' }) {
		return badVar("TOLLGATE_TAX_NAME", "must be at most 32 characters, e.g. VAT")
	}
	c.Location = time.UTC
	if v := os.Getenv("TOLLGATE_TIMEZONE"); v != "" {
		loc, err := time.LoadLocation(v)
		if err != nil {
			return badVar("TOLLGATE_TIMEZONE", "%q is not a time zone like Africa/Nairobi or UTC", v)
		}
		c.Location = loc
	}
	c.RemindDays = billing.DefaultRemindDays
	if v, ok := os.LookupEnv("TOLLGATE_REMIND_DAYS"); ok {
		days, err := billing.ParseRemindDays(v)
		if err != nil {
			return badVar("TOLLGATE_REMIND_DAYS", "%q is not a list of days from 1 to %d like 7,3,1 (0 for none)", v, billing.MaxRemindDays)
		}
		c.RemindDays = days
	}
	c.BillingInterval = time.Hour
	if v := os.Getenv("TOLLGATE_BILLING_INTERVAL"); v != "" {
		x, err := time.ParseDuration(v)
		if err != nil || x < time.Second || x > 24*time.Hour {
			return badVar("TOLLGATE_BILLING_INTERVAL", "%q is not a duration from 1s to 24h (e.g. 1h)", v)
		}
		c.BillingInterval = x
	}
	return nil
}

// parseLogLevel reads LOG_LEVEL with slog's own parser (debug, info, warn, error, any
// case, with an optional offset such as "debug-4"); "" is info, and "warning" is warn.
func parseLogLevel(v string) (slog.Level, error) {
	var lv slog.Level
	switch strings.ToLower(v) {
	case "":
		return slog.LevelInfo, nil
	case "warning":
		v = "warn"
	}
	if err := lv.UnmarshalText([]byte(v)); err != nil {
		return 0, badVar("LOG_LEVEL", "%q is not one of debug, info, warn, error", v)
	}
	return lv, nil
}

func checkAddr(v string) error {
	host, port, err := net.SplitHostPort(v)
	if err != nil {
		return fmt.Errorf("want host:port or :port")
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("port %q is not 0-65535", port)
	}
	if host != "" && net.ParseIP(host) == nil && host != "localhost" {
		return fmt.Errorf("host %q is not an IP address", host)
	}
	return nil
}

// Patterns of a password that redactURL hides where url.URL.Redacted cannot: in a
// key=value DSN ("host=db password='s e c r e t'"), and in a URL that net/url does not
// parse (a Postgres URL with several hosts).
var (
	dsnPassword   = regexp.MustCompile(`(?i)(\bpassword\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)`)
	userPassword  = regexp.MustCompile(`^([a-z][a-z0-9+.-]*://[^:/@]*:)[^@]*@`)
	queryPassword = regexp.MustCompile(`(?i)([?&]password=)[^&]*`)
)

// redactURL hides the password of a database or Redis address: the userinfo's with
// url.URL.Redacted, and a password query parameter (which pgx and go-redis also accept).
func redactURL(s string) string {
	u, err := url.Parse(s)
	switch {
	case err == nil && u.Scheme != "" && u.Opaque == "":
		if q := u.Query(); q.Has("password") {
			q.Set("password", "xxxxx")
			u.RawQuery = q.Encode()
		}
		return u.Redacted()
	case strings.Contains(s, "://"):
		return userPassword.ReplaceAllString(queryPassword.ReplaceAllString(s, "${1}xxxxx"), "${1}xxxxx@")
	}
	return dsnPassword.ReplaceAllString(s, "${1}xxxxx")
}

// redacted returns the configuration as printable pairs, with secrets hidden.
func (c *Config) redacted() [][2]string {
	return append([][2]string{
		{"DATABASE_URL", redactURL(c.DatabaseURL)},
		{"REDIS_URL", redactURL(c.RedisURL)},
		{"TOLLGATE_REDIS_PREFIX", c.RedisPrefix},
		{"TOLLGATE_SECRET_KEY", "***** (set)"},
		{"TOLLGATE_RADIUS_AUTH_ADDR", c.RadiusAuthAddr},
		{"TOLLGATE_RADIUS_ACCT_ADDR", c.RadiusAcctAddr},
		{"TOLLGATE_HTTP_ADDR", c.HTTPAddr},
		{"TOLLGATE_ADMIN_ADDR", c.AdminAddr},
		{"TOLLGATE_PORTAL_SESSION_MAX", c.PortalSessionMax.String()},
		{"TOLLGATE_API_RATE_LIMIT", strconv.FormatInt(c.APIRateLimit, 10)},
		{"LOG_LEVEL", c.LogLevel.String()},
		{"TOLLGATE_SPOOL_DIR", c.SpoolDir},
		{"TOLLGATE_CRON_INTERVAL", c.CronInterval.String()},
		{"TOLLGATE_REAPER_GRACE", c.StaleGrace.String()},
		{"TOLLGATE_ROUTER_DOWN_AFTER", strconv.Itoa(c.RouterDownAfter)},
		{"TOLLGATE_OPERATOR_NAME", c.OperatorName},
		{"TOLLGATE_PUBLIC_URL", c.PublicURL},
		{"TOLLGATE_TRUSTED_PROXIES", strings.Join(c.TrustedProxies, ",")},
		{"TOLLGATE_CURRENCY", c.Currency},
		{"TOLLGATE_TAX_RATE", billing.FormatTaxRate(c.TaxRateBP)},
		{"TOLLGATE_TAX_NAME", c.TaxName},
		{"TOLLGATE_TIMEZONE", c.Location.String()},
		{"TOLLGATE_REMIND_DAYS", joinInts(c.RemindDays)},
		{"TOLLGATE_BILLING_INTERVAL", c.BillingInterval.String()},
		{"TOLLGATE_PAYSTACK_SECRET_KEY", redactSet(c.PaystackSecretKey)},
		{"TOLLGATE_PAYSTACK_BASE_URL", c.PaystackBaseURL},
		{"TOLLGATE_WEBHOOK_SECRET", redactSecrets(len(c.WebhookSecrets))},
		{"TOLLGATE_TOPUP_TTL", c.TopUpTTL.String()},
		{"TOLLGATE_NOTIFY_INTERVAL", c.Notify.Interval.String()},
		{"TOLLGATE_SMTP_URL", redactURL(c.Notify.smtpURL)},
		{"TOLLGATE_MAIL_FROM", c.Notify.mailFrom()},
		{"TOLLGATE_SMS_URL", sms.RedactURL(c.Notify.SMS.URL)},
		{"TOLLGATE_SMS_METHOD", c.Notify.smsMethod()},
		{"TOLLGATE_SMS_BODY", redactSet(c.Notify.SMS.Body)},
		{"TOLLGATE_SMS_CONTENT_TYPE", c.Notify.SMS.ContentType},
		{"TOLLGATE_SMS_AUTH_HEADER", redactHeader(c.Notify.smsAuthHeaderN, c.Notify.SMS.AuthHeader)},
		{"TOLLGATE_LOCAL_CACHE", strconv.Itoa(c.LocalCache)},
		{"TOLLGATE_RETENTION_MONTHS", strconv.Itoa(c.RetentionMonths)},
		{"TOLLGATE_FINANCE_RETENTION_YEARS", strconv.Itoa(c.FinanceRetentionYears)},
	}, c.Privacy.redacted()...)
}

func (n NotifyConfig) smsMethod() string {
	if n.SMS.URL != "" && n.SMS.Method == "" {
		return "POST"
	}
	return strings.ToUpper(n.SMS.Method)
}

func (n NotifyConfig) mailFrom() string {
	if n.MailFrom == nil {
		return ""
	}
	return n.MailFrom.String()
}

// redactSet hides a value that may hold a secret (an SMS body with an API key).
func redactSet(v string) string {
	if v == "" {
		return ""
	}
	return "***** (set)"
}

// redactSecrets hides n secrets, saying how many are set.
func redactSecrets(n int) string {
	switch n {
	case 0:
		return ""
	case 1:
		return "***** (set)"
	}
	return "***** (" + strconv.Itoa(n) + " set)"
}

// redactHeader shows a header's name and hides its value.
func redactHeader(name, v string) string {
	if v == "" {
		return ""
	}
	return name + ": *****"
}

// joinInts writes a list of numbers as "7,3,1" ("0" for none).
func joinInts(l []int) string {
	if len(l) == 0 {
		return "0"
	}
	s := make([]string, len(l))
	for i, n := range l {
		s[i] = strconv.Itoa(n)
	}
	return strings.Join(s, ",")
}
