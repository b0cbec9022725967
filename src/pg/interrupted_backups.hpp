// Backups whose process is gone before it recorded an outcome (a server
// restart, a job worker that died): their rows are settled from what the
// repository holds, and their partial objects removed.
#pragma once

#include <string>

namespace pgvault::pg {

// Settles rows left 'running' by processes that are gone (except_id, the
// live job, is left alone). A backup whose backup.json is in the repository
// did complete — its row was copied before it finished, as in a cluster
// restored from it — and becomes 'completed'; any other becomes 'failed'
// with reason and its partial objects are removed from the store it was
// written to (when that store cannot be reached: cleanup_pending). Runs
// inside the caller's SPI connection and transaction.
void settle_interrupted_backups(const std::string& reason, long long except_id);

}  // namespace pgvault::pg
