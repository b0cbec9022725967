// Alerts: the pgvault.alert_* / smtp_* settings, the outcome queue in shared
// memory and the static "pgvault alerts" worker that turns outcomes into
// alerts and delivers them (the core's src/core/alert). Defined in alerts.cpp.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace pgvault::pg {

// Defines pgvault.alert_webhook_url, alert_email_to, alert_email_from,
// smtp_url, smtp_user, smtp_password and alert_on. Called by define_settings().
void define_alert_settings();

// The secret ones (without "pgvault."), for the log filter of storage_settings.cpp.
const std::vector<std::string>& alert_secret_setting_names();

// Queues an outcome (a JSON object with "source" and "ok", see
// pgvault/alert/alert.hpp) for the alerts worker when the current
// transaction commits; nothing is queued if it aborts. Call inside a transaction.
void queue_alert_outcome_at_commit(std::string outcome_json);
// The same, built from facts: {"source": source, "ok": ok, facts...}.
void queue_alert_outcome_at_commit(const std::string& source, bool ok,
                                   const std::vector<std::pair<std::string, std::string>>& facts);

void register_alerts_worker();

// Sends the NOTIFY pgvault events the alerts worker raised (stale,
// stale_recovered) since the last call, in one committed transaction. The
// scheduler calls it: the alerts worker has no database connection. Throws
// on SPI errors.
void send_alert_events();

// In the job worker, after a backup was marked completed: compares it with
// the earlier completed backups of its kind (alert/anomaly.hpp) and, when it
// is unusual, logs a WARNING, sends NOTIFY pgvault event "anomaly" and queues
// the alert, in its own transaction. Throws on SPI errors (the caller logs:
// the backup itself succeeded).
void check_backup_anomaly(long long backup_id);

}  // namespace pgvault::pg
