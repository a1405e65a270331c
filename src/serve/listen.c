/*
 * listen.c — one listening socket per HTTP worker, each tied to a CPU (see listen.h for why).
 *
 * Standard and Linux headers only: bench/trivial_server.c compiles this file by itself.
 */
#include "serve/listen.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

/* The CPUs this process may run on, in order, at most max of them; their count. */
static size_t allowed_cpus(int *cpus, size_t max)
{
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) != 0) return 0;
    size_t n = 0;
    for (int c = 0; c < CPU_SETSIZE && n < max; c++)
        if (CPU_ISSET(c, &set)) cpus[n++] = c;
    return n;
}

static int open_one(const struct sockaddr_in *addr, int backlog, int cpu, int *fd_out)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return errno;
    int one = 1, err = 0;
    /* SO_REUSEADDR: a restarted server rebinds at once, past the old one's TIME_WAIT. */
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0 ||
        (cpu >= 0 && setsockopt(fd, SOL_SOCKET, SO_INCOMING_CPU, &cpu, sizeof cpu) != 0) ||
        bind(fd, (const struct sockaddr *)addr, sizeof *addr) != 0 || listen(fd, backlog) != 0)
        err = errno;
    if (err) {
        close(fd);
        return err;
    }
    *fd_out = fd;
    return 0;
}

int serve_listen_open(serve_listeners *l, const struct sockaddr_in *addr, size_t n, int backlog,
                      bool pin)
{
    l->n = 0;
    l->port = ntohs(addr->sin_port);
    if (n == 0 || n > SERVE_LISTEN_MAX) return EINVAL;
    int cpus[SERVE_LISTEN_MAX];
    size_t n_cpus = pin ? allowed_cpus(cpus, SERVE_LISTEN_MAX) : 0;
    /* Only a worker on every CPU: with fewer, pinned ones would leave the others' CPUs
     * (where connections also arrive) to be reached by hash, and a busy CPU could not be left. */
    bool one_per_cpu = n == n_cpus;
    struct sockaddr_in at = *addr;
    for (size_t i = 0; i < n; i++) {
        l->cpu[i] = one_per_cpu ? cpus[i] : -1;
        int err = open_one(&at, backlog, l->cpu[i], &l->fd[i]);
        if (err) {
            serve_listen_close(l);
            return err;
        }
        l->n = i + 1;
        if (i == 0) { /* port 0: the others bind the port the first was given */
            struct sockaddr_in got;
            socklen_t len = sizeof got;
            if (getsockname(l->fd[0], (struct sockaddr *)&got, &len) != 0) {
                err = errno;
                serve_listen_close(l);
                return err;
            }
            at.sin_port = got.sin_port;
            l->port = ntohs(got.sin_port);
        }
    }
    return 0;
}

void serve_listen_close(serve_listeners *l)
{
    for (size_t i = 0; i < l->n; i++) {
        if (l->fd[i] >= 0) close(l->fd[i]);
        l->fd[i] = -1;
    }
}

bool serve_listen_start_pinned(const serve_listeners *l, bool (*start)(size_t i, void *arg),
                               void *arg)
{
    cpu_set_t saved;
    bool have_saved = pthread_getaffinity_np(pthread_self(), sizeof saved, &saved) == 0;
    bool ok = true;
    for (size_t i = 0; i < l->n && ok; i++) {
        if (l->cpu[i] >= 0 && have_saved) {
            cpu_set_t one;
            CPU_ZERO(&one);
            CPU_SET(l->cpu[i], &one);
            (void)pthread_setaffinity_np(pthread_self(), sizeof one, &one);
        }
        ok = start(i, arg);
    }
    if (have_saved) (void)pthread_setaffinity_np(pthread_self(), sizeof saved, &saved);
    return ok;
}
