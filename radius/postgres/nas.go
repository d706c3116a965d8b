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
INSERT INTO nas (name, address, secret, coa_port, require_message_authenticator)
VALUES ($1, $2, $3, $4, $5)
ON CONFLICT DO NOTHING
RETURNING id`

// The NAS with the same name comes first.
const findNASConflictSQL = `
SELECT name, address
FROM nas
WHERE name = $1 OR address && $2
ORDER BY name = $1 DESC, name
LIMIT 1`

// CreateNAS stores n with its secret already sealed and sets n.ID; a zero CoAPort takes
// the default 3799. EINVALID, ECONFLICT for a name in use or an address that overlaps
// another NAS's.
func (s *Store) CreateNAS(ctx context.Context, n *radius.NAS, sealedSecret []byte) error {
	if !n.Prefix.IsValid() {
		return radius.Errorf(radius.EINVALID, "address: required")
	}
	if n.Prefix != n.Prefix.Masked() {
		return radius.Errorf(radius.EINVALID, "address: %s has bits set right of the mask (the range is %s)", n.Prefix, n.Prefix.Masked())
	}
	if n.CoAPort == 0 {
		n.CoAPort = defaultCoAPort
	}
	err := s.db.QueryRow(ctx, createNASSQL, n.Name, n.Prefix, sealedSecret, n.CoAPort, n.RequireMessageAuthenticator).Scan(&n.ID)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return s.nasConflict(ctx, n)
	case err != nil:
		if pe := pg.Error(err); pg.IsCheck(err, "") {
			switch pe.ConstraintName {
			case "nas_name_check":
				return radius.Errorf(radius.EINVALID, "name: %q is not a valid NAS name (letters, digits, '.', '_', '-'; at most 63)", n.Name)
			case "nas_coa_port_check":
				return radius.Errorf(radius.EINVALID, "coa_port: %d is not a port", n.CoAPort)
			}
		}
		return fmt.Errorf("postgres: create NAS %q: %w", n.Name, err)
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
SELECT id, name, address, secret, coa_port, require_message_authenticator
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
		if err := rows.Scan(&n.ID, &n.Name, &n.Prefix, &n.Secret, &n.CoAPort, &n.RequireMessageAuthenticator); err != nil {
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
SELECT id, name, address, secret, coa_port, require_message_authenticator
FROM nas
WHERE name = $1`

// FindNASByName returns the NAS with the secret sealed. ENOTFOUND.
func (s *Store) FindNASByName(ctx context.Context, name string) (*radius.NAS, error) {
	var n radius.NAS
	err := s.db.QueryRow(ctx, findNASByNameSQL, name).
		Scan(&n.ID, &n.Name, &n.Prefix, &n.Secret, &n.CoAPort, &n.RequireMessageAuthenticator)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return nil, radius.Errorf(radius.ENOTFOUND, "NAS %q not found", name)
	case err != nil:
		return nil, fmt.Errorf("postgres: find NAS %q: %w", name, err)
	}
	return &n, nil
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
