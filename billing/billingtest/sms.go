package billingtest

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"
)

// Request is one request the SMS gateway received.
type Request struct {
	Method string
	// RawQuery and Path are as sent; Query is RawQuery decoded.
	Path     string
	RawPath  string
	RawQuery string
	Query    map[string][]string
	Header   http.Header
	Body     string
}

// Gateway is an SMS gateway in process (httptest on 127.0.0.1). It answers each request
// with Answer's status and body: by default 200 and {"message_id":"gw-<n>"}.
type Gateway struct {
	URL string
	// Answer returns the status and body of the n-th request (from 1); set it before
	// the first request.
	Answer func(n int, r Request) (int, string)
	// Delay, when set, holds every answer that long (a slow gateway).
	Delay time.Duration

	mu       sync.Mutex
	requests []Request
	arrived  chan struct{}
}

// MustGateway starts a gateway that the test's end stops.
func MustGateway(tb testing.TB) *Gateway {
	tb.Helper()
	g := &Gateway{arrived: make(chan struct{}, 1000)}
	srv := httptest.NewServer(http.HandlerFunc(g.serve))
	g.URL = srv.URL
	tb.Cleanup(srv.Close)
	return g
}

func (g *Gateway) serve(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	req := Request{Method: r.Method, Path: r.URL.Path, RawPath: r.URL.EscapedPath(), RawQuery: r.URL.RawQuery,
		Query: r.URL.Query(), Header: r.Header.Clone(), Body: string(b)}
	g.mu.Lock()
	g.requests = append(g.requests, req)
	n := len(g.requests)
	answer, delay := g.Answer, g.Delay
	g.mu.Unlock()
	select {
	case g.arrived <- struct{}{}:
	default:
	}
	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-r.Context().Done():
			return
		}
	}
	status, body := 200, `{"message_id":"gw-`+strconv.Itoa(n)+`"}`
	if answer != nil {
		status, body = answer(n, req)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	io.WriteString(w, body)
}

// Requests returns the requests received so far.
func (g *Gateway) Requests() []Request {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]Request(nil), g.requests...)
}

// WaitRequests waits up to 10 seconds until n requests arrived, and returns them.
func (g *Gateway) WaitRequests(tb testing.TB, n int) []Request {
	tb.Helper()
	deadline := time.After(10 * time.Second)
	for {
		if r := g.Requests(); len(r) >= n {
			return r
		}
		select {
		case <-g.arrived:
		case <-deadline:
			tb.Fatalf("billingtest: %d gateway requests arrived, want %d", len(g.Requests()), n)
		}
	}
}
