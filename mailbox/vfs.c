/*
 * The "actr" SQLite VFS: the default (unix) VFS with its syncs announced
 * to the fault-injection seam. SQLite's file I/O stays SQLite's: every
 * method is the default VFS's own, and in production xSync is one
 * compare away from it. When a test has replaced actr__sys.fdatasync,
 * each sync of the database or its WAL first calls the replacement with
 * the file's descriptor; a failure there fails the sync with
 * SQLITE_IOERR_FSYNC, exactly as a failing fdatasync in the unix VFS
 * would (which is what SQLite on Linux calls for every sync).
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mailbox/internal.h"

struct vfs_file {
	sqlite3_file base;	/* our methods */
	int fd;			/* the unix file's descriptor, -1 unknown */
	int kind;		/* ACTR__SYNC_*, -1 = not timed */
	sqlite3_file *real;	/* the default VFS's file, right after us */
};

/* The head of the unix VFS's unixFile (stable since SQLite 3.7): used
 * only to find the descriptor, and checked against the path by inode. */
struct unix_file_head {
	const sqlite3_io_methods *methods;
	sqlite3_vfs *vfs;
	void *inode;
	int h;
};

/* 10 us .. 1 s: tmpfs and a write-back cache answer in microseconds, a
 * disk's flush in milliseconds. */
const uint32_t actr__sync_bounds_us[ACTR__SYNC_HIST_N] = {
	10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 25000, 100000,
	250000, 1000000,
};
static struct actr__sync_hist sync_hist[ACTR__SYNC_KINDS];

static sqlite3_vfs *base_vfs;
static sqlite3_vfs actr_vfs;
static sqlite3_io_methods methods;
static pthread_once_t once = PTHREAD_ONCE_INIT;
static int register_rc = SQLITE_ERROR;

#define REAL(f) (((struct vfs_file *)(f))->real)

static int f_close(sqlite3_file *f)
{
	return REAL(f)->pMethods->xClose(REAL(f));
}

static int f_read(sqlite3_file *f, void *b, int n, sqlite3_int64 off)
{
	return REAL(f)->pMethods->xRead(REAL(f), b, n, off);
}

static int f_write(sqlite3_file *f, const void *b, int n, sqlite3_int64 off)
{
	return REAL(f)->pMethods->xWrite(REAL(f), b, n, off);
}

static int f_truncate(sqlite3_file *f, sqlite3_int64 size)
{
	return REAL(f)->pMethods->xTruncate(REAL(f), size);
}

static int f_sync(sqlite3_file *f, int flags)
{
	struct vfs_file *vf = (struct vfs_file *)f;

	struct actr__sync_hist *h;
	uint64_t t0, ns;
	unsigned i = 0;
	int rc;

	if (ACTR_UNLIKELY(actr__sys.fdatasync != fdatasync) && vf->fd >= 0 &&
	    actr__sys.fdatasync(vf->fd) < 0) {
		rc = SQLITE_IOERR_FSYNC;
		goto out_err;
	}
	if (vf->kind < 0)
		return vf->real->pMethods->xSync(vf->real, flags);
	/* two clock reads around a syscall of microseconds or more */
	t0 = actr_time_ns();
	rc = vf->real->pMethods->xSync(vf->real, flags);
	if (rc != SQLITE_OK)
		goto out_err;
	ns = actr_time_ns() - t0;
	h = &sync_hist[vf->kind];
	while (i < ACTR__SYNC_HIST_N && ns > actr__sync_bounds_us[i] * 1000ull)
		i++;
	__atomic_fetch_add(&h->b[i], 1, __ATOMIC_RELAXED);
	__atomic_fetch_add(&h->sum_ns, ns, __ATOMIC_RELAXED);
	__atomic_fetch_add(&h->count, 1, __ATOMIC_RELAXED);
	return SQLITE_OK;
out_err:
	if (vf->kind >= 0)
		__atomic_fetch_add(&sync_hist[vf->kind].errors, 1,
				   __ATOMIC_RELAXED);
	return rc;
}

void actr__sync_hist_get(struct actr__sync_hist out[ACTR__SYNC_KINDS])
{
	for (int k = 0; k < ACTR__SYNC_KINDS; k++) {
		const struct actr__sync_hist *h = &sync_hist[k];

		for (unsigned i = 0; i <= ACTR__SYNC_HIST_N; i++)
			out[k].b[i] = __atomic_load_n(&h->b[i],
						      __ATOMIC_RELAXED);
		out[k].count = __atomic_load_n(&h->count, __ATOMIC_RELAXED);
		out[k].sum_ns = __atomic_load_n(&h->sum_ns, __ATOMIC_RELAXED);
		out[k].errors = __atomic_load_n(&h->errors, __ATOMIC_RELAXED);
	}
}

static int f_size(sqlite3_file *f, sqlite3_int64 *size)
{
	return REAL(f)->pMethods->xFileSize(REAL(f), size);
}

static int f_lock(sqlite3_file *f, int l)
{
	return REAL(f)->pMethods->xLock(REAL(f), l);
}

static int f_unlock(sqlite3_file *f, int l)
{
	return REAL(f)->pMethods->xUnlock(REAL(f), l);
}

static int f_check_lock(sqlite3_file *f, int *out)
{
	return REAL(f)->pMethods->xCheckReservedLock(REAL(f), out);
}

static int f_fcntl(sqlite3_file *f, int op, void *arg)
{
	return REAL(f)->pMethods->xFileControl(REAL(f), op, arg);
}

static int f_sector(sqlite3_file *f)
{
	return REAL(f)->pMethods->xSectorSize(REAL(f));
}

static int f_devchar(sqlite3_file *f)
{
	return REAL(f)->pMethods->xDeviceCharacteristics(REAL(f));
}

static int f_shm_map(sqlite3_file *f, int pg, int pgsz, int extend,
		     void volatile **pp)
{
	return REAL(f)->pMethods->xShmMap(REAL(f), pg, pgsz, extend, pp);
}

static int f_shm_lock(sqlite3_file *f, int off, int n, int flags)
{
	return REAL(f)->pMethods->xShmLock(REAL(f), off, n, flags);
}

static void f_shm_barrier(sqlite3_file *f)
{
	REAL(f)->pMethods->xShmBarrier(REAL(f));
}

static int f_shm_unmap(sqlite3_file *f, int del)
{
	return REAL(f)->pMethods->xShmUnmap(REAL(f), del);
}

static int f_fetch(sqlite3_file *f, sqlite3_int64 off, int n, void **pp)
{
	return REAL(f)->pMethods->xFetch(REAL(f), off, n, pp);
}

static int f_unfetch(sqlite3_file *f, sqlite3_int64 off, void *p)
{
	return REAL(f)->pMethods->xUnfetch(REAL(f), off, p);
}

/* The descriptor of a unix VFS file, or -1 when it cannot be confirmed. */
static int unix_fd(sqlite3_file *real, const char *name)
{
	const struct unix_file_head *u = (const void *)real;
	struct stat a, b;

	if (!name || strcmp(base_vfs->zName, "unix") || u->h < 0 ||
	    fstat(u->h, &a) < 0 || stat(name, &b) < 0 ||
	    a.st_dev != b.st_dev || a.st_ino != b.st_ino)
		return -1;
	return u->h;
}

static int v_open(sqlite3_vfs *v, const char *name, sqlite3_file *f,
		  int flags, int *out_flags)
{
	struct vfs_file *vf = (struct vfs_file *)f;
	int rc;

	vf->real = (sqlite3_file *)(vf + 1);
	vf->fd = -1;
	vf->kind = flags & SQLITE_OPEN_MAIN_DB ? ACTR__SYNC_DB :
		   flags & SQLITE_OPEN_WAL ? ACTR__SYNC_WAL : -1;
	vf->base.pMethods = NULL;
	rc = base_vfs->xOpen(base_vfs, name, vf->real, flags, out_flags);
	if (rc != SQLITE_OK)
		return rc;
	if (vf->real->pMethods) {
		vf->fd = unix_fd(vf->real, name);
		vf->base.pMethods = &methods;
	}
	return SQLITE_OK;
}

static int v_delete(sqlite3_vfs *v, const char *n, int dirsync)
{
	return base_vfs->xDelete(base_vfs, n, dirsync);
}

static int v_access(sqlite3_vfs *v, const char *n, int flags, int *out)
{
	return base_vfs->xAccess(base_vfs, n, flags, out);
}

static int v_fullpath(sqlite3_vfs *v, const char *n, int len, char *out)
{
	return base_vfs->xFullPathname(base_vfs, n, len, out);
}

static int v_random(sqlite3_vfs *v, int n, char *out)
{
	return base_vfs->xRandomness(base_vfs, n, out);
}

static int v_sleep(sqlite3_vfs *v, int us)
{
	return base_vfs->xSleep(base_vfs, us);
}

static int v_time(sqlite3_vfs *v, double *out)
{
	return base_vfs->xCurrentTime(base_vfs, out);
}

static int v_last_error(sqlite3_vfs *v, int n, char *out)
{
	return base_vfs->xGetLastError(base_vfs, n, out);
}

static int v_time64(sqlite3_vfs *v, sqlite3_int64 *out)
{
	return base_vfs->xCurrentTimeInt64(base_vfs, out);
}

static void do_register(void)
{
	base_vfs = sqlite3_vfs_find(NULL);
	if (!base_vfs || base_vfs->iVersion < 2)
		return;
	methods = (sqlite3_io_methods){
		.iVersion = 3,
		.xClose = f_close,
		.xRead = f_read,
		.xWrite = f_write,
		.xTruncate = f_truncate,
		.xSync = f_sync,
		.xFileSize = f_size,
		.xLock = f_lock,
		.xUnlock = f_unlock,
		.xCheckReservedLock = f_check_lock,
		.xFileControl = f_fcntl,
		.xSectorSize = f_sector,
		.xDeviceCharacteristics = f_devchar,
		.xShmMap = f_shm_map,
		.xShmLock = f_shm_lock,
		.xShmBarrier = f_shm_barrier,
		.xShmUnmap = f_shm_unmap,
		.xFetch = f_fetch,
		.xUnfetch = f_unfetch,
	};
	actr_vfs = (sqlite3_vfs){
		.iVersion = 2,
		.szOsFile = (int)sizeof(struct vfs_file) + base_vfs->szOsFile,
		.mxPathname = base_vfs->mxPathname,
		.zName = "actr",
		.xOpen = v_open,
		.xDelete = v_delete,
		.xAccess = v_access,
		.xFullPathname = v_fullpath,
		.xRandomness = v_random,
		.xSleep = v_sleep,
		.xCurrentTime = v_time,
		.xGetLastError = v_last_error,
		.xCurrentTimeInt64 = v_time64,
	};
	register_rc = sqlite3_vfs_register(&actr_vfs, 0);
}

const char *actr__db_vfs(void)
{
	pthread_once(&once, do_register);
	return register_rc == SQLITE_OK ? "actr" : NULL;
}
