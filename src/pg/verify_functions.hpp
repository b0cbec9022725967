// Scheduled verification (verify_functions.cpp).
#pragma once

namespace pgvault::pg {

// Starts the "pgvault verify" worker, which verifies the newest complete
// backup and records the outcome on its row. Throws Error(conflict) when no
// background worker slot is free.
void launch_verify_worker();

}  // namespace pgvault::pg
