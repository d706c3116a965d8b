package portal

import (
	"github.com/prometheus/client_golang/prometheus"

	"tollgate/radius"
)

// metrics are the portal's counters, with bounded labels (never an email or an IP).
type metrics struct {
	logins *prometheus.CounterVec // result: success, failure, locked, limited, invalid
	errors *prometheus.CounterVec // code: a radius error code
	csrf   prometheus.Counter
	// apiLimited counts API requests refused by their token's rate limit.
	apiLimited prometheus.Counter
	// webhooks counts the payment webhooks' answers: provider (paystack, generic) and
	// result (credited, duplicate, review, failed, ignored, bad_signature, stale,
	// malformed, too_large, rate_limited, disabled, error).
	webhooks *prometheus.CounterVec
}

func newMetrics() *metrics {
	return &metrics{
		logins: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "tollgate", Subsystem: "portal", Name: "logins_total",
			Help: "Sign-in attempts by result (success, failure, locked, limited, invalid).",
		}, []string{"result"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "tollgate", Subsystem: "portal", Name: "errors_total",
			Help: "Requests answered with an error, by error code.",
		}, []string{"code"}),
		csrf: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "tollgate", Subsystem: "portal", Name: "csrf_refused_total",
			Help: "Unsafe requests refused for a missing or wrong CSRF token.",
		}),
		apiLimited: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "tollgate", Subsystem: "portal", Name: "api_rate_limited_total",
			Help: "API requests refused by their token's rate limit.",
		}),
		webhooks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "tollgate", Subsystem: "portal", Name: "webhooks_total",
			Help: "Payment webhooks by provider and result (credited, duplicate, review, bad_signature, stale, malformed, ...).",
		}, []string{"provider", "result"}),
	}
}

// Register adds the portal's metrics to reg, each label value it can take present from
// the start (at zero), so a dashboard's rate() has a series before the first event.
func (p *Portal) Register(reg prometheus.Registerer) error {
	for _, r := range []string{"success", "failure", "locked", "limited", "invalid"} {
		p.metrics.logins.WithLabelValues(r)
	}
	for _, c := range []string{radius.EINVALID, radius.ENOTFOUND, radius.ECONFLICT, radius.EUNAUTHORIZED, radius.EQUOTA, radius.EEXPIRED, radius.EINTERNAL} {
		p.metrics.errors.WithLabelValues(c)
	}
	for _, c := range []prometheus.Collector{p.metrics.logins, p.metrics.errors, p.metrics.csrf, p.metrics.apiLimited, p.metrics.webhooks} {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}
