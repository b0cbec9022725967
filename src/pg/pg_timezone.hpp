// pgvault.timezone through PostgreSQL's own time zone database, so the
// scheduler and vault.next_runs() read zones exactly as the server does.
#pragma once

#include "pgvault/cron/schedule.hpp"

#include <string>

struct pg_tz;

namespace pgvault::pg {

class PgTimeZone final : public TimeZone {
 public:
  // Throws Error(invalid_argument) for an unknown zone.
  explicit PgTimeZone(const std::string& name);
  int offset_at(std::int64_t unix_seconds) const override;

 private:
  pg_tz* tz_;
};

}  // namespace pgvault::pg
