-- vault.history is the audit trail: its columns are part of the interface.
SELECT ordinal_position, column_name, data_type
  FROM information_schema.columns
 WHERE table_schema = 'vault' AND table_name = 'history'
 ORDER BY ordinal_position;
-- Status, kind and trigger only take documented values.
\set VERBOSITY terse
INSERT INTO vault.backups (name, kind, trigger, status) VALUES ('x', 'physical', 'manual', 'done');
INSERT INTO vault.backups (name, kind, trigger, status) VALUES ('x', 'differential', 'manual', 'running');
\set VERBOSITY default
