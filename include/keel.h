/*
 * keel.h — the public C API of keel.
 *
 * This header is the manual. Every function says what it does, who owns what it returns,
 * which errors it reports and whether it is thread-safe. It is the embeddable surface
 * (libkeel): nothing here needs SQLite, HTTP or YAML.
 *
 * Conventions
 *   - Fallible functions return int: KEEL_OK (0) or a negative KEEL_E* code.
 *     keel_strerror() names a code; the detailed message lives on the object that failed,
 *     or in a caller-supplied keel_error for functions without an object.
 *   - Results come back through out-parameters, which are set to NULL/0 on failure.
 *   - Every heap object has a matching _free/_close; passing NULL to it does nothing.
 *   - The library never prints, never exits and never reads the environment.
 */
#ifndef KEEL_H
#define KEEL_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define KEEL_VERSION_MAJOR  0
#define KEEL_VERSION_MINOR  1
#define KEEL_VERSION_PATCH  0
#define KEEL_VERSION_STRING "0.1.0"

/* Returns the library's version string, e.g. "0.1.0". Static storage; thread-safe. */
const char *keel_version(void);

/* ---------------------------------------------------------------------------------------
 * Errors. One table gives the enum and the text (the X-macro keeps them in step).
 * ------------------------------------------------------------------------------------- */
#define KEEL_ERROR_TABLE(X)                                                                        \
    X(OK, 0, "success")                                                                            \
    X(ENOMEM, -1, "out of memory")                                                                 \
    X(EINVAL, -2, "invalid argument")                                                              \
    X(EIO, -3, "input/output error")                                                               \
    X(ENOENT, -4, "no such file or directory")                                                     \
    X(EPARSE, -5, "malformed input")                                                               \
    X(EFORMAT, -6, "unsupported or corrupt format")                                                \
    X(ELIMIT, -7, "a limit was exceeded")                                                          \
    X(ESCHEMA, -8, "schema error")                                                                 \
    X(EMISMATCH, -9, "data does not match the schema")                                             \
    X(ECANCELED, -10, "operation canceled")                                                        \
    X(EEMPTY, -11, "no data")                                                                      \
    X(ESTATE, -12, "operation not valid in the current state")

enum keel_status {
#define KEEL_ERROR_ENUM(name, code, text) KEEL_##name = code,
    KEEL_ERROR_TABLE(KEEL_ERROR_ENUM)
#undef KEEL_ERROR_ENUM
};

/* Returns a static description of an error code ("unknown error" for codes not in the
 * table). Never NULL; thread-safe. */
const char *keel_strerror(int code);

/* Returns the symbolic name of an error code without the prefix ("ENOMEM"), or "E?" for
 * codes not in the table. Static storage; thread-safe. */
const char *keel_errname(int code);

/* A caller-supplied error report for functions that have no object to hang a message on.
 * Functions taking a keel_error * fill it on failure (code and msg); they accept NULL. */
typedef struct keel_error {
    int code;      /* KEEL_OK or a KEEL_E* code */
    char msg[512]; /* human message, NUL-terminated; "" when code is KEEL_OK */
} keel_error;

/* ---------------------------------------------------------------------------------------
 * Allocation. Every allocation in keel goes through one hook, so that an embedding program
 * can route memory to its own allocator and tests can fail the Nth allocation on purpose.
 * ------------------------------------------------------------------------------------- */
typedef struct keel_allocator {
    /* Same contracts as malloc/realloc/free; ud is passed back unchanged. realloc is also
     * called with ptr == NULL (acts as malloc). free is called with ptr != NULL only. */
    void *(*malloc)(size_t size, void *ud);
    void *(*realloc)(void *ptr, size_t size, void *ud);
    void (*free)(void *ptr, void *ud);
    void *ud;
} keel_allocator;

/* Installs an allocator (NULL restores the C library's). Not thread-safe: call it before
 * any other keel function, and never while keel objects allocated with another allocator
 * are alive. */
void keel_set_allocator(const keel_allocator *a);

/* ---------------------------------------------------------------------------------------
 * Logging. The library never prints; it hands messages to this callback, if one is set.
 * ------------------------------------------------------------------------------------- */
enum keel_log_level { KEEL_LOG_DEBUG = 0, KEEL_LOG_INFO, KEEL_LOG_WARN, KEEL_LOG_ERROR };

typedef void (*keel_log_fn)(int level, const char *msg, void *ud);

/* Installs a log callback (NULL disables logging) and the lowest level passed to it.
 * Not thread-safe to change; the callback itself may be called from any thread. */
void keel_set_log(keel_log_fn fn, int min_level, void *ud);

#ifdef __cplusplus
}
#endif
#endif /* KEEL_H */
