// Package routerostest is a fake RouterOS router for tests: a TCP server on 127.0.0.1
// that speaks the RouterOS API sentence protocol (replies written with go-routeros's
// proto writer), with a plain login, /system/resource/print, /ppp/active and
// /ip/hotspot/active print (with ?queries and .proplist) and remove. It can answer
// empty prints the RouterOS 7.18+ way (!empty, then !done), delay its answers, stall,
// drop its connections, refuse logins, refuse connections altogether, and serve over
// TLS. It is imported only by tests.
package routerostest

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"io"
	"math/big"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-routeros/routeros/v3/proto"
)

// Entry is one item of a list: its attributes, ".id" included.
type Entry map[string]string

// Router is the fake. Its methods are safe for concurrent use.
type Router struct {
	tb          testing.TB
	ln          net.Listener
	fingerprint []byte
	done        chan struct{}
	wg          sync.WaitGroup

	mu          sync.Mutex
	user, pass  string
	resource    Entry
	lists       map[string][]Entry // "ppp", "hotspot"
	nextID      int
	empty       bool
	delay       time.Duration
	stall       bool
	refuseLogin bool
	down        bool
	logins      int
	attempts    int
	conns       map[net.Conn]bool
	commands    []string
	removed     []string
}

// The lists a Router keeps, by their print command's path.
var listPaths = map[string]string{"/ppp/active": "ppp", "/ip/hotspot/active": "hotspot"}

// MustRouter starts a fake router on 127.0.0.1:0 that takes logins of user with
// password. It answers empty prints the RouterOS 7.18+ way. It stops when the test ends.
func MustRouter(tb testing.TB, user, password string) *Router {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("fake router: listen: %v", err)
	}
	return start(tb, ln, user, password)
}

// MustTLSRouter starts a fake router serving api-ssl with a self-signed certificate,
// whose SHA-256 fingerprint Fingerprint returns.
func MustTLSRouter(tb testing.TB, user, password string) *Router {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	tpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "router"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tpl, tpl, &key.PublicKey, key)
	if err != nil {
		tb.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}})
	if err != nil {
		tb.Fatalf("fake router: listen: %v", err)
	}
	r := start(tb, ln, user, password)
	sum := sha256.Sum256(der)
	r.fingerprint = sum[:]
	return r
}

func start(tb testing.TB, ln net.Listener, user, password string) *Router {
	r := &Router{tb: tb, ln: ln, done: make(chan struct{}), user: user, pass: password, empty: true,
		lists: map[string][]Entry{}, conns: map[net.Conn]bool{},
		resource: Entry{"version": "7.18.2 (stable)", "uptime": "1w2d3h4m5s", "cpu-load": "7",
			"free-memory": "201326592", "total-memory": "268435456", "board-name": "hAP ax2"}}
	r.wg.Add(1)
	go r.accept()
	tb.Cleanup(r.stop)
	return r
}

func (r *Router) stop() {
	close(r.done)
	r.ln.Close()
	r.DropConnections()
	r.wg.Wait()
}

// Addr returns the address the fake listens on (host:port).
func (r *Router) Addr() string { return r.ln.Addr().String() }

// Fingerprint returns the SHA-256 of a TLS fake's certificate (nil for a plain one).
func (r *Router) Fingerprint() []byte { return r.fingerprint }

// SetResource replaces the attributes /system/resource/print answers.
func (r *Router) SetResource(e Entry) { r.mu.Lock(); r.resource = e; r.mu.Unlock() }

// SetEmptyStyle chooses how an empty print is answered: !empty then !done (RouterOS
// 7.18+, the default) or !done alone.
func (r *Router) SetEmptyStyle(empty bool) { r.mu.Lock(); r.empty = empty; r.mu.Unlock() }

// SetDelay delays every answer after the login by d.
func (r *Router) SetDelay(d time.Duration) { r.mu.Lock(); r.delay = d; r.mu.Unlock() }

// SetStall makes the fake read but never answer, the login included.
func (r *Router) SetStall(on bool) { r.mu.Lock(); r.stall = on; r.mu.Unlock() }

// SetRefuseLogin makes every login fail as a wrong password does.
func (r *Router) SetRefuseLogin(on bool) { r.mu.Lock(); r.refuseLogin = on; r.mu.Unlock() }

// SetDown makes the fake drop its connections and close every new one at once, as a
// router that is off (on), or takes them again (off).
func (r *Router) SetDown(on bool) {
	r.mu.Lock()
	r.down = on
	r.mu.Unlock()
	if on {
		r.DropConnections()
	}
}

// DropConnections closes every open connection.
func (r *Router) DropConnections() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for c := range r.conns {
		c.Close()
	}
}

// Conns returns how many connections are open.
func (r *Router) Conns() int { r.mu.Lock(); defer r.mu.Unlock(); return len(r.conns) }

// Logins returns how many logins succeeded; Attempts how many were tried.
func (r *Router) Logins() int { r.mu.Lock(); defer r.mu.Unlock(); return r.logins }

// Attempts returns how many logins were tried.
func (r *Router) Attempts() int { r.mu.Lock(); defer r.mu.Unlock(); return r.attempts }

// Commands returns the commands run after logins, in order, each as its words joined by
// spaces (the tag left out).
func (r *Router) Commands() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.commands)
}

// Removed returns the entries removed, as "list:user".
func (r *Router) Removed() []string { r.mu.Lock(); defer r.mu.Unlock(); return slices.Clone(r.removed) }

// AddPPP adds a /ppp/active entry and returns its .id.
func (r *Router) AddPPP(name, address, callerID, sessionID string) string {
	return r.add("ppp", Entry{"name": name, "service": "pppoe", "address": address, "caller-id": callerID,
		"session-id": sessionID, "uptime": "1h2m3s", "radius": "true", "encoding": ""})
}

// AddHotspot adds an /ip/hotspot/active entry and returns its .id.
func (r *Router) AddHotspot(user, address, mac string, radius bool) string {
	return r.add("hotspot", Entry{"server": "hotspot1", "user": user, "address": address, "mac-address": mac,
		"uptime": "5m", "login-by": "http-chap", "radius": fmt.Sprint(radius)})
}

func (r *Router) add(list string, e Entry) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.nextID++
	e[".id"] = fmt.Sprintf("*%X", r.nextID)
	r.lists[list] = append(r.lists[list], e)
	return e[".id"]
}

// Active returns a list's entries.
func (r *Router) Active(list string) []Entry {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.lists[list])
}

// Clear empties a list (its sessions ended without a Stop).
func (r *Router) Clear(list string) { r.mu.Lock(); r.lists[list] = nil; r.mu.Unlock() }

func (r *Router) accept() {
	defer r.wg.Done()
	for {
		c, err := r.ln.Accept()
		if err != nil {
			return
		}
		r.mu.Lock()
		down := r.down
		if !down {
			r.conns[c] = true
		}
		r.mu.Unlock()
		if down {
			c.Close()
			continue
		}
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			r.serve(c)
			r.mu.Lock()
			delete(r.conns, c)
			r.mu.Unlock()
			c.Close()
		}()
	}
}

// serve answers one connection's sentences until it closes.
func (r *Router) serve(c net.Conn) {
	br := bufio.NewReader(c)
	w := proto.NewWriter(c)
	defer w.Close()
	loggedIn := false
	for {
		words, err := readSentence(br)
		if err != nil {
			return
		}
		if len(words) == 0 {
			continue
		}
		r.mu.Lock()
		stall, delay := r.stall, r.delay
		r.mu.Unlock()
		if stall {
			continue
		}
		cmd, tag, attrs, queries := parse(words)
		if !loggedIn {
			if cmd != "/login" {
				reply(w, tag, [][]string{{"!fatal", "=message=not logged in"}})
				return
			}
			r.mu.Lock()
			r.attempts++
			ok := !r.refuseLogin && attrs["name"] == r.user && attrs["password"] == r.pass
			if ok {
				r.logins++
			}
			r.mu.Unlock()
			if !ok {
				reply(w, tag, [][]string{{"!trap", "=message=invalid user name or password (6)"}, {"!done"}})
				continue
			}
			loggedIn = true
			reply(w, tag, [][]string{{"!done"}})
			continue
		}
		if delay > 0 {
			select {
			case <-time.After(delay):
			case <-r.done:
				return
			}
		}
		reply(w, tag, r.answer(cmd, words, attrs, queries))
	}
}

// answer runs one command and returns the reply's sentences.
func (r *Router) answer(cmd string, words []string, attrs map[string]string, queries []string) [][]string {
	r.mu.Lock()
	defer r.mu.Unlock()
	logged := make([]string, 0, len(words))
	for _, w := range words {
		if !strings.HasPrefix(w, ".tag=") {
			logged = append(logged, w)
		}
	}
	r.commands = append(r.commands, strings.Join(logged, " "))
	var entries []Entry
	switch {
	case cmd == "/system/resource/print":
		entries = []Entry{r.resource}
	case strings.HasSuffix(cmd, "/print") && listPaths[strings.TrimSuffix(cmd, "/print")] != "":
		for _, e := range r.lists[listPaths[strings.TrimSuffix(cmd, "/print")]] {
			if match(e, queries) {
				entries = append(entries, e)
			}
		}
	case strings.HasSuffix(cmd, "/remove") && listPaths[strings.TrimSuffix(cmd, "/remove")] != "":
		list := listPaths[strings.TrimSuffix(cmd, "/remove")]
		i := slices.IndexFunc(r.lists[list], func(e Entry) bool { return e[".id"] == attrs[".id"] })
		if i < 0 {
			return [][]string{{"!trap", "=message=no such item"}, {"!done"}}
		}
		e := r.lists[list][i]
		user := e["name"] + e["user"]
		r.lists[list] = slices.Delete(r.lists[list], i, i+1)
		r.removed = append(r.removed, list+":"+user)
		return [][]string{{"!done"}}
	default:
		return [][]string{{"!trap", "=message=no such command prefix", "=category=0"}, {"!done"}}
	}
	if len(entries) == 0 {
		if r.empty {
			return [][]string{{"!empty"}, {"!done"}}
		}
		return [][]string{{"!done"}}
	}
	var props []string
	if p, ok := attrs[".proplist"]; ok {
		props = strings.Split(p, ",")
	}
	out := make([][]string, 0, len(entries)+1)
	for _, e := range entries {
		s := []string{"!re"}
		keys := make([]string, 0, len(e))
		for k := range e {
			if props == nil || slices.Contains(props, k) {
				keys = append(keys, k)
			}
		}
		slices.Sort(keys)
		for _, k := range keys {
			s = append(s, "="+k+"="+e[k])
		}
		out = append(out, s)
	}
	return append(out, []string{"!done"})
}

// match reports whether e passes every query word: ?k=v (equal), ?k (present), ?-k
// (absent). The API's stack operators are not needed here.
func match(e Entry, queries []string) bool {
	for _, q := range queries {
		q = strings.TrimPrefix(q, "?")
		switch k, v, eq := strings.Cut(q, "="); {
		case eq:
			if e[k] != v {
				return false
			}
		case strings.HasPrefix(q, "-"):
			if _, ok := e[q[1:]]; ok {
				return false
			}
		default:
			if _, ok := e[q]; !ok {
				return false
			}
		}
	}
	return true
}

// parse splits a command sentence into its command, tag, =attributes and ?queries.
func parse(words []string) (cmd, tag string, attrs map[string]string, queries []string) {
	attrs = map[string]string{}
	cmd = words[0]
	for _, w := range words[1:] {
		switch {
		case strings.HasPrefix(w, ".tag="):
			tag = w[5:]
		case strings.HasPrefix(w, "="):
			k, v, _ := strings.Cut(w[1:], "=")
			attrs[k] = v
		case strings.HasPrefix(w, "?"):
			queries = append(queries, w)
		}
	}
	return cmd, tag, attrs, queries
}

// reply writes sentences, each tagged when the command was.
func reply(w proto.Writer, tag string, sentences [][]string) {
	for _, s := range sentences {
		w.BeginSentence()
		for _, word := range s {
			w.WriteWord(word)
		}
		if tag != "" {
			w.WriteWord(".tag=" + tag)
		}
		if err := w.EndSentence(); err != nil {
			return
		}
	}
}

// readSentence reads one sentence's words (the API's length-prefixed encoding).
func readSentence(br *bufio.Reader) ([]string, error) {
	var words []string
	for {
		n, err := readLength(br)
		if err != nil {
			return nil, err
		}
		if n == 0 {
			return words, nil
		}
		if n > 1<<20 {
			return nil, fmt.Errorf("fake router: word of %d bytes", n)
		}
		b := make([]byte, n)
		if _, err := io.ReadFull(br, b); err != nil {
			return nil, err
		}
		words = append(words, string(b))
	}
}

func readLength(br *bufio.Reader) (int, error) {
	b, err := br.ReadByte()
	if err != nil {
		return 0, err
	}
	var extra, n int
	switch {
	case b&0x80 == 0:
		return int(b), nil
	case b&0xC0 == 0x80:
		extra, n = 1, int(b&0x3F)
	case b&0xE0 == 0xC0:
		extra, n = 2, int(b&0x1F)
	case b&0xF0 == 0xE0:
		extra, n = 3, int(b&0x0F)
	default:
		extra, n = 4, 0
	}
	for range extra {
		c, err := br.ReadByte()
		if err != nil {
			return 0, err
		}
		n = n<<8 | int(c)
	}
	return n, nil
}
