package portal

import (
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"tollgate/hotspot"
	"tollgate/radius"
)

// /api/v1/vouchers: generate (the codes are in the answer, the only time they are
// shown), list, get by ID and revoke. A voucher's code is never listed: its masked hint
// is.

// maxAPIBatch bounds a batch made in one request (larger ones: the admin page or the
// command line, which make them in the background).
const maxAPIBatch = 1000

type voucherJSON struct {
	ID          int64      `json:"id"`
	BatchID     int64      `json:"batch_id"`
	Plan        string     `json:"plan"`
	CodeHint    string     `json:"code_hint" doc:"the code masked, e.g. K7…Q2"`
	Username    string     `json:"username"`
	Mode        string     `json:"mode" doc:"code or userpass"`
	State       string     `json:"state" doc:"new, sold, active, expired, exhausted or revoked"`
	Reseller    string     `json:"reseller"`
	SoldAt      *time.Time `json:"sold_at"`
	ActivatedAt *time.Time `json:"activated_at"`
	ValidUntil  *time.Time `json:"valid_until"`
	RevokedAt   *time.Time `json:"revoked_at"`
	CreatedAt   time.Time  `json:"created_at"`
	MAC         string     `json:"mac"`
}

func toVoucherJSON(v *hotspot.Voucher) voucherJSON {
	return voucherJSON{ID: v.ID, BatchID: v.BatchID, Plan: v.PlanName, CodeHint: v.CodeHint, Username: v.Username,
		Mode: string(v.Mode), State: string(v.State), Reseller: v.Reseller, SoldAt: timeOrNil(v.SoldAt),
		ActivatedAt: timeOrNil(v.ActivatedAt), ValidUntil: timeOrNil(v.ValidUntil), RevokedAt: timeOrNil(v.RevokedAt),
		CreatedAt: v.CreatedAt.UTC(), MAC: v.MAC}
}

// voucherStatusJSON is a voucher with its usage and its state as of now.
type voucherStatusJSON struct {
	voucherJSON
	StateNow    string `json:"state_now" doc:"the state as of now (the stored one lags until the expiry job runs)"`
	UptimeUsed  int64  `json:"uptime_used" doc:"seconds"`
	BytesUsed   int64  `json:"bytes_used"`
	UptimeLimit int64  `json:"uptime_limit" doc:"seconds; 0: unlimited"`
	DataLimit   int64  `json:"data_limit" doc:"bytes; 0: unlimited"`
	Online      int    `json:"online" doc:"open sessions"`
}

// generateInput is the body of a generation.
type generateInput struct {
	Plan     string `json:"plan"`
	Count    int    `json:"count" doc:"1 to 1000"`
	Length   int    `json:"length,omitempty"`
	Prefix   string `json:"prefix,omitempty"`
	Charset  string `json:"charset,omitempty"`
	Mode     string `json:"mode,omitempty" doc:"code (default) or userpass"`
	Reseller string `json:"reseller,omitempty"`
}

// generatedJSON is a new batch with its codes, shown once.
type generatedJSON struct {
	BatchID  int64            `json:"batch_id"`
	Plan     string           `json:"plan"`
	Count    int              `json:"count"`
	Vouchers []newVoucherJSON `json:"vouchers"`
}

type newVoucherJSON struct {
	ID       int64  `json:"id"`
	Code     string `json:"code"`
	Username string `json:"username"`
	Password string `json:"password"`
}

// revokedJSON is a revoked voucher with the sessions cut.
type revokedJSON struct {
	voucherJSON
	Sessions []coaJSON `json:"sessions"`
}

func (p *Portal) registerAPIVouchers() {
	if p.deps.API.Vouchers == nil {
		return
	}
	p.api("GET", "/api/v1/vouchers", p.apiVouchers, apiDoc{Summary: "List vouchers, newest first (never their codes).", Params: pageParams(
		apiParam{Name: "batch_id", In: "query", Type: "integer"},
		apiParam{Name: "state", In: "query", Desc: "new, sold, active, expired, exhausted or revoked"},
	), Resp: page[voucherJSON]{}})
	p.api("POST", "/api/v1/vouchers", p.apiVoucherGenerate, apiDoc{Summary: "Make a batch of vouchers on a hotspot plan; the answer holds the codes, the only time they are shown.",
		Body: generateInput{}, Resp: generatedJSON{}, Status: 201})
	p.api("GET", "/api/v1/vouchers/:id", p.apiVoucher, apiDoc{Summary: "One voucher with its usage.", Params: idParams(), Resp: voucherStatusJSON{}})
	p.api("POST", "/api/v1/vouchers/:id/revoke", p.apiVoucherRevoke, apiDoc{Summary: "Revoke a voucher and cut its sessions; revoking twice is harmless.", Params: idParams(), Resp: revokedJSON{}})
}

func (p *Portal) apiVouchers(c *fiber.Ctx) error {
	limit, err := pageLimit(c)
	if err != nil {
		return err
	}
	f := hotspot.VoucherFilter{State: radius.VoucherState(strings.Clone(c.Query("state"))), Limit: limit + 1}
	if s := c.Query("batch_id"); s != "" {
		if f.BatchID, err = strconv.ParseInt(s, 10, 64); err != nil || f.BatchID <= 0 {
			return radius.Errorf(radius.EINVALID, "batch_id: a batch's id")
		}
	}
	var before idCursor
	if _, err := cursor(c, &before); err != nil {
		return err
	}
	f.BeforeID = before.ID
	list, err := p.deps.API.Vouchers.FindVouchers(c.UserContext(), f)
	if err != nil {
		return err
	}
	out := page[voucherJSON]{Data: []voucherJSON{}}
	for i := range list {
		if len(out.Data) == limit {
			out.NextCursor = makeCursor(idCursor{ID: list[i-1].ID})
			break
		}
		out.Data = append(out.Data, toVoucherJSON(&list[i]))
	}
	if err := p.audit(c, "voucher.list", "", map[string]any{"count": len(out.Data)}); err != nil {
		return err
	}
	return c.JSON(out)
}

func (p *Portal) apiVoucherGenerate(c *fiber.Ctx) error {
	var in generateInput
	if err := bodyJSON(c, &in); err != nil {
		return err
	}
	if in.Count > maxAPIBatch {
		return radius.Errorf(radius.EINVALID, "count: at most %d in one request (the admin page and the command line make larger batches)", maxAPIBatch)
	}
	req := hotspot.GenerateRequest{Plan: in.Plan, Count: in.Count, Length: in.Length, Prefix: in.Prefix, Charset: in.Charset,
		Mode: hotspot.Mode(in.Mode), Reseller: in.Reseller}
	g, err := p.deps.API.Vouchers.Generate(c.UserContext(), req)
	if err != nil {
		return err
	}
	if err := p.audit(c, "voucher.generate", "batch:"+strconv.FormatInt(g.Batch.ID, 10), map[string]any{"plan": g.Batch.PlanName, "count": len(g.Vouchers), "reseller": g.Batch.Reseller}); err != nil {
		return err
	}
	out := generatedJSON{BatchID: g.Batch.ID, Plan: g.Batch.PlanName, Count: len(g.Vouchers), Vouchers: make([]newVoucherJSON, len(g.Vouchers))}
	for i, v := range g.Vouchers {
		out.Vouchers[i] = newVoucherJSON{ID: v.ID, Code: v.Code, Username: v.Login(), Password: v.Password}
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.Status(fiber.StatusCreated).JSON(out)
}

func (p *Portal) apiVoucher(c *fiber.Ctx) error {
	id, err := idParam(c, "voucher")
	if err != nil {
		return err
	}
	st, err := p.deps.API.Vouchers.ShowByID(c.UserContext(), id)
	if err != nil {
		return err
	}
	if err := p.audit(c, "voucher.show", "voucher:"+strconv.FormatInt(id, 10), nil); err != nil {
		return err
	}
	return c.JSON(voucherStatusJSON{voucherJSON: toVoucherJSON(&st.Voucher), StateNow: string(st.Now),
		UptimeUsed: int64(st.Usage.Uptime / time.Second), BytesUsed: st.Usage.Bytes, UptimeLimit: int64(st.UptimeLimit / time.Second),
		DataLimit: st.DataLimit, Online: st.Usage.Online})
}

func (p *Portal) apiVoucherRevoke(c *fiber.Ctx) error {
	id, err := idParam(c, "voucher")
	if err != nil {
		return err
	}
	ctx := c.UserContext()
	v, err := p.deps.API.Vouchers.RevokeByID(ctx, id)
	if v == nil && err != nil {
		return err
	}
	if aerr := p.audit(c, "voucher.revoke", "voucher:"+strconv.FormatInt(v.ID, 10), map[string]any{"code": v.CodeHint}); aerr != nil {
		return aerr
	}
	if err != nil {
		return err
	}
	out := revokedJSON{voucherJSON: toVoucherJSON(v)}
	out.Sessions, err = p.disconnectUser(ctx, v.Username, "revoked")
	if err != nil {
		return err
	}
	return c.JSON(out)
}
