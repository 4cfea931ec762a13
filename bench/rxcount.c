/* rxcount: the cheap receiving side of the fan-out benchmark (bench/loadgen.py).
 *
 *   rxcount [-d USEC] SHMFILE FD...
 *
 * Reads every given socket (already registered and joined by the Python generator, which
 * passed them to this process and stopped reading them itself) with epoll, counts lines
 * ('\n'), answers a server PING that starts a read, and publishes the counts in SHMFILE, an
 * array of little-endian uint64:
 *
 *   [0] lines received in all   [1] CLOCK_MONOTONIC ns of the last read with data
 *   [2] bytes received           [3] stop flag (set by the generator: exit)
 *   [4] ready flag (set here)    [5..7] reserved
 *   [8 + i] lines received on the i-th FD
 *
 * It never parses a message: the per-line cost is one memchr, so the figure says what the
 * server does rather than what a Python reader manages. With -d, it sleeps USEC after each
 * round of reads, so that more data waits in each socket and is taken with fewer reads
 * (servers that write one line per write cost the receiver one kernel wake-up per line
 * otherwise); the socket buffers hold far more than a millisecond of traffic. Bounded: it exits when the stop flag
 * is set, when every socket is closed, or after 600 s.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define HDR 8
#define BUF (256 * 1024)

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* a read that starts with "PING " (the server's keep-alive to an idle client): answer it */
static void pong(int fd, const char *p, size_t n) {
    if (n < 6 || memcmp(p, "PING ", 5) != 0) return;
    const char *eol = memchr(p, '\n', n);
    if (!eol) return;
    char out[600];
    size_t len = (size_t)(eol - p) + 1;
    if (len > sizeof out) return;
    memcpy(out, p, len);
    out[1] = 'O'; /* PING -> PONG */
    ssize_t w = write(fd, out, len);
    (void)w;
}

int main(int argc, char **argv) {
    long delay_us = 0;
    if (argc > 2 && strcmp(argv[1], "-d") == 0) {
        delay_us = atol(argv[2]);
        argv += 2;
        argc -= 2;
    }
    if (argc < 3) {
        fprintf(stderr, "usage: rxcount [-d USEC] SHMFILE FD...\n");
        return 2;
    }
    int n = argc - 2;
    int shm = open(argv[1], O_RDWR);
    if (shm < 0) { perror("open shm"); return 1; }
    size_t size = (size_t)(HDR + n) * sizeof(uint64_t);
    if (ftruncate(shm, (off_t)size) != 0) { perror("ftruncate"); return 1; }
    volatile uint64_t *m = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, shm, 0);
    if (m == MAP_FAILED) { perror("mmap"); return 1; }
    int ep = epoll_create1(0);
    if (ep < 0) { perror("epoll_create1"); return 1; }
    int *fds = calloc((size_t)n, sizeof(int));
    for (int i = 0; i < n; i++) {
        fds[i] = atoi(argv[i + 2]);
        int fl = fcntl(fds[i], F_GETFL);
        fcntl(fds[i], F_SETFL, fl | O_NONBLOCK);
        struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
        if (epoll_ctl(ep, EPOLL_CTL_ADD, fds[i], &ev) != 0) { perror("epoll_ctl"); return 1; }
    }
    static char buf[BUF];
    struct epoll_event evs[256];
    uint64_t lines = 0, bytes = 0, deadline = now_ns() + 600ull * 1000000000ull;
    int open_fds = n;
    m[4] = 1;
    while (!m[3] && open_fds > 0 && now_ns() < deadline) {
        int k = epoll_wait(ep, evs, 256, 50);
        if (k < 0) {
            if (errno == EINTR) continue;
            perror("epoll_wait");
            return 1;
        }
        for (int e = 0; e < k; e++) {
            int i = (int)evs[e].data.u32, fd = fds[i];
            for (;;) {
                ssize_t r = read(fd, buf, BUF);
                if (r > 0) {
                    uint64_t c = 0;
                    const char *p = buf, *end = buf + r;
                    while ((p = memchr(p, '\n', (size_t)(end - p))) != NULL) { c++; p++; }
                    if (buf[0] == 'P') pong(fd, buf, (size_t)r);
                    m[HDR + i] += c;
                    lines += c;
                    bytes += (uint64_t)r;
                    if (r < BUF) break;
                    continue;
                }
                if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
                    epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL);
                    open_fds--;
                }
                break;
            }
        }
        if (k > 0) {
            m[2] = bytes;
            m[1] = now_ns();
            m[0] = lines; /* last: the generator reads the total first */
            if (delay_us > 0) {
                struct timespec ts = {delay_us / 1000000, (delay_us % 1000000) * 1000};
                nanosleep(&ts, NULL);
            }
        }
    }
    return 0;
}
