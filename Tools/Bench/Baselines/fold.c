// The per-message fold in C (the rules of Sources/DeliveryLedger/Projection/MessageState.swift), the
// record-header decoder (Sources/DeliveryLedger/Codec/RecordCodec.swift), and what the baselines
// share: the last error and the clock.

#define _POSIX_C_SOURCE 200809L // clock_gettime

#include "internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

// MARK: - Errors and clock

static _Thread_local char last_error[512];

const char *bl_last_error(void) { return last_error; }

int bl_internal_fail(const char *format, ...) {
    va_list args;
    va_start(args, format);
    vsnprintf(last_error, sizeof last_error, format, args);
    va_end(args);
    return -1;
}

double bl_internal_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

// MARK: - Record header

/// Reads a LEB128 varint at `*p` (not past `end`); returns -1 when truncated or over 64 bits.
static int read_varint(const uint8_t **p, const uint8_t *end, uint64_t *out) {
    uint64_t v = 0;
    for (unsigned shift = 0; shift < 64; shift += 7) {
        if (*p == end) return -1;
        uint8_t b = *(*p)++;
        if (shift == 63 && b > 1) return -1;
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *out = v;
            return 0;
        }
    }
    return -1;
}

/// Reads a zigzag varint: (n >> 1) ^ -(n & 1).
static int read_zigzag(const uint8_t **p, const uint8_t *end, int64_t *out) {
    uint64_t n;
    if (read_varint(p, end, &n) != 0) return -1;
    *out = (int64_t)((n >> 1) ^ (~(n & 1) + 1));
    return 0;
}

int bl_decode_header(const uint8_t *bytes, size_t length, bl_record_header *out) {
    // Record formats 1 and 2 share the header (2 changed only the raw bytes at the end: RecordCodec).
    if (length < 6 || (bytes[0] != 1 && bytes[0] != 2) || bytes[1] < BL_KIND_DELIVERY || bytes[1] > BL_KIND_EFS_FLAG) return -1;
    out->kind = bytes[1];
    out->flags = bytes[2];
    out->source = bytes[3];
    out->failure_type = bytes[4];
    out->reason = bytes[5];
    const uint8_t *p = bytes + 6, *end = bytes + length;
    uint64_t stream;
    if (read_varint(&p, end, &stream) != 0 || stream > UINT32_MAX) return -1;
    out->stream = (uint32_t)stream;
    if (read_varint(&p, end, &out->previous) != 0) return -1;
    if (read_zigzag(&p, end, &out->recorded_at) != 0) return -1;
    if (read_zigzag(&p, end, &out->occurred_at) != 0) return -1;
    return 0;
}

// MARK: - Fold

/// Valid-time order, ties by position.
static inline int is_later(bl_mark a, bl_mark b) {
    return a.at > b.at || (a.at == b.at && a.position > b.position);
}

void bl_state_apply(bl_message_state *s, const bl_record_header *h, uint64_t position) {
    uint8_t kind = h->kind;
    if (kind < BL_KIND_RELAY || kind > BL_KIND_AUTO_REPLY) return;
    s->is_message = 1;
    bl_mark m = {h->occurred_at, position};
    switch (kind) {
    case BL_KIND_RELAY:
        if (s->relay.position == 0 || !is_later(m, s->relay)) s->relay = m;
        break;
    case BL_KIND_DELIVERED:
    case BL_KIND_BOUNCE:
    case BL_KIND_RETRY:
    case BL_KIND_TIMEOUT: {
        uint8_t before = (h->flags & BL_FLAG_BEFORE_RELAY) != 0;
        if (!before && (s->implied_relay.position == 0 || !is_later(m, s->implied_relay))) s->implied_relay = m;
        int is_final = kind == BL_KIND_DELIVERED || kind == BL_KIND_TIMEOUT ||
                       (kind == BL_KIND_BOUNCE && (h->flags & BL_FLAG_FINAL));
        if (is_final) {
            if (s->final.position == 0 || is_later(m, s->final)) {
                s->final = m;
                s->final_kind = kind;
                s->final_before_relay = before;
            }
        } else if (s->soft.position == 0 || is_later(m, s->soft)) {
            s->soft = m;
        }
        break;
    }
    default: // complaint, unsubscribe, autoReply: never change the status
        break;
    }
}

bl_category bl_state_category(const bl_message_state *s) {
    if (!s->is_message) return BL_NOT_A_MESSAGE;
    if (s->final.position != 0) {
        if (s->final_kind == BL_KIND_DELIVERED) return BL_DELIVERED;
        return s->final_before_relay ? BL_FAILED_BEFORE_RELAY : BL_BOUNCED;
    }
    if (s->relay.position != 0 || s->implied_relay.position != 0) return s->soft.position != 0 ? BL_RETRYING : BL_IN_FLIGHT;
    return BL_PENDING;
}

void bl_tally_add(bl_tally *t, const bl_message_state *s) {
    switch (bl_state_category(s)) {
    case BL_NOT_A_MESSAGE: return;
    case BL_PENDING: t->pending++; break;
    case BL_IN_FLIGHT: t->in_flight++; break;
    case BL_RETRYING: t->retrying++; break;
    case BL_DELIVERED: t->delivered++; break;
    case BL_BOUNCED: t->bounced++; break;
    case BL_FAILED_BEFORE_RELAY: t->failed_before_relay++; break;
    }
    t->messages++;
}

int bl_fold_events(const bl_events *ev, uint32_t only_delivery, bl_fold_result *out) {
    if (!ev || !out || !ev->records || !ev->record_offsets || (only_delivery && !ev->deliveries))
        return bl_internal_fail("bl_fold_events: missing argument");
    memset(out, 0, sizeof *out);
    double t0 = bl_internal_now();
    size_t capacity = 0;
    bl_message_state *states = NULL;
    for (size_t i = 0; i < ev->count; i++) {
        out->events++;
        if (only_delivery && ev->deliveries[i] != only_delivery) continue;
        bl_record_header h;
        const uint8_t *r = ev->records + ev->record_offsets[i];
        if (bl_decode_header(r, (size_t)(ev->record_offsets[i + 1] - ev->record_offsets[i]), &h) != 0) {
            free(states);
            return bl_internal_fail("bl_fold_events: record %zu: header does not decode", i);
        }
        if (h.stream >= capacity) {
            size_t grown = capacity ? capacity : 1024;
            while (grown <= h.stream) grown *= 2;
            bl_message_state *bigger = realloc(states, grown * sizeof *states);
            if (!bigger) {
                free(states);
                return bl_internal_fail("bl_fold_events: out of memory");
            }
            memset(bigger + capacity, 0, (grown - capacity) * sizeof *states);
            states = bigger;
            capacity = grown;
        }
        bl_state_apply(&states[h.stream], &h, (uint64_t)i + 1);
    }
    for (size_t s = 0; s < capacity; s++) bl_tally_add(&out->tally, &states[s]);
    out->seconds = bl_internal_now() - t0;
    free(states);
    return 0;
}
