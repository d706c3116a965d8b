-- NAS hardening: the hosts the captive page may post guests' logins to, and the limits on
-- address ranges (the application checks them too, with a message naming the field).

-- The hosts of a hotspot's link-login-only, normalized by the application: lower-case DNS
-- names or IPv4 addresses, no port. The pattern is a backstop for any other writer.
ALTER TABLE nas ADD COLUMN login_hosts text[] NOT NULL DEFAULT '{}'
    CONSTRAINT nas_login_hosts_check CHECK (
        cardinality(login_hosts) <= 8
        AND array_position(login_hosts, NULL) IS NULL
        AND array_to_string(login_hosts, ',') ~ '^([a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?(,|$))*$'
    );

-- A range always requires Message-Authenticator: the server enforces it whatever the row
-- says, so make existing rows say so.
UPDATE nas SET require_message_authenticator = true, updated_at = now()
WHERE NOT require_message_authenticator
  AND masklen(address) < CASE family(address) WHEN 4 THEN 32 ELSE 128 END;
ALTER TABLE nas ADD CONSTRAINT nas_range_requires_ma
    CHECK (require_message_authenticator OR masklen(address) = CASE family(address) WHEN 4 THEN 32 ELSE 128 END);

-- No range wider than a /24 (IPv4) or a /56 (IPv6). NOT VALID: a wider range stored before
-- this migration keeps working until it is next changed, when it must be narrowed.
ALTER TABLE nas ADD CONSTRAINT nas_address_min_prefix
    CHECK (masklen(address) >= CASE family(address) WHEN 4 THEN 24 ELSE 56 END) NOT VALID;
