// The physical limits of the ledger's write path (issue "The projection behind the log" §6): raw
// LMDB sequential append of the same record bytes (MDB_APPEND, one durable commit per batch), and
// the disk's durable sequential write rate (write + fdatasync), measured in the same run.
#include "bench_baselines.h"
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void put_be64(uint8_t *p, uint64_t v) {
    for (int i = 7; i >= 0; i--) { p[i] = (uint8_t)v; v >>= 8; }
}

int bl_lmdb_append_only(const char *dir, const bl_events *ev, size_t events_per_txn, int durable, bl_ingest_result *out) {
    if (!dir || !ev || !out || events_per_txn == 0 || !ev->records || !ev->record_offsets)
        return bl_internal_fail("bl_lmdb_append_only: missing argument or events_per_txn == 0");
    memset(out, 0, sizeof *out);
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) return bl_internal_fail("mkdir(%s): %s", dir, strerror(errno));
    char data_path[4096];
    if (snprintf(data_path, sizeof data_path, "%s/data.mdb", dir) >= (int)sizeof data_path)
        return bl_internal_fail("bl_lmdb_append_only: directory path too long");
    struct stat st;
    if (stat(data_path, &st) == 0) return bl_internal_fail("bl_lmdb_append_only: %s already exists", data_path);
    MDB_env *env = NULL;
    MDB_txn *txn = NULL;
    MDB_dbi log;
    int rc;
    const char *what = "";
#define TRY(call, name) do { what = name; if ((rc = (call)) != MDB_SUCCESS) goto fail; } while (0)
    TRY(mdb_env_create(&env), "mdb_env_create");
    TRY(mdb_env_set_maxdbs(env, 4), "mdb_env_set_maxdbs");
    TRY(mdb_env_set_mapsize(env, (size_t)64 << 30), "mdb_env_set_mapsize");
    TRY(mdb_env_open(env, dir, MDB_NOTLS | (durable ? 0 : MDB_NOSYNC), 0600), "mdb_env_open");
    TRY(mdb_txn_begin(env, NULL, 0, &txn), "mdb_txn_begin");
    TRY(mdb_dbi_open(txn, "log", MDB_CREATE, &log), "mdb_dbi_open");
    rc = mdb_txn_commit(txn); txn = NULL; what = "mdb_txn_commit";
    if (rc != MDB_SUCCESS) goto fail;
    double t0 = bl_internal_now();
    for (size_t start = 0; start < ev->count; start += events_per_txn) {
        size_t end = start + events_per_txn < ev->count ? start + events_per_txn : ev->count;
        TRY(mdb_txn_begin(env, NULL, 0, &txn), "mdb_txn_begin");
        for (size_t i = start; i < end; i++) {
            uint8_t k[8];
            put_be64(k, (uint64_t)i + 1);
            MDB_val key = {8, k};
            MDB_val value = {(size_t)(ev->record_offsets[i + 1] - ev->record_offsets[i]), (void *)(ev->records + ev->record_offsets[i])};
            TRY(mdb_put(txn, log, &key, &value, MDB_APPEND), "mdb_put(log, MDB_APPEND)");
        }
        rc = mdb_txn_commit(txn); txn = NULL; what = "mdb_txn_commit";
        if (rc != MDB_SUCCESS) goto fail;
        out->events += end - start;
    }
    out->seconds = bl_internal_now() - t0;
    mdb_env_close(env);
    if (stat(data_path, &st) != 0) return bl_internal_fail("stat(%s): %s", data_path, strerror(errno));
    out->bytes_on_disk = (uint64_t)st.st_size;
    return 0;
fail:
    if (txn) mdb_txn_abort(txn);
    if (env) mdb_env_close(env);
    return bl_internal_fail("bl_lmdb_append_only: %s: %s", what, mdb_strerror(rc));
#undef TRY
}

int bl_disk_write_rate(const char *path, uint64_t bytes, size_t chunk, double *bytes_per_second) {
    if (!path || !bytes_per_second || chunk == 0) return bl_internal_fail("bl_disk_write_rate: missing argument");
    uint8_t *buffer = malloc(chunk);
    if (!buffer) return bl_internal_fail("bl_disk_write_rate: out of memory");
    for (size_t i = 0; i < chunk; i++) buffer[i] = (uint8_t)(i * 2654435761u >> 13);  // not all zeros
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0) { free(buffer); return bl_internal_fail("open(%s): %s", path, strerror(errno)); }
    double t0 = bl_internal_now();
    uint64_t written = 0;
    while (written < bytes) {
        ssize_t n = write(fd, buffer, chunk);
        if (n <= 0 || fdatasync(fd) != 0) {
            int e = errno;
            close(fd); free(buffer); unlink(path);
            return bl_internal_fail("write/fdatasync(%s): %s", path, strerror(e));
        }
        written += (uint64_t)n;
    }
    *bytes_per_second = (double)written / (bl_internal_now() - t0);
    close(fd);
    free(buffer);
    unlink(path);
    return 0;
}
