// The job worker: the dynamic background worker that runs one backup from
// the cluster's job slot (shared_state.hpp) and records its outcome on the
// vault.backups row. job_control.cpp starts it; nothing else calls into it.
#pragma once

namespace pgvault::pg {

// Its entry point in pgvault's library, as a background worker names it
// (bgw_function_name); defined by PGVAULT_WORKER in job_worker.cpp.
inline constexpr const char* kJobWorkerEntry = "pgvault_job_main";

}  // namespace pgvault::pg
