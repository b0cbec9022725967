// vault._backups_write_guard(): the statement trigger that keeps the audit
// trail (vault.backups) written by pgvault alone. It fires on every write of
// every backup, first in each new job worker: in C it costs a superuser
// check; the PL/pgSQL body of 0.1-0.9 cost every backup's start 7 ms (the
// language loaded, the body compiled, a query on pg_roles planned cold).
#include "pgvault/error.hpp"

#include <string>

#include "error_boundary.hpp"

#include "postgres_headers.hpp"

using namespace pgvault;
using namespace pgvault::pg;

namespace {

const char* operation_name(TriggerEvent event) {
  if (TRIGGER_FIRED_BY_INSERT(event)) return "INSERT";
  if (TRIGGER_FIRED_BY_UPDATE(event)) return "UPDATE";
  if (TRIGGER_FIRED_BY_DELETE(event)) return "DELETE";
  return "TRUNCATE";
}

}  // namespace

// pgvault writes the rows as the bootstrap superuser (its workers) or in a
// SECURITY DEFINER function owned by one; any other current_user is refused,
// whatever it was granted on the table.
PGVAULT_FUNCTION(pgvault_backups_write_guard) {
  if (!CALLED_AS_TRIGGER(fcinfo)) {
    throw Error(ErrorKind::invalid_argument,
                "vault._backups_write_guard() is a trigger function; it cannot be called "
                "directly");
  }
  const TriggerEvent event = reinterpret_cast<TriggerData*>(fcinfo->context)->tg_event;
  if (!pg_guard([] { return superuser(); })) {
    const std::string role = pg_guard([] { return GetUserNameFromId(GetUserId(), false); });
    throw PgError(ERRCODE_INSUFFICIENT_PRIVILEGE,
                  std::string("vault.backups is written by pgvault only (") +
                      operation_name(event) + " by role \"" + role + "\" refused)",
                  "",
                  "Use vault.create_backup, vault.verify_backup, vault.delete_backup or "
                  "vault.cleanup.");
  }
  return PointerGetDatum(nullptr);
}
