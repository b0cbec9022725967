#include "pgvault/error.hpp"

#include "error_boundary.hpp"
#include "spi.hpp"

namespace pgvault::pg {

void in_own_transaction(const std::function<void()>& f) {
  pg_guard([] {
    SetCurrentStatementStartTimestamp();
    StartTransactionCommand();
    SPI_connect();
    PushActiveSnapshot(GetTransactionSnapshot());
  });
  try {
    f();
  } catch (...) {
    pg_guard([] { AbortCurrentTransaction(); });
    throw;
  }
  pg_guard([] {
    SPI_finish();
    PopActiveSnapshot();
    CommitTransactionCommand();
  });
}

std::vector<SqlRow> spi_query(const char* sql, const std::vector<SqlValue>& args) {
  const int nargs = static_cast<int>(args.size());
  std::vector<SqlRow> rows;
  const int rc = pg_guard([&] {
    Oid* types = static_cast<Oid*>(palloc0(sizeof(Oid) * (nargs + 1)));
    Datum* values = static_cast<Datum*>(palloc0(sizeof(Datum) * (nargs + 1)));
    char* nulls = static_cast<char*>(palloc0(nargs + 1));
    for (int i = 0; i < nargs; ++i) {
      types[i] = TEXTOID;
      if (args[i]) {
        values[i] = PointerGetDatum(cstring_to_text_with_len(args[i]->data(), args[i]->size()));
        nulls[i] = ' ';
      } else {
        nulls[i] = 'n';
      }
    }
    return SPI_execute_with_args(sql, nargs, types, values, nulls, false, 0);
  });
  if (rc < 0) {
    throw Error(ErrorKind::internal,
                std::string("SPI failed (") + SPI_result_code_string(rc) + ") running: " + sql);
  }
  if (SPI_tuptable == nullptr) return rows;
  const uint64 count = SPI_processed;
  const int natts = SPI_tuptable->tupdesc->natts;
  rows.reserve(count);
  for (uint64 r = 0; r < count; ++r) {
    SqlRow row;
    for (int c = 1; c <= natts; ++c) {
      char* v =
          pg_guard([&] { return SPI_getvalue(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, c); });
      row.push_back(v ? SqlValue(v) : std::nullopt);
    }
    rows.push_back(std::move(row));
  }
  return rows;
}

std::vector<SqlRow> spi_query_in_function(const char* sql, const std::vector<SqlValue>& args) {
  // On an error the exception travels up to the entry point, whose ERROR
  // aborts the transaction; that also tears down this SPI connection.
  pg_guard([] { SPI_connect(); });
  std::vector<SqlRow> rows = spi_query(sql, args);
  pg_guard([] { SPI_finish(); });
  return rows;
}

Datum row_as_result(FunctionCallInfo fcinfo, const SqlRow& row) {
  const int natts = static_cast<int>(row.size());
  return pg_guard([&] {
    TupleDesc desc = nullptr;
    if (get_call_result_type(fcinfo, nullptr, &desc) != TYPEFUNC_COMPOSITE || desc->natts != natts)
      ereport(ERROR, (errcode(ERRCODE_DATATYPE_MISMATCH),
                      errmsg("pgvault: the function's result type does not match its row")));
    char** values = static_cast<char**>(palloc0(sizeof(char*) * natts));
    for (int i = 0; i < natts; ++i)
      if (row[i]) values[i] = pstrdup(row[i]->c_str());
    HeapTuple tuple =
        BuildTupleFromCStrings(TupleDescGetAttInMetadata(BlessTupleDesc(desc)), values);
    return HeapTupleGetDatum(tuple);
  });
}

}  // namespace pgvault::pg
