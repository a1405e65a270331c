/*
 * test_listen.c — a listening socket per HTTP worker (src/serve/listen.c): every socket on
 * one port; with a worker per CPU, socket i marked with CPU i and a connection made from CPU
 * i queued on socket i (Linux 6.1 and later); no marks when asked not to pin or when the
 * workers are not one per CPU; errors leave nothing open; workers started with the affinity
 * of their CPU and the caller's restored.
 */
#include "serve/listen.h"
#include "tests/unit/harness.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <unistd.h>

static struct sockaddr_in loopback(int port)
{
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return a;
}

static size_t n_cpus(int *cpus)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    CHECK(sched_getaffinity(0, sizeof set, &set) == 0);
    size_t n = 0;
    for (int c = 0; c < CPU_SETSIZE && n < SERVE_LISTEN_MAX; c++)
        if (CPU_ISSET(c, &set)) cpus[n++] = c;
    return n;
}

static int bound_port(int fd)
{
    struct sockaddr_in a;
    socklen_t len = sizeof a;
    bool ok = getsockname(fd, (struct sockaddr *)&a, &len) == 0;
    CHECK(ok);
    return ok ? ntohs(a.sin_port) : -1;
}

static bool is_open(int fd)
{
    return fcntl(fd, F_GETFD) != -1;
}

/* The kernel gives a connection to the socket of its CPU from Linux 6.1 on. */
static bool kernel_matches_cpu(void)
{
    struct utsname u;
    int major = 0, minor = 0;
    if (uname(&u) != 0 || sscanf(u.release, "%d.%d", &major, &minor) != 2) return false;
    return major > 6 || (major == 6 && minor >= 1);
}

/* Connects to port from a thread pinned to cpu; returns the connected socket. */
typedef struct {
    int cpu, port, fd;
} connect_job;

static void *connect_from_cpu(void *arg)
{
    connect_job *j = arg;
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(j->cpu, &one);
    j->fd = -1;
    if (pthread_setaffinity_np(pthread_self(), sizeof one, &one) != 0) return NULL;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = loopback(j->port);
    if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof a) == 0)
        j->fd = fd;
    else if (fd >= 0)
        close(fd);
    return NULL;
}

TEST(listen_one_socket_per_worker_on_one_port)
{
    serve_listeners l;
    struct sockaddr_in any = loopback(0);
    REQUIRE(serve_listen_open(&l, &any, 3, 16, false) == 0);
    CHECK_EQ_INT(l.n, 3);
    CHECK(l.port > 0);
    for (size_t i = 0; i < l.n; i++) {
        CHECK(is_open(l.fd[i]));
        CHECK_EQ_INT(bound_port(l.fd[i]), l.port);
        CHECK_EQ_INT(l.cpu[i], -1); /* not asked to pin */
        CHECK(fcntl(l.fd[i], F_GETFL) & O_NONBLOCK);
    }
    CHECK(l.fd[0] != l.fd[1] && l.fd[1] != l.fd[2]);
    int fds[3] = {l.fd[0], l.fd[1], l.fd[2]};
    serve_listen_close(&l);
    for (int i = 0; i < 3; i++) {
        CHECK(!is_open(fds[i]));
        CHECK_EQ_INT(l.fd[i], -1);
    }
    serve_listen_close(&l); /* twice is harmless */
}

TEST(listen_pins_only_a_worker_per_cpu)
{
    int cpus[SERVE_LISTEN_MAX];
    size_t n = n_cpus(cpus);
    serve_listeners l;
    struct sockaddr_in any = loopback(0);
    REQUIRE(serve_listen_open(&l, &any, n, 16, true) == 0);
    for (size_t i = 0; i < n; i++) {
        CHECK_EQ_INT(l.cpu[i], cpus[i]);
        int cpu = -2;
        socklen_t len = sizeof cpu;
        CHECK(getsockopt(l.fd[i], SOL_SOCKET, SO_INCOMING_CPU, &cpu, &len) == 0);
        CHECK_EQ_INT(cpu, cpus[i]);
    }
    serve_listen_close(&l);
    /* More workers than CPUs, or fewer: none is pinned. */
    REQUIRE(serve_listen_open(&l, &any, n + 1, 16, true) == 0);
    for (size_t i = 0; i < l.n; i++)
        CHECK_EQ_INT(l.cpu[i], -1);
    serve_listen_close(&l);
    if (n > 1) {
        REQUIRE(serve_listen_open(&l, &any, n - 1, 16, true) == 0);
        for (size_t i = 0; i < l.n; i++)
            CHECK_EQ_INT(l.cpu[i], -1);
        serve_listen_close(&l);
    }
}

TEST(listen_gives_a_connection_to_the_socket_of_its_cpu)
{
    int cpus[SERVE_LISTEN_MAX];
    size_t n = n_cpus(cpus);
    if (n < 2 || !kernel_matches_cpu()) {
        fprintf(stderr, "  (skipped: needs 2 CPUs and Linux 6.1 or later)\n");
        return;
    }
    serve_listeners l;
    struct sockaddr_in any = loopback(0);
    REQUIRE(serve_listen_open(&l, &any, n, 16, true) == 0);
    for (size_t k = 0; k < n; k++) {
        for (int round = 0; round < 4; round++) { /* different source ports, different hashes */
            connect_job j = {.cpu = cpus[k], .port = l.port, .fd = -1};
            pthread_t t;
            REQUIRE(pthread_create(&t, NULL, connect_from_cpu, &j) == 0);
            pthread_join(t, NULL);
            CHECK(j.fd >= 0);
            for (size_t i = 0; i < n; i++) {
                int c = accept(l.fd[i], NULL, NULL); /* non-blocking: -1 when none waits */
                CHECK_EQ_INT(c >= 0, i == k);
                if (c >= 0) close(c);
            }
            if (j.fd >= 0) close(j.fd);
        }
    }
    serve_listen_close(&l);
}

TEST(listen_errors_leave_nothing_open)
{
    serve_listeners l;
    struct sockaddr_in any = loopback(0);
    CHECK_EQ_INT(serve_listen_open(&l, &any, 0, 16, true), EINVAL);
    CHECK_EQ_INT(l.n, 0);
    CHECK_EQ_INT(serve_listen_open(&l, &any, SERVE_LISTEN_MAX + 1, 16, true), EINVAL);
    /* A port held by a socket without SO_REUSEPORT cannot be shared. */
    int held = socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(held >= 0);
    REQUIRE(bind(held, (struct sockaddr *)&any, sizeof any) == 0 && listen(held, 4) == 0);
    struct sockaddr_in taken = loopback(bound_port(held));
    int probe = dup(0); /* the lowest free descriptor: where a leaked socket would be */
    close(probe);
    CHECK_EQ_INT(serve_listen_open(&l, &taken, 2, 16, false), EADDRINUSE);
    CHECK(!is_open(probe));
    close(held);
}

static cpu_set_t seen[SERVE_LISTEN_MAX];

static bool record_affinity(size_t i, void *arg)
{
    size_t *calls = arg;
    (*calls)++;
    return pthread_getaffinity_np(pthread_self(), sizeof seen[i], &seen[i]) == 0;
}

static bool fail_second(size_t i, void *arg)
{
    (void)arg;
    return i < 1;
}

TEST(listen_starts_each_worker_on_its_cpu)
{
    int cpus[SERVE_LISTEN_MAX];
    size_t n = n_cpus(cpus);
    cpu_set_t before, after;
    REQUIRE(pthread_getaffinity_np(pthread_self(), sizeof before, &before) == 0);
    serve_listeners l;
    struct sockaddr_in any = loopback(0);
    REQUIRE(serve_listen_open(&l, &any, n, 16, true) == 0);
    size_t calls = 0;
    CHECK(serve_listen_start_pinned(&l, record_affinity, &calls));
    CHECK_EQ_INT(calls, n);
    for (size_t i = 0; i < n; i++) {
        CHECK_EQ_INT(CPU_COUNT(&seen[i]), 1);
        CHECK(CPU_ISSET(cpus[i], &seen[i]));
    }
    REQUIRE(pthread_getaffinity_np(pthread_self(), sizeof after, &after) == 0);
    CHECK(CPU_EQUAL(&before, &after));
    if (n > 1) CHECK(!serve_listen_start_pinned(&l, fail_second, NULL));
    REQUIRE(pthread_getaffinity_np(pthread_self(), sizeof after, &after) == 0);
    CHECK(CPU_EQUAL(&before, &after));
    serve_listen_close(&l);
    /* Not pinned: every worker starts with the caller's affinity. */
    REQUIRE(serve_listen_open(&l, &any, n, 16, false) == 0);
    calls = 0;
    CHECK(serve_listen_start_pinned(&l, record_affinity, &calls));
    for (size_t i = 0; i < n; i++)
        CHECK(CPU_EQUAL(&seen[i], &before));
    serve_listen_close(&l);
}
