// The raw-LMDB baseline: the ledger's writes per event with nothing around them (no Swift, no
// interning, no duplicate check, no hashing: the hash-chain values come precomputed), then a plain
// cursor scan and a scan + fold of the same log.

#include "internal.h"

#include <errno.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/// The ledger's map size: 64 GiB of address space (the file stays sparse).
static const size_t map_size = (size_t)64 << 30;

static inline void put_be32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16); p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v;
}

static inline void put_be64(uint8_t *p, uint64_t v) {
    put_be32(p, (uint32_t)(v >> 32));
    put_be32(p + 4, (uint32_t)v);
}

static inline uint32_t get_be32(const uint8_t *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static inline uint64_t get_be64(const uint8_t *p) { return (uint64_t)get_be32(p) << 32 | get_be32(p + 4); }

/// A signed value as an unsigned one in the same order (adds 2^63).
static inline uint64_t biased(int64_t v) { return (uint64_t)v ^ ((uint64_t)1 << 63); }

/// Floor division of a valid time (ms) into UTC minutes.
static inline int64_t minute_of(int64_t ms) {
    int64_t m = ms / 60000;
    return (ms % 60000 < 0) ? m - 1 : m;
}

/// Records a failed LMDB call (`what`, at event position `at` when nonzero) and returns -1.
static int lmdb_fail(const char *what, uint64_t at, int rc) {
    if (at) return bl_internal_fail("%s at position %llu: %s", what, (unsigned long long)at, mdb_strerror(rc));
    return bl_internal_fail("%s: %s", what, mdb_strerror(rc));
}

/// Runs an LMDB call; on failure records it and jumps to `fail` (which releases everything).
#define CHECK(call, what)                                                                       \
    do {                                                                                        \
        int rc_ = (call);                                                                       \
        if (rc_ != MDB_SUCCESS) { lmdb_fail((what), at, rc_); goto fail; }                      \
    } while (0)

/// Opens the environment in `dir` with the ledger's settings (`flags` added to `MDB_NOTLS`).
static int open_env(const char *dir, unsigned flags, MDB_env **env) {
    int rc = mdb_env_create(env);
    if (rc != MDB_SUCCESS) { *env = NULL; return lmdb_fail("mdb_env_create", 0, rc); }
    if ((rc = mdb_env_set_maxdbs(*env, 16)) != MDB_SUCCESS) { lmdb_fail("mdb_env_set_maxdbs", 0, rc); goto fail; }
    if ((rc = mdb_env_set_mapsize(*env, map_size)) != MDB_SUCCESS) { lmdb_fail("mdb_env_set_mapsize", 0, rc); goto fail; }
    if ((rc = mdb_env_open(*env, dir, MDB_NOTLS | flags, 0644)) != MDB_SUCCESS) {
        bl_internal_fail("mdb_env_open(%s): %s", dir, mdb_strerror(rc));
        goto fail;
    }
    return 0;
fail:
    mdb_env_close(*env);
    *env = NULL;
    return -1;
}

/// A per-transaction valid-time bucket: one (delivery, minute) and its event counts by kind 2…9.
typedef struct {
    int64_t minute;
    uint32_t delivery;
    uint32_t occupied;
    uint64_t counts[8];
} bucket;

/// The (delivery, minute) buckets touched by the current transaction: open addressing, grown by doubling.
typedef struct {
    bucket *slots;
    size_t *used; // indices of occupied slots, in insertion order
    size_t capacity, count;
} bucket_table;

static size_t bucket_hash(uint32_t delivery, int64_t minute, size_t capacity) {
    uint64_t h = ((uint64_t)delivery * 0x9E3779B97F4A7C15ULL) ^ ((uint64_t)minute * 0xC2B2AE3D27D4EB4FULL);
    h ^= h >> 31;
    return (size_t)(h & (capacity - 1));
}

/// (Re)allocates `t` with `capacity` slots (a power of two), keeping its buckets. Returns 0 or -1.
static int bucket_table_resize(bucket_table *t, size_t capacity) {
    bucket *slots = calloc(capacity, sizeof *slots);
    size_t *used = malloc(capacity / 2 * sizeof *used);
    if (!slots || !used) { free(slots); free(used); return -1; }
    for (size_t u = 0; u < t->count; u++) {
        bucket *b = &t->slots[t->used[u]];
        size_t i = bucket_hash(b->delivery, b->minute, capacity);
        while (slots[i].occupied) i = (i + 1) & (capacity - 1);
        slots[i] = *b;
        used[u] = i;
    }
    free(t->slots);
    free(t->used);
    t->slots = slots;
    t->used = used;
    t->capacity = capacity;
    return 0;
}

/// The bucket of (delivery, minute), created empty if new; NULL when out of memory.
static bucket *bucket_table_find(bucket_table *t, uint32_t delivery, int64_t minute) {
    size_t i = bucket_hash(delivery, minute, t->capacity);
    while (t->slots[i].occupied) {
        if (t->slots[i].delivery == delivery && t->slots[i].minute == minute) return &t->slots[i];
        i = (i + 1) & (t->capacity - 1);
    }
    if ((t->count + 1) * 2 > t->capacity) {
        if (bucket_table_resize(t, t->capacity * 2) != 0) return NULL;
        return bucket_table_find(t, delivery, minute);
    }
    bucket *b = &t->slots[i];
    memset(b, 0, sizeof *b);
    b->occupied = 1;
    b->delivery = delivery;
    b->minute = minute;
    t->used[t->count++] = i;
    return b;
}

/// A stream met by the current transaction, keyed by its stream-index key: the ledger's per-batch
/// `streams` cache (AppendBatch.swift), so that only the first event of a stream in a transaction reads
/// `streamIndex` and `streams`, and `streams` is written once per stream at the end.
typedef struct {
    const uint8_t *key; // into the events' `stream_keys`
    size_t key_length;
    uint64_t hash;
    uint64_t head;
    uint32_t stream, count, delivery;
    uint32_t occupied;
} stream_entry;

/// The streams met by the current transaction: open addressing, grown by doubling.
typedef struct {
    stream_entry *slots;
    size_t *used; // indices of occupied slots, in insertion order
    size_t capacity, count;
} stream_table;

/// FNV-1a, 64 bits.
static uint64_t key_hash(const uint8_t *key, size_t length) {
    uint64_t h = 0xCBF29CE484222325ULL;
    for (size_t i = 0; i < length; i++) h = (h ^ key[i]) * 0x100000001B3ULL;
    return h;
}

/// (Re)allocates `t` with `capacity` slots (a power of two), keeping its entries. Returns 0 or -1.
static int stream_table_resize(stream_table *t, size_t capacity) {
    stream_entry *slots = calloc(capacity, sizeof *slots);
    size_t *used = malloc(capacity / 2 * sizeof *used);
    if (!slots || !used) { free(slots); free(used); return -1; }
    for (size_t u = 0; u < t->count; u++) {
        stream_entry *e = &t->slots[t->used[u]];
        size_t i = (size_t)(e->hash & (capacity - 1));
        while (slots[i].occupied) i = (i + 1) & (capacity - 1);
        slots[i] = *e;
        used[u] = i;
    }
    free(t->slots);
    free(t->used);
    t->slots = slots;
    t->used = used;
    t->capacity = capacity;
    return 0;
}

/// The entry of `key`; when new, it is created with only its key set and `*is_new` is 1. NULL when out of memory.
static stream_entry *stream_table_find(stream_table *t, const uint8_t *key, size_t length, int *is_new) {
    uint64_t hash = key_hash(key, length);
    size_t i = (size_t)(hash & (t->capacity - 1));
    while (t->slots[i].occupied) {
        stream_entry *e = &t->slots[i];
        if (e->hash == hash && e->key_length == length && memcmp(e->key, key, length) == 0) {
            *is_new = 0;
            return e;
        }
        i = (i + 1) & (t->capacity - 1);
    }
    if ((t->count + 1) * 2 > t->capacity) {
        if (stream_table_resize(t, t->capacity * 2) != 0) return NULL;
        return stream_table_find(t, key, length, is_new);
    }
    stream_entry *e = &t->slots[i];
    memset(e, 0, sizeof *e);
    e->occupied = 1;
    e->key = key;
    e->key_length = length;
    e->hash = hash;
    t->used[t->count++] = i;
    *is_new = 1;
    return e;
}

static int compare_stream_entries(const void *a, const void *b) {
    uint32_t x = ((const stream_entry *)a)->stream, y = ((const stream_entry *)b)->stream;
    return (x > y) - (x < y);
}

static int compare_buckets(const void *a, const void *b) {
    const bucket *x = a, *y = b;
    if (x->delivery != y->delivery) return x->delivery < y->delivery ? -1 : 1;
    return (x->minute > y->minute) - (x->minute < y->minute);
}

static int compare_u32(const void *a, const void *b) {
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

/// The 24-byte `messageState` value: presence bits (relay 1, implied relay 2, final 4, soft 8), final
/// kind, final beforeRelay, category, 4 zero bytes, then the deciding mark (final, else soft, else
/// relay or implied relay): position u64 BE and valid time u64 BE (biased).
static void encode_state(const bl_message_state *s, uint8_t out[24]) {
    memset(out, 0, 24);
    out[0] = (uint8_t)((s->relay.position ? 1 : 0) | (s->implied_relay.position ? 2 : 0) |
                       (s->final.position ? 4 : 0) | (s->soft.position ? 8 : 0));
    out[1] = s->final_kind;
    out[2] = s->final_before_relay;
    out[3] = (uint8_t)bl_state_category(s);
    bl_mark m = s->final.position ? s->final : s->soft.position ? s->soft : s->relay.position ? s->relay : s->implied_relay;
    put_be64(out + 8, m.position);
    put_be64(out + 16, biased(m.at));
}

/// Per-delivery counters, as the 64-byte `deliveryCounters` value: messages, then one count per
/// ``bl_category`` (1…6), then message events.
enum { COUNTER_MESSAGES = 0, COUNTER_EVENTS = 7 };

int bl_lmdb_ingest(const char *dir, const bl_events *ev, size_t events_per_txn, int durable, bl_ingest_result *out) {
    if (!dir || !ev || !out || events_per_txn == 0 || !ev->records || !ev->record_offsets || !ev->stream_keys ||
        !ev->key_offsets || !ev->streams || !ev->deliveries || !ev->occurred_at || !ev->hashes)
        return bl_internal_fail("bl_lmdb_ingest: missing argument or events_per_txn == 0");
    memset(out, 0, sizeof *out);
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) return bl_internal_fail("mkdir(%s): %s", dir, strerror(errno));
    char data_path[4096];
    if (snprintf(data_path, sizeof data_path, "%s/data.mdb", dir) >= (int)sizeof data_path)
        return bl_internal_fail("bl_lmdb_ingest: directory path too long");
    struct stat st;
    if (stat(data_path, &st) == 0) return bl_internal_fail("bl_lmdb_ingest: %s already exists", data_path);

    int result = -1;
    uint64_t at = 0; // the event position being written, for error messages
    MDB_env *env = NULL;
    MDB_txn *txn = NULL;
    bl_message_state *states = NULL;
    uint32_t *stream_stamp = NULL, *delivery_stamp = NULL, *dirty = NULL, *touched = NULL;
    uint64_t (*counters)[8] = NULL;
    bucket_table buckets = {0};
    bucket *ordered = NULL; // the transaction's buckets, sorted for writing
    size_t ordered_capacity = 0;
    stream_table met = {0};
    stream_entry *met_ordered = NULL; // the transaction's streams, sorted for writing
    size_t met_ordered_capacity = 0;

    uint32_t max_stream = 0, max_delivery = 0;
    for (size_t i = 0; i < ev->count; i++) {
        if (ev->streams[i] > max_stream) max_stream = ev->streams[i];
        if (ev->deliveries[i] > max_delivery) max_delivery = ev->deliveries[i];
    }
    size_t per_txn_max = events_per_txn < ev->count ? events_per_txn : ev->count;
    states = calloc((size_t)max_stream + 1, sizeof *states);
    stream_stamp = calloc((size_t)max_stream + 1, sizeof *stream_stamp);
    delivery_stamp = calloc((size_t)max_delivery + 1, sizeof *delivery_stamp);
    counters = calloc((size_t)max_delivery + 1, sizeof *counters);
    dirty = malloc((per_txn_max + 1) * sizeof *dirty);
    touched = malloc((per_txn_max + 1) * sizeof *touched);
    if (!states || !stream_stamp || !delivery_stamp || !counters || !dirty || !touched ||
        bucket_table_resize(&buckets, 1024) != 0 || stream_table_resize(&met, 1024) != 0) {
        bl_internal_fail("bl_lmdb_ingest: out of memory");
        goto fail;
    }

    if (open_env(dir, durable ? 0 : MDB_NOSYNC, &env) != 0) goto fail;
    MDB_dbi log, hashes, stream_index, streams, message_state, delivery_counters, valid_steps, valid_buckets;
    CHECK(mdb_txn_begin(env, NULL, 0, &txn), "mdb_txn_begin");
    CHECK(mdb_dbi_open(txn, "log", MDB_CREATE, &log), "mdb_dbi_open(log)");
    CHECK(mdb_dbi_open(txn, "hashes", MDB_CREATE, &hashes), "mdb_dbi_open(hashes)");
    CHECK(mdb_dbi_open(txn, "streamIndex", MDB_CREATE, &stream_index), "mdb_dbi_open(streamIndex)");
    CHECK(mdb_dbi_open(txn, "streams", MDB_CREATE, &streams), "mdb_dbi_open(streams)");
    CHECK(mdb_dbi_open(txn, "messageState", MDB_CREATE, &message_state), "mdb_dbi_open(messageState)");
    CHECK(mdb_dbi_open(txn, "deliveryCounters", MDB_CREATE, &delivery_counters), "mdb_dbi_open(deliveryCounters)");
    CHECK(mdb_dbi_open(txn, "validSteps", MDB_CREATE, &valid_steps), "mdb_dbi_open(validSteps)");
    CHECK(mdb_dbi_open(txn, "validBuckets", MDB_CREATE, &valid_buckets), "mdb_dbi_open(validBuckets)");
    {
        int rc = mdb_txn_commit(txn);
        txn = NULL;
        CHECK(rc, "mdb_txn_commit");
    }

    double t0 = bl_internal_now();
    uint32_t txn_number = 0;
    for (size_t start = 0; start < ev->count; start += events_per_txn) {
        size_t end = ev->count - start < events_per_txn ? ev->count : start + events_per_txn;
        size_t n_dirty = 0, n_touched = 0;
        txn_number++;
        at = 0;
        CHECK(mdb_txn_begin(env, NULL, 0, &txn), "mdb_txn_begin");
        for (size_t i = start; i < end; i++) {
            uint64_t p = (uint64_t)i + 1;
            at = p;
            const uint8_t *record = ev->records + ev->record_offsets[i];
            size_t record_length = (size_t)(ev->record_offsets[i + 1] - ev->record_offsets[i]);
            bl_record_header h;
            if (bl_decode_header(record, record_length, &h) != 0) {
                bl_internal_fail("bl_lmdb_ingest: record at position %llu: header does not decode", (unsigned long long)p);
                goto fail;
            }
            uint32_t stream = ev->streams[i], delivery = ev->deliveries[i];
            if (h.stream != stream || h.occurred_at != ev->occurred_at[i]) {
                bl_internal_fail("bl_lmdb_ingest: record at position %llu: stream or occurredAt differs from the arrays",
                                 (unsigned long long)p);
                goto fail;
            }
            uint8_t stream_be[4], position_be[8];
            put_be32(stream_be, stream);
            put_be64(position_be, p);

            // 1–2. The stream: the first time this transaction meets its key, streamIndex (indexed when
            // missing) and, for a stored stream, streams; later events of the stream use the cache.
            MDB_val key = {(size_t)(ev->key_offsets[i + 1] - ev->key_offsets[i]), (void *)(ev->stream_keys + ev->key_offsets[i])};
            MDB_val value;
            int is_new;
            stream_entry *se = stream_table_find(&met, key.mv_data, key.mv_size, &is_new);
            if (!se) {
                bl_internal_fail("bl_lmdb_ingest: out of memory");
                goto fail;
            }
            if (is_new) {
                int rc = mdb_get(txn, stream_index, &key, &value);
                if (rc == MDB_NOTFOUND) {
                    value = (MDB_val){4, stream_be};
                    CHECK(mdb_put(txn, stream_index, &key, &value, MDB_NOOVERWRITE), "mdb_put(streamIndex)");
                    se->head = 0;
                    se->count = 0;
                    se->delivery = delivery;
                } else {
                    if (rc == MDB_SUCCESS && value.mv_size != 4) rc = MDB_CORRUPTED;
                    CHECK(rc, "mdb_get(streamIndex)");
                    if (get_be32(value.mv_data) != stream) {
                        bl_internal_fail("bl_lmdb_ingest: record at position %llu: streamIndex holds stream %u, the arrays %u",
                                         (unsigned long long)p, get_be32(value.mv_data), stream);
                        goto fail;
                    }
                    key = (MDB_val){4, stream_be};
                    rc = mdb_get(txn, streams, &key, &value);
                    if (rc == MDB_NOTFOUND) {
                        bl_internal_fail("bl_lmdb_ingest: record at position %llu: stream %u is indexed but not in the streams table",
                                         (unsigned long long)p, stream);
                        goto fail;
                    }
                    if (rc != MDB_SUCCESS || value.mv_size != 16) CHECK(rc ? rc : MDB_CORRUPTED, "mdb_get(streams)");
                    se->head = get_be64(value.mv_data);
                    se->count = get_be32((const uint8_t *)value.mv_data + 8);
                    se->delivery = get_be32((const uint8_t *)value.mv_data + 12);
                }
                se->stream = stream;
            } else if (se->stream != stream) {
                bl_internal_fail("bl_lmdb_ingest: record at position %llu: stream %u, but its stream key is stream %u's",
                                 (unsigned long long)p, stream, se->stream);
                goto fail;
            }
            se->head = p;
            se->count++;

            // 3. log, 4. hashes: appended.
            key = (MDB_val){8, position_be};
            value = (MDB_val){record_length, (void *)record};
            CHECK(mdb_put(txn, log, &key, &value, MDB_APPEND), "mdb_put(log)");
            value = (MDB_val){32, (void *)(ev->hashes + 32 * i)};
            CHECK(mdb_put(txn, hashes, &key, &value, MDB_APPEND), "mdb_put(hashes)");

            if (h.kind < BL_KIND_RELAY || h.kind > BL_KIND_AUTO_REPLY) continue; // not a message event

            // 5. the fold, and the delivery's counters (the state is written at the end of the transaction).
            bl_message_state *s = &states[stream];
            uint64_t *c = counters[delivery];
            bl_category before = bl_state_category(s);
            if (before == BL_NOT_A_MESSAGE) c[COUNTER_MESSAGES]++;
            else c[before]--;
            bl_state_apply(s, &h, p);
            c[bl_state_category(s)]++;
            c[COUNTER_EVENTS]++;
            if (stream_stamp[stream] != txn_number) {
                stream_stamp[stream] = txn_number;
                dirty[n_dirty++] = stream;
            }
            if (delivery_stamp[delivery] != txn_number) {
                delivery_stamp[delivery] = txn_number;
                touched[n_touched++] = delivery;
            }

            // 6. validSteps: one entry per message event, in valid-time order within its delivery.
            uint8_t delta_key[20], delta_value[8] = {0};
            put_be32(delta_key, delivery);
            put_be64(delta_key + 4, biased(h.occurred_at));
            put_be64(delta_key + 12, p);
            memcpy(delta_value, stream_be, 4);
            delta_value[4] = h.kind;
            delta_value[5] = h.flags;
            delta_value[6] = h.failure_type;
            delta_value[7] = h.reason;
            key = (MDB_val){20, delta_key};
            value = (MDB_val){8, delta_value};
            CHECK(mdb_put(txn, valid_steps, &key, &value, 0), "mdb_put(validSteps)");

            // 7. the (delivery, minute) bucket, written at the end of the transaction.
            bucket *b = bucket_table_find(&buckets, delivery, minute_of(h.occurred_at));
            if (!b) {
                bl_internal_fail("bl_lmdb_ingest: out of memory");
                goto fail;
            }
            b->counts[h.kind - BL_KIND_RELAY]++;
        }
        at = 0;

        // 2. streams, once per stream met, in key order: head, count, delivery.
        if (met.count > met_ordered_capacity) {
            free(met_ordered);
            met_ordered_capacity = met.capacity / 2;
            met_ordered = malloc(met_ordered_capacity * sizeof *met_ordered);
            if (!met_ordered) {
                bl_internal_fail("bl_lmdb_ingest: out of memory");
                goto fail;
            }
        }
        for (size_t u = 0; u < met.count; u++) {
            met_ordered[u] = met.slots[met.used[u]];
            met.slots[met.used[u]].occupied = 0;
        }
        size_t n_met = met.count;
        met.count = 0;
        qsort(met_ordered, n_met, sizeof *met_ordered, compare_stream_entries);
        for (size_t u = 0; u < n_met; u++) {
            uint8_t k[4], v[16];
            put_be32(k, met_ordered[u].stream);
            put_be64(v, met_ordered[u].head);
            put_be32(v + 8, met_ordered[u].count);
            put_be32(v + 12, met_ordered[u].delivery);
            MDB_val key = {4, k}, value = {16, v};
            CHECK(mdb_put(txn, streams, &key, &value, 0), "mdb_put(streams)");
        }

        // 5. messageState, as the ledger packs it: 16 streams to an entry (key: stream / 16), each
        //    touched block read, changed and written once, in key order.
        qsort(dirty, n_dirty, sizeof *dirty, compare_u32);
        for (size_t d = 0; d < n_dirty;) {
            uint32_t block = dirty[d] / 16;
            uint8_t k[4], v[16 * 24];
            put_be32(k, block);
            MDB_val key = {4, k}, value;
            int rc = mdb_get(txn, message_state, &key, &value);
            if (rc == 0 && value.mv_size == sizeof v) memcpy(v, value.mv_data, sizeof v);
            else if (rc == MDB_NOTFOUND) memset(v, 0, sizeof v);
            else CHECK(rc ? rc : MDB_CORRUPTED, "mdb_get(messageState)");
            for (; d < n_dirty && dirty[d] / 16 == block; d++) encode_state(&states[dirty[d]], v + 24 * (dirty[d] % 16));
            value.mv_size = sizeof v;
            value.mv_data = v;
            CHECK(mdb_put(txn, message_state, &key, &value, 0), "mdb_put(messageState)");
        }

        // 7. validBuckets, once per (delivery, minute) touched, in key order: stored counts + this transaction's.
        if (buckets.count > ordered_capacity) {
            free(ordered);
            ordered_capacity = buckets.capacity / 2;
            ordered = malloc(ordered_capacity * sizeof *ordered);
            if (!ordered) {
                bl_internal_fail("bl_lmdb_ingest: out of memory");
                goto fail;
            }
        }
        for (size_t u = 0; u < buckets.count; u++) {
            ordered[u] = buckets.slots[buckets.used[u]];
            buckets.slots[buckets.used[u]].occupied = 0;
        }
        size_t n_buckets = buckets.count;
        buckets.count = 0;
        qsort(ordered, n_buckets, sizeof *ordered, compare_buckets);
        for (size_t u = 0; u < n_buckets; u++) {
            uint8_t k[12], v[64];
            put_be32(k, ordered[u].delivery);
            put_be64(k + 4, biased(ordered[u].minute));
            MDB_val key = {12, k}, value;
            int rc = mdb_get(txn, valid_buckets, &key, &value);
            if (rc == MDB_SUCCESS && value.mv_size == 64) {
                for (int j = 0; j < 8; j++) ordered[u].counts[j] += get_be64((const uint8_t *)value.mv_data + 8 * j);
            } else if (rc != MDB_NOTFOUND) {
                CHECK(rc ? rc : MDB_CORRUPTED, "mdb_get(validBuckets)");
            }
            for (int j = 0; j < 8; j++) put_be64(v + 8 * j, ordered[u].counts[j]);
            value = (MDB_val){64, v};
            CHECK(mdb_put(txn, valid_buckets, &key, &value, 0), "mdb_put(validBuckets)");
        }

        // 7. deliveryCounters, once per delivery touched.
        for (size_t d = 0; d < n_touched; d++) {
            uint8_t k[4], v[64];
            put_be32(k, touched[d]);
            MDB_val key = {4, k}, value;
            int rc = mdb_get(txn, delivery_counters, &key, &value);
            if (rc != MDB_NOTFOUND) CHECK(rc, "mdb_get(deliveryCounters)");
            for (int j = 0; j < 8; j++) put_be64(v + 8 * j, counters[touched[d]][j]);
            value = (MDB_val){64, v};
            CHECK(mdb_put(txn, delivery_counters, &key, &value, 0), "mdb_put(deliveryCounters)");
        }

        int rc = mdb_txn_commit(txn);
        txn = NULL;
        CHECK(rc, "mdb_txn_commit");
        out->events += end - start;
    }
    out->seconds = bl_internal_now() - t0;

    mdb_env_close(env);
    env = NULL;
    if (stat(data_path, &st) != 0) {
        bl_internal_fail("stat(%s): %s", data_path, strerror(errno));
        goto fail;
    }
    out->bytes_on_disk = (uint64_t)st.st_size;
    result = 0;
fail:
    if (txn) mdb_txn_abort(txn);
    if (env) mdb_env_close(env);
    free(states);
    free(stream_stamp);
    free(delivery_stamp);
    free(counters);
    free(dirty);
    free(touched);
    free(buckets.slots);
    free(buckets.used);
    free(ordered);
    free(met.slots);
    free(met.used);
    free(met_ordered);
    return result;
}

/// Opens `dir` read-only, begins a read transaction and opens `log` (and `streams` when asked).
static int open_for_reading(const char *dir, MDB_env **env, MDB_txn **txn, MDB_dbi *log, MDB_dbi *streams) {
    uint64_t at = 0;
    *txn = NULL;
    if (open_env(dir, MDB_RDONLY, env) != 0) return -1;
    CHECK(mdb_txn_begin(*env, NULL, MDB_RDONLY, txn), "mdb_txn_begin(read-only)");
    CHECK(mdb_dbi_open(*txn, "log", 0, log), "mdb_dbi_open(log)");
    if (streams) CHECK(mdb_dbi_open(*txn, "streams", 0, streams), "mdb_dbi_open(streams)");
    return 0;
fail:
    if (*txn) mdb_txn_abort(*txn);
    *txn = NULL;
    mdb_env_close(*env);
    *env = NULL;
    return -1;
}

int bl_lmdb_scan(const char *dir, double *seconds, uint64_t *events) {
    if (!dir || !seconds || !events) return bl_internal_fail("bl_lmdb_scan: missing argument");
    uint64_t at = 0;
    int result = -1;
    MDB_env *env = NULL;
    MDB_txn *txn = NULL;
    MDB_cursor *cursor = NULL;
    MDB_dbi log;
    if (open_for_reading(dir, &env, &txn, &log, NULL) != 0) return -1;
    CHECK(mdb_cursor_open(txn, log, &cursor), "mdb_cursor_open(log)");

    double t0 = bl_internal_now();
    uint64_t n = 0, sum = 0;
    MDB_val key, value;
    int rc;
    while ((rc = mdb_cursor_get(cursor, &key, &value, MDB_NEXT)) == MDB_SUCCESS) {
        n++;
        sum += value.mv_size + (value.mv_size ? ((const uint8_t *)value.mv_data)[0] : 0);
    }
    if (rc != MDB_NOTFOUND) CHECK(rc, "mdb_cursor_get(log)");
    *seconds = bl_internal_now() - t0;
    *events = n;
    volatile uint64_t sink = sum; // keeps the reads
    (void)sink;
    result = 0;
fail:
    if (cursor) mdb_cursor_close(cursor);
    if (txn) mdb_txn_abort(txn);
    mdb_env_close(env);
    return result;
}

/// Grows `*states` (zero-filled) so that index `stream` exists. Returns 0 or -1.
static int reserve_states(bl_message_state **states, size_t *capacity, uint32_t stream) {
    if (stream < *capacity) return 0;
    size_t grown = *capacity ? *capacity : 1024;
    while (grown <= stream) grown *= 2;
    bl_message_state *bigger = realloc(*states, grown * sizeof *bigger);
    if (!bigger) return -1;
    memset(bigger + *capacity, 0, (grown - *capacity) * sizeof *bigger);
    *states = bigger;
    *capacity = grown;
    return 0;
}

int bl_lmdb_scan_fold(const char *dir, uint32_t max_stream, uint32_t only_delivery, bl_fold_result *out) {
    if (!dir || !out) return bl_internal_fail("bl_lmdb_scan_fold: missing argument");
    memset(out, 0, sizeof *out);
    uint64_t at = 0;
    int result = -1;
    MDB_env *env = NULL;
    MDB_txn *txn = NULL;
    MDB_cursor *cursor = NULL;
    MDB_dbi log, streams;
    bl_message_state *states = NULL;
    size_t capacity = 0;
    if (reserve_states(&states, &capacity, max_stream) != 0) return bl_internal_fail("bl_lmdb_scan_fold: out of memory");
    if (open_for_reading(dir, &env, &txn, &log, only_delivery ? &streams : NULL) != 0) {
        free(states);
        return -1;
    }
    CHECK(mdb_cursor_open(txn, log, &cursor), "mdb_cursor_open(log)");

    double t0 = bl_internal_now();
    MDB_val key, value;
    int rc;
    while ((rc = mdb_cursor_get(cursor, &key, &value, MDB_NEXT)) == MDB_SUCCESS) {
        out->events++;
        if (key.mv_size != 8) {
            bl_internal_fail("bl_lmdb_scan_fold: log key of %zu bytes", key.mv_size);
            goto fail;
        }
        uint64_t p = get_be64(key.mv_data);
        bl_record_header h;
        if (bl_decode_header(value.mv_data, value.mv_size, &h) != 0) {
            bl_internal_fail("bl_lmdb_scan_fold: record at position %llu: header does not decode", (unsigned long long)p);
            goto fail;
        }
        if (reserve_states(&states, &capacity, h.stream) != 0) {
            bl_internal_fail("bl_lmdb_scan_fold: out of memory");
            goto fail;
        }
        bl_state_apply(&states[h.stream], &h, p);
    }
    if (rc != MDB_NOTFOUND) CHECK(rc, "mdb_cursor_get(log)");
    if (only_delivery == 0) {
        for (size_t s = 0; s < capacity; s++) bl_tally_add(&out->tally, &states[s]);
    } else {
        // The delivery's streams, from the `streams` table (stream u32 → head, count, delivery).
        mdb_cursor_close(cursor);
        cursor = NULL;
        CHECK(mdb_cursor_open(txn, streams, &cursor), "mdb_cursor_open(streams)");
        while ((rc = mdb_cursor_get(cursor, &key, &value, MDB_NEXT)) == MDB_SUCCESS) {
            if (key.mv_size != 4 || value.mv_size != 16) {
                bl_internal_fail("bl_lmdb_scan_fold: streams entry of %zu + %zu bytes", key.mv_size, value.mv_size);
                goto fail;
            }
            uint32_t stream = get_be32(key.mv_data);
            if (get_be32((const uint8_t *)value.mv_data + 12) == only_delivery && stream < capacity)
                bl_tally_add(&out->tally, &states[stream]);
        }
        if (rc != MDB_NOTFOUND) CHECK(rc, "mdb_cursor_get(streams)");
    }
    out->seconds = bl_internal_now() - t0;
    result = 0;
fail:
    if (cursor) mdb_cursor_close(cursor);
    if (txn) mdb_txn_abort(txn);
    mdb_env_close(env);
    free(states);
    return result;
}
