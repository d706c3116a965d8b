-- Hardening (issue 7): MAC logins are opt-in, voucher codes are never stored in clear,
-- and sealed values are bound to their row (the application seals with the row's id as
-- associated data, so rows reserve their id before they are inserted).

-- A subscriber bound to a MAC may log in by that MAC only when the operator says so,
-- and only on a hotspot plan (checked by the application, which knows the plan).
ALTER TABLE subscribers
    ADD COLUMN mac_login boolean NOT NULL DEFAULT false,
    ADD CONSTRAINT subscribers_mac_login_needs_mac CHECK (NOT mac_login OR mac IS NOT NULL);
CREATE INDEX subscribers_mac_login ON subscribers (mac) WHERE mac_login;

-- A voucher is found by the keyed hash (HMAC with a key derived from the server key) of
-- its normalized code; the code itself is kept only sealed (code_sealed, bound to the
-- row), for reprints, and a masked hint ("K7…Q2") for listings. In code mode the router
-- sends the code as User-Name: the voucher's own name (username) is then
-- 'voucher-<id>', which is what sessions, the auth log and the live index carry.
-- `tollgate migrate` converts vouchers stored before this migration (it needs the key)
-- and empties their code column; `serve` refuses to start until none is left.
ALTER TABLE vouchers
    ALTER COLUMN code DROP NOT NULL,
    ADD COLUMN code_hash bytea CHECK (length(code_hash) = 32),
    ADD COLUMN code_sealed bytea,
    ADD COLUMN code_hint text NOT NULL DEFAULT '' CHECK (length(code_hint) <= 16);
DROP INDEX vouchers_code;
CREATE UNIQUE INDEX vouchers_code_hash ON vouchers (code_hash);
ALTER TABLE vouchers ADD CONSTRAINT vouchers_code_stored_once
    CHECK ((code IS NULL) = (code_hash IS NOT NULL AND code_sealed IS NOT NULL));
