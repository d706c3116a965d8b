package server

import (
	"github.com/prometheus/client_golang/prometheus"

	tg "tollgate/radius"
)

// Register exposes the server's counters to Prometheus under the tollgate_radius namespace.
// Labels are bounded: an outcome or a reason code, never a user or an address.
func (s *Server) Register(reg prometheus.Registerer) error {
	st := &s.stats
	counters := []struct {
		name, help string
		v          interface{ Load() uint64 }
	}{
		{"packets_received_total", "Datagrams read.", &st.Received},
		{"packets_unknown_nas_total", "Datagrams dropped: source is no configured NAS.", &st.UnknownNAS},
		{"packets_malformed_total", "Datagrams dropped: malformed.", &st.Malformed},
		{"packets_bad_authenticator_total", "Datagrams dropped: wrong authenticator or Message-Authenticator.", &st.BadAuthenticator},
		{"packets_missing_message_authenticator_total", "Access-Requests dropped: Message-Authenticator required but absent.", &st.MissingMA},
		{"packets_unknown_code_total", "Datagrams dropped: code not served on this port.", &st.UnknownCode},
		{"packets_duplicate_total", "Retransmits answered from the reply cache or dropped while in flight.", &st.Duplicates},
		{"packets_shed_total", "Datagrams dropped because every worker was busy and the queue full.", &st.Shed},
		{"errors_internal_total", "Requests left unanswered because a store failed.", &st.Internal},
		{"status_server_total", "Status-Server requests answered.", &st.StatusServer},
		{"access_accepts_total", "Access-Accepts sent.", &st.Accepts},
		{"access_rejects_total", "Access-Rejects sent.", &st.Rejects},
		{"accounting_recorded_total", "Accounting-Requests made durable and answered.", &st.AcctRecorded},
		{"throttle_errors_total", "Voucher logins the failure throttle could not check or count (Redis unreachable).", &st.ThrottleErrors},
	}
	for _, c := range counters {
		v := c.v
		if err := reg.Register(prometheus.NewCounterFunc(prometheus.CounterOpts{
			Namespace: "tollgate", Subsystem: "radius", Name: c.name, Help: c.help,
		}, func() float64 { return float64(v.Load()) })); err != nil {
			return err
		}
	}
	if err := reg.Register(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: "tollgate", Subsystem: "radius", Name: "nas_unusable",
		Help: "NASes refused because their row cannot be used (a secret that does not open); their packets count as from an unknown NAS.",
	}, func() float64 { return float64(len(s.nas.Load().unusable)) })); err != nil {
		return err
	}
	if err := reg.Register(nasCollector{s}); err != nil {
		return err
	}
	for _, r := range tg.Reasons() {
		r := r
		if err := reg.Register(prometheus.NewCounterFunc(prometheus.CounterOpts{
			Namespace: "tollgate", Subsystem: "radius", Name: "decisions_total",
			Help: "Authorization decisions by reason.", ConstLabels: prometheus.Labels{"reason": r.String()},
		}, func() float64 { return float64(st.Reason(r)) })); err != nil {
			return err
		}
	}
	return nil
}

// RegisterEnforcer exposes the reaper's counters under tollgate_radius: sessions it
// closed, and runs it skipped because accounting records waited in the spool.
func RegisterEnforcer(reg prometheus.Registerer, e *tg.Enforcer) error {
	for _, c := range []struct {
		name, help string
		v          func() uint64
	}{
		{"reaper_closed_total", "Sessions the reaper closed as stale.", e.Reaped},
		{"reaper_skipped_total", "Reaper runs skipped because accounting records waited in the spool for Postgres.", e.ReapsSkipped},
	} {
		v := c.v
		if err := reg.Register(prometheus.NewCounterFunc(prometheus.CounterOpts{
			Namespace: "tollgate", Subsystem: "radius", Name: c.name, Help: c.help,
		}, func() float64 { return float64(v()) })); err != nil {
			return err
		}
	}
	return nil
}

// The per-NAS series: labelled with the NAS's name, a bounded label (the NASes an admin
// configured). A NAS that leaves the snapshot leaves the series with it.
var (
	nasRequestsDesc = prometheus.NewDesc("tollgate_radius_nas_requests_total",
		"Datagrams received from the NAS (auth, accounting, Status-Server, retransmits).", []string{"nas"}, nil)
	nasAcceptsDesc = prometheus.NewDesc("tollgate_radius_nas_accepts_total",
		"Access-Accepts sent to the NAS.", []string{"nas"}, nil)
	nasRejectsDesc = prometheus.NewDesc("tollgate_radius_nas_rejects_total",
		"Access-Rejects sent to the NAS.", []string{"nas"}, nil)
	nasAcctDesc = prometheus.NewDesc("tollgate_radius_nas_accounting_total",
		"Accounting-Requests of the NAS made durable and answered.", []string{"nas"}, nil)
	nasDropsDesc = prometheus.NewDesc("tollgate_radius_nas_drops_total",
		"Datagrams of the NAS left unanswered: malformed, bad authenticator, overload, a store failure.", []string{"nas"}, nil)
	nasLastSeenDesc = prometheus.NewDesc("tollgate_radius_nas_last_request_timestamp_seconds",
		"When the latest datagram of the NAS arrived (Unix time; absent until one did).", []string{"nas"}, nil)
)

// nasCollector reads the counters of the NASes in the current snapshot at each scrape.
type nasCollector struct{ s *Server }

func (c nasCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{nasRequestsDesc, nasAcceptsDesc, nasRejectsDesc, nasAcctDesc, nasDropsDesc, nasLastSeenDesc} {
		ch <- d
	}
}

func (c nasCollector) Collect(ch chan<- prometheus.Metric) {
	for _, a := range c.s.NASActivity() {
		for _, m := range []struct {
			d *prometheus.Desc
			v uint64
		}{{nasRequestsDesc, a.Requests}, {nasAcceptsDesc, a.Accepts}, {nasRejectsDesc, a.Rejects}, {nasAcctDesc, a.Accounting}, {nasDropsDesc, a.Drops}} {
			ch <- prometheus.MustNewConstMetric(m.d, prometheus.CounterValue, float64(m.v), a.NASName)
		}
		if !a.LastSeen.IsZero() {
			ch <- prometheus.MustNewConstMetric(nasLastSeenDesc, prometheus.GaugeValue, float64(a.LastSeen.UnixNano())/1e9, a.NASName)
		}
	}
}
