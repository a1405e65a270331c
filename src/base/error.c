/*
 * error.c — the error table and caller-supplied error reports.
 *
 * The codes and their text come from KEEL_ERROR_TABLE in keel.h, so adding an error is one
 * line and the enum, the name and the message can never drift apart (libuv's uv-errno).
 */
#include "base/base.h"

#include <stdio.h>
#include <string.h>

const char *keel_version(void)
{
    return KEEL_VERSION_STRING;
}

const char *keel_strerror(int code)
{
    switch (code) {
#define KEEL_ERROR_TEXT(name, num, text)                                                           \
    case num:                                                                                      \
        return text;
        KEEL_ERROR_TABLE(KEEL_ERROR_TEXT)
#undef KEEL_ERROR_TEXT
    }
    return "unknown error";
}

const char *keel_errname(int code)
{
    switch (code) {
#define KEEL_ERROR_NAME(name, num, text)                                                           \
    case num:                                                                                      \
        return #name;
        KEEL_ERROR_TABLE(KEEL_ERROR_NAME)
#undef KEEL_ERROR_NAME
    }
    return "E?";
}

int keel_error_setv(keel_error *e, int code, const char *fmt, va_list ap)
{
    if (e) {
        e->code = code;
        vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    }
    return code;
}

int keel_error_set(keel_error *e, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    keel_error_setv(e, code, fmt, ap);
    va_end(ap);
    return code;
}

void keel_error_clear(keel_error *e)
{
    if (e) {
        e->code = KEEL_OK;
        e->msg[0] = '\0';
    }
}
