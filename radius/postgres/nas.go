package postgres

import (
	"context"
	"errors"
	"fmt"
	"net/netip"

	"github.com/jackc/pgx/v5"

	"tollgate/radius"
	"tollgate/radius/pg"
)

// defaultCoAPort is where a NAS listens for Disconnect and CoA requests (RFC 5176).
const defaultCoAPort = 3799

// ON CONFLICT DO NOTHING covers the unique name and the exclusion constraint on the
// address without raising an error, which would abort a caller's transaction and keep
// us from finding out which NAS is in the way.
const createNASSQL = `
INSERT INTO nas (id, name, address, secret, coa_port, require_message_authenticator, login_hosts)
OVERRIDING SYSTEM VALUE
VALUES ($7, $1, $2, $3, $4, $5, $6)
ON CONFLICT DO NOTHING
RETURNING id`

const nextNASIDSQL = `SELECT nextval(pg_get_serial_sequence('nas', 'id'))`

// NextNASID reserves a NAS ID: the secret is sealed to its row's ID
// (radius.SealNASSecret) before the row is stored.
func (s *Store) NextNASID(ctx context.Context) (int64, error) {
	var id int64
	if err := s.db.QueryRow(ctx, nextNASIDSQL).Scan(&id); err != nil {
		return 0, fmt.Errorf("postgres: reserve NAS id: %w", err)
	}
	return id, nil
}

// The NAS with the same name comes first.
const findNASConflictSQL = `
SELECT name, address
FROM nas
WHERE name = $1 OR address && $2
ORDER BY name = $1 DESC, name
LIMIT 1`

// CreateNAS stores n under its reserved n.ID (NextNASID) with its secret already sealed
// to that ID (radius.SealNASSecret); a zero ID reserves one, for a secret that is not
// bound to it (tests). A zero CoAPort takes the default 3799. EINVALID
// (radius.NAS.Validate), ECONFLICT for a name in use or an address that overlaps another
// NAS's.
func (s *Store) CreateNAS(ctx context.Context, n *radius.NAS, sealedSecret []byte) error {
	if n.CoAPort == 0 {
		n.CoAPort = defaultCoAPort
	}
	if err := n.Validate(); err != nil {
		return err
	}
	if len(sealedSecret) == 0 {
		return radius.Errorf(radius.EINVALID, "secret: required")
	}
	if n.ID <= 0 {
		id, err := s.NextNASID(ctx)
		if err != nil {
			return err
		}
		n.ID = id
	}
	hosts := n.LoginHosts
	if hosts == nil {
		hosts = []string{}
	}
	err := s.db.QueryRow(ctx, createNASSQL, n.Name, n.Prefix, sealedSecret, n.CoAPort, n.RequireMessageAuthenticator, hosts, n.ID).Scan(&n.ID)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return s.nasConflict(ctx, n)
	case err != nil:
		if e := nasCheckError(err, n.Name); e != nil {
			return e
		}
		return fmt.Errorf("postgres: create NAS %q: %w", n.Name, err)
	}
	return nil
}

// nasCheckError translates a NAS row's check violations into EINVALID naming the field,
// or returns nil.
func nasCheckError(err error, name string) error {
	pe := pg.Error(err)
	if pe == nil || pe.Code != pg.CheckViolation {
		return nil
	}
	switch pe.ConstraintName {
	case "nas_name_check":
		return pg.Translate(err, radius.EINVALID, fmt.Sprintf("name: %q is not a valid NAS name (letters, digits, '.', '_', '-'; at most 63)", name))
	case "nas_coa_port_check":
		return pg.Translate(err, radius.EINVALID, "coa_port: not a port")
	case "nas_range_requires_ma":
		return pg.Translate(err, radius.EINVALID, fmt.Sprintf("require_message_authenticator: NAS %q is a range: it always requires Message-Authenticator", name))
	case "nas_address_min_prefix":
		return pg.Translate(err, radius.EINVALID, fmt.Sprintf("address: NAS %q is a range wider than a /%d (IPv4) or /%d (IPv6): narrow it", name, radius.MinPrefixIPv4, radius.MinPrefixIPv6))
	case "nas_login_hosts_check":
		return pg.Translate(err, radius.EINVALID, "login_host: not a list of DNS names or IPv4 addresses")
	}
	return nil
}

// nasConflict explains why the insert of n did nothing.
func (s *Store) nasConflict(ctx context.Context, n *radius.NAS) error {
	var name string
	var addr netip.Prefix
	err := s.db.QueryRow(ctx, findNASConflictSQL, n.Name, n.Prefix).Scan(&name, &addr)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		// The other NAS went away between the two statements.
		return radius.Errorf(radius.ECONFLICT, "name: NAS %q conflicts with a NAS that changed meanwhile; try again", n.Name)
	case err != nil:
		return fmt.Errorf("postgres: create NAS %q: find conflict: %w", n.Name, err)
	case name == n.Name:
		return radius.Errorf(radius.ECONFLICT, "name: a NAS named %q exists", n.Name)
	}
	return radius.Errorf(radius.ECONFLICT, "address: %s overlaps NAS %q (%s)", n.Prefix, name, addr)
}

const listNASSQL = `
SELECT id, name, address, secret, coa_port, require_message_authenticator, login_hosts
FROM nas
ORDER BY name`

// ListNAS returns every NAS by name, with the secret still sealed in NAS.Secret: the
// caller opens it.
func (s *Store) ListNAS(ctx context.Context) ([]radius.NAS, error) {
	rows, err := s.db.Query(ctx, listNASSQL)
	if err != nil {
		return nil, fmt.Errorf("postgres: list NAS: %w", err)
	}
	defer rows.Close()
	var list []radius.NAS
	for rows.Next() {
		var n radius.NAS
		if err := rows.Scan(&n.ID, &n.Name, &n.Prefix, &n.Secret, &n.CoAPort, &n.RequireMessageAuthenticator, &n.LoginHosts); err != nil {
			return nil, fmt.Errorf("postgres: list NAS: %w", err)
		}
		list = append(list, n)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: list NAS: %w", err)
	}
	return list, nil
}

const findNASByNameSQL = `
SELECT id, name, address, secret, coa_port, require_message_authenticator, login_hosts
FROM nas
WHERE name = $1`

// FindNASByName returns the NAS with the secret sealed. ENOTFOUND.
func (s *Store) FindNASByName(ctx context.Context, name string) (*radius.NAS, error) {
	var n radius.NAS
	err := s.db.QueryRow(ctx, findNASByNameSQL, name).
		Scan(&n.ID, &n.Name, &n.Prefix, &n.Secret, &n.CoAPort, &n.RequireMessageAuthenticator, &n.LoginHosts)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return nil, radius.Errorf(radius.ENOTFOUND, "NAS %q not found", name)
	case err != nil:
		return nil, fmt.Errorf("postgres: find NAS %q: %w", name, err)
	}
	return &n, nil
}

// The NAS whose address a new address of NAS $1 would overlap.
const findNASOverlapSQL = `
SELECT name, address
FROM nas
WHERE address && $2 AND name <> $1
ORDER BY name
LIMIT 1`

// An update of the address that overlaps another NAS fails with an exclusion violation
// (ON CONFLICT is for inserts only), so UpdateNAS looks for one first: a caller's
// transaction is aborted only when another NAS took the address in between.
const updateNASSQL = `
UPDATE nas SET
    address = COALESCE($2, address),
    secret = COALESCE($3, secret),
    coa_port = COALESCE($4, coa_port),
    require_message_authenticator = COALESCE($5, require_message_authenticator),
    login_hosts = COALESCE($6, login_hosts),
    updated_at = now()
WHERE name = $1
RETURNING id, name, address, secret, coa_port, require_message_authenticator, login_hosts`

// UpdateNAS changes the NAS named name and returns it with its secret sealed. EINVALID
// naming the field (a range must keep requiring Message-Authenticator), ECONFLICT for an
// address that overlaps another NAS's, ENOTFOUND.
func (s *Store) UpdateNAS(ctx context.Context, name string, upd radius.NASUpdate) (*radius.NAS, error) {
	if err := upd.Validate(); err != nil {
		return nil, err
	}
	if upd.Prefix != nil {
		var other string
		var addr netip.Prefix
		err := s.db.QueryRow(ctx, findNASOverlapSQL, name, *upd.Prefix).Scan(&other, &addr)
		switch {
		case err == nil:
			return nil, radius.Errorf(radius.ECONFLICT, "address: %s overlaps NAS %q (%s)", *upd.Prefix, other, addr)
		case !errors.Is(err, pgx.ErrNoRows):
			return nil, fmt.Errorf("postgres: update NAS %q: find overlap: %w", name, err)
		}
	}
	var n radius.NAS
	err := s.db.QueryRow(ctx, updateNASSQL, name, upd.Prefix, upd.SealedSecret, upd.CoAPort, upd.RequireMessageAuthenticator, upd.LoginHosts).
		Scan(&n.ID, &n.Name, &n.Prefix, &n.Secret, &n.CoAPort, &n.RequireMessageAuthenticator, &n.LoginHosts)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return nil, radius.Errorf(radius.ENOTFOUND, "NAS %q not found", name)
	case err != nil:
		if e := nasCheckError(err, name); e != nil {
			return nil, e
		}
		if pe := pg.Error(err); pe != nil && pe.Code == pg.ExclusionViolation && upd.Prefix != nil {
			return nil, pg.Translate(err, radius.ECONFLICT, fmt.Sprintf("address: %s overlaps another NAS's", *upd.Prefix))
		}
		return nil, fmt.Errorf("postgres: update NAS %q: %w", name, err)
	}
	return &n, nil
}

const loginHostsSQL = `
SELECT DISTINCT h
FROM nas, unnest(login_hosts) AS h
ORDER BY h`

// LoginHosts returns every NAS's login hosts, the hosts the captive page may post a
// guest's login to.
func (s *Store) LoginHosts(ctx context.Context) ([]string, error) {
	rows, err := s.db.Query(ctx, loginHostsSQL)
	if err != nil {
		return nil, fmt.Errorf("postgres: login hosts: %w", err)
	}
	hosts, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("postgres: login hosts: %w", err)
	}
	return hosts, nil
}

const deleteNASSQL = `DELETE FROM nas WHERE name = $1`

// DeleteNAS removes the NAS named name. ENOTFOUND.
func (s *Store) DeleteNAS(ctx context.Context, name string) error {
	tag, err := s.db.Exec(ctx, deleteNASSQL, name)
	if err != nil {
		return fmt.Errorf("postgres: delete NAS %q: %w", name, err)
	}
	if tag.RowsAffected() == 0 {
		return radius.Errorf(radius.ENOTFOUND, "NAS %q not found", name)
	}
	return nil
}
