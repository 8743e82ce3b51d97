/*
 * regiond_config_file: loading a JSON config file (rcfg_load_file).
 *
 * The file is read whole, refusing more than rcfg_json_limits allows (a log
 * or a core dump given by mistake is not read into memory), parsed by
 * common/json.h, and walked against the table of keys: each member of an
 * object is looked up in that object's table and set through the setters
 * the flags use too, so an unknown key, a wrong type or a value out of range
 * is an error naming its path. A bad item of peers leaves the list as it
 * was. What needs several values is left to rcfg_validate.
 */
#include "regiond/config/regiond_config.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/json.h"
#include "common/mem.h"
#include "regiond/config/regiond_config_internal.h"

/* Config files are small and written by operators; these bounds keep a
 * wrong file (a log, a core dump) from being read into memory. */
static const struct cv_json_limits rcfg_json_limits = {
    .max_bytes = (size_t)1024 * 1024,
    .max_depth = 16,
    .max_string = (size_t)64 * 1024,
    .max_nodes = 10000,
};

/* ---- loading a file ------------------------------------------------------------ */

static const char *expected_type(enum kind k)
{
    switch (k) {
    case K_OBJECT:
        return "an object";
    case K_UINT:
    case K_EXPECT:
        return "an integer";
    case K_DOUBLE:
        return "a number";
    case K_BOOL:
        return "a boolean";
    case K_PEERS:
        return "an array of strings";
    default:
        return "a string";
    }
}

static int type_error(const struct field *f, const struct cv_json *v, const char *path,
                      struct cv_err *err)
{
    return cv_err_set_pathf(err, CV_EINVAL, path, "expected %s, got %s", expected_type(f->kind),
                            cv_json_type_name(v->type));
}

static int load_object(struct rcfg *c, const struct field *table, const struct cv_json *obj,
                       const char *prefix, struct cv_err *err);

static int load_peers(struct rcfg *c, const struct cv_json *v, const char *path, struct cv_err *err)
{
    if (v->u.array.len > RCFG_MAX_PEERS) {
        return cv_err_set_pathf(err, CV_EINVAL, path,
                                "at most %u peers: a region has at most %u servers, got %zu",
                                RCFG_MAX_PEERS, RCFG_MAX_PEERS + 1, v->u.array.len);
    }
    /* Parse into a scratch config so that a bad item leaves c's list whole. */
    struct rcfg scratch;
    memset(&scratch, 0, sizeof scratch);
    for (size_t i = 0; i < v->u.array.len; i++) {
        const struct cv_json *item = v->u.array.items[i];
        char ipath[CV_ERR_PATH_MAX];
        cv_path_index(ipath, "", path, i);
        int rc = 0;
        if (item->type != CV_JSON_STRING) {
            rc = cv_err_set_pathf(err, CV_EINVAL, ipath, "expected a string, got %s",
                                  cv_json_type_name(item->type));
        } else if (strlen(item->u.string.ptr) != item->u.string.len) {
            rc = cv_err_set_pathf(err, CV_EINVAL, ipath, "must not contain a NUL character");
        } else {
            rc = rcfg__peers_add(&scratch, item->u.string.ptr, ipath, err);
        }
        if (rc != 0) {
            rcfg__peers_clear(&scratch);
            return rc;
        }
    }
    rcfg__peers_clear(c);
    c->peers = scratch.peers;
    c->n_peers = scratch.n_peers;
    return 0;
}

static int load_value(struct rcfg *c, const struct field *f, const struct cv_json *v,
                      const char *path, struct cv_err *err)
{
    if (f->kind == K_DEV) {
        return cv_err_set_pathf(err, CV_EINVAL, path,
                                "not a config file setting: use the -dev flag");
    }
    if (rcfg__is_string_kind(f->kind)) {
        if (v->type != CV_JSON_STRING) {
            return type_error(f, v, path, err);
        }
        if (strlen(v->u.string.ptr) != v->u.string.len) {
            return cv_err_set_pathf(err, CV_EINVAL, path, "must not contain a NUL character");
        }
        return rcfg__set_string(c, f, v->u.string.ptr, path, err);
    }
    switch (f->kind) {
    case K_OBJECT:
        if (v->type != CV_JSON_OBJECT) {
            return type_error(f, v, path, err);
        }
        return load_object(c, f->sub, v, path, err);
    case K_UINT:
    case K_EXPECT: {
        if (v->type != CV_JSON_NUMBER) {
            return type_error(f, v, path, err);
        }
        int64_t i = 0;
        int rc = cv_json_int64(v, &i);
        if (rc == CV_EINVAL) {
            return cv_err_set_pathf(err, CV_EINVAL, path, "expected an integer, got %s",
                                    v->u.number.text);
        }
        if (rc != 0 || i < 0) {
            return rcfg__range_error(f, v->u.number.text, path, err);
        }
        return rcfg__set_uint(c, f, (uint64_t)i, v->u.number.text, path, err);
    }
    case K_DOUBLE: {
        if (v->type != CV_JSON_NUMBER) {
            return type_error(f, v, path, err);
        }
        double d = 0;
        if (cv_json_double(v, &d) != 0) {
            d = -1; /* out of range: reported below with the text */
        }
        return rcfg__set_double(c, f, d, v->u.number.text, path, err);
    }
    case K_BOOL:
        if (v->type != CV_JSON_BOOL) {
            return type_error(f, v, path, err);
        }
        *(bool *)rcfg__member(c, f) = v->u.boolean;
        return 0;
    case K_PEERS:
        if (v->type != CV_JSON_ARRAY) {
            return type_error(f, v, path, err);
        }
        return load_peers(c, v, path, err);
    default:
        assert(!"unhandled kind");
        return CV_EINTERNAL;
    }
}

static int load_object(struct rcfg *c, const struct field *table, const struct cv_json *obj,
                       const char *prefix, struct cv_err *err)
{
    for (size_t i = 0; i < obj->u.object.len; i++) {
        const struct cv_json_member *m = &obj->u.object.members[i];
        char path[CV_ERR_PATH_MAX];
        cv_path_join(path, prefix, m->key);
        const struct field *f =
            strlen(m->key) == m->key_len ? rcfg__table_find(table, m->key, m->key_len) : NULL;
        if (!f) {
            return cv_err_set_pathf(err, CV_EINVAL, path, "unknown field");
        }
        int rc = load_value(c, f, m->value, path, err);
        if (rc != 0) {
            return rc;
        }
    }
    return 0;
}

/* Reads the whole file, refusing more than the JSON limit allows. */
static int read_config_file(const char *path, char **out, size_t *out_len, struct cv_err *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        return cv_err_setf(err, e == ENOENT ? CV_ENOTFOUND : CV_EIO, "%s: cannot open: %s", path,
                           strerror(e));
    }
    int rc = 0;
    struct stat st;
    if (fstat(fd, &st) != 0) {
        rc = cv_err_setf(err, CV_EIO, "%s: cannot stat: %s", path, strerror(errno));
        goto err_after_fd;
    }
    if (S_ISDIR(st.st_mode)) {
        rc = cv_err_setf(err, CV_EINVAL, "%s: is a directory; -config takes a file", path);
        goto err_after_fd;
    }
    size_t limit = rcfg_json_limits.max_bytes;
    if (S_ISREG(st.st_mode) && (uint64_t)st.st_size > limit) {
        rc = cv_err_setf(err, CV_ETOOBIG, "%s: %jd bytes, over the %zu-byte limit of a config file",
                         path, (intmax_t)st.st_size, limit);
        goto err_after_fd;
    }
    /* Read up to limit + 1 bytes, so that a file that grew (or a pipe) is
     * still caught by the limit. */
    char *buf = cv_malloc(limit + 2);
    size_t len = 0;
    while (len <= limit) {
        ssize_t n = read(fd, buf + len, limit + 1 - len);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            rc = cv_err_setf(err, CV_EIO, "%s: cannot read: %s", path, strerror(errno));
            goto err_after_buf;
        }
        if (n == 0) {
            break;
        }
        len += (size_t)n;
    }
    if (len > limit) {
        rc = cv_err_setf(err, CV_ETOOBIG, "%s: over the %zu-byte limit of a config file", path,
                         limit);
        goto err_after_buf;
    }
    buf[len] = '\0';
    close(fd);
    *out = buf;
    *out_len = len;
    return 0;

err_after_buf:
    cv_free(buf);
err_after_fd:
    close(fd);
    return rc;
}

int rcfg_load_file(struct rcfg *c, const char *path, struct cv_err *err)
{
    char *text = NULL;
    size_t len = 0;
    int rc = read_config_file(path, &text, &len, err);
    if (rc != 0) {
        return rc;
    }
    struct cv_json_doc *doc = NULL;
    rc = cv_json_parse(text, len, &rcfg_json_limits, &doc, err);
    if (rc != 0) {
        cv_err_wrapf(err, "%s", path);
        goto err_after_text;
    }
    const struct cv_json *root = cv_json_doc_root(doc);
    if (root->type != CV_JSON_OBJECT) {
        rc = cv_err_setf(err, CV_EINVAL, "%s: expected a JSON object of settings, got %s", path,
                         cv_json_type_name(root->type));
        goto err_after_doc;
    }
    rc = load_object(c, rcfg__top_fields, root, "", err);
    if (rc == 0) {
        c->files = cv_reallocarray(c->files, c->n_files + 1, sizeof *c->files);
        c->files[c->n_files++] = cv_strdup(path);
    }
err_after_doc:
    cv_json_doc_free(doc);
err_after_text:
    cv_free(text);
    return rc;
}
