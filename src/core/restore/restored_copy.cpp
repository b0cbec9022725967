#include "pgvault/restore/restored_copy.hpp"

#include "pgvault/error.hpp"
#include "pgvault/file_replacement.hpp"
#include "pgvault/text.hpp"
#include "pgvault/wal/wal_layout.hpp"

#include <algorithm>
#include <vector>

#include <cerrno>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace pgvault {

CarryOver parse_carry_over(std::string_view option, std::string_view value) {
  if (value == "off") return CarryOver::off;
  if (value == "preserve") return CarryOver::preserve;
  throw Error(ErrorKind::invalid_argument,
              "invalid " + std::string(option) + " \"" + quote_untrusted(value) +
                  "\" (allowed: off, the default, for a copy that must not write into the "
                  "repository it came from; preserve, for the cluster that replaces a lost one)");
}

std::string_view carry_over_name(CarryOver mode) {
  return mode == CarryOver::preserve ? "preserve" : "off";
}

namespace {

struct Block {
  std::string_view comment_prefix;
  std::vector<std::string_view> settings;  // lower case
  std::string text;                        // the lines appended
};

std::string_view without_cr(std::string_view line) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  return line;
}

}  // namespace

AutoConfEdit render_restored_copy_settings(std::string_view existing,
                                           const RestoredCopyPolicy& policy) {
  std::vector<Block> blocks;
  if (policy.archive_mode == CarryOver::off) {
    blocks.push_back(
        {kArchiveOffComment,
         {"archive_mode"},
         std::string(kArchiveOffComment) +
             " a restored copy must not archive WAL into the repository it came from (it would "
             "be a second writer under the original's system identifier).\n" +
             std::string(kArchiveOffComment) +
             " to archive again (this cluster replaces the original): ALTER SYSTEM RESET "
             "archive_mode; then restart the server.\narchive_mode = 'off'\n"});
  }
  if (policy.schedule == CarryOver::off) {
    std::string text = std::string(kScheduleOffComment) +
                       " a restored copy must not take scheduled backups into the repository it "
                       "came from (nor expire the original's backups by its retention).\n" +
                       std::string(kScheduleOffComment) + " to schedule backups again:";
    for (std::string_view s : kScheduleSettings)
      text += " ALTER SYSTEM RESET " + std::string(s) + ";";
    text += " SELECT pg_reload_conf();\n";
    for (std::string_view s : kScheduleSettings) text += std::string(s) + " = ''\n";
    blocks.push_back({kScheduleOffComment,
                      {kScheduleSettings.begin(), kScheduleSettings.end()},
                      std::move(text)});
  }
  if (policy.port) {
    const std::string port = std::to_string(*policy.port);
    blocks.push_back({kPortComment,
                      {"port"},
                      std::string(kPortComment) +
                          " the restored copy listens on its own port, so that it can start "
                          "beside the original server (which may still run on the port the "
                          "backup has).\nport = " +
                          port + "\n"});
  }

  AutoConfEdit edit;
  while (!existing.empty()) {
    const auto nl = existing.find('\n');
    const std::string_view line = existing.substr(0, nl);
    existing = nl == std::string_view::npos ? std::string_view() : existing.substr(nl + 1);
    const std::string_view content = without_cr(line);
    const std::string name = configuration_line_setting(content);
    bool drop = false;
    for (const Block& b : blocks) {
      if (content.starts_with(b.comment_prefix)) {
        drop = true;  // our own earlier comment: replaced below
      } else if (std::find(b.settings.begin(), b.settings.end(), name) != b.settings.end()) {
        edit.removed.emplace_back(content);
        drop = true;
      }
    }
    if (drop) continue;
    if (!blocks.empty() &&
        (name == "include" || name == "include_if_exists" || name == "include_dir"))
      edit.warnings.push_back("postgresql.auto.conf has \"" + std::string(content) +
                              "\": settings in included files are not changed");
    edit.text.append(line).push_back('\n');
  }
  for (const Block& b : blocks) edit.text += b.text;
  return edit;
}

std::string shell_quote(std::string_view word) {
  const bool plain = !word.empty() && std::all_of(word.begin(), word.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return (u >= 'a' && u <= 'z') || (u >= 'A' && u <= 'Z') || (u >= '0' && u <= '9') ||
           std::string_view("_@%+=:,./-").find(c) != std::string_view::npos;
  });
  if (plain) return std::string(word);
  std::string out = "'";
  for (char c : word) {
    if (c == '\'')
      out += "'\\''";
    else
      out.push_back(c);
  }
  return out + "'";
}

namespace {

// A fixed word of restore_command: shell-quoted, then every '%' doubled so
// that PostgreSQL's %f/%p/%r/%% replacement leaves it as it is.
std::string fixed_word(std::string_view word) {
  std::string out;
  for (char c : shell_quote(word)) {
    out.push_back(c);
    if (c == '%') out.push_back('%');
  }
  return out;
}

void require_absolute(std::string_view what, const std::string& path) {
  if (path.empty() || path.front() != '/')
    throw Error(ErrorKind::invalid_argument,
                std::string(what) + " for restore_command must be an absolute path, not \"" +
                    quote_untrusted(path) + "\" (the server runs it from its data directory)");
}

}  // namespace

std::string wal_fetch_restore_command(const WalFetchInvocation& w) {
  require_absolute("the pgvault program", w.program);
  if (w.config_file.empty() && w.repository_url.empty())
    throw Error(ErrorKind::invalid_argument,
                "restore_command needs the repository: a --config file or a repository URL");
  validate_wal_system_identifier(w.system_identifier);
  std::string out = fixed_word(w.program) + " " + std::string(kWalFetchCommand);
  auto option = [&](std::string_view name, const std::string& value) {
    out += " " + std::string(name) + " " + fixed_word(value);
  };
  if (!w.config_file.empty()) {
    require_absolute("the --config file", w.config_file);
    option(kWalFetchConfigOption, w.config_file);
  }
  if (!w.repository_url.empty()) option(kWalFetchRepositoryOption, w.repository_url);
  if (!w.encryption_key_file.empty()) {
    require_absolute("the --encryption-key-file", w.encryption_key_file);
    option(kWalFetchKeyFileOption, w.encryption_key_file);
  }
  option(kWalFetchSystemOption, w.system_identifier);
  return out + " %f %p";
}

std::string wal_fetch_cleanup_command(const WalFetchInvocation& w) {
  require_absolute("the pgvault program", w.program);
  return fixed_word(w.program) + " " + std::string(kWalFetchCommand) + " " +
         std::string(kWalFetchCleanupOption);
}

}  // namespace pgvault

namespace pgvault {

namespace {

std::vector<std::string> setting_lines(std::string_view text) {
  std::vector<std::string> lines;
  while (!text.empty()) {
    const auto nl = text.find('\n');
    const std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    if (!configuration_line_setting(line).empty()) lines.emplace_back(line);
  }
  return lines;
}

std::string read_if_exists(const std::string& path, mode_t& mode) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return {};
    throw_os_error("could not open " + quoted(path), errno);
  }
  struct stat st {};
  if (::fstat(fd, &st) == 0) mode = st.st_mode & 07777;
  std::string text;
  char buffer[65536];
  for (;;) {
    const ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n < 0) {
      const int e = errno;
      ::close(fd);
      throw_os_error("could not read " + quoted(path), e);
    }
    if (n == 0) break;
    text.append(buffer, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return text;
}

}  // namespace

RestoredSettingsReport write_restored_settings(const std::string& pgdata,
                                               const RestoredSettings& settings) {
  constexpr const char* kAutoConf = "postgresql.auto.conf";
  mode_t mode = 0600;
  const std::string existing = read_if_exists(pgdata + "/" + kAutoConf, mode);

  RestoredSettingsReport report;
  AutoConfEdit edit = render_restored_copy_settings(existing, settings.policy);
  report.written = setting_lines(render_restored_copy_settings("", settings.policy).text);
  if (settings.target) {
    AutoConfEdit recovery = render_recovery_auto_conf(
        edit.text, *settings.target, settings.restore_command, settings.recovery_end_command);
    for (const std::string& line :
         setting_lines(render_recovery_auto_conf("", *settings.target, settings.restore_command,
                                                 settings.recovery_end_command)
                           .text))
      report.written.push_back(line);
    edit.removed.insert(edit.removed.end(), recovery.removed.begin(), recovery.removed.end());
    for (std::string& w : recovery.warnings)
      if (std::find(edit.warnings.begin(), edit.warnings.end(), w) == edit.warnings.end())
        edit.warnings.push_back(std::move(w));
    edit.text = std::move(recovery.text);
  }
  report.removed = std::move(edit.removed);
  report.warnings = std::move(edit.warnings);
  // Each through a temporary beside it: the old settings or the new, never a part.
  const auto replace = [&](const std::string& name, std::string_view content, mode_t file_mode) {
    const std::string path = pgdata + "/" + name;
    replace_file(path, content, {path + ".pgvault-tmp", file_mode, true});
  };
  replace(kAutoConf, edit.text, mode);
  if (settings.target) {
    replace("recovery.signal", "", 0600);
    report.recovery_signal = true;
  }
  return report;
}

}  // namespace pgvault
