package postgres

import (
	"context"
	"fmt"
	"strings"

	"tollgate/radius"
)

// Account lookups by user name, gathered: when many logins miss the caches at once (a
// cold start), the lookups of concurrent requests go to Postgres as one query over
// arrays, so that the per-statement cost is paid once per batch, not per login.

// maxLookupBatch is the most lookups one query carries.
const maxLookupBatch = 128

// lookupBatchSQL is findAccountByUsernameSQL over arrays: $1 user names, $2 code hashes
// (NULL: none), each row led by its lookup's ordinal and the branch it came from; the
// caller keeps, per ordinal, the row findAccountByUsernameSQL would (lowest voucher_id).
var lookupBatchSQL = `
WITH q AS (SELECT * FROM unnest($1::text[], $2::bytea[]) WITH ORDINALITY AS q(username, code_hash, n))
(` + batched(subscriberAccountSQL, "subscribers s", "s.username = q.username") + `)
UNION ALL (` + batched(voucherAccountSQL, "vouchers v", "v.username = q.username") + `)
UNION ALL (` + batched(voucherAccountSQL, "vouchers v", "v.code_hash = q.code_hash") + `)`

// batched turns a one-account SELECT into one over the lookups q: the ordinal first,
// the table joined to q on cond.
func batched(sql, table, cond string) string {
	sql = strings.Replace(sql, "SELECT ", "SELECT q.n, ", 1)
	return strings.Replace(sql, "FROM "+table, "FROM q JOIN "+table+" ON "+cond, 1)
}

type lookup struct {
	username string
	codeHash []byte
	done     chan lookupResult // capacity 1
}

type lookupResult struct {
	a   *radius.Account
	err error
}

// lookupLoops is how many batches may be in Postgres at once.
const lookupLoops = 2

// StartLookups gathers FindAccountByUsername calls into batched queries until ctx ends;
// without it (the command line) every call is its own query.
func (s *Store) StartLookups(ctx context.Context) {
	queue := make(chan *lookup, 4*maxLookupBatch)
	s.lookups.Store(&queue)
	for range lookupLoops {
		go s.lookupLoop(ctx, queue)
	}
}

// lookupLoop answers queued lookups: the first waiting, with whatever else is queued
// behind it, in one query.
func (s *Store) lookupLoop(ctx context.Context, queue chan *lookup) {
	batch := make([]*lookup, 0, maxLookupBatch)
	for {
		select {
		case <-ctx.Done():
			return
		case l := <-queue:
			batch = append(batch[:0], l)
		}
	drain:
		for len(batch) < maxLookupBatch {
			select {
			case l := <-queue:
				batch = append(batch, l)
			default:
				break drain
			}
		}
		s.lookupBatch(ctx, batch)
		clear(batch)
	}
}

// lookupBatch answers batch with one query (one lookup alone: the single query).
func (s *Store) lookupBatch(ctx context.Context, batch []*lookup) {
	if len(batch) == 1 {
		a, err := s.findAccount(ctx, findAccountByUsernameSQL, batch[0].username, batch[0].codeHash)
		batch[0].done <- lookupResult{a, err}
		return
	}
	s.gathered.Add(int64(len(batch)))
	names := make([]string, len(batch))
	hashes := make([][]byte, len(batch))
	for i, l := range batch {
		names[i], hashes[i] = l.username, l.codeHash
	}
	found := make([]*radius.Account, len(batch))
	rows, err := s.db.Query(ctx, lookupBatchSQL, names, hashes)
	if err == nil {
		for rows.Next() {
			var n int64
			a, serr := scanAccount(rows, &n)
			if serr != nil {
				err = serr
				break
			}
			if i := int(n) - 1; i >= 0 && i < len(found) && (found[i] == nil || a.VoucherID < found[i].VoucherID) {
				found[i] = a
			}
		}
		rows.Close()
		if err == nil {
			err = rows.Err()
		}
	}
	for i, l := range batch {
		switch {
		case err != nil:
			l.done <- lookupResult{err: fmt.Errorf("postgres: find account %q: %w", radius.MaskCode(l.username), err)}
		case found[i] == nil:
			l.done <- lookupResult{err: radius.Errorf(radius.ENOTFOUND, "user %q not found", radius.MaskCode(l.username))}
		default:
			l.done <- lookupResult{a: found[i]}
		}
	}
}

// lookup runs one FindAccountByUsername through the gathering loop.
func (s *Store) lookup(ctx context.Context, queue chan *lookup, username string, codeHash []byte) (*radius.Account, error) {
	l := &lookup{username: username, codeHash: codeHash, done: make(chan lookupResult, 1)}
	select {
	case queue <- l:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	select {
	case r := <-l.done:
		return r.a, r.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}
