-- pgvault 0.1
\echo Use "CREATE EXTENSION pgvault" to load this file. \quit

-- One row per backup: the audit trail. Rows are never deleted by pgvault;
-- removed backups change status instead.
CREATE TABLE vault.backups (
    id                bigserial PRIMARY KEY,
    name              text NOT NULL UNIQUE,
    kind              text NOT NULL CHECK (kind IN ('physical', 'logical')),
    trigger           text NOT NULL CHECK (trigger IN ('manual', 'scheduled', 'retry', 'pre_restore')),
    status            text NOT NULL CHECK (status IN ('queued', 'running', 'completed', 'failed',
                                                      'cancelled', 'expired', 'deleted')),
    label             text,
    database          name,
    started_at        timestamptz NOT NULL DEFAULT now(),
    completed_at      timestamptz,
    source_bytes      bigint,
    stored_bytes      bigint,
    compression       text,
    encrypted         boolean NOT NULL DEFAULT false,
    sha256            text,
    location          text,
    initiated_by      name,
    error_message     text,
    start_lsn         pg_lsn,
    stop_lsn          pg_lsn,
    timeline          integer,
    verified_at       timestamptz,
    system_identifier text,
    pg_version        integer,
    worker_pid        integer
);
CREATE INDEX backups_started_at_idx ON vault.backups (started_at);
CREATE INDEX backups_status_idx ON vault.backups (status);

COMMENT ON TABLE vault.backups IS 'pgvault: one row per backup (the audit trail)';
COMMENT ON COLUMN vault.backups.sha256 IS
  'SHA-256 over "sha256  object" lines of the backup''s objects sorted by name (sha256sum output)';
COMMENT ON COLUMN vault.backups.source_bytes IS 'bytes of database files backed up';
COMMENT ON COLUMN vault.backups.stored_bytes IS 'bytes stored in the repository';

CREATE VIEW vault.history AS
SELECT id, name, kind, trigger, status, started_at, completed_at,
       completed_at - started_at AS duration,
       source_bytes, stored_bytes, compression, encrypted, sha256, location,
       initiated_by, error_message, start_lsn, stop_lsn, timeline, verified_at,
       label, database
  FROM vault.backups;

COMMENT ON VIEW vault.history IS 'pgvault: every backup, its outcome, sizes and checksums';

CREATE FUNCTION vault._start_backup(kind text, label text, wait boolean)
RETURNS bigint
AS 'MODULE_PATHNAME', 'pgvault_start_backup'
LANGUAGE C VOLATILE;

-- SECURITY DEFINER so that a role granted EXECUTE on create_backup needs no
-- other privilege; initiated_by still records session_user.
CREATE FUNCTION vault.create_backup(kind text DEFAULT 'physical',
                                    label text DEFAULT NULL,
                                    wait boolean DEFAULT true)
RETURNS vault.history
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    backup_id bigint;
    result vault.history;
BEGIN
    backup_id := vault._start_backup(kind, label, wait);
    SELECT * INTO result FROM vault.history h WHERE h.id = backup_id;
    RETURN result;
END
$$;

COMMENT ON FUNCTION vault.create_backup(text, text, boolean) IS
  'pgvault: take a backup now; returns its vault.history row (status running when wait => false)';

CREATE FUNCTION vault.cancel_backup()
RETURNS boolean
AS 'MODULE_PATHNAME', 'pgvault_cancel_backup'
LANGUAGE C VOLATILE;

COMMENT ON FUNCTION vault.cancel_backup() IS
  'pgvault: ask the running backup to stop; true if one was running';

REVOKE ALL ON FUNCTION vault.cancel_backup() FROM PUBLIC;
REVOKE ALL ON FUNCTION vault._start_backup(text, text, boolean) FROM PUBLIC;
REVOKE ALL ON FUNCTION vault.create_backup(text, text, boolean) FROM PUBLIC;
REVOKE ALL ON vault.backups FROM PUBLIC;
REVOKE ALL ON vault.history FROM PUBLIC;
