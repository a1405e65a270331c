/*
 * cmd_serve.c — `keel serve`: runs the inference server until SIGTERM or Ctrl-C, reloading
 * models on SIGHUP (and by itself when a registry alias moves); HTTPS with --tls-cert and
 * --tls-key; bearer tokens with --require-token.
 */
#include "serve/serve.h"
#include "tools/cli_help.h"
#include "tools/registry_cli.h"

#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t got_term, got_hup;
static void on_term(int sig)
{
    (void)sig;
    got_term = 1;
}
static void on_hup(int sig)
{
    (void)sig;
    got_hup = 1;
}

/* Each connection is a descriptor: with a soft limit of 1024 (the usual default) the server
 * could not hold the connections --max-connections allows. Raises the soft limit towards the
 * hard one as far as needed, and says so when it cannot. */
static void raise_fd_limit(unsigned max_connections)
{
    struct rlimit rl;
    rlim_t want = (rlim_t)max_connections + 64; /* models, logs, the registry, listening */
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= want) return;
    rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= want ? want : rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    if (rl.rlim_cur < want)
        fprintf(stderr,
                "keel serve: warning: at most %llu open files allowed (ulimit -n): fewer than "
                "the %u connections of --max-connections\n",
                (unsigned long long)rl.rlim_cur, max_connections);
}

/* The models to serve: --model REF, repeatable. */
typedef struct model_list {
    serve_model_spec specs[32];
    size_t n;
} model_list;

static int add_model(const char *v, void *out)
{
    model_list *l = out;
    if (l->n == KEEL_ARRAY_LEN(l->specs)) return -1;
    /* A path when it names a file or looks like one; else a registry reference. */
    l->specs[l->n].ref = v;
    l->specs[l->n].is_path = access(v, F_OK) == 0 || strchr(v, '/') || strstr(v, ".keel");
    l->n++;
    return 0;
}

int cmd_serve(int argc, char **argv)
{
    serve_options o;
    serve_options_init(&o);
    model_list models = {0};
    serve_model_spec *specs = models.specs;
    double drain = 10;
    unsigned max_connections = 0;
    const cli_option opts[] = {
        CLI_OPT_PARSE("--model", "-m", &models, add_model, "is given at most 32 times"),
        {.name = "--port", .alias = "-p", .kind = CLI_INT, .out = &o.port, .lo = 0, .hi = 65535},
        CLI_OPT_TEXT("--host", NULL, &o.host),
        CLI_OPT_NUM("--threads", CLI_INT, &o.threads, 1, 256),
        CLI_OPT_NUM("--max-body", CLI_SIZE, &o.max_body, 64, 1 << 30),
        CLI_OPT_NUM("--timeout", CLI_UINT, &o.timeout_seconds, 1, 3600),
        CLI_OPT_NUM("--request-timeout", CLI_UINT, &o.request_timeout_seconds, 1, 3600),
        CLI_OPT_NUM("--max-per-client", CLI_UINT, &o.max_per_client, 0, 100000),
        CLI_OPT_NUM("--poll", CLI_DOUBLE, &o.poll_seconds, 0.05, 86400),
        CLI_OPT_NUM("--drain", CLI_DOUBLE, &drain, 0, 3600),
        CLI_OPT_NUM("--max-connections", CLI_UINT, &max_connections, 4, 100000),
        CLI_OPT_FLAG("--no-log", NULL, &o.no_log),
        CLI_OPT_TEXT("--tls-cert", NULL, &o.tls_cert),
        CLI_OPT_TEXT("--tls-key", NULL, &o.tls_key),
        CLI_OPT_TEXT("--tls-client-ca", NULL, &o.tls_client_ca),
        CLI_OPT_FLAG("--require-token", NULL, &o.require_token),
        CLI_OPT_END};
    const cli_command cmd = {.name = "serve", .usage = cli_help_serve, .opts = opts};
    int status = cli_parse(&cmd, argc, argv);
    if (status >= 0) return status;
    size_t n = models.n;
    if (max_connections) {
        o.max_connections = max_connections;
        o.shed_connections = o.max_connections / 4 * 3;
    }
    if (n == 0)
        return cli_usage_error(&cmd, "no model to serve: give --model NAME@ALIAS or --model "
                                     "PATH.keel");
    if (!o.tls_cert != !o.tls_key)
        return cli_usage_error(&cmd, "HTTPS needs both --tls-cert FILE and --tls-key FILE");
    if (o.tls_client_ca && !o.tls_cert)
        return cli_usage_error(&cmd, "--tls-client-ca needs HTTPS: give --tls-cert and --tls-key");
    raise_fd_limit(o.max_connections);
    o.models = specs;
    o.n_models = n;
    cli_registry_options(&o.registry, 0);
    o.log = cli_log;
    o.log_ud = (void *)"keel serve";

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_term;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sa.sa_handler = on_hup;
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    /* The server's threads start with these signals blocked, so they always land on this
     * thread, which only sleeps: never in the middle of a worker's GEMM, whose JIT code
     * keeps data below the stack pointer (see cli_catch_interrupts). */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    serve_server *s = NULL;
    keel_error e = {0};
    int started = serve_server_start(&o, &s, &e);
    pthread_sigmask(SIG_UNBLOCK, &sigs, NULL);
    if (started != KEEL_OK) {
        cli_error("%s", e.msg);
        return EXIT_FAIL;
    }
    /* The listening line is the contract with scripts that start the server on port 0. */
    printf("keel serve: listening on %s://%s:%d (", o.tls_cert ? "https" : "http", o.host,
           serve_server_port(s));
    for (size_t i = 0; i < n; i++)
        printf("%s%s", i ? ", " : "", specs[i].ref);
    printf(")\n");
    fflush(stdout);
    while (!got_term) {
        if (got_hup) {
            got_hup = 0;
            serve_server_reload(s);
        }
        usleep(50 * 1000);
    }
    fprintf(stderr, "keel serve: draining (up to %.0f s) and stopping\n", drain);
    serve_server_stop(s, drain);
    fprintf(stderr, "keel serve: stopped\n");
    return EXIT_OK;
}
