package portal

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"tollgate/radius"
	"tollgate/webhook"
)

// /admin/webhooks: the outgoing webhooks' endpoints (add, with the signing secret shown
// once; turn off and on; delete; send a test message) and the delivery log with each
// delivery's attempts, and a button that sends a delivery again.

// WebhookAdmin is what the page calls (webhook.Service).
type WebhookAdmin interface {
	// AddEndpoint stores an endpoint and returns its secret in clear, once. EINVALID.
	AddEndpoint(ctx context.Context, n webhook.NewEndpoint) (*webhook.Endpoint, string, error)
	// ListEndpoints returns every endpoint.
	ListEndpoints(ctx context.Context) ([]webhook.Endpoint, error)
	// SetEnabled turns an endpoint on or off. ENOTFOUND.
	SetEnabled(ctx context.Context, id int64, on bool) error
	// DeleteEndpoint removes an endpoint with its queue. ENOTFOUND.
	DeleteEndpoint(ctx context.Context, id int64) error
	// Deliveries lists the log, newest first. EINVALID.
	Deliveries(ctx context.Context, f webhook.DeliveryFilter) ([]webhook.Delivery, error)
	// Attempts lists a delivery's attempts.
	Attempts(ctx context.Context, deliveryID int64) ([]webhook.Attempt, error)
	// Retry queues a delivery again now. ENOTFOUND.
	Retry(ctx context.Context, deliveryID int64) error
	// SendTest queues a test message to an endpoint. ENOTFOUND.
	SendTest(ctx context.Context, id int64) (webhook.Message, error)
}

// webhooksPage is how many deliveries the log shows at once.
const webhooksPage = 50

// webhooksView is the webhooks page's data.
type webhooksView struct {
	*view
	formView
	Endpoints  []webhook.Endpoint
	Deliveries []webhook.Delivery
	Types      []string
	// Secret is the secret of the endpoint just added, shown this once.
	Secret   string
	Endpoint int64  // the log's filter
	State    string // the log's filter
	Older    int64  // the id to continue the log below (0: the end)
	// Delivery and Attempts are one delivery's page.
	Delivery *webhook.Delivery
	Attempts []webhook.Attempt
	loc      *time.Location
}

// When writes t in the operator's time zone, to the second.
func (v *webhooksView) When(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.In(v.loc).Format("2 Jan 15:04:05")
}

// Wants reports whether endpoint e takes event type t.
func (v *webhooksView) Wants(e webhook.Endpoint, t string) bool {
	for _, x := range e.Events {
		if x == t {
			return true
		}
	}
	return false
}

// Checked reports whether the add form had event type t ticked.
func (v *webhooksView) Checked(t string) bool { return v.Form["event:"+t] != "" }

// OlderLink is the log's next page.
func (v *webhooksView) OlderLink() string {
	q := "/admin/webhooks?before=" + strconv.FormatInt(v.Older, 10)
	if v.Endpoint != 0 {
		q += "&endpoint=" + strconv.FormatInt(v.Endpoint, 10)
	}
	if v.State != "" {
		q += "&state=" + v.State
	}
	return q + "#deliveries"
}

func (p *Portal) adminWebhooks(c *fiber.Ctx) error {
	v := &webhooksView{view: p.view(c, "Webhooks")}
	var err error
	if v.Endpoint, err = optionalID(c.Query("endpoint"), "endpoint"); err != nil {
		return err
	}
	before, err := optionalID(c.Query("before"), "before")
	if err != nil {
		return err
	}
	v.State = strings.Clone(c.Query("state"))
	if err := p.loadWebhooks(c, v, before); err != nil {
		return err
	}
	if err := p.audit(c, "webhook.page", "", map[string]any{"endpoints": len(v.Endpoints), "deliveries": len(v.Deliveries)}); err != nil {
		return err
	}
	return p.renderAny(c, fiber.StatusOK, "admin-webhooks", v)
}

// optionalID reads a positive id from a query parameter ("" is 0). EINVALID naming it.
func optionalID(s, name string) (int64, error) {
	if s == "" {
		return 0, nil
	}
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id <= 0 {
		return 0, radius.Errorf(radius.EINVALID, "%s: a number", name)
	}
	return id, nil
}

func (p *Portal) loadWebhooks(c *fiber.Ctx, v *webhooksView, before int64) error {
	ctx := c.UserContext()
	w := p.deps.Ops.Webhooks
	v.Types, v.loc = webhook.EventTypes, p.format().loc
	if v.Form == nil {
		v.Form = map[string]string{}
	}
	var err error
	if v.Endpoints, err = w.ListEndpoints(ctx); err != nil {
		return err
	}
	list, err := w.Deliveries(ctx, webhook.DeliveryFilter{EndpointID: v.Endpoint, State: v.State, BeforeID: before, Limit: webhooksPage + 1})
	if err != nil {
		return err
	}
	if len(list) > webhooksPage {
		list = list[:webhooksPage]
		v.Older = list[len(list)-1].ID
	}
	v.Deliveries = list
	return nil
}

// adminWebhookAdd adds an endpoint: url, description and one "event:TYPE" checkbox per
// event type. The page then shows its secret, once.
func (p *Portal) adminWebhookAdd(c *fiber.Ctx) error {
	names := []string{"url", "description"}
	for _, t := range webhook.EventTypes {
		names = append(names, "event:"+t)
	}
	f := formFields(c, names...)
	n := webhook.NewEndpoint{URL: f["url"], Description: f["description"], CreatedBy: session(c).Email}
	for _, t := range webhook.EventTypes {
		if f["event:"+t] != "" {
			n.Events = append(n.Events, t)
		}
	}
	e, secret, err := p.deps.Ops.Webhooks.AddEndpoint(c.UserContext(), n)
	v := &webhooksView{view: p.view(c, "Webhooks")}
	if radius.ErrorCode(err) == radius.EINVALID {
		v.formView = formView{Form: f, Bad: badField(radius.ErrorMessage(err), []string{"url", "description", "events"})}
		v.Error = radius.ErrorMessage(err)
		if err := p.loadWebhooks(c, v, 0); err != nil {
			return err
		}
		return p.renderAny(c, fiber.StatusUnprocessableEntity, "admin-webhooks", v)
	}
	if err != nil {
		return err
	}
	if err := p.audit(c, "webhook.create", "webhook:"+strconv.FormatInt(e.ID, 10), map[string]any{"url": e.URL, "events": e.Events}); err != nil {
		return err
	}
	v.Secret = secret
	v.Notice = "Endpoint " + strconv.FormatInt(e.ID, 10) + " added. Copy its signing secret now: it is not shown again."
	if err := p.loadWebhooks(c, v, 0); err != nil {
		return err
	}
	return p.renderAny(c, fiber.StatusOK, "admin-webhooks", v)
}

// webhookID reads :id.
func webhookID(c *fiber.Ctx) (int64, error) {
	id, err := strconv.ParseInt(c.Params("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, radius.Errorf(radius.ENOTFOUND, "no such webhook endpoint")
	}
	return id, nil
}

// adminWebhookAction runs one action on endpoint :id (enable, disable, delete, test)
// and returns to the page.
func (p *Portal) adminWebhookAction(action string) fiber.Handler {
	return func(c *fiber.Ctx) error {
		id, err := webhookID(c)
		if err != nil {
			return err
		}
		ctx := c.UserContext()
		w := p.deps.Ops.Webhooks
		switch action {
		case "enable", "disable":
			err = w.SetEnabled(ctx, id, action == "enable")
		case "delete":
			err = w.DeleteEndpoint(ctx, id)
		case "test":
			_, err = w.SendTest(ctx, id)
		}
		if err != nil {
			return err
		}
		if err := p.audit(c, "webhook."+action, "webhook:"+strconv.FormatInt(id, 10), nil); err != nil {
			return err
		}
		return c.Redirect("/admin/webhooks", fiber.StatusSeeOther)
	}
}

// adminWebhookDelivery is one delivery's page: its message and every attempt.
func (p *Portal) adminWebhookDelivery(c *fiber.Ctx) error {
	id, err := webhookID(c)
	if err != nil {
		return err
	}
	ctx := c.UserContext()
	w := p.deps.Ops.Webhooks
	list, err := w.Deliveries(ctx, webhook.DeliveryFilter{BeforeID: id + 1, Limit: 1})
	if err != nil {
		return err
	}
	if len(list) == 0 || list[0].ID != id {
		return radius.Errorf(radius.ENOTFOUND, "no such delivery")
	}
	v := &webhooksView{view: p.view(c, "Webhook delivery"), Delivery: &list[0], loc: p.format().loc}
	if v.Attempts, err = w.Attempts(ctx, id); err != nil {
		return err
	}
	if err := p.audit(c, "webhook.delivery", "delivery:"+strconv.FormatInt(id, 10), nil); err != nil {
		return err
	}
	return p.renderAny(c, fiber.StatusOK, "admin-webhook-delivery", v)
}

// adminWebhookRetry queues delivery :id again now.
func (p *Portal) adminWebhookRetry(c *fiber.Ctx) error {
	id, err := webhookID(c)
	if err != nil {
		return err
	}
	if err := p.deps.Ops.Webhooks.Retry(c.UserContext(), id); err != nil {
		return err
	}
	if err := p.audit(c, "webhook.retry", "delivery:"+strconv.FormatInt(id, 10), nil); err != nil {
		return err
	}
	return c.Redirect("/admin/webhooks/deliveries/"+strconv.FormatInt(id, 10), fiber.StatusSeeOther)
}

// registerOps adds the operator's pages of Deps.Ops: the dashboard's live parts, the
// sessions page, the edit pages, the webhooks page.
func (p *Portal) registerOps() {
	o := p.deps.Ops
	if o == nil {
		return
	}
	if o.Activity != nil && o.Revenue != nil {
		p.handle("GET", "/admin/dashboard.json", accessAdmin, p.adminDashboardJSON)
	}
	if o.Sessions != nil {
		p.handle("GET", "/admin/sessions", accessAdmin, p.adminSessions)
		if o.Disconnect != nil {
			p.handle("POST", "/admin/sessions/disconnect", accessAdmin, p.adminSessionDisconnect)
		}
	}
	if p.deps.Vouchers != nil {
		if o.NAS != nil {
			p.handle("GET", "/admin/nas/:name", accessAdmin, p.adminNASShow)
			p.handle("POST", "/admin/nas/:name", accessAdmin, p.adminNASUpdate)
			p.handle("POST", "/admin/nas/:name/delete", accessAdmin, p.adminNASDelete)
		}
		if o.Plans != nil {
			p.handle("GET", "/admin/plans/:id", accessAdmin, p.adminPlan)
			p.handle("POST", "/admin/plans/:id", accessAdmin, p.adminPlanUpdate)
			p.handle("POST", "/admin/plans/:id/delete", accessAdmin, p.adminPlanDelete)
			if o.PlanCoA != nil && o.Sessions != nil {
				p.handle("GET", "/admin/plans/:id/coa", accessAdmin, p.adminPlanCoAOffer)
				p.handle("POST", "/admin/plans/:id/coa", accessAdmin, p.adminPlanCoA)
			}
		}
		if o.Resellers != nil {
			p.handle("GET", "/admin/resellers/:id", accessAdmin, p.adminReseller)
			p.handle("POST", "/admin/resellers/:id", accessAdmin, p.adminResellerUpdate)
		}
	}
	p.handle("POST", "/admin/users/:id/role", accessAdmin, p.adminUserRole)
	if o.Webhooks != nil {
		p.handle("GET", "/admin/webhooks", accessAdmin, p.adminWebhooks)
		p.handle("POST", "/admin/webhooks", accessAdmin, p.adminWebhookAdd)
		for _, a := range []string{"enable", "disable", "delete", "test"} {
			p.handle("POST", "/admin/webhooks/:id/"+a, accessAdmin, p.adminWebhookAction(a))
		}
		p.handle("GET", "/admin/webhooks/deliveries/:id", accessAdmin, p.adminWebhookDelivery)
		p.handle("POST", "/admin/webhooks/deliveries/:id/retry", accessAdmin, p.adminWebhookRetry)
	}
}
