package portal

import (
	"bytes"
	"context"
	"embed"
	"encoding/base64"
	"encoding/csv"
	"fmt"
	"html/template"
	"image/png"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/boombuler/barcode"
	"github.com/boombuler/barcode/qr"
	"github.com/gofiber/fiber/v2"

	"tollgate/billing"
	"tollgate/hotspot"
	"tollgate/radius"
)

// PrintSource is what the print views and the CSV export of a voucher batch read.
type PrintSource interface {
	// FindVouchers lists vouchers, newest first (hotspot.Service). EINVALID.
	FindVouchers(ctx context.Context, f hotspot.VoucherFilter) ([]hotspot.Voucher, error)
	// FindPlanByName returns the plan called name (billing's store). ENOTFOUND.
	FindPlanByName(ctx context.Context, name string) (*billing.Plan, error)
	// BatchCredentials opens the codes and passwords of a batch's vouchers by voucher ID
	// (hotspot.Service): they are stored only sealed. Every print and export is audited.
	BatchCredentials(ctx context.Context, batchID int64) (map[int64]hotspot.Credentials, error)
}

// printFS holds the print view: a document of its own, without the layout's navigation,
// kept out of templates/*.html, whose pages all render inside the layout.
//
//go:embed templates/print/sheet.html
var printFS embed.FS

// printPage is the print view, parsed at startup.
var printPage = template.Must(template.ParseFS(printFS, "templates/print/sheet.html"))

// registerPrint adds the print views and CSV exports when the portal has a PrintSource.
func (p *Portal) registerPrint() {
	if p.deps.Prints == nil {
		return
	}
	p.handle("GET", "/admin/batches/:id/print", accessAdmin, p.adminBatchPrint)
	p.handle("GET", "/admin/batches/:id/vouchers.csv", accessAdmin, p.adminBatchCSV)
	p.handle("GET", "/reseller/batches/:id/print", accessReseller, p.resellerBatchPrint)
	p.handle("GET", "/reseller/batches/:id/vouchers.csv", accessReseller, p.resellerBatchCSV)
}

// printBatch is a batch's vouchers, oldest first, and its plan.
type printBatch struct {
	ID       int64
	Reseller string
	Mode     hotspot.Mode
	Plan     *billing.Plan
	Vouchers []hotspot.Voucher
	// Creds are the vouchers' codes and passwords in clear, by voucher ID. Never logged.
	Creds map[int64]hotspot.Credentials
}

// batchID reads the :id parameter. ENOTFOUND for anything but a positive number.
func batchID(c *fiber.Ctx) (int64, error) {
	id, err := strconv.ParseInt(c.Params("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, radius.Errorf(radius.ENOTFOUND, "no such batch")
	}
	return id, nil
}

// findBatch loads batch :id. When reseller is not "", a batch sold to anyone else is
// ENOTFOUND, as one that does not exist: a reseller cannot tell the two apart.
func (p *Portal) findBatch(c *fiber.Ctx, reseller *string) (*printBatch, error) {
	id, err := batchID(c)
	if err != nil {
		return nil, err
	}
	ctx := c.UserContext()
	vs, err := p.deps.Prints.FindVouchers(ctx, hotspot.VoucherFilter{BatchID: id, Limit: hotspot.MaxBatch})
	if err != nil {
		return nil, err
	}
	if len(vs) == 0 || (reseller != nil && vs[0].Reseller != *reseller) {
		return nil, radius.Errorf(radius.ENOTFOUND, "no such batch")
	}
	slices.Reverse(vs) // print in the order they were made
	plan, err := p.deps.Prints.FindPlanByName(ctx, vs[0].PlanName)
	if err != nil {
		return nil, err
	}
	b := &printBatch{ID: id, Reseller: vs[0].Reseller, Mode: vs[0].Mode, Plan: plan, Vouchers: vs}
	if b.Creds, err = p.deps.Prints.BatchCredentials(ctx, id); err != nil {
		return nil, err
	}
	return b, nil
}

// resellerName is the signed-in reseller's name.
func (p *Portal) resellerName(c *fiber.Ctx) (*string, error) {
	u, err := p.signedInReseller(c)
	if err != nil {
		return nil, err
	}
	name := u.ResellerName
	return &name, nil
}

func (p *Portal) adminBatchPrint(c *fiber.Ctx) error {
	b, err := p.findBatch(c, nil)
	if err != nil {
		return err
	}
	layout := printLayout(c.Query("layout"))
	if err := p.audit(c, "batch.print", "batch:"+strconv.FormatInt(b.ID, 10), map[string]any{"layout": layout, "count": len(b.Vouchers)}); err != nil {
		return err
	}
	return p.renderPrint(c, b, layout, "/admin")
}

func (p *Portal) resellerBatchPrint(c *fiber.Ctx) error {
	name, err := p.resellerName(c)
	if err != nil {
		return err
	}
	b, err := p.findBatch(c, name)
	if err != nil {
		return err
	}
	return p.renderPrint(c, b, printLayout(c.Query("layout")), "/reseller")
}

func (p *Portal) adminBatchCSV(c *fiber.Ctx) error {
	b, err := p.findBatch(c, nil)
	if err != nil {
		return err
	}
	// The entry names the batch, never the codes.
	if err := p.audit(c, "batch.export", "batch:"+strconv.FormatInt(b.ID, 10), map[string]any{"count": len(b.Vouchers)}); err != nil {
		return err
	}
	return sendBatchCSV(c, b)
}

func (p *Portal) resellerBatchCSV(c *fiber.Ctx) error {
	name, err := p.resellerName(c)
	if err != nil {
		return err
	}
	b, err := p.findBatch(c, name)
	if err != nil {
		return err
	}
	return sendBatchCSV(c, b)
}

// printLayout is "thermal" or else "a4".
func printLayout(s string) string {
	if s == "thermal" {
		return "thermal"
	}
	return "a4"
}

// card is one voucher as printed.
type card struct {
	Code, Username, Password string
	UserPass                 bool
	QR                       template.URL // a data: URI of a PNG
}

// printView is the print page's data.
type printView struct {
	Title    string
	Layout   string
	Back     string
	Operator string
	Plan     string
	Price    string
	Summary  []string
	Cards    []card
}

func (p *Portal) renderPrint(c *fiber.Ctx, b *printBatch, layout, back string) error {
	base := p.publicURL(c)
	v := &printView{
		Title:    fmt.Sprintf("Batch %d", b.ID),
		Layout:   layout,
		Back:     back,
		Operator: p.cfg.OperatorName,
		Plan:     b.Plan.Name,
		Price:    formatPrice(b.Plan.PriceCents),
		Summary:  planSummary(b.Plan, b.Vouchers[0]),
		Cards:    make([]card, len(b.Vouchers)),
	}
	for i, vc := range b.Vouchers {
		cr := b.Creds[vc.ID]
		img, err := qrDataURI(loginURL(base, cr.Code))
		if err != nil {
			return fmt.Errorf("portal: qr of batch %d: %w", b.ID, err)
		}
		v.Cards[i] = card{Code: cr.Code, Username: vc.Username, Password: cr.Password, UserPass: vc.Mode == hotspot.ModeUserPass, QR: img}
	}
	var buf bytes.Buffer
	if err := printPage.Execute(&buf, v); err != nil {
		return err
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	c.Type("html", "utf-8")
	return c.Send(buf.Bytes())
}

// publicURL is Config.PublicURL, or else the scheme and host the request came to.
func (p *Portal) publicURL(c *fiber.Ctx) string {
	if p.cfg.PublicURL != "" {
		return strings.TrimSuffix(p.cfg.PublicURL, "/")
	}
	return c.Protocol() + "://" + c.Hostname()
}

// loginURL is the captive portal's login page with code filled in.
func loginURL(base, code string) string {
	return base + "/hotspot/login?code=" + url.QueryEscape(code)
}

// qrDataURI encodes s as a QR code in a PNG data: URI, so a page prints without
// further requests.
func qrDataURI(s string) (template.URL, error) {
	b, err := qrPNG(s)
	if err != nil {
		return "", err
	}
	return template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(b)), nil
}

// qrPNG encodes s as a QR code (error correction M) with 4 pixels a module.
func qrPNG(s string) ([]byte, error) {
	code, err := qr.Encode(s, qr.M, qr.Auto)
	if err != nil {
		return nil, err
	}
	n := code.Bounds().Dx() * 4
	if code, err = barcode.Scale(code, n, n); err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	enc := png.Encoder{CompressionLevel: png.BestCompression}
	if err := enc.Encode(&buf, code); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// formatPrice writes cents as units with two decimals.
func formatPrice(cents int64) string {
	sign := ""
	if cents < 0 {
		sign, cents = "-", -cents
	}
	return fmt.Sprintf("%s%d.%02d", sign, cents/100, cents%100)
}

// planSummary is what a card says about the voucher's limits.
func planSummary(p *billing.Plan, v hotspot.Voucher) []string {
	var out []string
	if p.Validity > 0 {
		out = append(out, "Valid "+formatDuration(p.Validity))
	} else {
		out = append(out, "No expiry")
	}
	if v.UptimeLimit > 0 {
		out = append(out, formatDuration(v.UptimeLimit)+" online")
	}
	if v.DataLimit > 0 {
		out = append(out, formatBytes(v.DataLimit)+" data")
	} else {
		out = append(out, "Unlimited data")
	}
	return out
}

// formatDuration writes d in days, hours and minutes ("1d 12h", "30m").
func formatDuration(d time.Duration) string {
	days, d := d/(24*time.Hour), d%(24*time.Hour)
	hours, d := d/time.Hour, d%time.Hour
	mins := d / time.Minute
	var parts []string
	if days > 0 {
		parts = append(parts, fmt.Sprintf("%dd", days))
	}
	if hours > 0 {
		parts = append(parts, fmt.Sprintf("%dh", hours))
	}
	if mins > 0 || len(parts) == 0 {
		parts = append(parts, fmt.Sprintf("%dm", mins))
	}
	return strings.Join(parts, " ")
}

// formatBytes writes n in decimal units ("500 MB", "1.5 GB").
func formatBytes(n int64) string {
	units := []string{"B", "kB", "MB", "GB", "TB"}
	f, i := float64(n), 0
	for f >= 1000 && i < len(units)-1 {
		f, i = f/1000, i+1
	}
	f = float64(int64(f*10+0.5)) / 10 // one decimal at most
	return strconv.FormatFloat(f, 'f', -1, 64) + " " + units[i]
}

// sendBatchCSV answers with b's vouchers as an attachment: each voucher's code, what it
// logs in as (the code itself in code mode) and its password, opened from their sealed
// forms.
func sendBatchCSV(c *fiber.Ctx, b *printBatch) error {
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	_ = w.Write([]string{"code", "username", "password", "plan", "state", "valid_until"})
	for _, v := range b.Vouchers {
		cr := b.Creds[v.ID]
		username := v.Username
		if v.Mode == hotspot.ModeCode {
			username = cr.Code
		}
		until := ""
		if !v.ValidUntil.IsZero() {
			until = v.ValidUntil.UTC().Format(time.RFC3339)
		}
		_ = w.Write([]string{csvCell(cr.Code), csvCell(username), csvCell(cr.Password), csvCell(v.PlanName), string(v.State), until})
	}
	w.Flush()
	if err := w.Error(); err != nil {
		return err
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	c.Set(fiber.HeaderContentType, "text/csv; charset=utf-8")
	c.Set(fiber.HeaderContentDisposition, fmt.Sprintf(`attachment; filename="batch-%d.csv"`, b.ID))
	return c.Send(buf.Bytes())
}

// csvCell keeps a spreadsheet from reading a cell as a formula.
func csvCell(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}
