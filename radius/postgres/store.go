// Package postgres is the Postgres adapter of the radius domain: NASes, the account
// lookup the RADIUS path makes on a cache miss, the batched auth log, and the accounting
// writer with its sessions. Methods run on a pg.DBTX (radius/pg, which also holds the
// change notifications that keep every running server's snapshot fresh), so one operation can span several stores in a single transaction.
package postgres

import (
	"sync/atomic"
	"tollgate/radius"
	"tollgate/radius/pg"
)

// Store reads and writes the radius tables.
type Store struct {
	db pg.DBTX
	// lookups, once StartLookups ran, gathers account lookups into batches.
	lookups atomic.Pointer[chan *lookup]
	// gathered counts the lookups answered by a query shared with others.
	gathered atomic.Int64
}

var (
	_ radius.AccountStore = (*Store)(nil)
	_ radius.NASStore     = (*Store)(nil)
)

// New returns a Store on a pool or a transaction.
func New(db pg.DBTX) *Store { return &Store{db: db} }
