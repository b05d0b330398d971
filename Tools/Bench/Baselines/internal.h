// Shared by the baselines' own files, not part of the runner's interface (bench_baselines.h).
#ifndef BENCH_BASELINES_INTERNAL_H
#define BENCH_BASELINES_INTERNAL_H

#include "bench_baselines.h"

/// Sets the message ``bl_last_error`` returns (printf format). Always returns -1.
int bl_internal_fail(const char *format, ...) __attribute__((format(printf, 1, 2)));

/// A monotonic clock, seconds.
double bl_internal_now(void);

#endif
