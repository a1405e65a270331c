/*
 * listen.h — one listening socket per HTTP worker, each tied to a CPU.
 *
 * keel serve (server.c) and the benchmark's trivial server (bench/trivial_server.c) both
 * listen this way, so this part depends on nothing of keel's: the trivial server compiles
 * listen.c on its own.
 *
 * Why: with one socket shared by all workers, a connection is served by whichever worker
 * accepts it, on whichever CPU the scheduler runs it, while its packets are handled on the
 * CPU of the client (loopback) or of the network queue (a NIC). Every response then wakes the
 * client, or touches the packet's cache lines, on another CPU: measured on the 2-core
 * machines here, about one cross-CPU wake-up every eight requests and a fifth less
 * throughput in most runs (bench/RESULTS.md, session 10). Instead each worker gets its own
 * socket on the same address (SO_REUSEPORT), marked with its CPU (SO_INCOMING_CPU: since
 * Linux 6.1 the kernel gives a new connection to the socket of the CPU its handshake arrived
 * on, and otherwise picks one by the connection's hash), and runs on that CPU alone.
 */
#ifndef KEEL_SERVE_LISTEN_H
#define KEEL_SERVE_LISTEN_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>

#define SERVE_LISTEN_MAX 256 /* workers; the CLI's --threads bound */

typedef struct serve_listeners {
    size_t n;                  /* sockets open, one per worker */
    int fd[SERVE_LISTEN_MAX];  /* listening, non-blocking, close-on-exec */
    int cpu[SERVE_LISTEN_MAX]; /* worker i's CPU, or -1: not pinned */
    int port;                  /* the port all are bound to (the one picked, for port 0) */
} serve_listeners;

/* Opens n sockets listening on addr (port 0: one free port for all) with the given backlog.
 * When pin is true and n is the number of CPUs this process may run on, socket i is marked
 * with the i-th of those CPUs; otherwise no socket is marked and the scheduler places the
 * workers. Returns 0, or an errno value with every socket closed. */
int serve_listen_open(serve_listeners *l, const struct sockaddr_in *addr, size_t n, int backlog,
                      bool pin);

/* Closes every socket still open (fd >= 0) and marks it closed. */
void serve_listen_close(serve_listeners *l);

/* Runs start(i, arg) for each worker i with the calling thread's CPU affinity set to worker
 * i's CPU, so that the threads it creates start there; the caller's affinity is restored
 * after. Stops at the first start that returns false and returns false. Affinity that cannot
 * be set (a sandbox refusing it) leaves the worker unpinned and is not an error. */
bool serve_listen_start_pinned(const serve_listeners *l, bool (*start)(size_t i, void *arg),
                               void *arg);

#endif
