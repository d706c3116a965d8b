// Package portal is tollgate's web front: the fiber app with its pages, the JSON API
// under /api/v1, /healthz and /metrics. It is the only package that imports fiber.
package portal

import (
	"context"
	"errors"
	"net"
	"net/http"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/adaptor"
)

// Config tunes the portal.
type Config struct {
	// Addr is the HTTP listen address (":8080").
	Addr string
}

// Deps are what the portal calls. Health reports whether the stores answer; Metrics serves
// the Prometheus registry.
type Deps struct {
	Health  func(ctx context.Context) error
	Metrics http.Handler
}

// Portal is the web server.
type Portal struct {
	cfg  Config
	app  *fiber.App
	ln   net.Listener
	done chan error
}

// New builds the app and its routes.
func New(cfg Config, deps Deps) *Portal {
	app := fiber.New(fiber.Config{
		DisableStartupMessage: true,
		ReadTimeout:           15 * time.Second,
		WriteTimeout:          30 * time.Second,
		IdleTimeout:           60 * time.Second,
		ErrorHandler:          errorHandler,
	})
	app.Get("/healthz", func(c *fiber.Ctx) error {
		ctx, cancel := context.WithTimeout(c.UserContext(), 2*time.Second)
		defer cancel()
		if deps.Health != nil {
			if err := deps.Health(ctx); err != nil {
				return c.Status(fiber.StatusServiceUnavailable).JSON(fiber.Map{"status": "unavailable", "error": err.Error()})
			}
		}
		return c.JSON(fiber.Map{"status": "ok"})
	})
	if deps.Metrics != nil {
		app.Get("/metrics", adaptor.HTTPHandler(deps.Metrics))
	}
	return &Portal{cfg: cfg, app: app}
}

// errorHandler is the single place where an error becomes an HTTP answer.
func errorHandler(c *fiber.Ctx, err error) error {
	code := fiber.StatusInternalServerError
	var fe *fiber.Error
	if errors.As(err, &fe) {
		code = fe.Code
	}
	return c.Status(code).JSON(fiber.Map{"error": http.StatusText(code)})
}

// Start listens and serves in the background.
func (p *Portal) Start() error {
	ln, err := net.Listen("tcp", p.cfg.Addr)
	if err != nil {
		return err
	}
	p.ln = ln
	p.done = make(chan error, 1)
	go func() { p.done <- p.app.Listener(ln) }()
	return nil
}

// Addr returns the bound address.
func (p *Portal) Addr() net.Addr {
	if p.ln == nil {
		return nil
	}
	return p.ln.Addr()
}

// Shutdown stops the server, waiting for requests in flight until ctx ends. Safe twice.
func (p *Portal) Shutdown(ctx context.Context) error {
	if p.ln == nil {
		return nil
	}
	p.ln = nil
	return p.app.ShutdownWithContext(ctx)
}

// Test runs one request through the app (for tests).
func (p *Portal) Test(req *http.Request) (*http.Response, error) { return p.app.Test(req, -1) }
