package routeros

import "github.com/prometheus/client_golang/prometheus"

// Poll results, the label of tollgate_routeros_polls_total: the poll answered, the
// router could not be reached (connect: refused, unreachable, TLS), refused the login,
// did not answer in time, or failed otherwise.
const (
	resultOK      = "ok"
	resultConnect = "connect"
	resultLogin   = "login"
	resultTimeout = "timeout"
	resultError   = "error"
)

var results = [...]string{resultOK, resultConnect, resultLogin, resultTimeout, resultError}

const numResults = len(results)

func resultIndex(kind string) int {
	for i, r := range results {
		if r == kind {
			return i
		}
	}
	return numResults - 1 // error
}

// Polls returns how many health polls ended with result ("ok", "connect", "login",
// "timeout" or "error").
func (p *Pool) Polls(result string) uint64 { return p.polls[resultIndex(result)].Load() }

// Register exposes the pool's counters under tollgate_routeros: health polls by
// result, connections dialled, `!empty` replies absorbed, and routersDown (the routers
// down after the last polling round) as a gauge. The counters are read at scrape time.
func (p *Pool) Register(reg prometheus.Registerer, routersDown func() int64) error {
	for _, r := range results {
		r := r
		if err := reg.Register(prometheus.NewCounterFunc(prometheus.CounterOpts{
			Namespace: "tollgate", Subsystem: "routeros", Name: "polls_total",
			Help:        "Health polls of routers' RouterOS API, by result.",
			ConstLabels: prometheus.Labels{"result": r},
		}, func() float64 { return float64(p.Polls(r)) })); err != nil {
			return err
		}
	}
	for _, c := range []struct {
		name, help string
		v          func() uint64
	}{
		{"dials_total", "Connections opened to routers' RouterOS API (a dropped connection is dialled again).", p.Dials},
		{"empty_replies_total", "RouterOS 7.18+ !empty replies absorbed (a print that found nothing).", p.Empties},
	} {
		v := c.v
		if err := reg.Register(prometheus.NewCounterFunc(prometheus.CounterOpts{
			Namespace: "tollgate", Subsystem: "routeros", Name: c.name, Help: c.help,
		}, func() float64 { return float64(v()) })); err != nil {
			return err
		}
	}
	return reg.Register(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: "tollgate", Subsystem: "routeros", Name: "routers_down",
		Help: "Routers whose RouterOS API missed TOLLGATE_ROUTER_DOWN_AFTER polls in a row, after the last polling round.",
	}, func() float64 { return float64(routersDown()) }))
}
