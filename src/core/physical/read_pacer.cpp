#include "pgvault/physical/read_pacer.hpp"

#include "pgvault/error.hpp"

#include <algorithm>

namespace pgvault {

ReadPacer::ReadPacer(std::uint64_t bytes_per_second) : rate_(bytes_per_second) {
  if (rate_ == 0) throw Error(ErrorKind::invalid_argument, "a read rate must be positive");
}

void ReadPacer::on_progress(std::uint64_t source_done, std::uint64_t received) {
  source_at_report_ = source_done;
  received_at_report_ = received;
}

std::uint64_t ReadPacer::estimated_source(std::uint64_t received) const {
  const std::uint64_t since = received > received_at_report_ ? received - received_at_report_ : 0;
  if (received_at_report_ == 0) return source_at_report_ + since * kFirstRatio;
  if (source_at_report_ <= received_at_report_) return source_at_report_ + since;  // no compression
  const double ratio =
      static_cast<double>(source_at_report_) / static_cast<double>(received_at_report_);
  return source_at_report_ + static_cast<std::uint64_t>(static_cast<double>(since) * ratio);
}

ReadPacer::Duration ReadPacer::delay(std::uint64_t received, Duration elapsed) const {
  const double due_s = static_cast<double>(estimated_source(received)) / static_cast<double>(rate_);
  const auto due = std::chrono::duration_cast<Duration>(std::chrono::duration<double>(due_s));
  return due > elapsed ? due - elapsed : Duration::zero();
}

}  // namespace pgvault
