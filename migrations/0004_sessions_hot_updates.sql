-- Interim-Updates rewrite a session row many times. With last_update indexed (the old
-- open-sessions index) no update could be HOT, so every interim added an entry to every
-- index. The open sessions are few (those online now): indexing them by NAS, a column
-- that never changes, is enough for the reaper and the live view, and lets interims be
-- HOT updates; free space on each page (fillfactor 70) gives them room.
DROP INDEX sessions_open;
CREATE INDEX sessions_open ON sessions (nas_id) WHERE stopped_at IS NULL;

DO $$
DECLARE p regclass;
BEGIN
    FOR p IN SELECT inhrelid::regclass FROM pg_inherits WHERE inhparent = 'sessions'::regclass LOOP
        EXECUTE format('ALTER TABLE %s SET (fillfactor = 70)', p);
    END LOOP;
END $$;

-- New partitions of sessions get the same fillfactor.
CREATE OR REPLACE FUNCTION ensure_monthly_partitions(parent regclass, months_ahead integer) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    m      date := date_trunc('month', now())::date;
    part   text;
    def    text := parent::text || '_default';
    keycol text;
    with_  text := CASE WHEN parent = 'sessions'::regclass THEN ' WITH (fillfactor = 70)' ELSE '' END;
    n      bigint;
BEGIN
    SELECT a.attname INTO keycol
    FROM pg_partitioned_table p
    JOIN pg_attribute a ON a.attrelid = p.partrelid AND a.attnum = p.partattrs[0]
    WHERE p.partrelid = parent;
    FOR i IN 0..months_ahead LOOP
        part := format('%s_%s', parent::text, to_char(m, 'YYYYMM'));
        IF to_regclass(part) IS NULL THEN
            EXECUTE format('SELECT count(*) FROM %I WHERE %I >= %L AND %I < %L',
                           def, keycol, m, keycol, (m + interval '1 month')::date) INTO n;
            IF n = 0 THEN
                EXECUTE format('CREATE TABLE %I PARTITION OF %s FOR VALUES FROM (%L) TO (%L)',
                               part, parent, m, (m + interval '1 month')::date) || with_;
            ELSE
                EXECUTE format('CREATE TABLE %I (LIKE %s INCLUDING DEFAULTS INCLUDING CONSTRAINTS)', part, parent) || with_;
                EXECUTE format('WITH moved AS (DELETE FROM %I WHERE %I >= %L AND %I < %L RETURNING *) INSERT INTO %I SELECT * FROM moved',
                               def, keycol, m, keycol, (m + interval '1 month')::date, part);
                EXECUTE format('ALTER TABLE %s ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)',
                               parent, part, m, (m + interval '1 month')::date);
            END IF;
        END IF;
        m := (m + interval '1 month')::date;
    END LOOP;
END $$;

-- The auth log is append-only and written at the RADIUS rate: a BRIN index finds a time
-- range at a fraction of a btree's cost per row. Per-user lookups keep their btree.
DROP INDEX auth_log_at;
CREATE INDEX auth_log_at ON auth_log USING brin (at);
