/*
 * Per-actor key-value storage: one SQLite file (WAL) per actor, keys and
 * values are arbitrary bytes, keys ordered bytewise. Single operations are
 * their own transaction; a batch applies many puts and deletes atomically.
 *
 * Threads: every call on one store from the thread that opened it.
 */
#ifndef ACTR_KV_H
#define ACTR_KV_H

#include <actr/api.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <actr/buf.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct actr_kv actr_kv_t;
typedef struct actr_kv_batch actr_kv_batch_t;

/** Scan callback: return 0 to continue, non-zero to stop the scan (that
 * value is returned by actr_kv_scan). key/val valid only during the call. */
typedef int (*actr_kv_scan_cb)(const void *key, size_t klen, const void *val,
			       size_t vlen, void *arg);

/**
 * Open (or create) the store at path. sync_full: true = every commit is
 * fsynced (survives power loss), false = survives a process crash only.
 * Returns 0 with *out set; -ACTR_ECORRUPT for garbage or a database of
 * another schema (a mailbox, say); -EBUSY if another process has it open;
 * other negative codes. Failures are logged.
 */
ACTR_API int actr_kv_open(const char *path, bool sync_full, actr_kv_t **out);

/** Close and free; NULL is ignored. */
ACTR_API void actr_kv_close(actr_kv_t *kv);

/** Look key up. On 0, *val is a new buffer the caller owns (unref it).
 * -ACTR_ENOTFOUND if absent; other negative codes on error. */
ACTR_API int actr_kv_get(actr_kv_t *kv, const void *key, size_t klen,
		actr_buf_t **val);

/** Insert or replace. Key 1..65536 bytes, value up to 64 MiB (else
 * -ACTR_ETOOBIG). 0 or negative code (-ENOSPC when the disk is full). */
ACTR_API int actr_kv_put(actr_kv_t *kv, const void *key, size_t klen, const void *val,
		size_t vlen);

/** Remove key. 0 (also if it was absent) or negative code. */
ACTR_API int actr_kv_delete(actr_kv_t *kv, const void *key, size_t klen);

/** Call cb for every key starting with prefix (plen 0 = all), in key
 * order. Returns 0, cb's non-zero stop value, or a negative code. cb must
 * not modify the store. */
ACTR_API int actr_kv_scan(actr_kv_t *kv, const void *prefix, size_t plen,
		 actr_kv_scan_cb cb, void *arg);

/** A new empty batch; NULL when out of memory. */
ACTR_API actr_kv_batch_t *actr_kv_batch_new(void);

/** Record a put / delete in the batch (bytes copied). 0, -EINVAL,
 * -ACTR_ETOOBIG, -ENOMEM. Reads do not see a batch before it commits. */
ACTR_API int actr_kv_batch_put(actr_kv_batch_t *b, const void *key, size_t klen,
		      const void *val, size_t vlen);
ACTR_API int actr_kv_batch_delete(actr_kv_batch_t *b, const void *key, size_t klen);

/** Apply the batch in one transaction, in recorded order: all or nothing.
 * The batch is not freed (it is emptied on success). 0 or negative code. */
ACTR_API int actr_kv_batch_commit(actr_kv_t *kv, actr_kv_batch_t *b);

/** Free a batch; NULL is ignored. */
ACTR_API void actr_kv_batch_free(actr_kv_batch_t *b);

#ifdef __cplusplus
}
#endif
#endif
