// The physical limit of reading a feed file: read(2) in 4 MiB chunks and count the bytes that
// separate records ('\n' for JSON Lines, '{' for a SparkPost batch), as little work per byte as a
// reader can do. Baseline of Tools/bench-ingest (issue #11); built by that script with the system's
// C compiler as a standalone program (-DBYTE_SCAN_MAIN), and part of BenchBaselines as a function.
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/// Reads `path` and counts occurrences of `byte`; returns -1 when the file cannot be read.
long long ledger_bench_byte_scan(const char *path, unsigned char byte, unsigned long long *bytes_read) {
    int fd = open(path, O_RDONLY);
    if (fd < 0) return -1;
    size_t size = 4u << 20;
    unsigned char *buffer = malloc(size);
    if (!buffer) { close(fd); return -1; }
    long long count = 0;
    unsigned long long total = 0;
    for (;;) {
        ssize_t n = read(fd, buffer, size);
        if (n < 0) { free(buffer); close(fd); return -1; }
        if (n == 0) break;
        total += (unsigned long long)n;
        const unsigned char *p = buffer, *end = buffer + n;
        while ((p = memchr(p, byte, (size_t)(end - p))) != NULL) { count++; p++; }
    }
    free(buffer);
    close(fd);
    if (bytes_read) *bytes_read = total;
    return count;
}

#ifdef BYTE_SCAN_MAIN
#include <stdio.h>
#include <time.h>
int main(int argc, char **argv) {
    if (argc != 3) { fprintf(stderr, "usage: byte_scan FILE BYTE\n"); return 2; }
    struct timespec a, b;
    unsigned long long bytes = 0;
    clock_gettime(CLOCK_MONOTONIC, &a);
    long long n = ledger_bench_byte_scan(argv[1], (unsigned char)argv[2][0], &bytes);
    clock_gettime(CLOCK_MONOTONIC, &b);
    if (n < 0) { perror(argv[1]); return 1; }
    double s = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
    printf("%lld %llu %.6f\n", n, bytes, s);
    return 0;
}
#endif
