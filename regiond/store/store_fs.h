/*
 * store_fs: the small file-system interface the embedded adaptor writes
 * through, so tests can swap the disk for one that loses power
 * (store_fs_sim.h).
 *
 * Every call returns 0 or a negative errno value (-EIO, -ENOSPC...): this is
 * the border with the operating system, and the adaptor turns these into
 * CV_EIO with a message naming the file. Files are small integers handed out
 * by open. Paths are full paths. Writes are all-or-error (a short write is
 * retried inside, or reported as an error).
 */
#ifndef CV_STORE_FS_H
#define CV_STORE_FS_H

#include <stddef.h>
#include <stdint.h>

#define STORE_FS_CREATE 1 /* create when missing */
#define STORE_FS_TRUNC  2 /* empty it */

struct store_fs
{
    int (*open)(struct store_fs *fs, const char *path, int flags, int *fd);
    int (*close)(struct store_fs *fs, int fd);
    /* Reads up to len bytes; *got is less than len only at end of file. */
    int (*pread)(struct store_fs *fs, int fd, void *buf, size_t len, uint64_t off, size_t *got);
    int (*pwrite)(struct store_fs *fs, int fd, const void *buf, size_t len, uint64_t off);
    int (*fdatasync)(struct store_fs *fs, int fd);
    int (*size)(struct store_fs *fs, int fd, uint64_t *size);
    int (*truncate)(struct store_fs *fs, int fd, uint64_t size);
    /* Grows the file to `size` by writing zeros (not fallocate: overwriting
     * written blocks later needs no metadata update, so fdatasync is one
     * data write). Not durable until fdatasync. */
    int (*prealloc)(struct store_fs *fs, int fd, uint64_t size);
    int (*rename)(struct store_fs *fs, const char *from, const char *to);
    int (*unlink)(struct store_fs *fs, const char *path);
    /* Creates a directory; 0 when it exists already. */
    int (*mkdir)(struct store_fs *fs, const char *path);
    /* Makes creations, renames and removals in the directory durable. */
    int (*fsync_dir)(struct store_fs *fs, const char *path);
    /* Names (not paths) in a directory, without "." and "..": a new array of
     * new strings (cv_malloc), release with store_fs_names_free. */
    int (*list)(struct store_fs *fs, const char *dir, char ***names, size_t *n);
};

void store_fs_names_free(char **names, size_t n);

/* The real file system (POSIX calls). Returns a static, shared instance. */
struct store_fs *store_fs_posix(void);

#endif
