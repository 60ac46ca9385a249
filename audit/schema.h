// The audit database schema, versioned with PRAGMA user_version, and its forward migrations.
#pragma once

#include <sqlite3.h>

#include <string>
#include <vector>

#include "audit/audit_status.h"

namespace authpolicy::audit::schema {

// The version this build writes. Version history:
//   1  decisions + factors, indexes by time and by user's failures
//   2  country, asn, password_asked, rhost_ip (16-byte address key, back-filled from rhost),
//      unknowns table, indexes by user and by user's failures per source address
//   3  spool_progress: how much of the spool file has been moved into the tables
//   4  global_id: the decision's random id, shared with the journal entry and exports
//   5  situation (the request as eval knobs, for replay) and shadow (a shadow policy's verdict),
//      index of the shadow disagreements
inline constexpr int kCurrentVersion = 5;

// Applies the migrations from `from_version` (0 = empty database) up to `to_version`, and sets
// user_version. Must run inside a write transaction the caller owns (BEGIN IMMEDIATE), so that
// concurrent openers migrate exactly once. `path` only decorates messages.
Status migrate(sqlite3* db, int from_version, int to_version, const std::string& path);

// Differences between the database and what kCurrentVersion expects: missing tables, columns or
// indexes. Empty when the schema is as expected.
std::vector<std::string> schema_problems(sqlite3* db);

}  // namespace authpolicy::audit::schema
