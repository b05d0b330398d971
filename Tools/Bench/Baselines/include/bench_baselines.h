/// Baselines for the ledger benchmark, in C: the same events stored in raw LMDB (same record bytes,
/// same index writes per event as the ledger's design) and in SQLite (one table, one index).
///
/// The runner hands in events it took from the ledger itself (``bl_events``), calls a baseline, and
/// prints ledger figure / baseline figure / ratio. Benchmark tooling only: the product's C interop
/// stays in LMDBKit.
///
/// Every function returning `int` returns 0 on success and nonzero on failure; on failure
/// ``bl_last_error`` says which call failed and why. No transaction, cursor or handle outlives a call.
/// Not thread-safe per path (one call at a time per directory or file); the error message is per thread.
#ifndef BENCH_BASELINES_H
#define BENCH_BASELINES_H

#include <stdint.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

// MARK: - Input and results

/// Events handed in by the runner, in log order (position i+1 is element i).
///
/// Message events (kinds 2…9) have a non-empty recipient; delivery events (kind 1) a delivery and an
/// empty recipient; EFS flags (kind 10) neither — as the ledger's stream keys.
typedef struct {
    /// Number of events.
    size_t count;
    /// Concatenated record bytes (the ledger's binary record codec, format version 1).
    const uint8_t *records;
    /// `count + 1` offsets into `records`: event i is `records[record_offsets[i] ..< record_offsets[i+1]]`.
    const uint64_t *record_offsets;
    /// Concatenated stream-index keys: delivery ordinal u32 big-endian + recipient UTF-8 (at most 511 bytes each).
    const uint8_t *stream_keys;
    /// `count + 1` offsets into `stream_keys`.
    const uint64_t *key_offsets;
    /// Stream ordinal per event (dense, starting at 1; must equal the record's own stream ordinal).
    const uint32_t *streams;
    /// Delivery ordinal per event (dense, starting at 1; 0 for events of no delivery).
    const uint32_t *deliveries;
    /// Valid time per event, milliseconds since the Unix epoch (UTC).
    const int64_t *occurred_at;
    /// 32 bytes per event: the ledger's SHA-256 hash-chain value at that position, precomputed.
    const uint8_t *hashes;
    /// SQLite only: delivery id per event, NUL-terminated ("" for events of no delivery).
    const char *const *delivery_ids;
    /// SQLite only: recipient per event, NUL-terminated ("" for delivery-level events).
    const char *const *recipients;
} bl_events;

/// Result of an ingest.
typedef struct {
    /// Wall-clock seconds of the append loop (opening excluded; commits and fsyncs included).
    double seconds;
    /// Events appended.
    uint64_t events;
    /// Size of the store after closing it (LMDB `data.mdb`; SQLite database plus any WAL), bytes.
    uint64_t bytes_on_disk;
} bl_ingest_result;

/// Tallies of the per-message fold: how many messages, and how many in each category.
///
/// `messages == pending + in_flight + retrying + delivered + bounced + failed_before_relay`.
typedef struct {
    uint64_t messages, pending, in_flight, retrying, delivered, bounced, failed_before_relay;
} bl_tally;

/// Result of a fold.
typedef struct {
    /// Wall-clock seconds of the scan and fold (opening excluded).
    double seconds;
    /// Log records read (all kinds, whatever the delivery filter).
    uint64_t events;
    /// The tallies of the folded messages.
    bl_tally tally;
} bl_fold_result;

// MARK: - Physical limits of the write path

/// Raw LMDB **sequential append of the same record bytes**: the `log` table only, `MDB_APPEND`,
/// `events_per_txn` records per transaction, one durable commit (fsync) each when `durable`. The
/// ingest baseline of the write path (the ledger also writes its hash chain and folds the tail).
int bl_lmdb_append_only(const char *dir, const bl_events *ev, size_t events_per_txn, int durable, bl_ingest_result *out);

/// The disk's durable sequential write rate: `bytes` written to `path` in `chunk`-byte writes, each
/// followed by `fdatasync`, in bytes per second; the file is removed afterwards.
int bl_disk_write_rate(const char *path, uint64_t bytes, size_t chunk, double *bytes_per_second);

// MARK: - Raw LMDB

/// Appends `ev` to a new raw-LMDB store in `dir` with the ledger's writes (README "The write path"):
/// the log in each append, the projection behind it, written at checkpoints.
///
/// Creates `dir` (it must not hold a `data.mdb` yet). Environment: map size 64 GiB, `MDB_NOTLS`, plus
/// `MDB_NOSYNC` when `durable` is 0; databases `log`, `hashes`, `tailStreams`, `currentCounters`,
/// `streamIndex`, `streams`, `messageState`, `deliveryCounters`, `validSteps`, `meta`. One write
/// transaction (an append) per `events_per_txn` events. Per event at position p (keys big-endian):
/// 1. its stream: from the tail (an in-memory table of the streams met since the last checkpoint), else
///    `streamIndex` (get) and, for a stored stream, `streams` (get; 16 bytes);
/// 2. idempotency's reads: the first time the append meets a stream with earlier records, a walk of its
///    chain (a `log` get of each earlier record, following the record's previous position);
/// 3. `log`: put `p u64 → record` (`MDB_APPEND`), and an 8-byte digest of it (FNV-1a 64) for the
///    append's hash-chain entry;
/// 4. message events: the fold in memory (``bl_state_apply``), the delivery's counters, a valid-time
///    step kept for the checkpoint.
/// At the end of the append: `hashes`: put `last u64 → the precomputed 32-byte hash + the digests`
/// (`MDB_APPEND`); its summary: `tailStreams`: put `first u64 → 16 bytes a stream touched` (`MDB_APPEND`),
/// and `currentCounters`: put `delivery u32 → 80 bytes` per delivery touched; commit (fsync when durable).
/// After an append that leaves at least `checkpoint_records` records in the tail, a checkpoint in its own
/// transaction, in key order: `streamIndex` for new streams, `streams` (head, count, delivery) for every
/// stream met, `messageState` 16 states (24 bytes each) to an entry (read, changed, written once),
/// `validSteps` (`delivery u32 + occurredAt u64 biased + p u64 → 8 bytes`), `deliveryCounters`
/// (64 bytes), the checkpoint position in `meta`; `tailStreams` emptied. Checkpoints by policy count in
/// the ingest's time; the final one (the tail left at the end) is timed apart, as the ledger's is.
/// - Parameters:
///   - dir: the store's directory (created if missing).
///   - ev: the events.
///   - events_per_txn: events per append (at least 1).
///   - checkpoint_records: the checkpoint policy (records in the tail; at least 1).
///   - durable: nonzero to fsync every commit (the ledger's durable mode).
///   - out: the timing (appends and checkpoints by policy), event count and size on disk.
///   - final_checkpoint_seconds: the time of the final checkpoint.
/// - Returns: 0, or nonzero on failure (see ``bl_last_error``).
int bl_lmdb_ingest(const char *dir, const bl_events *ev, size_t events_per_txn, size_t checkpoint_records, int durable,
                   bl_ingest_result *out, double *final_checkpoint_seconds);

/// Reads the whole `log` of the store in `dir` with one cursor in a read transaction, touching every
/// value (sums the lengths and the first byte of each).
/// - Parameters:
///   - dir: a store written by ``bl_lmdb_ingest``, or a ledger's own directory (same `log` table).
///   - seconds: wall-clock seconds of the scan (opening excluded).
///   - events: records read.
/// - Returns: 0, or nonzero on failure.
int bl_lmdb_scan(const char *dir, double *seconds, uint64_t *events);

/// Scans the `log` of the store in `dir` in order, decodes each record's header and folds it into a
/// per-stream state (dense array, ``bl_state_apply``), then tallies the messages (``bl_tally_add``).
/// - Parameters:
///   - dir: a store written by ``bl_lmdb_ingest``; a ledger's own directory too when `only_delivery` is 0
///     (its `streams` values have another layout).
///   - max_stream: the highest stream ordinal expected (sizes the state array; it grows if exceeded).
///   - only_delivery: 0 to tally every delivery's messages, else one delivery ordinal (its streams are
///     then found by a cursor over `streams`, inside the timed part).
///   - out: the timing, records read and tallies.
/// - Returns: 0, or nonzero on failure (including a record whose header does not decode).
int bl_lmdb_scan_fold(const char *dir, uint32_t max_stream, uint32_t only_delivery, bl_fold_result *out);

// MARK: - SQLite

/// Inserts `ev` into a new SQLite database at `path` (it must not exist yet), one row per event:
/// `events(position INTEGER PRIMARY KEY, delivery TEXT, recipient TEXT, kind, final, before_relay,
/// occurred_at, record BLOB)` with index `events_message(delivery, recipient, occurred_at)` created
/// before the inserts. WAL, `synchronous=FULL`, one prepared statement, `events_per_txn` rows per
/// transaction. Kind and flags come from each record's header.
/// - Parameters:
///   - path: the database file to create.
///   - ev: the events (`delivery_ids` and `recipients` required).
///   - events_per_txn: rows per transaction (at least 1).
///   - out: the timing (opening and schema excluded), rows and size on disk.
/// - Returns: 0, or nonzero on failure.
int bl_sqlite_ingest(const char *path, const bl_events *ev, size_t events_per_txn, bl_ingest_result *out);

/// The KPI tallies of one delivery (or of all), computed in SQL: one GROUP BY per message for relayed and
/// soft, a correlated index lookup for the latest final outcome, then a GROUP BY on the category; only
/// the tally rows are fetched.
///
/// Same rules as the fold (``bl_state_apply``); the one difference is how a message is identified:
/// by (delivery, recipient) with a non-empty recipient in SQL, by stream ordinal with a kind 2…9 event
/// in the fold — the same sets for the ledger's stream keys.
/// - Parameters:
///   - path: a database written by ``bl_sqlite_ingest``.
///   - delivery_id: the delivery, or NULL for all deliveries together.
///   - out: the tallies.
///   - seconds: wall-clock seconds of the query (preparing included, opening excluded).
/// - Returns: 0, or nonzero on failure.
int bl_sqlite_kpis(const char *path, const char *delivery_id, bl_tally *out, double *seconds);

/// The latest status of every message of the whole table, fetched row by row: per (delivery,
/// recipient), the latest final outcome (by occurred_at, then position), else the latest event, with
/// whether the message was relayed and had a soft failure (window functions). Each row is fetched
/// (delivery, recipient and status read) and counted.
/// - Parameters:
///   - path: a database written by ``bl_sqlite_ingest``.
///   - rows: rows fetched (one per message).
///   - tally: if not NULL, the tallies of the fetched statuses (equal to the fold's, all deliveries).
///   - seconds: wall-clock seconds of the query and fetch (opening excluded).
/// - Returns: 0, or nonzero on failure.
int bl_sqlite_latest_status(const char *path, uint64_t *rows, bl_tally *tally, double *seconds);

/// The message of the last failure on this thread (a call returned nonzero): which call failed and
/// the `mdb_strerror` / `sqlite3_errmsg` text. Empty when nothing failed yet. Valid until the next call.
const char *bl_last_error(void);

// MARK: - The fold, in memory

/// Kind codes of the record codec.
enum {
    BL_KIND_DELIVERY = 1, BL_KIND_RELAY = 2, BL_KIND_DELIVERED = 3, BL_KIND_BOUNCE = 4, BL_KIND_RETRY = 5,
    BL_KIND_TIMEOUT = 6, BL_KIND_COMPLAINT = 7, BL_KIND_UNSUBSCRIBE = 8, BL_KIND_AUTO_REPLY = 9, BL_KIND_EFS_FLAG = 10,
};

/// Flag bits of the record codec.
enum { BL_FLAG_FINAL = 1, BL_FLAG_BEFORE_RELAY = 8, BL_FLAG_DEFINES_STREAM = 64 };

/// The fixed header of a record (what the fold needs; the rest of the record is not decoded).
typedef struct {
    uint8_t kind, flags, source, failure_type, reason;
    uint32_t stream;
    uint64_t previous;
    /// Transaction time and valid time, ms since the Unix epoch (UTC).
    int64_t recorded_at, occurred_at;
} bl_record_header;

/// Decodes the header of the record `bytes[0 ..< length]` into `out`.
/// - Returns: 0, or -1 when the record is too short, of another format version, has an unknown kind,
///   or a varint overflows.
int bl_decode_header(const uint8_t *bytes, size_t length, bl_record_header *out);

/// An outcome mark: valid time (ms) and log position; `position == 0` means no mark.
typedef struct { int64_t at; uint64_t position; } bl_mark;

/// The per-message fold state (the rules of MessageState.swift): zero-initialised means no event.
typedef struct {
    /// Earliest relay, by (occurredAt, position).
    bl_mark relay;
    /// Earliest delivered/bounce/retry/timeout that is not before relay (implies the relay).
    bl_mark implied_relay;
    /// Latest final outcome (delivered, timeout, final bounce), by (occurredAt, position).
    bl_mark final;
    /// Latest soft failure (retry, non-final bounce).
    bl_mark soft;
    /// Kind code and beforeRelay flag of `final`.
    uint8_t final_kind, final_before_relay;
    /// Whether the stream had an event of kind 2…9 (it is a message).
    uint8_t is_message;
} bl_message_state;

/// Folds the event at `position` with header `h` into `s`. Kinds 1 and 10 change nothing; 7, 8, 9 only
/// make the stream a message. Order-independent: any order of the same events gives the same state.
void bl_state_apply(bl_message_state *s, const bl_record_header *h, uint64_t position);

/// Where a message stands (the ledger's MessageSummary categories).
typedef enum {
    BL_NOT_A_MESSAGE = 0, BL_PENDING, BL_IN_FLIGHT, BL_RETRYING, BL_DELIVERED, BL_BOUNCED, BL_FAILED_BEFORE_RELAY,
} bl_category;

/// The category of `s`: the latest final outcome decides (delivered; else failed before relay or
/// bounced, by its beforeRelay flag); without one, a relayed message (relay or implied relay) is
/// retrying after a soft failure, else in flight; otherwise pending.
bl_category bl_state_category(const bl_message_state *s);

/// Adds `s` to `t` (one message in its category) when `s` is a message; does nothing otherwise.
void bl_tally_add(bl_tally *t, const bl_message_state *s);

/// Folds the records of `ev` in memory (decode headers, fold per stream, tally), as ``bl_lmdb_scan_fold``
/// without the store: a reference for the other baselines and for the ledger's own fold.
/// - Parameters:
///   - ev: the events (`records`, `record_offsets`, `deliveries` used).
///   - only_delivery: 0 for all deliveries, else one delivery ordinal.
///   - out: the timing, records read and tallies.
/// - Returns: 0, or nonzero on failure.
int bl_fold_events(const bl_events *ev, uint32_t only_delivery, bl_fold_result *out);

#ifdef __cplusplus
}
#endif

#endif
