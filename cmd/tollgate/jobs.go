package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/robfig/cron/v3"

	"tollgate/radius/pg"
)

// job is a scheduled domain method. Each replica schedules every job; a run happens once
// per slot across replicas (ClaimCronRun) and never overlaps itself (an advisory lock).
type job struct {
	name  string
	every time.Duration
	run   func(ctx context.Context) error
}

// cronLogger bridges robfig/cron's logger to slog.
type cronLogger struct{ log *slog.Logger }

func (l cronLogger) Info(msg string, kv ...any) { l.log.Debug("cron: "+msg, kv...) }
func (l cronLogger) Error(err error, msg string, kv ...any) {
	l.log.Error("cron: "+msg, append(kv, "err", err)...)
}

// nodeName identifies this process in cron_runs.
func nodeName() string {
	h, _ := os.Hostname()
	return fmt.Sprintf("%s/%d", h, os.Getpid())
}

// scheduleJobs schedules jobs; the returned cron is stopped by the caller.
func scheduleJobs(ctx context.Context, d *deps, jobs []job) *cron.Cron {
	logger := cronLogger{d.log}
	c := cron.New(cron.WithLogger(logger), cron.WithChain(cron.Recover(logger), cron.SkipIfStillRunning(logger)))
	node := nodeName()
	for _, j := range jobs {
		c.Schedule(cron.Every(j.every), cron.FuncJob(func() { runJob(ctx, d, node, j) }))
	}
	c.Start()
	return c
}

func runJob(ctx context.Context, d *deps, node string, j job) {
	if ctx.Err() != nil {
		return
	}
	slot := time.Now().Truncate(j.every)
	ok, err := pg.ClaimCronRun(ctx, d.pool, j.name, slot, node)
	if err != nil {
		d.log.Error("cron: claim", "job", j.name, "err", err)
		return
	}
	if !ok {
		d.log.Debug("cron: slot run by another replica", "job", j.name, "slot", slot.Format(time.RFC3339))
		return
	}
	start := time.Now()
	ran, err := pg.WithJobLock(ctx, d.pool, j.name, j.run)
	msg := ""
	if err != nil {
		msg = err.Error()
		d.log.Error("cron: job failed", "job", j.name, "err", err)
	} else if !ran {
		msg = "skipped: previous run still holds the lock"
	}
	if err := pg.FinishCronRun(context.WithoutCancel(ctx), d.pool, j.name, slot, msg); err != nil {
		d.log.Error("cron: finish", "job", j.name, "err", err)
	}
	d.log.Debug("cron: ran", "job", j.name, "slot", slot.Format(time.RFC3339), "node", node, "took", time.Since(start))
}
