package portal

import (
	"bytes"
	"context"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"

	"tollgate/billing"
	"tollgate/hotspot"
	"tollgate/radius"
)

// The admin's NAS, plan and voucher pages, and the background generation of large
// batches. Every handler writes the audit log after its action succeeded.

// Vouchers are what the NAS, plan, voucher and reseller pages call. cmd fills it with the
// domain services and the Postgres stores; nil leaves those pages out.
type Vouchers struct {
	Hotspot   *hotspot.Service
	Purchases *hotspot.Purchaser
	Plans     PlanAdmin
	Resellers *billing.ResellerService
	NAS       NASAdmin
	AuthLog   radius.AuthLogReader
	Reports   hotspot.ReportStore
	// Sealer seals a new NAS's secret to its row as it is stored.
	Sealer billing.Sealer
	// Notify tells the RADIUS servers what changed ("nas"); nil: nobody listens.
	Notify func(ctx context.Context, payload string) error

	jobs jobTable
}

// PlanAdmin creates and lists plans (billing.Service).
type PlanAdmin interface {
	// CreatePlan validates p and stores it. EINVALID, ECONFLICT.
	CreatePlan(ctx context.Context, p billing.Plan) (*billing.Plan, error)
	// ListPlans returns every plan.
	ListPlans(ctx context.Context) ([]billing.Plan, error)
}

// NASAdmin creates and lists NASes (radius/postgres.Store).
type NASAdmin interface {
	// NextNASID reserves the ID of a new NAS, which its sealed secret is bound to.
	NextNASID(ctx context.Context) (int64, error)
	// CreateNAS stores n under its reserved ID with its sealed secret. EINVALID,
	// ECONFLICT.
	CreateNAS(ctx context.Context, n *radius.NAS, sealedSecret []byte) error
	// ListNAS returns every NAS.
	ListNAS(ctx context.Context) ([]radius.NAS, error)
}

// registerVouchers adds the pages of this file and resellers.go when the portal has
// Vouchers.
func (p *Portal) registerVouchers() {
	if p.deps.Vouchers == nil {
		return
	}
	p.handle("GET", "/admin/nas", accessAdmin, p.adminNAS)
	p.handle("POST", "/admin/nas", accessAdmin, p.adminNASCreate)
	p.handle("GET", "/admin/plans", accessAdmin, p.adminPlans)
	p.handle("POST", "/admin/plans", accessAdmin, p.adminPlanCreate)
	p.handle("GET", "/admin/vouchers", accessAdmin, p.adminVouchers)
	p.handle("POST", "/admin/vouchers", accessAdmin, p.adminGenerate)
	p.handle("POST", "/admin/vouchers/revoke", accessAdmin, p.adminRevoke)
	p.handle("GET", "/admin/jobs/:id", accessAdmin, p.adminJob)
	p.handle("GET", "/admin/jobs/:id/progress", accessAdmin, p.adminJobProgress)
	p.handle("GET", "/admin/resellers", accessAdmin, p.adminResellers)
	p.handle("POST", "/admin/resellers", accessAdmin, p.adminResellerCreate)
	p.handle("POST", "/admin/resellers/credit", accessAdmin, p.adminResellerCredit)
	p.handle("POST", "/reseller/buy", accessReseller, p.resellerBuy)
}

// pageView is a page's data: the common view and the page's own fields.
type pageView struct {
	*view
	NAS       []radius.NAS
	Plans     []billing.Plan
	Resellers []billing.Reseller
	Batches   []hotspot.BatchSummary
	Voucher   *hotspot.Status
	AuthLog   []radius.AuthLogRow
	Code      string
	Job       int64
	Form      map[string]string
	// Reseller pages.
	Wallet   *billing.Wallet
	Ledger   []billing.LedgerEntry
	Sales    []hotspot.SalesDay
	Purchase *hotspot.Purchase
	// Printable says the print views and CSV exports are there to link to.
	Printable bool
	// Key is the idempotency key of the forms that move money, made as the page renders.
	Key string
	// BatchReseller narrows the vouchers page's batches to one reseller's.
	BatchReseller string
	// The API token page (api_tokens.go): the tokens, and one just made in clear.
	Tokens      []tokenRow
	Token, Made string
}

// renderPage executes page with v, as render does for the common view.
func (p *Portal) renderPage(c *fiber.Ctx, status int, page string, v *pageView) error {
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

// form copies the named form fields out of fiber's buffers.
func formFields(c *fiber.Ctx, names ...string) map[string]string {
	m := make(map[string]string, len(names))
	for _, n := range names {
		m[n] = strings.TrimSpace(strings.Clone(c.FormValue(n)))
	}
	return m
}

// adminVouchers is the generate form, the latest batches and, with ?code=, one
// voucher with its auth log.
func (p *Portal) adminVouchers(c *fiber.Ctx) error {
	ctx := c.UserContext()
	d := p.deps.Vouchers
	v := &pageView{view: p.view(c, "Vouchers"), Code: strings.TrimSpace(strings.Clone(c.Query("code"))),
		BatchReseller: strings.TrimSpace(strings.Clone(c.Query("reseller")))}
	var err error
	if v.Plans, err = d.Plans.ListPlans(ctx); err != nil {
		return err
	}
	if v.Resellers, err = d.Resellers.ListResellers(ctx); err != nil {
		return err
	}
	if v.Batches, err = d.Reports.FindBatches(ctx, v.BatchReseller, 50); err != nil {
		return err
	}
	status := fiber.StatusOK
	if v.Code != "" {
		v.Voucher, err = d.Hotspot.Show(ctx, v.Code)
		switch {
		case radius.ErrorCode(err) == radius.ENOTFOUND || radius.ErrorCode(err) == radius.EINVALID:
			status, v.Error = httpStatus(err, true), radius.ErrorMessage(err)
		case err != nil:
			return err
		default:
			if v.AuthLog, err = d.AuthLog.FindAuthLog(ctx, radius.AuthLogFilter{Username: v.Voucher.Username, Limit: 50}); err != nil {
				return err
			}
		}
		if err := p.audit(c, "voucher.search", voucherTarget(v.Voucher, v.Code), map[string]any{"found": v.Voucher != nil}); err != nil {
			return err
		}
	} else if err := p.audit(c, "voucher.page", "", nil); err != nil {
		return err
	}
	return p.renderPage(c, status, "admin-vouchers", v)
}

// voucherTarget names a voucher in the audit log by its ID, or the code searched for
// masked: never a code in clear.
func voucherTarget(v *hotspot.Status, code string) string {
	if v != nil {
		return "voucher:" + strconv.FormatInt(v.ID, 10)
	}
	return "voucher:" + radius.MaskCode(code)
}

// adminRevoke revokes the voucher of form field code.
func (p *Portal) adminRevoke(c *fiber.Ctx) error {
	code := strings.TrimSpace(strings.Clone(c.FormValue("code")))
	vc, err := p.deps.Vouchers.Hotspot.Revoke(c.UserContext(), code)
	if err != nil && vc == nil {
		return err
	}
	// Revoked, but the caches may not know yet: record it before reporting that.
	if aerr := p.audit(c, "voucher.revoke", "voucher:"+strconv.FormatInt(vc.ID, 10), map[string]any{"code": vc.CodeHint}); aerr != nil {
		return aerr
	}
	if err != nil {
		return err
	}
	return c.Redirect("/admin/vouchers?code="+url.QueryEscape(code), fiber.StatusSeeOther)
}

// adminGenerate starts making a batch in the background and sends the admin to its
// progress page: a large batch takes longer than a request may.
func (p *Portal) adminGenerate(c *fiber.Ctx) error {
	f := formFields(c, "plan", "count", "length", "prefix", "mode", "reseller")
	req := hotspot.GenerateRequest{Plan: f["plan"], Prefix: f["prefix"], Mode: hotspot.Mode(f["mode"]), Reseller: f["reseller"]}
	var err error
	if req.Count, err = strconv.Atoi(f["count"]); err != nil {
		return radius.Errorf(radius.EINVALID, "count: a number")
	}
	if f["length"] != "" {
		if req.Length, err = strconv.Atoi(f["length"]); err != nil {
			return radius.Errorf(radius.EINVALID, "length: a number")
		}
	}
	if err := hotspot.ValidateGenerate(req); err != nil {
		return err
	}
	job := p.startGenerate(req)
	if err := p.audit(c, "voucher.generate", "job:"+strconv.FormatInt(job, 10), map[string]any{"plan": req.Plan, "count": req.Count, "reseller": req.Reseller}); err != nil {
		return err
	}
	return c.Redirect("/admin/jobs/"+strconv.FormatInt(job, 10), fiber.StatusSeeOther)
}

// generateTimeout bounds one background generation.
const generateTimeout = 10 * time.Minute

// startGenerate runs req in a goroutine and returns its job id. req holds no fiber
// buffers (form copies them).
func (p *Portal) startGenerate(req hotspot.GenerateRequest) int64 {
	d := p.deps.Vouchers
	id, j := d.jobs.add(req.Count)
	req.Progress = j.progress
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), generateTimeout)
		defer cancel()
		g, err := d.Hotspot.Generate(ctx, req)
		if err != nil {
			if radius.ErrorCode(err) == radius.EINTERNAL {
				p.log.Error("portal: generate vouchers", "job", id, "err", err.Error())
			}
			j.finish(0, radius.ErrorMessage(err))
			return
		}
		j.finish(g.Batch.ID, "")
	}()
	return id
}

// jobID reads :id. ENOTFOUND for a job not (or no longer) known.
func (p *Portal) jobID(c *fiber.Ctx) (int64, *genJob, error) {
	id, err := strconv.ParseInt(c.Params("id"), 10, 64)
	j := p.deps.Vouchers.jobs.find(id)
	if err != nil || j == nil {
		return 0, nil, radius.Errorf(radius.ENOTFOUND, "no such generation job")
	}
	return id, j, nil
}

// adminJob is the progress page of a generation; static/progress.js polls its JSON.
func (p *Portal) adminJob(c *fiber.Ctx) error {
	id, _, err := p.jobID(c)
	if err != nil {
		return err
	}
	if err := p.audit(c, "voucher.job", "job:"+strconv.FormatInt(id, 10), nil); err != nil {
		return err
	}
	return p.renderPage(c, fiber.StatusOK, "admin-job", &pageView{view: p.view(c, "Generating vouchers"), Job: id})
}

// adminJobProgress answers {done, total, finished, batch_id, error}. It is the one admin
// route that writes no audit entry: static/progress.js polls it every second, it shows
// nothing but a counter of a job whose start (voucher.generate) and page (voucher.job)
// are audited, and an entry per poll would bury the log.
func (p *Portal) adminJobProgress(c *fiber.Ctx) error {
	_, j, err := p.jobID(c)
	if err != nil {
		return err
	}
	s := j.snapshot()
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.JSON(s)
}

// genJob is one background generation.
type genJob struct {
	mu sync.Mutex
	s  jobStatus
}

// jobStatus is a generation's progress as the JSON endpoint reports it.
type jobStatus struct {
	Done     int    `json:"done"`
	Total    int    `json:"total"`
	Finished bool   `json:"finished"`
	BatchID  int64  `json:"batch_id,omitempty"`
	Error    string `json:"error,omitempty"`
}

func (j *genJob) progress(done, total int) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.s.Done, j.s.Total = done, total
}

func (j *genJob) finish(batch int64, msg string) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.s.Finished, j.s.BatchID, j.s.Error = true, batch, msg
	if msg == "" {
		j.s.Done = j.s.Total
	}
}

func (j *genJob) snapshot() jobStatus {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.s
}

// keepJobs is how many generations the progress pages remember.
const keepJobs = 200

// jobTable holds the latest generations in memory: a progress page is for the admin
// who just started one, on this replica.
type jobTable struct {
	mu   sync.Mutex
	next int64
	m    map[int64]*genJob
}

func (t *jobTable) add(total int) (int64, *genJob) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.m == nil {
		t.m = map[int64]*genJob{}
	}
	t.next++
	j := &genJob{s: jobStatus{Total: total}}
	t.m[t.next] = j
	delete(t.m, t.next-keepJobs)
	return t.next, j
}

func (t *jobTable) find(id int64) *genJob {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.m[id]
}
