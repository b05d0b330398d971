// The SQLite baseline: one row per event in one table with the obvious index, durable (WAL,
// synchronous=FULL), and the KPIs and latest statuses computed in SQL.

#include "internal.h"

#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

/// Runs an SQLite call that must return `expected`; on failure records the call and
/// `sqlite3_errmsg` and jumps to `fail` (which releases everything).
#define CHECK_RC(call, expected, what)                                                                          \
    do {                                                                                                        \
        int rc_ = (call);                                                                                       \
        if (rc_ != (expected)) {                                                                                \
            bl_internal_fail("%s: %s (%s)", (what), db ? sqlite3_errmsg(db) : "no connection", sqlite3_errstr(rc_)); \
            goto fail;                                                                                          \
        }                                                                                                       \
    } while (0)

#define CHECK(call, what) CHECK_RC(call, SQLITE_OK, what)

static const char schema[] =
    "CREATE TABLE events(position INTEGER PRIMARY KEY, delivery TEXT NOT NULL, recipient TEXT NOT NULL, "
    "kind INTEGER NOT NULL, final INTEGER NOT NULL, before_relay INTEGER NOT NULL, occurred_at INTEGER NOT NULL, "
    "record BLOB NOT NULL);"
    "CREATE INDEX events_message ON events(delivery, recipient, occurred_at);";

/// Opens an existing database at `path` (read-write: WAL readers need the shared-memory file).
static int open_existing(const char *path, sqlite3 **db) {
    struct stat st;
    *db = NULL;
    if (stat(path, &st) != 0) return bl_internal_fail("stat(%s): %s", path, strerror(errno));
    int rc = sqlite3_open_v2(path, db, SQLITE_OPEN_READWRITE, NULL);
    if (rc != SQLITE_OK) {
        bl_internal_fail("sqlite3_open_v2(%s): %s", path, *db ? sqlite3_errmsg(*db) : sqlite3_errstr(rc));
        sqlite3_close(*db);
        *db = NULL;
        return -1;
    }
    return 0;
}

/// Adds `count` messages of `category` to `t`.
static void tally_category(bl_tally *t, int category, uint64_t count) {
    switch (category) {
    case BL_PENDING: t->pending += count; break;
    case BL_IN_FLIGHT: t->in_flight += count; break;
    case BL_RETRYING: t->retrying += count; break;
    case BL_DELIVERED: t->delivered += count; break;
    case BL_BOUNCED: t->bounced += count; break;
    case BL_FAILED_BEFORE_RELAY: t->failed_before_relay += count; break;
    default: return;
    }
    t->messages += count;
}

int bl_sqlite_ingest(const char *path, const bl_events *ev, size_t events_per_txn, bl_ingest_result *out) {
    if (!path || !ev || !out || events_per_txn == 0 || !ev->records || !ev->record_offsets || !ev->delivery_ids ||
        !ev->recipients)
        return bl_internal_fail("bl_sqlite_ingest: missing argument or events_per_txn == 0");
    memset(out, 0, sizeof *out);
    struct stat st;
    if (stat(path, &st) == 0) return bl_internal_fail("bl_sqlite_ingest: %s already exists", path);

    int result = -1, in_txn = 0;
    sqlite3 *db = NULL;
    sqlite3_stmt *stmt = NULL;
    int rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
    CHECK(rc, "sqlite3_open_v2");
    CHECK(sqlite3_prepare_v2(db, "PRAGMA journal_mode=WAL", -1, &stmt, NULL), "prepare(PRAGMA journal_mode)");
    CHECK_RC(sqlite3_step(stmt), SQLITE_ROW, "PRAGMA journal_mode=WAL");
    const unsigned char *mode = sqlite3_column_text(stmt, 0);
    if (!mode || strcmp((const char *)mode, "wal") != 0) {
        bl_internal_fail("PRAGMA journal_mode=WAL: the mode is %s", mode ? (const char *)mode : "(null)");
        goto fail;
    }
    CHECK(sqlite3_finalize(stmt), "finalize(PRAGMA journal_mode)");
    stmt = NULL;
    CHECK(sqlite3_exec(db, "PRAGMA synchronous=FULL", NULL, NULL, NULL), "PRAGMA synchronous=FULL");
    CHECK(sqlite3_exec(db, schema, NULL, NULL, NULL), "CREATE TABLE/INDEX");
    CHECK(sqlite3_prepare_v2(db, "INSERT INTO events VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)", -1, &stmt, NULL),
          "prepare(INSERT)");

    double t0 = bl_internal_now();
    for (size_t start = 0; start < ev->count; start += events_per_txn) {
        size_t end = ev->count - start < events_per_txn ? ev->count : start + events_per_txn;
        CHECK(sqlite3_exec(db, "BEGIN", NULL, NULL, NULL), "BEGIN");
        in_txn = 1;
        for (size_t i = start; i < end; i++) {
            const uint8_t *record = ev->records + ev->record_offsets[i];
            size_t length = (size_t)(ev->record_offsets[i + 1] - ev->record_offsets[i]);
            bl_record_header h;
            if (bl_decode_header(record, length, &h) != 0) {
                bl_internal_fail("bl_sqlite_ingest: record at position %zu: header does not decode", i + 1);
                goto fail;
            }
            CHECK(sqlite3_bind_int64(stmt, 1, (sqlite3_int64)(i + 1)), "bind(position)");
            CHECK(sqlite3_bind_text(stmt, 2, ev->delivery_ids[i], -1, SQLITE_STATIC), "bind(delivery)");
            CHECK(sqlite3_bind_text(stmt, 3, ev->recipients[i], -1, SQLITE_STATIC), "bind(recipient)");
            CHECK(sqlite3_bind_int(stmt, 4, h.kind), "bind(kind)");
            CHECK(sqlite3_bind_int(stmt, 5, (h.flags & BL_FLAG_FINAL) != 0), "bind(final)");
            CHECK(sqlite3_bind_int(stmt, 6, (h.flags & BL_FLAG_BEFORE_RELAY) != 0), "bind(before_relay)");
            CHECK(sqlite3_bind_int64(stmt, 7, h.occurred_at), "bind(occurred_at)");
            CHECK(sqlite3_bind_blob(stmt, 8, record, (int)length, SQLITE_STATIC), "bind(record)");
            CHECK_RC(sqlite3_step(stmt), SQLITE_DONE, "INSERT");
            CHECK(sqlite3_reset(stmt), "reset(INSERT)");
        }
        CHECK(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL), "COMMIT");
        in_txn = 0;
        out->events += end - start;
    }
    out->seconds = bl_internal_now() - t0;

    CHECK(sqlite3_finalize(stmt), "finalize(INSERT)");
    stmt = NULL;
    CHECK(sqlite3_close(db), "sqlite3_close");
    db = NULL;
    if (stat(path, &st) != 0) {
        bl_internal_fail("stat(%s): %s", path, strerror(errno));
        goto fail;
    }
    out->bytes_on_disk = (uint64_t)st.st_size;
    char wal[4096];
    if (snprintf(wal, sizeof wal, "%s-wal", path) < (int)sizeof wal && stat(wal, &st) == 0)
        out->bytes_on_disk += (uint64_t)st.st_size;
    result = 0;
fail:
    if (in_txn) sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    sqlite3_finalize(stmt);
    sqlite3_close(db);
    return result;
}

/// Per message (delivery, recipient with a non-empty recipient): relayed and soft by one GROUP BY (the
/// index gives the grouping order); the category of the latest final outcome by a reverse walk of the
/// message's index entries (occurred_at, then rowid = position), referenced once so that it runs once
/// per message; without one, the category from relayed and soft; then one row per category. `FILTER`
/// restricts the messages (a delivery) or is empty. Categories are the ``bl_category`` codes.
#define KPI_SQL(FILTER)                                                                                  \
    "WITH m AS ("                                                                                        \
    "  SELECT delivery, recipient,"                                                                      \
    "         MAX(kind = 2 OR (kind BETWEEN 3 AND 6 AND before_relay = 0)) AS relayed,"                  \
    "         MAX(kind = 5 OR (kind = 4 AND final = 0)) AS soft"                                         \
    "  FROM events WHERE " FILTER " recipient <> '' GROUP BY delivery, recipient"                        \
    ") "                                                                                                 \
    "SELECT COALESCE("                                                                                   \
    "         (SELECT CASE WHEN f.kind = 3 THEN 4 WHEN f.before_relay THEN 6 ELSE 5 END FROM events f"   \
    "          WHERE f.delivery = m.delivery AND f.recipient = m.recipient"                              \
    "            AND (f.kind IN (3, 6) OR (f.kind = 4 AND f.final = 1))"                                 \
    "          ORDER BY f.occurred_at DESC, f.position DESC LIMIT 1),"                                   \
    "         CASE WHEN relayed THEN CASE WHEN soft THEN 3 ELSE 2 END ELSE 1 END) AS category,"          \
    "       COUNT(*) "                                                                                   \
    "FROM m GROUP BY category"

int bl_sqlite_kpis(const char *path, const char *delivery_id, bl_tally *out, double *seconds) {
    if (!path || !out || !seconds) return bl_internal_fail("bl_sqlite_kpis: missing argument");
    memset(out, 0, sizeof *out);
    int result = -1;
    sqlite3 *db = NULL;
    sqlite3_stmt *stmt = NULL;
    if (open_existing(path, &db) != 0) return -1;

    double t0 = bl_internal_now();
    if (delivery_id) {
        CHECK(sqlite3_prepare_v2(db, KPI_SQL("delivery = ?1 AND"), -1, &stmt, NULL), "prepare(KPIs of a delivery)");
        CHECK(sqlite3_bind_text(stmt, 1, delivery_id, -1, SQLITE_STATIC), "bind(delivery)");
    } else {
        CHECK(sqlite3_prepare_v2(db, KPI_SQL(""), -1, &stmt, NULL), "prepare(KPIs)");
    }
    int rc;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW)
        tally_category(out, sqlite3_column_int(stmt, 0), (uint64_t)sqlite3_column_int64(stmt, 1));
    CHECK_RC(rc, SQLITE_DONE, "step(KPIs)");
    *seconds = bl_internal_now() - t0;
    result = 0;
fail:
    sqlite3_finalize(stmt);
    sqlite3_close(db);
    return result;
}

/// Every message's latest final outcome (else latest event) with its relayed and soft flags, by window
/// functions over (delivery, recipient) partitions: one row per message.
static const char latest_status_sql[] =
    "SELECT delivery, recipient, kind, before_relay, is_final, relayed, soft FROM ("
    "  SELECT delivery, recipient, kind, before_relay,"
    "         (kind IN (3, 6) OR (kind = 4 AND final = 1)) AS is_final,"
    "         ROW_NUMBER() OVER (PARTITION BY delivery, recipient"
    "                            ORDER BY (kind IN (3, 6) OR (kind = 4 AND final = 1)) DESC, occurred_at DESC, position DESC) AS rn,"
    "         MAX(kind = 2 OR (kind BETWEEN 3 AND 6 AND before_relay = 0)) OVER (PARTITION BY delivery, recipient) AS relayed,"
    "         MAX(kind = 5 OR (kind = 4 AND final = 0)) OVER (PARTITION BY delivery, recipient) AS soft"
    "  FROM events WHERE recipient <> ''"
    ") WHERE rn = 1";

int bl_sqlite_latest_status(const char *path, uint64_t *rows, bl_tally *tally, double *seconds) {
    if (!path || !rows || !seconds) return bl_internal_fail("bl_sqlite_latest_status: missing argument");
    *rows = 0;
    if (tally) memset(tally, 0, sizeof *tally);
    int result = -1;
    sqlite3 *db = NULL;
    sqlite3_stmt *stmt = NULL;
    if (open_existing(path, &db) != 0) return -1;

    double t0 = bl_internal_now();
    CHECK(sqlite3_prepare_v2(db, latest_status_sql, -1, &stmt, NULL), "prepare(latest status)");
    int rc;
    uint64_t n = 0, text_bytes = 0;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        n++;
        sqlite3_column_text(stmt, 0);
        sqlite3_column_text(stmt, 1);
        text_bytes += (uint64_t)sqlite3_column_bytes(stmt, 0) + (uint64_t)sqlite3_column_bytes(stmt, 1);
        int kind = sqlite3_column_int(stmt, 2), before_relay = sqlite3_column_int(stmt, 3);
        int category;
        if (sqlite3_column_int(stmt, 4)) category = kind == BL_KIND_DELIVERED ? BL_DELIVERED : before_relay ? BL_FAILED_BEFORE_RELAY : BL_BOUNCED;
        else if (sqlite3_column_int(stmt, 5)) category = sqlite3_column_int(stmt, 6) ? BL_RETRYING : BL_IN_FLIGHT;
        else category = BL_PENDING;
        if (tally) tally_category(tally, category, 1);
    }
    CHECK_RC(rc, SQLITE_DONE, "step(latest status)");
    *seconds = bl_internal_now() - t0;
    *rows = n;
    volatile uint64_t sink = text_bytes; // keeps the reads
    (void)sink;
    result = 0;
fail:
    sqlite3_finalize(stmt);
    sqlite3_close(db);
    return result;
}
