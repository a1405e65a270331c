/*
 * artifact.h — the .keel file: a JSON manifest and named, aligned little-endian tensors in one
 * file, closed by a SHA-256 digest. The byte layout is specified in docs/artifact.md.
 *
 * This layer is a container and knows nothing of models: src/model/model.c puts the schema,
 * transforms, graph and metrics in the manifest and the parameters in tensors.
 *
 * Reading treats the file as hostile: keel_artifact_open reads it into memory and checks,
 * before anything is used, the magic and version, the header and manifest sizes (capped),
 * every tensor's dtype (a closed list), rank, shape product and byte size (overflow-checked),
 * alignment and that it lies inside the file without overlapping another, the names (unique,
 * printable), the manifest is valid UTF-8, and the digest over everything before it. A failure
 * is KEEL_EFORMAT with a message naming what is wrong ("truncated at byte 8192: tensor
 * 'params' ends at byte 9000, past the end of the data (byte 8160)"). Nothing in a file is
 * ever executed. An open artifact is read-only and may be shared by threads.
 *
 * Tensor data is stored little-endian and handed out as pointers into the file, so keel reads
 * and writes artifacts only on little-endian hosts (artifact.c refuses to build elsewhere);
 * the header fields are encoded byte by byte and are host-independent.
 */
#ifndef KEEL_MODEL_ARTIFACT_H
#define KEEL_MODEL_ARTIFACT_H

#include "base/base.h"

#define KEEL_ARTIFACT_MAX_MANIFEST (64u << 20) /* bytes */
#define KEEL_ARTIFACT_MAX_TENSORS  4096
#define KEEL_ARTIFACT_MAX_RANK     4
#define KEEL_ARTIFACT_MAX_NAME     63 /* bytes in a tensor name */
#define KEEL_ARTIFACT_ALIGN        64 /* tensor data offsets are multiples of this */

/* Element types. The numbers are stored in files: never renumber, only append. */
typedef enum keel_dtype {
    KEEL_DTYPE_F32 = 0, /* IEEE 754 binary32 */
    KEEL_DTYPE_F64 = 1, /* IEEE 754 binary64 */
    KEEL_DTYPE_I32 = 2, /* two's complement */
    KEEL_DTYPE_I64 = 3,
    KEEL_DTYPE_U8 = 4,
    KEEL_DTYPE_COUNT
} keel_dtype;

/* The short name of a dtype ("f32", "f64", "i32", "i64", "u8"), or "?" for a value outside
 * the enum. Static storage; thread-safe. */
const char *keel_dtype_name(keel_dtype t);
/* The size of one element in bytes, or 0 for a value outside the enum. Thread-safe. */
size_t keel_dtype_size(keel_dtype t);

/* One named tensor. For writing the caller fills every field; rank 0 is a scalar (one
 * element), and nbytes must equal the product of shape[0..rank) times keel_dtype_size. */
typedef struct keel_artifact_tensor {
    const char *name; /* 1 to 63 bytes of printable ASCII (0x20..0x7e), unique in the file */
    keel_dtype dtype;
    size_t rank;                            /* 0..KEEL_ARTIFACT_MAX_RANK */
    uint64_t shape[KEEL_ARTIFACT_MAX_RANK]; /* entries at and after rank are ignored (0) */
    const void *data; /* reading: points into the file's bytes, at a multiple of 64 bytes
                         from its start (so 64-byte aligned for keel_artifact_open) */
    uint64_t nbytes;
} keel_artifact_tensor;

/* Writes manifest (UTF-8 JSON text; its JSON is not checked here) and the tensors, in the
 * order given, to path atomically: a new temporary file beside path (created with O_EXCL),
 * written, fsync'ed, renamed over path, and the directory fsync'ed. Readers therefore see the
 * old file or the new one, never a part. On failure the temporary file is removed and path is
 * untouched. digest (may be NULL) receives the SHA-256 of the whole file as written: the
 * value keel_artifact_sha256 reports for it, computed while writing.
 * The inputs are borrowed. Output is deterministic: the same inputs give the same bytes.
 * Errors: KEEL_EINVAL (a tensor that is malformed: bad name, duplicate name, unknown dtype,
 * rank over 4, nbytes not matching the shape, NULL data; or a manifest that is not valid
 * UTF-8), KEEL_ELIMIT (manifest over KEEL_ARTIFACT_MAX_MANIFEST, more than
 * KEEL_ARTIFACT_MAX_TENSORS tensors), KEEL_ENOENT (the directory does not exist), KEEL_EIO
 * (any other failure to create, write, sync or rename), KEEL_ENOMEM; e says which.
 * Thread-safe (concurrent writers of one path: the last rename wins, each file whole). */
int keel_artifact_write(const char *path, const char *manifest, size_t manifest_len,
                        const keel_artifact_tensor *tensors, size_t n_tensors,
                        unsigned char digest[32], keel_error *e);

typedef struct keel_artifact keel_artifact;

/* Reads the file into a 64-byte-aligned heap buffer and checks it (see the top of this file).
 * It is never mapped: another process truncating or rewriting the file in place, while it is
 * read or afterwards, cannot fault this one; a file that changes while being read is refused
 * (KEEL_EIO "shrank while being read", or KEEL_EFORMAT: truncated, checksum mismatch). On
 * success *out owns the copy; release it with keel_artifact_close. On failure *out is NULL and
 * e says why: KEEL_ENOENT (no such file), KEEL_EIO (cannot open or read it, or not a regular
 * file), KEEL_EFORMAT (not a valid artifact; the message starts with the path), KEEL_ENOMEM.
 * Thread-safe. */
int keel_artifact_open(const char *path, keel_artifact **out, keel_error *e);
/* The same over bytes in memory (borrowed; must outlive the artifact): fuzzing and tests.
 * Tensor data pointers are aligned only as well as data is (64 bytes if data is). */
int keel_artifact_open_mem(const void *data, size_t n, keel_artifact **out, keel_error *e);
/* Releases an artifact and its copy of the file; every pointer obtained from it becomes invalid.
 * NULL is a no-op. */
void keel_artifact_close(keel_artifact *a);

/* The manifest bytes, borrowed from the artifact: valid UTF-8, not NUL-terminated; *len
 * receives their count (len may be NULL). */
const char *keel_artifact_manifest(const keel_artifact *a, size_t *len);
size_t keel_artifact_n_tensors(const keel_artifact *a);
/* The i-th tensor in file order (borrowed), or NULL if i >= keel_artifact_n_tensors. */
const keel_artifact_tensor *keel_artifact_tensor_at(const keel_artifact *a, size_t i);
/* The tensor called name (borrowed), or NULL. O(log n). */
const keel_artifact_tensor *keel_artifact_find(const keel_artifact *a, const char *name);
/* SHA-256 of the whole file, lowercase hex: the artifact's identity (= `sha256sum`).
 * Computed once at open; borrowed. */
const char *keel_artifact_sha256(const keel_artifact *a);

/* ---- for fuzzing and tests only ----------------------------------------------------------
 * keel_artifact_open_mem with every structural check but without comparing the digest
 * stored at the end with the bytes (the digest is still required to be present, 32 bytes).
 * A random mutation almost always breaks the digest, which would stop a fuzzer at the last
 * check; this lets it explore the structure parser instead. Never use it to load a model. */
int keel_artifact_open_mem_unchecked_digest(const void *data, size_t n, keel_artifact **out,
                                            keel_error *e);

#endif
