package portal

import (
	"bytes"
	"embed"
	"html/template"
	"io/fs"
	"mime"
	"path"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"tollgate/portal/auth"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// pages are the parsed page templates by name; each is the layout plus one page file.
type pages map[string]*template.Template

// mustParsePages parses every template at startup with the template functions funcs
// (format.go); an error is a bug in an embedded file, caught by any test.
func mustParsePages(funcs template.FuncMap) pages {
	names, _ := fs.Glob(templateFS, "templates/*.html") // fails only for a bad pattern
	ps := pages{}
	for _, n := range names {
		base := path.Base(n)
		if base == "layout.html" {
			continue
		}
		t := template.Must(template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", n))
		ps[strings.TrimSuffix(base, ".html")] = t
	}
	return ps
}

// view is what every page gets. Page-specific fields are left empty elsewhere.
type view struct {
	Title   string
	Session *auth.Session // nil when anonymous
	CSRF    string
	Status  int
	Error   string
	Notice  string

	Email  string       // the login form's email, typed again after a failure
	Forgot bool         // the login form links to "forgot password"
	URI    template.URL // the otpauth:// URI being enrolled (ours: html/template would refuse the scheme)
	User   *auth.User   // the signed-in user, where a page shows it
	Users  []*auth.User // the admin's user list
	Now    time.Time    // the time the page shows states at (locks that ran out)
}

// view starts a page's data with the session and its CSRF token.
func (p *Portal) view(c *fiber.Ctx, title string) *view {
	return &view{Title: title, Session: session(c), CSRF: p.csrfToken(c)}
}

// renderAny executes page with data, a page's own view type embedding *view, as
// render does.
func (p *Portal) renderAny(c *fiber.Ctx, status int, page string, data any) error {
	t, ok := p.pages[page]
	if !ok {
		return fiber.NewError(fiber.StatusInternalServerError, "no page "+page)
	}
	var buf bytes.Buffer
	if err := t.Execute(&buf, data); err != nil {
		return err
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	c.Type("html", "utf-8")
	return c.Status(status).Send(buf.Bytes())
}

// render executes page with v and sends it with status. Pages that show a session or a
// form are never cached.
func (p *Portal) render(c *fiber.Ctx, status int, page string, v *view) error {
	t, ok := p.pages[page]
	if !ok {
		return fiber.NewError(fiber.StatusInternalServerError, "no page "+page)
	}
	var buf bytes.Buffer
	if err := t.Execute(&buf, v); err != nil {
		return err
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	c.Type("html", "utf-8")
	return c.Status(status).Send(buf.Bytes())
}

// serveStatic answers /static/:name from the embedded files.
func serveStatic(c *fiber.Ctx) error {
	name := c.Params("name")
	b, err := staticFS.ReadFile("static/" + name)
	if err != nil || strings.Contains(name, "/") {
		return fiber.ErrNotFound
	}
	if ct := mime.TypeByExtension(path.Ext(name)); ct != "" {
		c.Set(fiber.HeaderContentType, ct)
	}
	c.Set(fiber.HeaderCacheControl, "public, max-age=3600")
	return c.Send(b)
}
