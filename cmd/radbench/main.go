// Command radbench is a RADIUS load generator that behaves like a MikroTik
// router (RouterOS 7.15+) acting as a PPPoE NAS. It is meant to benchmark our
// RADIUS server on the loopback interface only: any non-loopback target is
// refused.
//
// Modes pap, chap and mschapv2 send Access-Requests to -server. Mode acct
// runs PPPoE accounting sessions against -acct-server: Start, -interims
// Interim-Updates, Stop, each request waiting for its Accounting-Response
// (see acct.go); every request counts in sent, and accepts counts
// Accounting-Responses. With -acct-open a session is its Start alone: the
// sessions stay open, as on a NAS whose subscribers are all online.
//
// Each of the -concurrency workers owns one connected UDP socket and performs
// request→response exchanges synchronously. At the end exactly one summary
// line is printed to stdout:
//
//	RESULT mode=pap users=100000 concurrency=64 duration=10.00s sent=N accepts=N rejects=N timeouts=N errors=N rps=NNNN.N p50=0.812ms p95=1.532ms p99=2.104ms max=9.100ms latency=kernel
//
// Latency runs from the wall-clock time taken just before a request's first
// send to the arrival of its reply. With -latency kernel (the default) the
// arrival is the kernel's receive timestamp of the datagram (SO_TIMESTAMPNS,
// Linux), so radbench's own goroutine scheduling delay after the packet has
// arrived (it shares the CPUs with the server it measures) is not counted; a
// reply without a timestamp falls back to the application time and is
// counted on stderr. -latency app takes the time when the read returns in the
// worker. The last RESULT field says which was used; on platforms without
// kernel timestamps it is latency=app.
//
// Diagnostics go to stderr. The exit status is 0 on success, 1 when
// errors+timeouts exceed 1% of the requests sent (or nothing was sent), and 2
// for usage/configuration errors.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Exit codes.
const (
	exitOK    = 0
	exitFail  = 1 // too many errors/timeouts
	exitUsage = 2 // bad flags, refused target
)

// config is the fully parsed command line.
type config struct {
	Server     string // auth server host:port
	AcctServer string // accounting server host:port
	Secret     string
	Mode       string // pap | chap | mschapv2 | acct

	Users      int
	UserFormat string
	PassFormat string
	Pick       string // seq | random

	Concurrency int
	Duration    time.Duration // 0 = unbounded (then Requests must be > 0)
	Requests    int64         // 0 = unlimited
	Timeout     time.Duration // per attempt
	Retries     int
	Warmup      time.Duration
	Expect      string // accept | reject | any

	MAC                    bool // send Calling-Station-Id as a MikroTik MAC
	NoMessageAuthenticator bool

	// acct mode
	Interims                 int  // Interim-Updates per session
	AcctOpen                 bool // send only the Start of each session
	BigCounters              bool // push some sessions' counters past 2^32
	AcctMessageAuthenticator bool // add Message-Authenticator to Accounting-Requests
	AcctClass                string

	Latency string // kernel | app
}

func defaultConfig() config {
	return config{
		Server:      "127.0.0.1:1812",
		AcctServer:  "127.0.0.1:1813",
		Mode:        "pap",
		Users:       100000,
		UserFormat:  "bench%06d",
		PassFormat:  "pass%06d",
		Pick:        "seq",
		Concurrency: 64,
		Duration:    10 * time.Second,
		Timeout:     time.Second,
		Expect:      "accept",
		Interims:    2,
		Latency:     "kernel",
	}
}

// secondsOrDuration is a flag.Value accepting either a bare number of seconds
// ("5", "0.5") or a Go duration ("5s", "500ms").
type secondsOrDuration struct{ d *time.Duration }

func (s secondsOrDuration) String() string {
	if s.d == nil {
		return "0"
	}
	return s.d.String()
}

func (s secondsOrDuration) Set(v string) error {
	if f, err := strconv.ParseFloat(v, 64); err == nil {
		if f < 0 {
			return errors.New("must not be negative")
		}
		*s.d = time.Duration(f * float64(time.Second))
		return nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return fmt.Errorf("want seconds or a duration like 5s: %w", err)
	}
	*s.d = d
	return nil
}

// parseFlags parses args (without the program name) into a config.
func parseFlags(args []string, stderr io.Writer) (config, error) {
	cfg := defaultConfig()
	fs := flag.NewFlagSet("radbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.Server, "server", cfg.Server, "RADIUS authentication server `host:port` (loopback only)")
	fs.StringVar(&cfg.AcctServer, "acct-server", cfg.AcctServer, "RADIUS accounting server `host:port` (loopback only)")
	fs.StringVar(&cfg.Secret, "secret", "", "shared secret (required)")
	fs.StringVar(&cfg.Mode, "mode", cfg.Mode, "pap | chap | mschapv2 | acct")
	fs.IntVar(&cfg.Users, "users", cfg.Users, "number of users; user i in [0,N) is user-format(i)/pass-format(i)")
	fs.StringVar(&cfg.UserFormat, "user-format", cfg.UserFormat, "fmt format for the user name of user i")
	fs.StringVar(&cfg.PassFormat, "pass-format", cfg.PassFormat, "fmt format for the password of user i")
	fs.StringVar(&cfg.Pick, "pick", cfg.Pick, "user selection: seq (round-robin over [0,N)) | random")
	fs.IntVar(&cfg.Concurrency, "concurrency", cfg.Concurrency, "requests in flight (one UDP socket per worker)")
	fs.DurationVar(&cfg.Duration, "duration", cfg.Duration, "measured run time (0 = bounded by -requests only)")
	fs.Int64Var(&cfg.Requests, "requests", 0, "stop after this many requests (0 = unlimited); whichever of -duration/-requests comes first")
	fs.DurationVar(&cfg.Timeout, "timeout", cfg.Timeout, "per-attempt reply timeout")
	fs.IntVar(&cfg.Retries, "retries", 0, "retransmissions (same ID and authenticator) after a timeout")
	fs.Var(secondsOrDuration{&cfg.Warmup}, "warmup", "untimed warm-up traffic before measuring (seconds, or a duration like 2s)")
	fs.StringVar(&cfg.Expect, "expect", cfg.Expect, "accept | reject | any: a reply with another code counts as an error (not used by acct)")
	fs.BoolVar(&cfg.MAC, "mac", false, "send Calling-Station-Id as a MikroTik MAC (AA:BB:CC:xx:xx:xx derived from the user index)")
	fs.BoolVar(&cfg.NoMessageAuthenticator, "no-message-authenticator", false, "omit Message-Authenticator (default: include it first, like RouterOS 7.15+)")
	fs.IntVar(&cfg.Interims, "interims", cfg.Interims, "acct: Interim-Updates per session between Start and Stop")
	fs.BoolVar(&cfg.AcctOpen, "acct-open", false, "acct: send only a Start per session (a new session of user i each time), so sessions stay open")
	fs.BoolVar(&cfg.BigCounters, "big-counters", false, "acct: make every fourth session's octet counters exceed 2^32 (Gigawords > 0)")
	fs.BoolVar(&cfg.AcctMessageAuthenticator, "acct-message-authenticator", false, "acct: add Message-Authenticator to Accounting-Requests (RouterOS sends none)")
	fs.StringVar(&cfg.AcctClass, "acct-class", "", "acct: Class to send, as echoed from an Access-Accept (e.g. tg:1; default none)")
	fs.StringVar(&cfg.Latency, "latency", cfg.Latency, "kernel | app: reply arrival time from the kernel receive timestamp (SO_TIMESTAMPNS; Linux) or when the worker's read returns")
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	return cfg, nil
}

// validate checks the configuration, including the loopback-only safety rule.
func (c *config) validate() error {
	if err := checkLoopback("-server", c.Server); err != nil {
		return err
	}
	if err := checkLoopback("-acct-server", c.AcctServer); err != nil {
		return err
	}
	if c.Secret == "" {
		return errors.New("-secret is required")
	}
	switch c.Mode {
	case "pap", "chap", "mschapv2", "acct":
	default:
		return fmt.Errorf("-mode %q: want pap, chap, mschapv2 or acct", c.Mode)
	}
	switch c.Expect {
	case "accept", "reject", "any":
	default:
		return fmt.Errorf("-expect %q: want accept, reject or any", c.Expect)
	}
	switch c.Latency {
	case "kernel", "app":
	default:
		return fmt.Errorf("-latency %q: want kernel or app", c.Latency)
	}
	switch c.Pick {
	case "seq", "random":
	default:
		return fmt.Errorf("-pick %q: want seq or random", c.Pick)
	}
	if c.Users < 1 {
		return errors.New("-users must be >= 1")
	}
	if c.Concurrency < 1 || c.Concurrency > 10000 {
		return errors.New("-concurrency must be in [1,10000]")
	}
	if c.Duration < 0 || c.Requests < 0 || c.Retries < 0 || c.Warmup < 0 {
		return errors.New("-duration, -requests, -retries and -warmup must not be negative")
	}
	if c.Duration == 0 && c.Requests == 0 {
		return errors.New("the run must be bounded: set -duration > 0 and/or -requests > 0")
	}
	if c.Timeout <= 0 {
		return errors.New("-timeout must be > 0")
	}
	if c.Interims < 0 || c.Interims > maxInterims {
		return fmt.Errorf("-interims must be in [0,%d]", maxInterims)
	}
	if c.Mode == "acct" && !c.AcctOpen && c.Requests > 0 && c.Requests < int64(c.Interims)+2 {
		return fmt.Errorf("-requests %d is less than one session (%d requests with -interims %d)", c.Requests, c.Interims+2, c.Interims)
	}
	if len(c.AcctClass) > 253 {
		return errors.New("-acct-class must be at most 253 bytes")
	}
	for _, i := range []int{0, c.Users - 1} {
		u := fmt.Sprintf(c.UserFormat, i)
		p := fmt.Sprintf(c.PassFormat, i)
		if strings.Contains(u, "%!") || strings.Contains(p, "%!") {
			return fmt.Errorf("bad -user-format/-pass-format: user %d renders as %q / %q", i, u, p)
		}
		if len(u) == 0 || len(u) > 253 {
			return fmt.Errorf("user name %q must be 1..253 bytes", u)
		}
		if len(p) > 128 {
			return fmt.Errorf("password of user %d is longer than 128 bytes", i)
		}
	}
	return nil
}

// checkLoopback refuses any address whose host is not a loopback address
// (127.0.0.0/8, ::1) or "localhost". Host names other than localhost are not
// resolved and are refused.
func checkLoopback(flagName, addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%s %q: %v", flagName, addr, err)
	}
	if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
		return fmt.Errorf("%s %q: bad port", flagName, addr)
	}
	if strings.EqualFold(host, "localhost") {
		return nil
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("%s %q: refusing non-loopback target (only 127.0.0.0/8, ::1 or localhost are allowed)", flagName, addr)
	}
	return nil
}

// realMain parses args and runs the benchmark; it returns the exit code.
func realMain(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cfg, err := parseFlags(args, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitUsage
		}
		fmt.Fprintf(stderr, "radbench: %v\n", err)
		return exitUsage
	}
	return run(ctx, cfg, stdout, stderr)
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := realMain(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
