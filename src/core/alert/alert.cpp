#include "pgvault/alert/alert.hpp"

#include "pgvault/error.hpp"
#include "pgvault/text.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <ctime>

namespace pgvault::alert {

namespace {

using nlohmann::json;

struct EventName {
  AlertEvent event;
  std::string_view name;
};
constexpr std::array<EventName, 8> kEventNames = {{
    {AlertEvent::backup_failed, "backup_failed"},
    {AlertEvent::archive_failed, "archive_failed"},
    {AlertEvent::verify_failed, "verify_failed"},
    {AlertEvent::misconfigured, "misconfigured"},
    {AlertEvent::stale, "stale"},
    {AlertEvent::anomaly, "anomaly"},
    {AlertEvent::recovered, "recovered"},
    {AlertEvent::test, "test"},
}};

std::string text_of(const json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return "";
  return it->is_string() ? it->get<std::string>() : it->dump();
}

std::string allowed_events() {
  std::string out;
  for (AlertEvent e : alertable_events()) {
    if (!out.empty()) out += ", ";
    out += alert_event_name(e);
  }
  return out;
}

// The first line, at most `limit` bytes (cut on a UTF-8 boundary) — for a subject.
std::string first_line(const std::string& text, std::size_t limit) {
  std::string line = text.substr(0, text.find_first_of("\r\n"));
  if (line.size() <= limit) return line;
  std::size_t cut = limit;
  while (cut > 0 && (static_cast<unsigned char>(line[cut]) & 0xC0) == 0x80) --cut;
  return line.substr(0, cut) + "…";
}

std::string utc_text(std::int64_t unix_seconds) {
  std::time_t t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[40];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S UTC", &tm);
  return buf;
}

std::string rfc5322_date(std::int64_t unix_seconds) {
  std::time_t t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  static constexpr const char* kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  char buf[64];
  std::snprintf(buf, sizeof buf, "%s, %02d %s %04d %02d:%02d:%02d +0000", kDays[tm.tm_wday],
                tm.tm_mday, kMonths[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
                tm.tm_sec);
  return buf;
}

bool is_ascii(std::string_view s) {
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return static_cast<unsigned char>(c) < 128; });
}

// RFC 2047 "B" encoding of a header value that is not ASCII.
std::string encode_header(const std::string& value) {
  if (is_ascii(value)) return value;
  static constexpr char kB64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  for (std::size_t i = 0; i < value.size(); i += 3) {
    std::uint32_t n = static_cast<unsigned char>(value[i]) << 16;
    if (i + 1 < value.size()) n |= static_cast<unsigned char>(value[i + 1]) << 8;
    if (i + 2 < value.size()) n |= static_cast<unsigned char>(value[i + 2]);
    out += kB64[(n >> 18) & 63];
    out += kB64[(n >> 12) & 63];
    out += i + 1 < value.size() ? kB64[(n >> 6) & 63] : '=';
    out += i + 2 < value.size() ? kB64[n & 63] : '=';
  }
  return "=?UTF-8?B?" + out + "?=";
}

// Header values never carry a line break (no header injection from an error text).
std::string one_line(std::string s) {
  for (char& c : s)
    if (c == '\r' || c == '\n') c = ' ';
  return s;
}

struct UrlParts {
  std::string scheme;    // lower case
  std::string userinfo;  // before '@'
  std::string host;      // without brackets and port
  std::string rest;      // path, query and fragment
};

UrlParts split_url(std::string_view url) {
  UrlParts p;
  const auto sep = url.find("://");
  if (sep == std::string_view::npos) return p;
  p.scheme = ascii_lower(url.substr(0, sep));
  std::string_view after = url.substr(sep + 3);
  const auto end = after.find_first_of("/?#");
  std::string_view authority = after.substr(0, end);
  if (end != std::string_view::npos) p.rest = std::string(after.substr(end));
  if (const auto at = authority.rfind('@'); at != std::string_view::npos) {
    p.userinfo = std::string(authority.substr(0, at));
    authority = authority.substr(at + 1);
  }
  if (authority.starts_with("[")) {
    const auto close = authority.find(']');
    p.host = std::string(authority.substr(1, close == std::string_view::npos ? 0 : close - 1));
  } else {
    p.host = std::string(authority.substr(0, authority.find(':')));
  }
  p.host = ascii_lower(p.host);
  return p;
}

std::vector<std::string> split(std::string_view text, char separator) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (true) {
    const auto end = text.find(separator, start);
    out.emplace_back(text.substr(start, end == std::string_view::npos ? end : end - start));
    if (end == std::string_view::npos) return out;
    start = end + 1;
  }
}

bool is_loopback(const std::string& host) {
  return host == "127.0.0.1" || host == "::1" || host == "localhost";
}

}  // namespace

std::string_view alert_event_name(AlertEvent event) {
  for (const auto& e : kEventNames)
    if (e.event == event) return e.name;
  return "unknown";
}

const std::vector<AlertEvent>& alertable_events() {
  static const std::vector<AlertEvent> events = {
      AlertEvent::backup_failed, AlertEvent::archive_failed, AlertEvent::verify_failed,
      AlertEvent::misconfigured, AlertEvent::stale,          AlertEvent::anomaly,
      AlertEvent::recovered,
  };
  return events;
}

std::set<AlertEvent> parse_alert_on(std::string_view text) {
  std::set<AlertEvent> out;
  for (const std::string& item : split(text, ',')) {
    const std::string word = ascii_lower(trim(item));
    if (word.empty() || word == "none") continue;
    if (word == "all") {
      out.insert(alertable_events().begin(), alertable_events().end());
      continue;
    }
    const auto& events = alertable_events();
    auto it = std::find_if(events.begin(), events.end(),
                           [&](AlertEvent e) { return alert_event_name(e) == word; });
    if (it == events.end())
      throw Error(ErrorKind::invalid_argument, "unknown alert event \"" + word + "\"; allowed: " +
                                                   allowed_events() + ", all, none");
    out.insert(*it);
  }
  return out;
}

std::string ClusterFacts::display_name() const {
  if (!cluster_name.empty()) return cluster_name;
  return host.empty() ? "pgvault" : host;
}

// ---- what an alert says -------------------------------------------------------------

std::string alert_sentence(const Alert& a, const ClusterFacts& cluster) {
  const json& d = a.details;
  const std::string who = cluster.display_name() + ": ";
  const std::string name = text_of(d, "name");
  const std::string error = text_of(d, "error");
  switch (a.event) {
    case AlertEvent::backup_failed:
      return who + text_of(d, "kind") + " backup \"" + name + "\" failed: " + error;
    case AlertEvent::archive_failed:
      return who + "WAL archiving failed" +
             (text_of(d, "file").empty() ? "" : " (file " + text_of(d, "file") + ")") + ": " +
             error;
    case AlertEvent::verify_failed:
      if (text_of(d, "what") == "wal")
        return who + "verification of the archived WAL after backup \"" + name +
               "\" failed: " + error;
      return who + "verification of backup \"" + name + "\" failed: " + error;
    case AlertEvent::misconfigured:
      return who + "pgvault settings were rejected: " + text_of(d, "problems");
    case AlertEvent::stale:
    case AlertEvent::anomaly:
      return who + text_of(d, "reason");
    case AlertEvent::recovered: {
      const std::string source = text_of(d, "source");
      if (source == "backup")
        return who + a.subject + " recovered: backup \"" + name + "\" completed";
      if (source == "archive")
        return who + "WAL archiving recovered" +
               (text_of(d, "file").empty() ? "" : ": " + text_of(d, "file") + " archived");
      if (source == "verify" && text_of(d, "what") == "wal")
        return who + "WAL verification recovered: the archived WAL after backup \"" + name +
               "\" verified";
      if (source == "verify")
        return who + "verification recovered: backup \"" + name + "\" verified";
      if (source == "stale") return who + text_of(d, "reason");
      return who + a.subject + " recovered";
    }
    case AlertEvent::test:
      return who + "test alert from pgvault on " + cluster.host + " (vault.test_alert())";
  }
  return who + "pgvault alert";
}

std::string webhook_payload(const Alert& a, const ClusterFacts& cluster) {
  json body = a.details.is_object() ? a.details : json::object();
  body["text"] = alert_sentence(a, cluster);
  body["event"] = alert_event_name(a.event);
  body["subject"] = a.subject;
  body["cluster_name"] = cluster.cluster_name;
  body["system_identifier"] = cluster.system_identifier;
  body["host"] = cluster.host;
  body["raised_at"] = utc_text(a.raised_at);
  return body.dump();
}

std::string mail_subject(const Alert& a, const ClusterFacts& cluster) {
  std::string what;
  std::string why = text_of(a.details, "error");
  switch (a.event) {
    case AlertEvent::backup_failed:
      what = text_of(a.details, "kind") + " backup failed";
      break;
    case AlertEvent::archive_failed:
      what = "WAL archiving failed";
      break;
    case AlertEvent::verify_failed:
      what = text_of(a.details, "what") == "wal" ? "WAL verification failed"
                                                 : "backup verification failed";
      break;
    case AlertEvent::misconfigured:
      what = "settings rejected";
      why = text_of(a.details, "problems");
      break;
    case AlertEvent::stale:
      what = text_of(a.details, "kind") == "wal" ? "WAL archiving stale" : a.subject + " stale";
      why = text_of(a.details, "reason");
      break;
    case AlertEvent::anomaly:
      what = text_of(a.details, "kind") + " backup anomaly";
      why = text_of(a.details, "reason");
      break;
    case AlertEvent::recovered:
      what = a.subject + " recovered";
      why.clear();
      break;
    case AlertEvent::test:
      what = "test alert";
      why.clear();
      break;
  }
  std::string subject = "[pgvault] " + cluster.display_name() + ": " + what;
  if (!why.empty()) subject += " — " + first_line(why, 120);
  return one_line(subject);
}

std::string mail_body(const Alert& a, const ClusterFacts& cluster) {
  std::string body = alert_sentence(a, cluster) + "\n\n";
  body += "event:              " + std::string(alert_event_name(a.event)) + "\n";
  body += "raised at:          " + utc_text(a.raised_at) + "\n";
  if (!cluster.cluster_name.empty()) body += "cluster:            " + cluster.cluster_name + "\n";
  body += "system identifier:  " + cluster.system_identifier + "\n";
  body += "host:               " + cluster.host + "\n";
  if (a.details.is_object()) {
    for (const auto& [key, value] : a.details.items()) {
      if (value.is_null() || key == "source" || key == "ok") continue;
      std::string label = key + ":";
      label.resize(std::max<std::size_t>(label.size() + 1, 20), ' ');
      body += label + (value.is_string() ? value.get<std::string>() : value.dump()) + "\n";
    }
  }
  body += "\n-- \npgvault: SELECT * FROM vault.status; vault.backups has every backup's row.\n";
  return body;
}

// ---- which outcomes alert -----------------------------------------------------------

std::optional<Alert> AlertTracker::observe(const json& outcome, std::int64_t now_unix) {
  if (!outcome.is_object() || !outcome.contains("source") || !outcome.contains("ok"))
    throw Error(ErrorKind::invalid_argument,
                "alert outcome without source and ok: " + outcome.dump());
  const std::string source = text_of(outcome, "source");
  const bool ok = outcome.at("ok").get<bool>();
  Alert alert;
  alert.details = outcome;
  alert.raised_at = now_unix;
  std::string key = source;
  AlertEvent failure;
  if (source == "backup") {
    const std::string kind = text_of(outcome, "kind");
    key = "backup:" + kind;
    alert.subject = kind + " backups";
    failure = AlertEvent::backup_failed;
  } else if (source == "archive") {
    alert.subject = "WAL archiving";
    failure = AlertEvent::archive_failed;
  } else if (source == "verify") {
    // vault.verify_wal checks the archived WAL after a backup: a subject of
    // its own, so that it neither hides nor clears a backup's failed check.
    const bool wal = text_of(outcome, "what") == "wal";
    key = wal ? "verify:wal" : "verify";
    alert.subject = wal ? "WAL verification" : "verification";
    failure = AlertEvent::verify_failed;
  } else if (source == "settings") {
    alert.subject = "settings";
    failure = AlertEvent::misconfigured;
  } else if (source == "stale") {
    const std::string kind = text_of(outcome, "kind");
    key = "stale:" + kind;
    alert.subject = kind == "wal"      ? "WAL archiving"
                    : kind == "backup" ? "backups"
                                       : kind + " backups";
    failure = AlertEvent::stale;
  } else if (source == "anomaly") {
    // Each anomalous backup is its own fact: no state, nothing recovers.
    if (ok) return std::nullopt;
    alert.subject = text_of(outcome, "kind") + " backups";
    alert.event = alert.failure = AlertEvent::anomaly;
    return alert;
  } else {
    throw Error(ErrorKind::invalid_argument, "unknown alert outcome source \"" + source + "\"");
  }
  bool& was_failing = failing_[key];
  if (ok == !was_failing) return std::nullopt;  // no change: quiet
  was_failing = !ok;
  alert.event = ok ? AlertEvent::recovered : failure;
  alert.failure = failure;
  return alert;
}

bool AlertTracker::failing(const std::string& subject_key) const {
  auto it = failing_.find(subject_key);
  return it != failing_.end() && it->second;
}

// ---- URLs ---------------------------------------------------------------------------

void validate_webhook_url(std::string_view url) {
  if (url.empty()) return;  // no webhook
  const UrlParts p = split_url(url);
  if (p.host.empty())
    throw Error(ErrorKind::invalid_argument,
                "pgvault.alert_webhook_url must be an absolute https:// URL with a host "
                "(http:// only to 127.0.0.1, ::1 or localhost)");
  if (p.scheme == "https") return;
  if (p.scheme == "http" && is_loopback(p.host)) return;
  throw Error(ErrorKind::invalid_argument,
              "pgvault.alert_webhook_url must use https:// (" + channel_label(url) +
                  " is not allowed: http:// is accepted only to 127.0.0.1, ::1 or localhost, "
                  "since the URL carries a token)");
}

void validate_smtp_url(std::string_view url) {
  if (url.empty()) return;
  const UrlParts p = split_url(url);
  if ((p.scheme != "smtp" && p.scheme != "smtps") || p.host.empty())
    throw Error(ErrorKind::invalid_argument,
                "pgvault.smtp_url must be smtp://host[:port] (STARTTLS when the server offers "
                "it) or smtps://host[:port] (TLS from the start)");
  if (!p.userinfo.empty())
    throw Error(ErrorKind::invalid_argument,
                "pgvault.smtp_url must not contain a user or password; set pgvault.smtp_user "
                "and pgvault.smtp_password (kept out of logs)");
  if (!p.rest.empty() && p.rest != "/")
    throw Error(ErrorKind::invalid_argument,
                "pgvault.smtp_url takes no path or query: smtp://host[:port] or "
                "smtps://host[:port]");
}

std::string channel_label(std::string_view url) {
  const auto sep = url.find("://");
  if (sep == std::string_view::npos) return "(no URL)";
  std::string_view after = url.substr(sep + 3);
  std::string_view authority = after.substr(0, after.find_first_of("/?#"));
  if (const auto at = authority.rfind('@'); at != std::string_view::npos)
    authority = authority.substr(at + 1);
  std::string label = ascii_lower(url.substr(0, sep)) + "://" + std::string(authority);
  if (authority.size() < after.size()) label += "/…";
  return label;
}

std::vector<std::string> parse_mail_addresses(std::string_view list) {
  std::vector<std::string> out;
  for (const std::string& item : split(list, ',')) {
    std::string address(trim(item));
    if (address.empty()) continue;
    const auto at = address.find('@');
    const bool bad = at == std::string::npos || at == 0 || at + 1 == address.size() ||
                     address.find_first_of(" \t\r\n<>,;\"") != std::string::npos;
    if (bad)
      throw Error(ErrorKind::invalid_argument,
                  "\"" + address +
                      "\" is not a mail address (name@domain; separate several "
                      "with commas)");
    out.push_back(std::move(address));
  }
  return out;
}

// ---- channels -----------------------------------------------------------------------

WebhookChannel::WebhookChannel(std::string url, std::unique_ptr<http::HttpTransport> transport,
                               long timeout_ms)
    : url_(std::move(url)), transport_(std::move(transport)), timeout_ms_(timeout_ms) {}

void WebhookChannel::send(const Alert& alert, const ClusterFacts& cluster) {
  const std::string body = webhook_payload(alert, cluster);
  http::HttpRequest request;
  request.method = "POST";
  request.url = url_;
  request.headers = {{"Content-Type", "application/json"}, {"User-Agent", "pgvault"}};
  request.body = body;
  request.timeout_ms = timeout_ms_;
  http::HttpResponse response;
  try {
    response = transport_->perform(request);
  } catch (const http::TransportError& e) {
    // The transport's message names the URL's path, which holds the token.
    throw Error(
        ErrorKind::storage,
        channel_label(url_) + ": " + (e.code_text().empty() ? "transport failure" : e.code_text()));
  }
  if (response.status < 200 || response.status >= 300)
    throw Error(
        ErrorKind::storage,
        channel_label(url_) + " answered HTTP " + std::to_string(response.status) +
            (response.body.empty() ? std::string() : ": " + first_line(response.body, 200)));
}

std::string mail_message(const MailSettings& settings, const std::string& subject,
                         const std::string& body, std::int64_t now_unix) {
  std::string to;
  for (const auto& address : settings.to) to += (to.empty() ? "" : ", ") + address;
  std::string m;
  m += "Date: " + rfc5322_date(now_unix) + "\r\n";
  m += "From: " + settings.from + "\r\n";
  m += "To: " + to + "\r\n";
  m += "Subject: " + encode_header(one_line(subject)) + "\r\n";
  m += "Message-ID: <pgvault." + std::to_string(now_unix) + "." +
       std::to_string(std::hash<std::string>{}(subject + body)) + "@pgvault>\r\n";
  m += "MIME-Version: 1.0\r\n";
  m += "Content-Type: text/plain; charset=UTF-8\r\n";
  m += "Content-Transfer-Encoding: 8bit\r\n";
  m += "Auto-Submitted: auto-generated\r\n\r\n";
  // CRLF line ends; a line that is a single "." would end the SMTP DATA early
  // (libcurl escapes leading dots, but the line ends are ours).
  for (const std::string& line : split(body, '\n')) m += line + "\r\n";
  return m;
}

EmailChannel::EmailChannel(MailSettings settings, MailSender sender)
    : settings_(std::move(settings)), sender_(std::move(sender)) {}

void EmailChannel::send(const Alert& alert, const ClusterFacts& cluster) {
  if (settings_.from.empty() || settings_.to.empty())
    throw Error(ErrorKind::invalid_argument,
                "email needs pgvault.alert_email_from and pgvault.alert_email_to");
  OutgoingMail mail{settings_.from, settings_.to,
                    mail_message(settings_, mail_subject(alert, cluster), mail_body(alert, cluster),
                                 alert.raised_at)};
  sender_(settings_, mail);
}

// ---- delivery -----------------------------------------------------------------------

void AlertOutbox::add(const Alert& alert, const std::vector<std::string>& channels,
                      std::int64_t now_ms) {
  for (const std::string& channel : channels) {
    if (pending_.size() >= policy_.max_pending) pending_.erase(pending_.begin());
    pending_.push_back({alert, channel, 0, now_ms});
  }
}

std::int64_t AlertOutbox::deliver_due(const std::map<std::string, AlertChannel*>& channels,
                                      const ClusterFacts& cluster, std::int64_t now_ms,
                                      const std::function<void(const DeliveryReport&)>& report) {
  // Oldest first; one failing attempt per channel per round, so a channel
  // that is down does not hold the others up for every pending alert.
  std::map<std::string, std::int64_t> failed_this_round;  // channel -> its retry time
  for (auto it = pending_.begin(); it != pending_.end();) {
    Delivery& d = *it;
    auto channel = channels.find(d.channel);
    if (channel == channels.end()) {
      it = pending_.erase(it);  // no longer configured
      continue;
    }
    if (d.due_ms > now_ms || failed_this_round.count(d.channel)) {
      ++it;
      continue;
    }
    ChannelHealth& health = health_[d.channel];
    ++d.attempts;
    try {
      channel->second->send(d.alert, cluster);
      health.last_delivered_at_ms = now_ms;
      if (health.failing)
        report({DeliveryReport::Kind::recovered, d.channel,
                "alert channel " + d.channel + " delivers again"});
      health.failing = false;
      it = pending_.erase(it);
      continue;
    } catch (const std::exception& e) {
      ++health.failures;
      health.last_error = e.what();
      if (!health.failing)
        report({DeliveryReport::Kind::started_failing, d.channel,
                "alert channel " + d.channel +
                    " cannot deliver (retrying with backoff): " + e.what()});
      health.failing = true;
    }
    std::int64_t delay = policy_.base_ms;
    for (int i = 1; i < d.attempts && delay < policy_.max_ms; ++i) delay *= 2;
    d.due_ms = now_ms + std::min(delay, policy_.max_ms);
    failed_this_round[d.channel] = d.due_ms;
    if (d.attempts >= policy_.max_attempts) {
      report({DeliveryReport::Kind::gave_up, d.channel,
              "alert \"" + alert_sentence(d.alert, cluster) + "\" not delivered by " + d.channel +
                  " after " + std::to_string(d.attempts) + " attempts: " + health.last_error});
      it = pending_.erase(it);
      continue;
    }
    ++it;
  }
  // The channel's other due deliveries wait for its next attempt.
  for (Delivery& d : pending_) {
    auto failed = failed_this_round.find(d.channel);
    if (failed != failed_this_round.end() && d.due_ms <= now_ms) d.due_ms = failed->second;
  }
  std::int64_t next = -1;
  for (const Delivery& d : pending_) {
    const std::int64_t wait = std::max<std::int64_t>(0, d.due_ms - now_ms);
    next = next < 0 ? wait : std::min(next, wait);
  }
  return next;
}

}  // namespace pgvault::alert
