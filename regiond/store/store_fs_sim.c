/*
 * store_fs_sim: the simulated file system (see store_fs_sim.h).
 *
 * Inodes live until the file system is freed (tests are small), so a name
 * that comes back after a crash can point at the inode it named when it was
 * made durable. Each inode has `cur` (what reads see), `dur` (what survives
 * a crash) and the log of writes/truncations since its last fdatasync; the
 * namespace has a current and a durable name table and the log of changes
 * since the last directory fsync. A power cycle replays the logs onto the
 * durable state according to the mode.
 */
#include "regiond/store/store_fs_sim.h"

#include <errno.h>
#include <string.h>

#include "common/mem.h"

struct bytes
{
    unsigned char *p;
    size_t len, cap;
};

enum
{
    WOP_WRITE,
    WOP_TRUNC,
};

struct wop
{
    int kind;
    uint64_t off; /* WRITE: offset; TRUNC: new length */
    size_t len;
    unsigned char *data;
};

struct inode
{
    struct bytes cur, dur;
    struct wop *ops;
    size_t nops, cap;
};

struct dent
{
    char *name;
    size_t ino;
};

struct table
{
    struct dent *e;
    size_t n, cap;
};

enum
{
    NS_LINK,
    NS_UNLINK,
    NS_RENAME,
};

struct nsop
{
    int kind;
    char *a, *b;
    size_t ino;
};

struct sim
{
    struct store_fs fs; /* first: the interface */
    uint64_t rng;
    struct inode **inodes;
    size_t ninodes, inocap;
    struct table cur, dur;
    struct nsop *ns;
    size_t nns, nscap;
    long *fds; /* inode of each fd, -1 when closed */
    size_t nfds;
    unsigned syncs, crash_at, writes;
    bool crashed;
    bool fail_sync_armed, fail_write_armed;
    unsigned fail_sync_after, fail_write_after;
    int fail_sync_err, fail_write_err;
};

static uint64_t next_rand(struct sim *s)
{
    uint64_t z = (s->rng += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static void bytes_resize(struct bytes *b, size_t len)
{
    if (len > b->cap) {
        b->cap = len * 2 + 64;
        b->p = cv_realloc(b->p, b->cap);
    }
    if (len > b->len) {
        memset(b->p + b->len, 0, len - b->len);
    }
    b->len = len;
}

static void bytes_write(struct bytes *b, uint64_t off, const void *data, size_t len)
{
    if (off + len > b->len) {
        bytes_resize(b, (size_t)(off + len));
    }
    memcpy(b->p + off, data, len);
}

static void bytes_copy(struct bytes *dst, const struct bytes *src)
{
    dst->len = 0;
    bytes_resize(dst, src->len);
    if (src->len) {
        memcpy(dst->p, src->p, src->len);
    }
}

static void clear_ops(struct inode *in)
{
    for (size_t i = 0; i < in->nops; i++) {
        cv_free(in->ops[i].data);
    }
    in->nops = 0;
}

static void push_op(struct inode *in, int kind, uint64_t off, const void *data, size_t len)
{
    if (in->nops == in->cap) {
        in->cap = in->cap ? in->cap * 2 : 16;
        in->ops = cv_reallocarray(in->ops, in->cap, sizeof *in->ops);
    }
    struct wop *w = &in->ops[in->nops++];
    *w = (struct wop){kind, off, len, NULL};
    if (kind == WOP_WRITE) {
        w->data = cv_malloc(len ? len : 1);
        if (data) {
            memcpy(w->data, data, len);
        } else {
            memset(w->data, 0, len);
        }
    }
}

static long table_find(const struct table *t, const char *name)
{
    for (size_t i = 0; i < t->n; i++) {
        if (strcmp(t->e[i].name, name) == 0) {
            return (long)i;
        }
    }
    return -1;
}

static void table_set(struct table *t, const char *name, size_t ino)
{
    long i = table_find(t, name);
    if (i >= 0) {
        t->e[i].ino = ino;
        return;
    }
    if (t->n == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 16;
        t->e = cv_reallocarray(t->e, t->cap, sizeof *t->e);
    }
    t->e[t->n++] = (struct dent){cv_strdup(name), ino};
}

static void table_remove(struct table *t, const char *name)
{
    long i = table_find(t, name);
    if (i >= 0) {
        cv_free(t->e[i].name);
        t->e[i] = t->e[--t->n];
    }
}

static void table_clear(struct table *t)
{
    for (size_t i = 0; i < t->n; i++) {
        cv_free(t->e[i].name);
    }
    t->n = 0;
}

static void table_copy(struct table *dst, const struct table *src)
{
    table_clear(dst);
    for (size_t i = 0; i < src->n; i++) {
        table_set(dst, src->e[i].name, src->e[i].ino);
    }
}

static void ns_push(struct sim *s, int kind, const char *a, const char *b, size_t ino)
{
    if (s->nns == s->nscap) {
        s->nscap = s->nscap ? s->nscap * 2 : 16;
        s->ns = cv_reallocarray(s->ns, s->nscap, sizeof *s->ns);
    }
    s->ns[s->nns++] = (struct nsop){kind, cv_strdup(a), b ? cv_strdup(b) : NULL, ino};
}

static void ns_clear(struct sim *s)
{
    for (size_t i = 0; i < s->nns; i++) {
        cv_free(s->ns[i].a);
        cv_free(s->ns[i].b);
    }
    s->nns = 0;
}

static void ns_apply(struct table *t, const struct nsop *op)
{
    if (op->kind == NS_LINK) {
        table_set(t, op->a, op->ino);
    } else if (op->kind == NS_UNLINK) {
        table_remove(t, op->a);
    } else {
        long i = table_find(t, op->a);
        if (i >= 0) {
            size_t ino = t->e[i].ino;
            table_remove(t, op->a);
            table_set(t, op->b, ino);
        }
    }
}

static struct inode *fd_inode(struct sim *s, int fd)
{
    if (fd < 0 || (size_t)fd >= s->nfds || s->fds[fd] < 0) {
        return NULL;
    }
    return s->inodes[s->fds[fd]];
}

/* ---- the interface ---------------------------------------------------------- */

static int sim_open(struct store_fs *fs, const char *path, int flags, int *fd)
{
    struct sim *s = (struct sim *)fs;
    if (s->crashed) {
        return -EIO;
    }
    long i = table_find(&s->cur, path);
    size_t ino;
    if (i < 0) {
        if (!(flags & STORE_FS_CREATE)) {
            return -ENOENT;
        }
        if (s->ninodes == s->inocap) {
            s->inocap = s->inocap ? s->inocap * 2 : 16;
            s->inodes = cv_reallocarray(s->inodes, s->inocap, sizeof *s->inodes);
        }
        ino = s->ninodes++;
        s->inodes[ino] = cv_calloc(1, sizeof(struct inode));
        table_set(&s->cur, path, ino);
        ns_push(s, NS_LINK, path, NULL, ino);
    } else {
        ino = s->cur.e[i].ino;
    }
    if (flags & STORE_FS_TRUNC) {
        struct inode *in = s->inodes[ino];
        in->cur.len = 0;
        push_op(in, WOP_TRUNC, 0, NULL, 0);
    }
    size_t f = 0;
    while (f < s->nfds && s->fds[f] >= 0) {
        f++;
    }
    if (f == s->nfds) {
        s->fds = cv_reallocarray(s->fds, ++s->nfds, sizeof *s->fds);
    }
    s->fds[f] = (long)ino;
    *fd = (int)f;
    return 0;
}

static int sim_close(struct store_fs *fs, int fd)
{
    struct sim *s = (struct sim *)fs;
    if (fd >= 0 && (size_t)fd < s->nfds) {
        s->fds[fd] = -1;
    }
    return 0;
}

static int sim_pread(struct store_fs *fs, int fd, void *buf, size_t len, uint64_t off, size_t *got)
{
    struct sim *s = (struct sim *)fs;
    struct inode *in = fd_inode(s, fd);
    if (s->crashed || !in) {
        return -EIO;
    }
    size_t n = off >= in->cur.len ? 0 : in->cur.len - (size_t)off;
    n = n < len ? n : len;
    if (n) {
        memcpy(buf, in->cur.p + off, n);
    }
    *got = n;
    return 0;
}

static int write_gate(struct sim *s)
{
    if (s->crashed) {
        return -EIO;
    }
    s->writes++;
    if (s->fail_write_armed) {
        if (s->fail_write_after == 0) {
            s->fail_write_armed = false;
            return s->fail_write_err;
        }
        s->fail_write_after--;
    }
    return 0;
}

static int sim_pwrite(struct store_fs *fs, int fd, const void *buf, size_t len, uint64_t off)
{
    struct sim *s = (struct sim *)fs;
    struct inode *in = fd_inode(s, fd);
    if (!in) {
        return -EBADF;
    }
    int rc = write_gate(s);
    if (rc != 0) {
        return rc;
    }
    bytes_write(&in->cur, off, buf, len);
    push_op(in, WOP_WRITE, off, buf, len);
    return 0;
}

static int sync_gate(struct sim *s)
{
    if (s->crashed) {
        return -EIO;
    }
    s->syncs++;
    if (s->crash_at && s->syncs == s->crash_at) {
        s->crashed = true;
        return -EIO;
    }
    if (s->fail_sync_armed) {
        if (s->fail_sync_after == 0) {
            s->fail_sync_armed = false;
            return s->fail_sync_err;
        }
        s->fail_sync_after--;
    }
    return 0;
}

static int sim_fdatasync(struct store_fs *fs, int fd)
{
    struct sim *s = (struct sim *)fs;
    struct inode *in = fd_inode(s, fd);
    if (!in) {
        return -EBADF;
    }
    int rc = sync_gate(s);
    if (rc != 0) {
        return rc;
    }
    bytes_copy(&in->dur, &in->cur);
    clear_ops(in);
    return 0;
}

static int sim_size(struct store_fs *fs, int fd, uint64_t *size)
{
    struct sim *s = (struct sim *)fs;
    struct inode *in = fd_inode(s, fd);
    if (s->crashed || !in) {
        return -EIO;
    }
    *size = in->cur.len;
    return 0;
}

static int sim_truncate(struct store_fs *fs, int fd, uint64_t size)
{
    struct sim *s = (struct sim *)fs;
    struct inode *in = fd_inode(s, fd);
    if (!in) {
        return -EBADF;
    }
    int rc = write_gate(s);
    if (rc != 0) {
        return rc;
    }
    if (size < in->cur.len) {
        in->cur.len = (size_t)size;
    } else {
        bytes_resize(&in->cur, (size_t)size);
    }
    push_op(in, WOP_TRUNC, size, NULL, 0);
    return 0;
}

static int sim_prealloc(struct store_fs *fs, int fd, uint64_t size)
{
    struct sim *s = (struct sim *)fs;
    struct inode *in = fd_inode(s, fd);
    if (!in) {
        return -EBADF;
    }
    if (size <= in->cur.len) {
        return s->crashed ? -EIO : 0;
    }
    int rc = write_gate(s);
    if (rc != 0) {
        return rc;
    }
    uint64_t from = in->cur.len;
    bytes_resize(&in->cur, (size_t)size);
    push_op(in, WOP_WRITE, from, NULL, (size_t)(size - from));
    return 0;
}

static int sim_rename(struct store_fs *fs, const char *from, const char *to)
{
    struct sim *s = (struct sim *)fs;
    if (s->crashed) {
        return -EIO;
    }
    if (table_find(&s->cur, from) < 0) {
        return -ENOENT;
    }
    struct nsop op = {NS_RENAME, (char *)from, (char *)to, 0};
    ns_apply(&s->cur, &op);
    ns_push(s, NS_RENAME, from, to, 0);
    return 0;
}

static int sim_unlink(struct store_fs *fs, const char *path)
{
    struct sim *s = (struct sim *)fs;
    if (s->crashed) {
        return -EIO;
    }
    if (table_find(&s->cur, path) < 0) {
        return -ENOENT;
    }
    table_remove(&s->cur, path);
    ns_push(s, NS_UNLINK, path, NULL, 0);
    return 0;
}

static int sim_mkdir(struct store_fs *fs, const char *path)
{
    (void)path;
    return ((struct sim *)fs)->crashed ? -EIO : 0;
}

static int sim_fsync_dir(struct store_fs *fs, const char *path)
{
    (void)path;
    struct sim *s = (struct sim *)fs;
    int rc = sync_gate(s);
    if (rc != 0) {
        return rc;
    }
    table_copy(&s->dur, &s->cur);
    ns_clear(s);
    return 0;
}

static int sim_list(struct store_fs *fs, const char *dir, char ***names, size_t *n)
{
    struct sim *s = (struct sim *)fs;
    if (s->crashed) {
        return -EIO;
    }
    size_t dlen = strlen(dir), k = 0;
    char **out = cv_calloc(s->cur.n + 1, sizeof *out);
    for (size_t i = 0; i < s->cur.n; i++) {
        const char *name = s->cur.e[i].name;
        if (strncmp(name, dir, dlen) == 0 && name[dlen] == '/' && !strchr(name + dlen + 1, '/')) {
            out[k++] = cv_strdup(name + dlen + 1);
        }
    }
    *names = out;
    *n = k;
    return 0;
}

/* ---- control ------------------------------------------------------------------ */

struct store_fs *store_fs_sim_new(uint64_t seed)
{
    struct sim *s = cv_calloc(1, sizeof *s);
    s->fs = (struct store_fs){
        .open = sim_open,
        .close = sim_close,
        .pread = sim_pread,
        .pwrite = sim_pwrite,
        .fdatasync = sim_fdatasync,
        .size = sim_size,
        .truncate = sim_truncate,
        .prealloc = sim_prealloc,
        .rename = sim_rename,
        .unlink = sim_unlink,
        .mkdir = sim_mkdir,
        .fsync_dir = sim_fsync_dir,
        .list = sim_list,
    };
    s->rng = seed;
    return &s->fs;
}

void store_fs_sim_free(struct store_fs *fs)
{
    struct sim *s = (struct sim *)fs;
    if (!s) {
        return;
    }
    for (size_t i = 0; i < s->ninodes; i++) {
        clear_ops(s->inodes[i]);
        cv_free(s->inodes[i]->ops);
        cv_free(s->inodes[i]->cur.p);
        cv_free(s->inodes[i]->dur.p);
        cv_free(s->inodes[i]);
    }
    cv_free(s->inodes);
    table_clear(&s->cur);
    table_clear(&s->dur);
    cv_free(s->cur.e);
    cv_free(s->dur.e);
    ns_clear(s);
    cv_free(s->ns);
    cv_free(s->fds);
    cv_free(s);
}

void store_fs_sim_crash_at_sync(struct store_fs *fs, unsigned n)
{
    struct sim *s = (struct sim *)fs;
    s->crash_at = s->syncs + n;
}

bool store_fs_sim_crashed(const struct store_fs *fs)
{
    return ((const struct sim *)fs)->crashed;
}

unsigned store_fs_sim_syncs(const struct store_fs *fs)
{
    return ((const struct sim *)fs)->syncs;
}

void store_fs_sim_fail_sync(struct store_fs *fs, unsigned after, int neg_errno)
{
    struct sim *s = (struct sim *)fs;
    s->fail_sync_armed = true;
    s->fail_sync_after = after;
    s->fail_sync_err = neg_errno;
}

void store_fs_sim_fail_write(struct store_fs *fs, unsigned after, int neg_errno)
{
    struct sim *s = (struct sim *)fs;
    s->fail_write_armed = true;
    s->fail_write_after = after;
    s->fail_write_err = neg_errno;
}

/* Applies one unsynced write to `b` sector by sector: each 512-byte piece
 * lands, is lost, or (one in eight) lands as garbage. */
static void torn_write(struct sim *s, struct bytes *b, const struct wop *w)
{
    for (size_t at = 0; at < w->len;) {
        size_t n = 512 - (size_t)((w->off + at) % 512);
        n = n < w->len - at ? n : w->len - at;
        uint64_t r = next_rand(s) % 8;
        if (r < 4) {
            bytes_write(b, w->off + at, w->data + at, n);
        } else if (r == 4) {
            unsigned char junk[512];
            for (size_t i = 0; i < n; i++) {
                junk[i] = (unsigned char)next_rand(s);
            }
            bytes_write(b, w->off + at, junk, n);
        }
        at += n;
    }
}

void store_fs_sim_power_cycle(struct store_fs *fs, enum store_fs_sim_mode mode)
{
    struct sim *s = (struct sim *)fs;
    if (mode == STORE_FS_SIM_KEEP) {
        table_copy(&s->dur, &s->cur);
    } else if (mode == STORE_FS_SIM_TORN) {
        size_t k = s->nns ? (size_t)(next_rand(s) % (s->nns + 1)) : 0;
        for (size_t i = 0; i < k; i++) {
            ns_apply(&s->dur, &s->ns[i]);
        }
    }
    ns_clear(s);
    table_copy(&s->cur, &s->dur);
    for (size_t i = 0; i < s->ninodes; i++) {
        struct inode *in = s->inodes[i];
        if (mode == STORE_FS_SIM_KEEP) {
            bytes_copy(&in->dur, &in->cur);
        } else if (mode == STORE_FS_SIM_TORN) {
            for (size_t j = 0; j < in->nops; j++) {
                const struct wop *w = &in->ops[j];
                if (w->kind == WOP_WRITE) {
                    torn_write(s, &in->dur, w);
                } else if (next_rand(s) % 2) {
                    if (w->off < in->dur.len) {
                        in->dur.len = (size_t)w->off;
                    } else {
                        bytes_resize(&in->dur, (size_t)w->off);
                    }
                }
            }
        }
        clear_ops(in);
        bytes_copy(&in->cur, &in->dur);
    }
    for (size_t f = 0; f < s->nfds; f++) {
        s->fds[f] = -1;
    }
    s->crashed = false;
    s->crash_at = 0;
}
