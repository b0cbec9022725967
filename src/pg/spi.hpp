// Minimal SPI access for C++ code: every PostgreSQL call is behind pg_guard,
// arguments are passed as text and cast in the SQL ($1::bigint), results
// come back as text.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "postgres_headers.hpp"

namespace pgvault::pg {

using SqlValue = std::optional<std::string>;  // nullopt = SQL NULL
using SqlRow = std::vector<SqlValue>;

// Runs f in its own transaction with SPI connected and commits, so each
// state change of a backup is durable on its own. On an exception the
// transaction is aborted and the exception rethrown. Not for use inside a
// transaction (worker processes only).
void in_own_transaction(const std::function<void()>& f);

// Executes sql with text parameters $1..$n inside the current SPI connection.
std::vector<SqlRow> spi_query(const char* sql, const std::vector<SqlValue>& args = {});

// The same inside an SQL-callable function (SPI_connect/SPI_finish around it).
std::vector<SqlRow> spi_query_in_function(const char* sql, const std::vector<SqlValue>& args = {});

// The function's result row (its OUT parameters, or the composite type it
// returns) from text values in the same order, each read by its type's
// input function: a row an SPI query selected, returned as it is.
Datum row_as_result(FunctionCallInfo fcinfo, const SqlRow& row);

}  // namespace pgvault::pg
