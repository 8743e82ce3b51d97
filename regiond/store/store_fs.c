/*
 * store_fs: the POSIX implementation of the file-system interface
 * (store_fs.h). Thin wrappers that retry EINTR and short transfers and
 * return -errno.
 */
#include "regiond/store/store_fs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/mem.h"

void store_fs_names_free(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        cv_free(names[i]);
    }
    cv_free(names);
}

static int px_open(struct store_fs *fs, const char *path, int flags, int *fd)
{
    (void)fs;
    int f = O_RDWR | O_CLOEXEC;
    if (flags & STORE_FS_CREATE) {
        f |= O_CREAT;
    }
    if (flags & STORE_FS_TRUNC) {
        f |= O_TRUNC;
    }
    int rc;
    do {
        rc = open(path, f, 0644);
    } while (rc < 0 && errno == EINTR);
    if (rc < 0) {
        return -errno;
    }
    *fd = rc;
    return 0;
}

static int px_close(struct store_fs *fs, int fd)
{
    (void)fs;
    /* No retry on EINTR: the descriptor is gone either way on Linux. */
    return close(fd) == 0 ? 0 : -errno;
}

static int px_pread(struct store_fs *fs, int fd, void *buf, size_t len, uint64_t off, size_t *got)
{
    (void)fs;
    size_t done = 0;
    while (done < len) {
        ssize_t r = pread(fd, (char *)buf + done, len - done, (off_t)(off + done));
        if (r < 0) {
            if (errno == EINTR) {
                continue;
            }
            return -errno;
        }
        if (r == 0) {
            break;
        }
        done += (size_t)r;
    }
    *got = done;
    return 0;
}

static int px_pwrite(struct store_fs *fs, int fd, const void *buf, size_t len, uint64_t off)
{
    (void)fs;
    size_t done = 0;
    while (done < len) {
        ssize_t w = pwrite(fd, (const char *)buf + done, len - done, (off_t)(off + done));
        if (w < 0) {
            if (errno == EINTR) {
                continue;
            }
            return -errno;
        }
        if (w == 0) {
            return -EIO;
        }
        done += (size_t)w;
    }
    return 0;
}

static int px_fdatasync(struct store_fs *fs, int fd)
{
    (void)fs;
    /* Never retried, not even on EINTR: after a failed sync the kernel may
     * have dropped the dirty pages, and a second call could report success
     * for data that is gone (PostgreSQL's "fsyncgate"). */
    return fdatasync(fd) == 0 ? 0 : -errno;
}

static int px_size(struct store_fs *fs, int fd, uint64_t *size)
{
    (void)fs;
    struct stat st;
    if (fstat(fd, &st) != 0) {
        return -errno;
    }
    *size = (uint64_t)st.st_size;
    return 0;
}

static int px_truncate(struct store_fs *fs, int fd, uint64_t size)
{
    (void)fs;
    return ftruncate(fd, (off_t)size) == 0 ? 0 : -errno;
}

static int px_prealloc(struct store_fs *fs, int fd, uint64_t size)
{
    uint64_t cur;
    int rc = px_size(fs, fd, &cur);
    if (rc != 0) {
        return rc;
    }
    enum
    {
        CHUNK = 1 << 20
    };
    char *zeros = cv_calloc(1, CHUNK);
    while (rc == 0 && cur < size) {
        size_t n = size - cur < CHUNK ? (size_t)(size - cur) : CHUNK;
        rc = px_pwrite(fs, fd, zeros, n, cur);
        cur += n;
    }
    cv_free(zeros);
    return rc;
}

static int px_rename(struct store_fs *fs, const char *from, const char *to)
{
    (void)fs;
    return rename(from, to) == 0 ? 0 : -errno;
}

static int px_unlink(struct store_fs *fs, const char *path)
{
    (void)fs;
    return unlink(path) == 0 ? 0 : -errno;
}

static int px_mkdir(struct store_fs *fs, const char *path)
{
    (void)fs;
    if (mkdir(path, 0755) == 0 || errno == EEXIST) {
        return 0;
    }
    return -errno;
}

static int px_fsync_dir(struct store_fs *fs, const char *path)
{
    (void)fs;
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        return -errno;
    }
    int rc = fsync(fd) == 0 ? 0 : -errno;
    close(fd);
    return rc;
}

static int px_list(struct store_fs *fs, const char *dir, char ***names, size_t *n)
{
    (void)fs;
    DIR *d = opendir(dir);
    if (!d) {
        return -errno;
    }
    char **out = NULL;
    size_t len = 0, cap = 0;
    struct dirent *de;
    errno = 0;
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0) {
            continue;
        }
        if (len == cap) {
            cap = cap ? cap * 2 : 16;
            out = cv_reallocarray(out, cap, sizeof *out);
        }
        out[len++] = cv_strdup(de->d_name);
    }
    int rc = errno ? -errno : 0;
    closedir(d);
    if (rc != 0) {
        store_fs_names_free(out, len);
        return rc;
    }
    *names = out;
    *n = len;
    return 0;
}

static struct store_fs posix_fs = {
    .open = px_open,
    .close = px_close,
    .pread = px_pread,
    .pwrite = px_pwrite,
    .fdatasync = px_fdatasync,
    .size = px_size,
    .truncate = px_truncate,
    .prealloc = px_prealloc,
    .rename = px_rename,
    .unlink = px_unlink,
    .mkdir = px_mkdir,
    .fsync_dir = px_fsync_dir,
    .list = px_list,
};

struct store_fs *store_fs_posix(void)
{
    return &posix_fs;
}
