// Package freeradius reads a FreeRADIUS SQL database, the stock PostgreSQL schema of
// rlm_sql (radcheck, radreply, radusergroup, radgroupcheck, radgroupreply, nas and
// radacct), and maps it to tollgate's plans, subscribers, routers and sessions (Map),
// with a report of everything it could not map. Read is the adapter (pgx, read-only);
// Map is pure. cmd/tollgate stores the result in one transaction.
package freeradius

import (
	"context"
	"fmt"
	"net/netip"
	"sort"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"tollgate/radius/pg"
)

// Attr is one check or reply item.
type Attr struct {
	Attribute, Op, Value string
}

// Membership is a user's group with its priority (lower first).
type Membership struct {
	Group    string
	Priority int
}

// NASRow is one row of FreeRADIUS's nas table.
type NASRow struct {
	ID                         int64
	NASName, ShortName, Secret string
}

// AcctRow is one row of radacct.
type AcctRow struct {
	SessionID, Username, CallingStation, Cause string
	NASIP, FramedIP                            netip.Addr
	Start, Update, Stop                        time.Time
	SessionTime, In, Out                       int64
}

// Data is what Read found.
type Data struct {
	Check, Reply           map[string][]Attr // by user name
	GroupCheck, GroupReply map[string][]Attr // by group name
	Groups                 map[string][]Membership
	NAS                    []NASRow
	Acct                   []AcctRow
}

// The queries name the stock schema's columns; Postgres folds their unquoted mixed-case
// names. Rows come in id order, so that repeated attributes keep FreeRADIUS's order.
const (
	readCheckSQL      = `SELECT username, attribute, op, value FROM radcheck ORDER BY id`
	readReplySQL      = `SELECT username, attribute, op, value FROM radreply ORDER BY id`
	readGroupCheckSQL = `SELECT groupname, attribute, op, value FROM radgroupcheck ORDER BY id`
	readGroupReplySQL = `SELECT groupname, attribute, op, value FROM radgroupreply ORDER BY id`
	readUserGroupSQL  = `SELECT username, groupname, priority FROM radusergroup ORDER BY username, priority, id`
	readNASSQL        = `SELECT id, nasname, shortname, secret FROM nas ORDER BY id`
	readAcctSQL       = `
SELECT acctsessionid, coalesce(username, ''), nasipaddress, framedipaddress, coalesce(callingstationid, ''),
       acctstarttime, acctupdatetime, acctstoptime, coalesce(acctsessiontime, 0),
       coalesce(acctinputoctets, 0), coalesce(acctoutputoctets, 0), coalesce(acctterminatecause, '')
FROM radacct ORDER BY radacctid`
)

// Read reads every table Map needs from db, with accounting when withAcct; it only
// reads.
func Read(ctx context.Context, db pg.DBTX, withAcct bool) (*Data, error) {
	d := &Data{Groups: map[string][]Membership{}}
	var err error
	for _, t := range []struct {
		sql string
		dst *map[string][]Attr
	}{{readCheckSQL, &d.Check}, {readReplySQL, &d.Reply}, {readGroupCheckSQL, &d.GroupCheck}, {readGroupReplySQL, &d.GroupReply}} {
		if *t.dst, err = readAttrs(ctx, db, t.sql); err != nil {
			return nil, err
		}
	}
	rows, err := db.Query(ctx, readUserGroupSQL)
	if err != nil {
		return nil, fmt.Errorf("freeradius: radusergroup: %w", err)
	}
	var u string
	var m Membership
	if _, err := pgx.ForEachRow(rows, []any{&u, &m.Group, &m.Priority}, func() error {
		d.Groups[u] = append(d.Groups[u], m)
		return nil
	}); err != nil {
		return nil, fmt.Errorf("freeradius: radusergroup: %w", err)
	}
	for u := range d.Groups {
		sort.SliceStable(d.Groups[u], func(i, j int) bool { return d.Groups[u][i].Priority < d.Groups[u][j].Priority })
	}
	rows, err = db.Query(ctx, readNASSQL)
	if err != nil {
		return nil, fmt.Errorf("freeradius: nas: %w", err)
	}
	var n NASRow
	if _, err := pgx.ForEachRow(rows, []any{&n.ID, &n.NASName, &n.ShortName, &n.Secret}, func() error {
		d.NAS = append(d.NAS, n)
		return nil
	}); err != nil {
		return nil, fmt.Errorf("freeradius: nas: %w", err)
	}
	if withAcct {
		if d.Acct, err = readAcct(ctx, db); err != nil {
			return nil, err
		}
	}
	return d, nil
}

func readAttrs(ctx context.Context, db pg.DBTX, sql string) (map[string][]Attr, error) {
	out := map[string][]Attr{}
	rows, err := db.Query(ctx, sql)
	if err != nil {
		return nil, fmt.Errorf("freeradius: %s: %w", sql, err)
	}
	var name string
	var a Attr
	if _, err := pgx.ForEachRow(rows, []any{&name, &a.Attribute, &a.Op, &a.Value}, func() error {
		out[name] = append(out[name], a)
		return nil
	}); err != nil {
		return nil, fmt.Errorf("freeradius: %s: %w", sql, err)
	}
	return out, nil
}

func readAcct(ctx context.Context, db pg.DBTX) ([]AcctRow, error) {
	rows, err := db.Query(ctx, readAcctSQL)
	if err != nil {
		return nil, fmt.Errorf("freeradius: radacct: %w", err)
	}
	var out []AcctRow
	var (
		a                   AcctRow
		nasIP, framed       *netip.Prefix
		start, update, stop pgtype.Timestamptz
	)
	if _, err := pgx.ForEachRow(rows, []any{&a.SessionID, &a.Username, &nasIP, &framed, &a.CallingStation,
		&start, &update, &stop, &a.SessionTime, &a.In, &a.Out, &a.Cause}, func() error {
		r := a
		if nasIP != nil {
			r.NASIP = nasIP.Addr()
		}
		if framed != nil {
			r.FramedIP = framed.Addr()
		}
		r.Start, r.Update, r.Stop = start.Time, update.Time, stop.Time
		out = append(out, r)
		return nil
	}); err != nil {
		return nil, fmt.Errorf("freeradius: radacct: %w", err)
	}
	return out, nil
}
