-- ensure_monthly_partitions, again: when the default partition already holds rows of a
-- month (a NAS with a wrong clock, or a long outage of the partition job), creating that
-- month's partition would fail. The rows are moved into the new partition instead, in
-- the same transaction, so the job never gets stuck.
CREATE OR REPLACE FUNCTION ensure_monthly_partitions(parent regclass, months_ahead integer) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    m      date := date_trunc('month', now())::date;
    part   text;
    def    text := parent::text || '_default';
    keycol text;
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
                               part, parent, m, (m + interval '1 month')::date);
            ELSE
                EXECUTE format('CREATE TABLE %I (LIKE %s INCLUDING DEFAULTS INCLUDING CONSTRAINTS)', part, parent);
                EXECUTE format('WITH moved AS (DELETE FROM %I WHERE %I >= %L AND %I < %L RETURNING *) INSERT INTO %I SELECT * FROM moved',
                               def, keycol, m, keycol, (m + interval '1 month')::date, part);
                EXECUTE format('ALTER TABLE %s ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)',
                               parent, part, m, (m + interval '1 month')::date);
            END IF;
        END IF;
        m := (m + interval '1 month')::date;
    END LOOP;
END $$;
