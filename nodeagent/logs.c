/*
 * logs: copy-truncate rotation of a task's log stream (see logs.h).
 */
#include "nodeagent/logs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/mem.h"

/* Splits ".../<task>.stdout.0" into its directory and "<task>.stdout." */
static int split(const char *live, char *dir, size_t dsize, char *prefix, size_t psize)
{
    const char *slash = strrchr(live, '/');
    const char *base = slash ? slash + 1 : live;
    size_t blen = strlen(base);
    if (blen < 3 || strcmp(base + blen - 2, ".0") != 0) {
        return CV_EINVAL;
    }
    int n =
        slash ? snprintf(dir, dsize, "%.*s", (int)(slash - live), live) : snprintf(dir, dsize, ".");
    int m = snprintf(prefix, psize, "%.*s", (int)(blen - 1), base);
    if (n < 0 || (size_t)n >= dsize || m < 0 || (size_t)m >= psize) {
        return CV_EINVAL;
    }
    return 0;
}

static int cmp_long(const void *a, const void *b)
{
    long x = *(const long *)a, y = *(const long *)b;
    return (x > y) - (x < y);
}

/* Collects the indices >= 1 of the stream's rotated files, sorted. */
static long *rotated_indices(const char *dir, const char *prefix, size_t *count)
{
    *count = 0;
    DIR *d = opendir(dir);
    if (!d) {
        return NULL;
    }
    size_t cap = 0;
    long *idx = NULL;
    size_t plen = strlen(prefix);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strncmp(e->d_name, prefix, plen) != 0) {
            continue;
        }
        const char *num = e->d_name + plen;
        char *end;
        long v = strtol(num, &end, 10);
        if (end == num || *end != '\0' || v < 1 || num[0] == '0') {
            continue;
        }
        if (*count == cap) {
            cap = cap ? cap * 2 : 8;
            idx = cv_reallocarray(idx, cap, sizeof *idx);
        }
        idx[(*count)++] = v;
    }
    closedir(d);
    if (*count > 1) {
        qsort(idx, *count, sizeof *idx, cmp_long);
    }
    return idx;
}

static int copy_fd(int in, int out)
{
    char buf[65536];
    for (;;) {
        ssize_t n = read(in, buf, sizeof buf);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            return -1;
        }
        if (n == 0) {
            return 0;
        }
        for (ssize_t off = 0; off < n;) {
            ssize_t w = write(out, buf + off, (size_t)(n - off));
            if (w < 0 && errno == EINTR) {
                continue;
            }
            if (w < 0) {
                return -1;
            }
            off += w;
        }
    }
}

int agent_logs_rotate(const char *live_path, int64_t max_bytes, int64_t max_files,
                      struct cv_err *err)
{
    char dir[PATH_MAX], prefix[NAME_MAX + 1], path[PATH_MAX + NAME_MAX + 32];
    if (split(live_path, dir, sizeof dir, prefix, sizeof prefix) != 0) {
        return cv_err_setf(err, CV_EINVAL, "log path %s does not end in .0", live_path);
    }
    struct stat st;
    if (stat(live_path, &st) != 0) {
        return 0; /* nothing written yet */
    }
    if (max_bytes <= 0 || st.st_size <= max_bytes) {
        return 0;
    }
    size_t n;
    long *idx = rotated_indices(dir, prefix, &n);
    long next = n ? idx[n - 1] + 1 : 1;
    snprintf(path, sizeof path, "%s/%s%ld", dir, prefix, next);
    int rc = 0;
    int in = open(live_path, O_RDWR | O_CLOEXEC);
    if (in < 0) {
        rc = cv_err_setf(err, CV_EIO, "open %s: %s", live_path, strerror(errno));
        goto out;
    }
    int out = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (out < 0) {
        rc = cv_err_setf(err, CV_EIO, "open %s: %s", path, strerror(errno));
        goto out_after_in;
    }
    if (copy_fd(in, out) != 0 || ftruncate(in, 0) != 0) {
        rc = cv_err_setf(err, CV_EIO, "rotate %s: %s", live_path, strerror(errno));
    }
    close(out);
    if (rc == 0) {
        rc = 1;
        /* n rotated files before, one more now, plus the live one. */
        size_t keep = max_files > 1 ? (size_t)(max_files - 1) : 0;
        size_t total = n + 1;
        for (size_t i = 0; total > keep && i < n; i++, total--) {
            snprintf(path, sizeof path, "%s/%s%ld", dir, prefix, idx[i]);
            (void)unlink(path);
        }
        if (total > keep) { /* max_files <= 1: not even the new copy */
            snprintf(path, sizeof path, "%s/%s%ld", dir, prefix, next);
            (void)unlink(path);
        }
    }
out_after_in:
    close(in);
out:
    cv_free(idx);
    return rc;
}
