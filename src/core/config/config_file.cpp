#include "pgvault/config/config_file.hpp"

#include "pgvault/error.hpp"
#include "pgvault/storage/repository_url.hpp"  // default_repository_url
#include "pgvault/text.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>

namespace pgvault {

namespace fs = std::filesystem;

namespace {

// ---- postgresql.conf syntax ------------------------------------------------------------

constexpr int kMaxIncludeDepth = 10;

bool id_start(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_' || c >= 0x80;
}
bool id_char(unsigned char c) {
  return id_start(c) || (c >= '0' && c <= '9') || c == '$';
}
bool blank(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v';
}

class ConfigReader {
 public:
  // data_directory (when given) receives the file's data_directory setting.
  explicit ConfigReader(SettingValues& out, std::string* data_directory = nullptr)
      : out_(out), data_directory_(data_directory) {}

  void read(const fs::path& file, int depth, const std::string& from) {
    if (depth > kMaxIncludeDepth)
      throw Error(ErrorKind::invalid_argument, from + "could not open configuration file \"" +
                                                   file.string() + "\": maximum nesting depth of " +
                                                   std::to_string(kMaxIncludeDepth) +
                                                   " includes exceeded");
    std::ifstream in(file);
    if (!in) {
      int err = errno;
      throw Error(ErrorKind::io, from + "could not open configuration file \"" + file.string() +
                                     "\": " + std::strerror(err));
    }
    std::string line;
    int lineno = 0;
    while (std::getline(in, line)) {
      ++lineno;
      parse_line(file, lineno, line, depth);
    }
    if (in.bad())
      throw Error(ErrorKind::io, "could not read configuration file \"" + file.string() + "\"");
  }

 private:
  [[noreturn]] static void syntax(const fs::path& file, int lineno, const std::string& what) {
    throw Error(ErrorKind::invalid_argument,
                file.string() + ":" + std::to_string(lineno) + ": syntax error: " + what);
  }

  void parse_line(const fs::path& file, int lineno, std::string_view line, int depth) {
    std::size_t i = 0;
    auto skip = [&] {
      while (i < line.size() && blank(line[i])) ++i;
    };
    skip();
    if (i == line.size() || line[i] == '#') return;
    // Name: ID or ID.ID
    std::size_t start = i;
    auto scan_id = [&] {
      if (i >= line.size() || !id_start(static_cast<unsigned char>(line[i]))) return false;
      while (i < line.size() && id_char(static_cast<unsigned char>(line[i]))) ++i;
      return true;
    };
    if (!scan_id()) syntax(file, lineno, "expected a setting name");
    if (i < line.size() && line[i] == '.') {
      ++i;
      if (!scan_id()) syntax(file, lineno, "incomplete setting name");
    }
    std::string name = ascii_lower(line.substr(start, i - start));
    skip();
    if (i < line.size() && line[i] == '=') {
      ++i;
      skip();
    }
    // Value
    std::string value;
    if (i < line.size() && line[i] == '\'') {
      ++i;
      bool closed = false;
      while (i < line.size()) {
        char c = line[i++];
        if (c == '\'') {
          if (i < line.size() && line[i] == '\'') {
            value += '\'';
            ++i;
            continue;
          }
          closed = true;
          break;
        }
        if (c == '\\' && i < line.size()) {
          char e = line[i++];
          switch (e) {
            case 'b':
              value += '\b';
              break;
            case 'f':
              value += '\f';
              break;
            case 'n':
              value += '\n';
              break;
            case 'r':
              value += '\r';
              break;
            case 't':
              value += '\t';
              break;
            default:
              if (e >= '0' && e <= '7') {
                int v = e - '0';
                for (int k = 0; k < 2 && i < line.size() && line[i] >= '0' && line[i] <= '7'; ++k)
                  v = v * 8 + (line[i++] - '0');
                value += static_cast<char>(v & 0xff);
              } else {
                value += e;
              }
          }
          continue;
        }
        value += c;
      }
      if (!closed) syntax(file, lineno, "unterminated quoted value for " + name);
    } else {
      std::size_t vstart = i;
      while (i < line.size() && !blank(line[i]) && line[i] != '#') {
        if (line[i] == '\'' || line[i] == '=')
          syntax(file, lineno,
                 "unexpected character '" + std::string(1, line[i]) + "' in the value of " + name +
                     " (quote values containing it)");
        ++i;
      }
      if (i == vstart) syntax(file, lineno, "missing value for " + name);
      value = std::string(line.substr(vstart, i - vstart));
    }
    skip();
    if (i < line.size() && line[i] != '#')
      syntax(file, lineno,
             "unexpected text after the value of " + name + " near " +
                 shown_setting_value(name, line.substr(i)));

    std::string from = file.string() + ":" + std::to_string(lineno) + ": ";
    if (name == "include" || name == "include_if_exists" || name == "include_dir") {
      fs::path target = value;
      if (value.empty()) syntax(file, lineno, "empty file name for " + name);
      if (target.is_relative()) target = file.parent_path() / target;
      if (name == "include") {
        read(target, depth + 1, from);
      } else if (name == "include_if_exists") {
        std::error_code ec;
        if (fs::exists(target, ec)) read(target, depth + 1, from);
      } else {
        include_dir(target, depth, from);
      }
      return;
    }
    static constexpr std::string_view kPrefix = "pgvault.";
    if (name.starts_with(kPrefix)) out_[name.substr(kPrefix.size())] = value;
    if (name == "data_directory" && data_directory_ != nullptr) *data_directory_ = value;
  }

  void include_dir(const fs::path& dir, int depth, const std::string& from) {
    std::error_code ec;
    if (!fs::is_directory(dir, ec))
      throw Error(ErrorKind::io, from + "could not open configuration directory \"" + dir.string() +
                                     "\": " + (ec ? ec.message() : std::string("not a directory")));
    std::vector<std::string> names;
    for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
      std::string n = it->path().filename().string();
      if (n.starts_with('.') || !n.ends_with(".conf")) continue;
      std::error_code ec2;
      if (fs::is_regular_file(it->path(), ec2)) names.push_back(n);
    }
    if (ec)
      throw Error(ErrorKind::io, from + "could not read configuration directory \"" + dir.string() +
                                     "\": " + ec.message());
    std::sort(names.begin(), names.end());
    for (const auto& n : names) read(dir / n, depth + 1, from);
  }

  SettingValues& out_;
  std::string* data_directory_;
};

}  // namespace

SettingValues read_config_file(const std::string& path) {
  SettingValues out;
  ConfigReader(out).read(fs::path(path), 0, "");
  return out;
}

ServerConfig read_server_config(const std::string& postgresql_conf) {
  ServerConfig out;
  std::string data_directory;
  ConfigReader(out.settings, &data_directory).read(fs::path(postgresql_conf), 0, "");
  out.files.push_back(postgresql_conf);

  std::error_code ec;
  const fs::path conf_dir = fs::absolute(postgresql_conf, ec).lexically_normal().parent_path();
  if (!data_directory.empty()) {
    if (fs::path(data_directory).is_absolute()) {
      out.data_directory = fs::path(data_directory).lexically_normal().string();
      out.data_directory_from = "data_directory in " + postgresql_conf;
    } else {
      // The server resolves it against its working directory, which a file
      // does not say.
      out.data_directory_from = "data_directory '" + data_directory + "' in " + postgresql_conf +
                                " is relative, so the data directory is unknown";
    }
  } else if (!ec && fs::exists(conf_dir / "PG_VERSION", ec)) {
    out.data_directory = conf_dir.string();
    out.data_directory_from = "the directory of " + postgresql_conf;
  } else {
    out.data_directory_from = postgresql_conf +
                              " sets no data_directory and is not in a data directory (no "
                              "PG_VERSION beside it), so the data directory is unknown";
  }
  if (out.data_directory.empty()) return out;

  while (out.data_directory.size() > 1 && out.data_directory.back() == '/')
    out.data_directory.pop_back();
  // ALTER SYSTEM's file, read last by the server: its values win.
  const fs::path auto_conf = fs::path(out.data_directory) / "postgresql.auto.conf";
  if (fs::exists(auto_conf, ec) || ec) {
    SettingValues overrides;
    try {
      ConfigReader(overrides).read(auto_conf, 0, "");
    } catch (const Error& e) {
      if (e.kind() != ErrorKind::io) throw;
      throw Error(e.kind(), std::string(e.what()) + " (ALTER SYSTEM's values there override " +
                                postgresql_conf +
                                "; run pgvault as the server's OS user, e.g. sudo -u postgres)");
    }
    for (auto& [name, value] : overrides) out.settings[name] = std::move(value);
    out.files.push_back(auto_conf.string());
  }
  auto repository = out.settings.find("repository");
  if (repository == out.settings.end() || repository->second.empty()) {
    out.settings["repository"] = default_repository_url(out.data_directory);
    out.default_repository = true;
  }
  return out;
}

}  // namespace pgvault
