/*
 * file.c — reading a whole small file (a key, a checkpoint, a schema, a config file, a
 * profile) with a limit on its size, so that a hostile or mistaken path (a disk image, a
 * device) is refused instead of filling memory.
 */
#include "base/base.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int keel_file_read(const char *path, size_t max, keel_buf *b, keel_error *e)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return keel_error_set(e, errno == ENOENT ? KEEL_ENOENT : KEEL_EIO, "%s: %s", path,
                              strerror(errno));
    keel_buf_mark mark = keel_buf_begin(b);
    int rc = KEEL_OK;
    for (;;) {
        if (b->len - mark.len > max) {
            rc = keel_error_set(e, KEEL_ELIMIT, "%s: larger than %zu bytes", path, max);
            break;
        }
        if (keel_buf_reserve(b, 65536) != KEEL_OK) {
            rc = keel_error_set(e, KEEL_ENOMEM, "out of memory reading %s", path);
            break;
        }
        ssize_t got = read(fd, b->data + b->len, b->cap - b->len - 1);
        if (got < 0 && errno == EINTR) continue;
        if (got < 0) {
            rc = keel_error_set(e, KEEL_EIO, "%s: %s", path, strerror(errno));
            break;
        }
        if (got == 0) break;
        b->len += (size_t)got;
        b->data[b->len] = '\0';
    }
    close(fd);
    if (rc == KEEL_OK) b->data[b->len] = '\0'; /* an empty file reads as "" */
    return keel_buf_end_rc(b, mark, rc);
}

int keel_file_check_private(const char *path, const char *what, keel_error *e)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return keel_error_set(e, errno == ENOENT ? KEEL_ENOENT : KEEL_EIO, "%s %s: %s", what, path,
                              strerror(errno));
    if (!S_ISREG(st.st_mode))
        return keel_error_set(e, KEEL_EPERM, "%s %s is not a regular file", what, path);
    if (st.st_mode & 077)
        return keel_error_set(e, KEEL_EPERM,
                              "%s %s may be read by group or others (mode %04o): run `chmod 600 "
                              "%s`",
                              what, path, (unsigned)(st.st_mode & 07777), path);
    return KEEL_OK;
}
