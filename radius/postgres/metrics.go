package postgres

import "github.com/prometheus/client_golang/prometheus"

// Register exposes the accounting writer's counters to Prometheus under
// tollgate_accounting. They read the writer's own atomics at scrape time, so the
// accounting path pays nothing for them.
func (w *AcctWriter) Register(reg prometheus.Registerer) error {
	counters := []struct {
		name, help string
		v          func() uint64
	}{
		{"committed_total", "Accounting records committed to Postgres directly.", w.Committed},
		{"spooled_total", "Accounting records appended to the local spool because Postgres was unreachable.", w.Spooled},
		{"replayed_total", "Accounting records replayed from the spool into Postgres.", w.Replayed},
		{"dropped_total", "Accounting records dropped: refused by Postgres for their data, or undecodable in the spool.", w.Dropped},
		{"spool_damaged_total", "Damaged stretches of the spool the replay skipped; each lost at least one acknowledged record.",
			func() uint64 { n, _ := w.SpoolDamage(); return n }},
		{"spool_damaged_bytes_total", "Bytes of the spool the replay skipped as damaged.",
			func() uint64 { _, n := w.SpoolDamage(); return n }},
	}
	for _, c := range counters {
		v := c.v
		if err := reg.Register(prometheus.NewCounterFunc(prometheus.CounterOpts{
			Namespace: "tollgate", Subsystem: "accounting", Name: c.name, Help: c.help,
		}, func() float64 { return float64(v()) })); err != nil {
			return err
		}
	}
	return reg.Register(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: "tollgate", Subsystem: "accounting", Name: "spool_backlog",
		Help: "Accounting records acknowledged to the NAS that wait in the spool for Postgres; the reaper waits while it is above zero.",
	}, func() float64 { return float64(w.Backlog()) }))
}
