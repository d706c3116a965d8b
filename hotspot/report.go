package hotspot

import (
	"context"
	"time"
)

// BatchSummary is one batch as a listing shows it: how many of its vouchers are sold,
// activated and revoked so far.
type BatchSummary struct {
	ID        int64
	PlanName  string
	Count     int
	Reseller  string
	CreatedAt time.Time
	Sold      int
	Activated int
	Revoked   int
}

// SalesDay is one day of a reseller's sales report.
type SalesDay struct {
	Day          time.Time
	Sold         int
	Activated    int
	RevenueCents int64 // what the reseller paid that day (the ledger's purchases)
}

// ReportStore lists batches and a reseller's sales for the admin and reseller pages.
type ReportStore interface {
	// FindBatches lists the latest limit batches of reseller ("" for all), newest first.
	FindBatches(ctx context.Context, reseller string, limit int) ([]BatchSummary, error)
	// SalesReport returns reseller's vouchers sold, activated and revenue by UTC day, the
	// latest limit days first.
	SalesReport(ctx context.Context, reseller string, limit int) ([]SalesDay, error)
}
