// Small pugixml helpers for object-store responses, and the one place that
// turns an unsuccessful HTTP response into a pgvault::Error.
#pragma once
#include "pgvault/pg_free.hpp"

#include "pgvault/error.hpp"
#include "pgvault/http/transport.hpp"

#include <pugixml.hpp>

#include <optional>
#include <string>
#include <string_view>

namespace pgvault::http {

// Parses an XML response body; throws Error(storage) "<what>: invalid XML
// response (...)" when it is not well-formed.
pugi::xml_document parse_xml(std::string_view body, std::string_view what);

// Text of the first child element called name ("" when absent).
std::string child_text(const pugi::xml_node& node, const char* name);
// Same, but distinguishes a missing element.
std::optional<std::string> find_child_text(const pugi::xml_node& node, const char* name);

// <Error><Code>..</Code><Message>..</Message></Error>, as sent by S3, GCS
// (XML API) and Azure Blob. Azure's AuthenticationErrorDetail is deliberately
// ignored: it echoes the request signature.
struct XmlError {
  std::string code;
  std::string message;  // whitespace runs collapsed to single spaces
};
// nullopt unless the body is an XML document whose root is <Error>.
std::optional<XmlError> extract_error(std::string_view body);

// An Error(storage) for an unexpected response, e.g.
//   "S3: PUT https://host/bucket/key?partNumber=1&X-Amz-Signature=REDACTED
//    answered HTTP 403 Forbidden: SignatureDoesNotMatch: The request signature..."
// Uses the XML error body when there is one, else x-ms-error-code /
// x-amz-error-code headers (HEAD responses have no body).
// Always ErrorKind::storage: drivers that treat 404 as "no such object"
// check the status before calling this.
Error status_error(std::string_view service, const HttpRequest& request,
                   const HttpResponse& response);

// Standard reason phrase for a status ("" when unknown).
std::string_view reason_phrase(long status);

}  // namespace pgvault::http
