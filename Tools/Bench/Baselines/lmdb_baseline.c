// The raw-LMDB baseline: the ledger's writes (its design: the log in each append, the projection at
// checkpoints) with nothing around them (no Swift, no interning, no id comparison, no raw-bytes
// compression, no SHA-256: the hash-chain values come precomputed), then a plain cursor scan and a
// scan + fold of the same log.

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

/// A stream, keyed by its stream-index key: in the tail (met since the last checkpoint: only its first
/// event after a checkpoint reads `streamIndex` and `streams`, which the checkpoint writes once), or
/// met by the current append (its first touch walks the stream's chain, as AppendBatch.swift does).
typedef struct {
    const uint8_t *key; // into the events' `stream_keys`
    size_t key_length;
    uint64_t hash;
    uint64_t head;
    uint32_t stream, count, delivery;
    uint32_t occupied;
    /// Not in `streamIndex` yet (first recorded after the last checkpoint).
    uint32_t fresh;
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

static int compare_stream_pointers(const void *a, const void *b) {
    uint32_t x = (*(const stream_entry *const *)a)->stream, y = (*(const stream_entry *const *)b)->stream;
    return (x > y) - (x < y);
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

/// A valid-time step waiting for the checkpoint: key `delivery u32 + occurredAt u64 (biased) + p u64`,
/// value `stream u32, kind, flags, failure type, reason`.
typedef struct {
    uint8_t key[20];
    uint8_t value[8];
} step_entry;

static int compare_steps(const void *a, const void *b) { return memcmp(((const step_entry *)a)->key, ((const step_entry *)b)->key, 20); }

static int compare_stream_keys(const void *a, const void *b) {
    const stream_entry *x = *(const stream_entry *const *)a, *y = *(const stream_entry *const *)b;
    size_t n = x->key_length < y->key_length ? x->key_length : y->key_length;
    int c = memcmp(x->key, y->key, n);
    return c ? c : (x->key_length > y->key_length) - (x->key_length < y->key_length);
}

/// The projection's writes of a checkpoint, in one transaction (see ``bl_lmdb_ingest``).
typedef struct {
    MDB_dbi stream_index, streams, message_state, delivery_counters, valid_steps, tail_streams, meta;
    stream_table tail;          // the streams met since the checkpoint
    bl_message_state *states;   // every stream's state (index: stream ordinal)
    uint64_t (*counters)[8];    // every delivery's counters (index: delivery ordinal)
    uint32_t *dirty, *touched;  // streams / deliveries changed since the checkpoint
    size_t n_dirty, n_touched;
    uint32_t *stream_stamp, *delivery_stamp; // the checkpoint number that last marked them
    uint32_t checkpoint_number;
    step_entry *steps;
    size_t n_steps, steps_capacity;
    stream_entry **sorted;
    uint64_t records;           // records since the checkpoint
} tail_state;

/// Writes the tail's projection (streamIndex, streams, messageState, validSteps, deliveryCounters) in
/// key order with the checkpoint position, empties `tailStreams`, commits, and empties the tail.
static int write_checkpoint(MDB_env *env, tail_state *t, uint64_t position) {
    uint64_t at = 0;
    MDB_txn *txn = NULL;
    CHECK(mdb_txn_begin(env, NULL, 0, &txn), "mdb_txn_begin(checkpoint)");
    size_t n = 0;
    for (size_t u = 0; u < t->tail.count; u++) t->sorted[n++] = &t->tail.slots[t->tail.used[u]];
    // streamIndex: the new streams, by key.
    qsort(t->sorted, n, sizeof *t->sorted, compare_stream_keys);
    for (size_t u = 0; u < n; u++) {
        stream_entry *e = t->sorted[u];
        if (!e->fresh) continue;
        uint8_t v[4];
        put_be32(v, e->stream);
        MDB_val key = {e->key_length, (void *)e->key}, value = {4, v};
        CHECK(mdb_put(txn, t->stream_index, &key, &value, MDB_NOOVERWRITE), "mdb_put(streamIndex)");
    }
    // streams: every stream met, by ordinal (head, count, delivery).
    qsort(t->sorted, n, sizeof *t->sorted, compare_stream_pointers);
    for (size_t u = 0; u < n; u++) {
        uint8_t k[4], v[16];
        put_be32(k, t->sorted[u]->stream);
        put_be64(v, t->sorted[u]->head);
        put_be32(v + 8, t->sorted[u]->count);
        put_be32(v + 12, t->sorted[u]->delivery);
        MDB_val key = {4, k}, value = {16, v};
        CHECK(mdb_put(txn, t->streams, &key, &value, 0), "mdb_put(streams)");
    }
    // messageState, 16 streams to an entry, each touched block read, changed and written once.
    qsort(t->dirty, t->n_dirty, sizeof *t->dirty, compare_u32);
    for (size_t d = 0; d < t->n_dirty;) {
        uint32_t block = t->dirty[d] / 16;
        uint8_t k[4], v[16 * 24];
        put_be32(k, block);
        MDB_val key = {4, k}, value;
        int rc = mdb_get(txn, t->message_state, &key, &value);
        if (rc == 0 && value.mv_size == sizeof v) memcpy(v, value.mv_data, sizeof v);
        else if (rc == MDB_NOTFOUND) memset(v, 0, sizeof v);
        else CHECK(rc ? rc : MDB_CORRUPTED, "mdb_get(messageState)");
        for (; d < t->n_dirty && t->dirty[d] / 16 == block; d++) encode_state(&t->states[t->dirty[d]], v + 24 * (t->dirty[d] % 16));
        value = (MDB_val){sizeof v, v};
        CHECK(mdb_put(txn, t->message_state, &key, &value, 0), "mdb_put(messageState)");
    }
    // validSteps, in key order.
    qsort(t->steps, t->n_steps, sizeof *t->steps, compare_steps);
    for (size_t s = 0; s < t->n_steps; s++) {
        MDB_val key = {20, t->steps[s].key}, value = {8, t->steps[s].value};
        CHECK(mdb_put(txn, t->valid_steps, &key, &value, 0), "mdb_put(validSteps)");
    }
    // deliveryCounters, once per delivery touched.
    qsort(t->touched, t->n_touched, sizeof *t->touched, compare_u32);
    for (size_t d = 0; d < t->n_touched; d++) {
        uint8_t k[4], v[64];
        put_be32(k, t->touched[d]);
        for (int j = 0; j < 8; j++) put_be64(v + 8 * j, t->counters[t->touched[d]][j]);
        MDB_val key = {4, k}, value = {64, v};
        CHECK(mdb_put(txn, t->delivery_counters, &key, &value, 0), "mdb_put(deliveryCounters)");
    }
    {
        uint8_t v[8];
        put_be64(v, position);
        MDB_val key = {10, "checkpoint"}, value = {8, v};
        CHECK(mdb_put(txn, t->meta, &key, &value, 0), "mdb_put(meta checkpoint)");
    }
    CHECK(mdb_drop(txn, t->tail_streams, 0), "mdb_drop(tailStreams)");
    {
        int rc = mdb_txn_commit(txn);
        txn = NULL;
        CHECK(rc, "mdb_txn_commit(checkpoint)");
    }
    for (size_t u = 0; u < t->tail.count; u++) t->tail.slots[t->tail.used[u]].occupied = 0;
    t->tail.count = 0;
    t->n_dirty = t->n_touched = t->n_steps = 0;
    t->records = 0;
    t->checkpoint_number++;
    return 0;
fail:
    if (txn) mdb_txn_abort(txn);
    return -1;
}

int bl_lmdb_ingest(const char *dir, const bl_events *ev, size_t events_per_txn, size_t checkpoint_records, int durable,
                   bl_ingest_result *out, double *final_checkpoint_seconds) {
    if (!dir || !ev || !out || !final_checkpoint_seconds || events_per_txn == 0 || checkpoint_records == 0 || !ev->records ||
        !ev->record_offsets || !ev->stream_keys || !ev->key_offsets || !ev->streams || !ev->deliveries || !ev->occurred_at ||
        !ev->hashes)
        return bl_internal_fail("bl_lmdb_ingest: missing argument, events_per_txn == 0 or checkpoint_records == 0");
    memset(out, 0, sizeof *out);
    *final_checkpoint_seconds = 0;
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
    tail_state t = {0};
    stream_table met = {0};       // the streams met by the current append (their first touch walks the chain)
    uint32_t *met_delivery = NULL, *append_touched = NULL; // the deliveries the current append touched
    uint8_t *hash_value = NULL, *summary = NULL;
    MDB_dbi log, hashes;

    uint32_t max_stream = 0, max_delivery = 0;
    for (size_t i = 0; i < ev->count; i++) {
        if (ev->streams[i] > max_stream) max_stream = ev->streams[i];
        if (ev->deliveries[i] > max_delivery) max_delivery = ev->deliveries[i];
    }
    size_t per_txn_max = events_per_txn < ev->count ? events_per_txn : ev->count;
    size_t tail_max = checkpoint_records + per_txn_max; // a checkpoint follows the append that reaches the count
    t.states = calloc((size_t)max_stream + 1, sizeof *t.states);
    t.stream_stamp = calloc((size_t)max_stream + 1, sizeof *t.stream_stamp);
    t.delivery_stamp = calloc((size_t)max_delivery + 1, sizeof *t.delivery_stamp);
    t.counters = calloc((size_t)max_delivery + 1, sizeof *t.counters);
    t.dirty = malloc((tail_max + 1) * sizeof *t.dirty);
    t.touched = malloc(((size_t)max_delivery + 1) * sizeof *t.touched);
    t.steps_capacity = tail_max + 1;
    t.steps = malloc(t.steps_capacity * sizeof *t.steps);
    t.sorted = malloc((tail_max + 1) * sizeof *t.sorted);
    t.checkpoint_number = 1;
    met_delivery = calloc((size_t)max_delivery + 1, sizeof *met_delivery);
    append_touched = malloc(((size_t)max_delivery + 1) * sizeof *append_touched);
    hash_value = malloc(32 + 8 * per_txn_max);
    summary = malloc(16 * per_txn_max + 16);
    if (!t.states || !t.stream_stamp || !t.delivery_stamp || !t.counters || !t.dirty || !t.touched || !t.steps || !t.sorted ||
        !met_delivery || !append_touched || !hash_value || !summary || stream_table_resize(&t.tail, 1024) != 0 || stream_table_resize(&met, 1024) != 0) {
        bl_internal_fail("bl_lmdb_ingest: out of memory");
        goto fail;
    }

    if (open_env(dir, durable ? 0 : MDB_NOSYNC, &env) != 0) goto fail;
    MDB_dbi current_counters;
    CHECK(mdb_txn_begin(env, NULL, 0, &txn), "mdb_txn_begin");
    CHECK(mdb_dbi_open(txn, "log", MDB_CREATE, &log), "mdb_dbi_open(log)");
    CHECK(mdb_dbi_open(txn, "hashes", MDB_CREATE, &hashes), "mdb_dbi_open(hashes)");
    CHECK(mdb_dbi_open(txn, "streamIndex", MDB_CREATE, &t.stream_index), "mdb_dbi_open(streamIndex)");
    CHECK(mdb_dbi_open(txn, "streams", MDB_CREATE, &t.streams), "mdb_dbi_open(streams)");
    CHECK(mdb_dbi_open(txn, "messageState", MDB_CREATE, &t.message_state), "mdb_dbi_open(messageState)");
    CHECK(mdb_dbi_open(txn, "deliveryCounters", MDB_CREATE, &t.delivery_counters), "mdb_dbi_open(deliveryCounters)");
    CHECK(mdb_dbi_open(txn, "validSteps", MDB_CREATE, &t.valid_steps), "mdb_dbi_open(validSteps)");
    CHECK(mdb_dbi_open(txn, "tailStreams", MDB_CREATE, &t.tail_streams), "mdb_dbi_open(tailStreams)");
    CHECK(mdb_dbi_open(txn, "currentCounters", MDB_CREATE, &current_counters), "mdb_dbi_open(currentCounters)");
    CHECK(mdb_dbi_open(txn, "meta", MDB_CREATE, &t.meta), "mdb_dbi_open(meta)");
    {
        int rc = mdb_txn_commit(txn);
        txn = NULL;
        CHECK(rc, "mdb_txn_commit");
    }

    double t0 = bl_internal_now();
    uint32_t append_number = 0;
    for (size_t start = 0; start < ev->count; start += events_per_txn) {
        size_t end = ev->count - start < events_per_txn ? ev->count : start + events_per_txn;
        size_t n_digests = 0, n_append_touched = 0;
        append_number++;
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

            // 1. The stream: in the tail (met since the checkpoint), else streamIndex and streams.
            MDB_val key = {(size_t)(ev->key_offsets[i + 1] - ev->key_offsets[i]), (void *)(ev->stream_keys + ev->key_offsets[i])};
            MDB_val value;
            int is_new;
            stream_entry *se = stream_table_find(&t.tail, key.mv_data, key.mv_size, &is_new);
            if (!se) {
                bl_internal_fail("bl_lmdb_ingest: out of memory");
                goto fail;
            }
            if (is_new) {
                int rc = mdb_get(txn, t.stream_index, &key, &value);
                if (rc == MDB_NOTFOUND) {
                    se->fresh = 1;
                    se->delivery = delivery;
                } else {
                    if (rc == MDB_SUCCESS && value.mv_size != 4) rc = MDB_CORRUPTED;
                    CHECK(rc, "mdb_get(streamIndex)");
                    if (get_be32(value.mv_data) != stream) {
                        bl_internal_fail("bl_lmdb_ingest: record at position %llu: streamIndex holds stream %u, the arrays %u",
                                         (unsigned long long)p, get_be32(value.mv_data), stream);
                        goto fail;
                    }
                    MDB_val skey = {4, stream_be};
                    rc = mdb_get(txn, t.streams, &skey, &value);
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
            // 2. Idempotency: the first time this append meets a stream with earlier records, one walk
            //    of its chain (each earlier record read), as the ledger's append batch collects its ids.
            int first_touch;
            stream_entry *me = stream_table_find(&met, key.mv_data, key.mv_size, &first_touch);
            if (!me) {
                bl_internal_fail("bl_lmdb_ingest: out of memory");
                goto fail;
            }
            if (first_touch) {
                for (uint64_t q = se->head; q != 0;) {
                    uint8_t q_be[8];
                    put_be64(q_be, q);
                    MDB_val qkey = {8, q_be}, qvalue;
                    CHECK(mdb_get(txn, log, &qkey, &qvalue), "mdb_get(log) walking a stream");
                    bl_record_header qh;
                    if (bl_decode_header(qvalue.mv_data, qvalue.mv_size, &qh) != 0 || qh.previous >= q) {
                        bl_internal_fail("bl_lmdb_ingest: record at position %llu does not decode or links forward", (unsigned long long)q);
                        goto fail;
                    }
                    q = qh.previous;
                }
            }
            se->head = p;
            se->count++;
            me->head = p;
            me->stream = stream;
            me->delivery = delivery;

            // 3. log: appended; the record's 8-byte digest for the append's hash-chain entry.
            key = (MDB_val){8, position_be};
            value = (MDB_val){record_length, (void *)record};
            CHECK(mdb_put(txn, log, &key, &value, MDB_APPEND), "mdb_put(log)");
            uint64_t digest = key_hash(position_be, 8) ^ key_hash(record, record_length);
            put_be64(hash_value + 32 + 8 * n_digests++, digest);
            if (delivery && met_delivery[delivery] != append_number) {
                met_delivery[delivery] = append_number;
                append_touched[n_append_touched++] = delivery;
            }
            if (delivery && t.delivery_stamp[delivery] != t.checkpoint_number) {
                t.delivery_stamp[delivery] = t.checkpoint_number;
                t.touched[t.n_touched++] = delivery;
            }
            t.records++;

            if (h.kind < BL_KIND_RELAY || h.kind > BL_KIND_AUTO_REPLY) continue; // not a message event

            // 4. The fold into the tail: the message's state, the delivery's counters, a valid-time step.
            bl_message_state *s = &t.states[stream];
            uint64_t *c = t.counters[delivery];
            bl_category before = bl_state_category(s);
            if (before == BL_NOT_A_MESSAGE) c[COUNTER_MESSAGES]++;
            else c[before]--;
            bl_state_apply(s, &h, p);
            c[bl_state_category(s)]++;
            c[COUNTER_EVENTS]++;
            if (t.stream_stamp[stream] != t.checkpoint_number) {
                t.stream_stamp[stream] = t.checkpoint_number;
                t.dirty[t.n_dirty++] = stream;
            }
            step_entry *step = &t.steps[t.n_steps++];
            put_be32(step->key, delivery);
            put_be64(step->key + 4, biased(h.occurred_at));
            put_be64(step->key + 12, p);
            memcpy(step->value, stream_be, 4);
            step->value[4] = h.kind;
            step->value[5] = h.flags;
            step->value[6] = h.failure_type;
            step->value[7] = h.reason;
        }
        at = 0;
        uint64_t first = (uint64_t)start + 1, last = (uint64_t)end;

        // 5. One hash-chain entry for the append (its precomputed SHA-256 value, then the digests).
        uint8_t k[8];
        put_be64(k, last);
        memcpy(hash_value, ev->hashes + 32 * (end - 1), 32);
        MDB_val key = {8, k}, value = {32 + 8 * n_digests, hash_value};
        CHECK(mdb_put(txn, hashes, &key, &value, MDB_APPEND), "mdb_put(hashes)");

        // 6. The append's summary: 16 bytes a stream it touched (the stream key's hash, its head) under
        //    its first position, and each touched delivery's counters in currentCounters.
        size_t n_summary = 0;
        for (size_t u = 0; u < met.count; u++) {
            stream_entry *e = &met.slots[met.used[u]];
            put_be64(summary + 16 * n_summary, e->hash);
            put_be64(summary + 16 * n_summary + 8, e->head);
            n_summary++;
            e->occupied = 0;
        }
        met.count = 0;
        put_be64(k, first);
        key = (MDB_val){8, k};
        value = (MDB_val){16 * n_summary, summary};
        CHECK(mdb_put(txn, t.tail_streams, &key, &value, MDB_APPEND), "mdb_put(tailStreams)");
        for (size_t d = 0; d < n_append_touched; d++) {
            uint32_t delivery = append_touched[d];
            uint8_t dk[4], v[80];
            put_be32(dk, delivery);
            put_be64(v, last);
            put_be64(v + 8, 0);
            for (int j = 0; j < 8; j++) put_be64(v + 16 + 8 * j, t.counters[delivery][j]);
            MDB_val ckey = {4, dk}, cvalue = {80, v};
            CHECK(mdb_put(txn, current_counters, &ckey, &cvalue, 0), "mdb_put(currentCounters)");
        }
        int rc = mdb_txn_commit(txn);
        txn = NULL;
        CHECK(rc, "mdb_txn_commit");
        out->events += end - start;

        // 7. A checkpoint once the tail holds `checkpoint_records` records (timed as part of the ingest).
        if (t.records >= checkpoint_records && write_checkpoint(env, &t, last) != 0) goto fail;
    }
    out->seconds = bl_internal_now() - t0;
    // The final checkpoint (the ledger's `checkpoint()` before a process ends), timed apart.
    double c0 = bl_internal_now();
    if (t.records > 0 && write_checkpoint(env, &t, (uint64_t)ev->count) != 0) goto fail;
    *final_checkpoint_seconds = bl_internal_now() - c0;

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
    free(t.states);
    free(t.stream_stamp);
    free(t.delivery_stamp);
    free(t.counters);
    free(t.dirty);
    free(t.touched);
    free(t.steps);
    free(t.sorted);
    free(t.tail.slots);
    free(t.tail.used);
    free(met.slots);
    free(met.used);
    free(met_delivery);
    free(append_touched);
    free(hash_value);
    free(summary);
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
