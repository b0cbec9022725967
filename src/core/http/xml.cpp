#include "pgvault/http/xml.hpp"
#include "pgvault/text.hpp"

#include <cctype>

namespace pgvault::http {

pugi::xml_document parse_xml(std::string_view body, std::string_view what) {
  pugi::xml_document doc;
  pugi::xml_parse_result r = doc.load_buffer(body.data(), body.size(), pugi::parse_default);
  if (!r)
    throw Error(ErrorKind::storage, std::string(what) + ": invalid XML response (" +
                                        r.description() + " at offset " + std::to_string(r.offset) +
                                        ")");
  return doc;
}

std::optional<std::string> find_child_text(const pugi::xml_node& node, const char* name) {
  pugi::xml_node child = node.child(name);
  if (!child) return std::nullopt;
  return std::string(child.text().get());
}

std::string child_text(const pugi::xml_node& node, const char* name) {
  return find_child_text(node, name).value_or(std::string());
}

std::optional<XmlError> extract_error(std::string_view body) {
  if (body.empty()) return std::nullopt;
  pugi::xml_document doc;
  if (!doc.load_buffer(body.data(), body.size(), pugi::parse_default)) return std::nullopt;
  pugi::xml_node root = doc.document_element();
  if (std::string_view(root.name()) != "Error") return std::nullopt;
  return XmlError{collapse_spaces(child_text(root, "Code")),
                  collapse_spaces(child_text(root, "Message"))};
}

std::string_view reason_phrase(long status) {
  switch (status) {
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 202:
      return "Accepted";
    case 204:
      return "No Content";
    case 206:
      return "Partial Content";
    case 301:
      return "Moved Permanently";
    case 304:
      return "Not Modified";
    case 307:
      return "Temporary Redirect";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 409:
      return "Conflict";
    case 411:
      return "Length Required";
    case 412:
      return "Precondition Failed";
    case 416:
      return "Range Not Satisfiable";
    case 429:
      return "Too Many Requests";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    default:
      return "";
  }
}

Error status_error(std::string_view service, const HttpRequest& request,
                   const HttpResponse& response) {
  std::string msg = std::string(service) + ": " + describe_request(request) + " answered HTTP " +
                    std::to_string(response.status);
  if (auto phrase = reason_phrase(response.status); !phrase.empty())
    msg += " " + std::string(phrase);
  std::string code, text;
  if (auto e = extract_error(response.body)) {
    code = e->code;
    text = e->message;
  }
  if (code.empty()) code = response.header("x-ms-error-code");
  if (code.empty()) code = response.header("x-amz-error-code");
  if (!code.empty()) msg += ": " + code;
  if (!text.empty()) msg += (code.empty() ? ": " : " - ") + text;
  return Error(ErrorKind::storage, redact_url(msg));
}

}  // namespace pgvault::http
