/*
 * http_json: the JSON side of the HTTP API: list stubs written as subsets
 * of a model's fields, request bodies, Nomad's QueryMeta members, UUIDs.
 *
 * Stubs. Nomad's list endpoints answer with stubs (JobListStub,
 * NodeListStub, AllocListStub): mostly fields of the full object, plus a
 * few of their own. A stub is written as one JSON object made of two
 * generated halves: the model's own encoder over a schema holding only the
 * picked fields (so nested values such as Drivers or TaskStates keep the
 * model's exact shape), and the stub's own members from a small callback,
 * spliced after them. No model object is copied.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/mem.h"
#include "common/random.h"
#include "regiond/http_internal.h"

static const struct cv_field *find_field(const struct cv_schema *s, const char *name)
{
    for (size_t i = 0; i < s->n_fields; i++) {
        if (s->fields[i].name && strcmp(s->fields[i].name, name) == 0) {
            return &s->fields[i];
        }
    }
    return NULL;
}

static bool listed(const char *const *names, const char *name)
{
    for (; *names; names++) {
        if (name && strcmp(*names, name) == 0) {
            return true;
        }
    }
    return false;
}

void http_pick_init(struct http_pick *p, const struct cv_schema *s, const char *const *names)
{
    memset(p, 0, sizeof *p);
    p->schema = *s;
    p->schema.init = NULL;
    size_t n = 0;
    for (size_t i = 0; i < s->n_fields; i++) {
        if (listed(names, s->fields[i].name) && n < HTTP_PICK_MAX) {
            p->fields[n++] = s->fields[i];
        }
    }
    for (const char *const *name = names; *name; name++) {
        if (!find_field(s, *name)) {
            fprintf(stderr, "http: %s has no field %s\n", s->name, *name);
            abort();
        }
    }
    p->schema.fields = p->fields;
    p->schema.n_fields = n;
}

void http_pick_except(struct http_pick *p, const struct cv_schema *s, const char *const *names)
{
    memset(p, 0, sizeof *p);
    p->schema = *s;
    p->schema.init = NULL;
    size_t n = 0;
    for (size_t i = 0; i < s->n_fields && n < HTTP_PICK_MAX; i++) {
        if (!listed(names, s->fields[i].name)) {
            p->fields[n++] = s->fields[i];
        }
    }
    p->schema.fields = p->fields;
    p->schema.n_fields = n;
}

/* Finishes g and appends its text to out. */
static int flush(struct cv_jgen *g, struct cv_buf *out, size_t cut_front, size_t cut_back)
{
    const char *text;
    size_t len;
    int rc = cv_jgen_finish(g, &text, &len, NULL);
    if (rc == 0 && len >= cut_front + cut_back) {
        cv_buf_append(out, text + cut_front, len - cut_front - cut_back);
    }
    cv_jgen_free(g);
    return rc;
}

int http_json_stub(struct cv_buf *out, const struct http_pick *p, const void *obj,
                   http_extra_fn extra, const void *arg)
{
    struct cv_jgen *g = cv_jgen_new(false);
    cv_encode(&p->schema, obj, g);
    size_t mark = out->len;
    /* "{...}" without its closing brace */
    int rc = flush(g, out, 0, 1);
    if (rc != 0) {
        cv_buf_truncate(out, mark);
        return rc;
    }
    bool has_fields = out->len > mark + 1;
    if (extra) {
        g = cv_jgen_new(false);
        cv_jgen_object_begin(g);
        extra(g, obj, arg);
        cv_jgen_object_end(g);
        size_t before = out->len;
        if (has_fields) {
            cv_buf_append_char(out, ',');
        }
        /* the members and the closing brace, without the opening one */
        rc = flush(g, out, 1, 0);
        if (rc != 0) {
            cv_buf_truncate(out, mark);
            return rc;
        }
        if (out->len == before + (has_fields ? 2 : 1) && has_fields) {
            /* the extra object was empty: drop the comma */
            cv_buf_truncate(out, before);
            cv_buf_append_char(out, '}');
        }
    } else {
        cv_buf_append_char(out, '}');
    }
    return 0;
}

int http_json_object(struct cv_buf *out, const struct cv_schema *s, const void *obj)
{
    struct cv_jgen *g = cv_jgen_new(false);
    cv_encode(s, obj, g);
    return flush(g, out, 0, 0);
}

int http_json_gen(struct cv_buf *out, void (*fn)(struct cv_jgen *g, const void *arg),
                  const void *arg)
{
    struct cv_jgen *g = cv_jgen_new(false);
    fn(g, arg);
    return flush(g, out, 0, 0);
}

void http_json_query_meta(struct cv_jgen *g, const struct http_ctx *c, uint64_t index)
{
    cv_jgen_key(g, "Index");
    cv_jgen_uint(g, index);
    cv_jgen_key(g, "LastContact");
    cv_jgen_uint(g, http_last_contact(c) * 1000000u); /* a Go time.Duration: ns */
    cv_jgen_key(g, "KnownLeader");
    cv_jgen_bool(g, http_known_leader(c));
    cv_jgen_key(g, "NextToken");
    cv_jgen_string(g, "");
}

/* ---- request bodies ---------------------------------------------------------------- */

struct cv_json_doc *http_parse_body(struct http_ctx *c)
{
    if (c->body_len == 0) {
        http_reply_error(c, 400, "Request body is empty");
        return NULL;
    }
    struct cv_json_limits lim = cv_json_default_limits;
    lim.max_bytes = c->srv->max_body;
    struct cv_json_doc *doc = NULL;
    struct cv_err err = {0};
    int rc = cv_json_parse(c->body, c->body_len, &lim, &doc, &err);
    if (rc != 0) {
        char msg[CV_ERR_PATH_MAX + CV_ERR_MSG_MAX + 4];
        http_reply_error(c, rc == CV_ETOOBIG ? 413 : 400, "%s",
                         cv_err_format(&err, msg, sizeof msg));
        return NULL;
    }
    if (cv_json_doc_root(doc)->type != CV_JSON_OBJECT) {
        http_reply_error(c, 400, "request body must be a JSON object, not %s",
                         cv_json_type_name(cv_json_doc_root(doc)->type));
        cv_json_doc_free(doc);
        return NULL;
    }
    return doc;
}

static const struct cv_json *member(const struct cv_json *obj, const char *key)
{
    const struct cv_json *v = cv_json_object_get(obj, key);
    return v && v->type == CV_JSON_NULL ? NULL : v;
}

bool http_body_bool(struct http_ctx *c, const struct cv_json *obj, const char *key, bool *out)
{
    const struct cv_json *v = member(obj, key);
    if (!v) {
        return true;
    }
    if (v->type != CV_JSON_BOOL) {
        http_reply_error(c, 400, "%s: must be a boolean, not %s", key, cv_json_type_name(v->type));
        return false;
    }
    *out = v->u.boolean;
    return true;
}

bool http_body_uint(struct http_ctx *c, const struct cv_json *obj, const char *key, uint64_t *out)
{
    const struct cv_json *v = member(obj, key);
    if (!v) {
        return true;
    }
    if (v->type != CV_JSON_NUMBER || cv_json_uint64(v, out) != 0) {
        http_reply_error(c, 400, "%s: must be an unsigned integer", key);
        return false;
    }
    return true;
}

bool http_body_int(struct http_ctx *c, const struct cv_json *obj, const char *key, int64_t *out)
{
    const struct cv_json *v = member(obj, key);
    if (!v) {
        return true;
    }
    if (v->type != CV_JSON_NUMBER || cv_json_int64(v, out) != 0) {
        http_reply_error(c, 400, "%s: must be an integer", key);
        return false;
    }
    return true;
}

bool http_body_string(struct http_ctx *c, const struct cv_json *obj, const char *key,
                      const char **out)
{
    const struct cv_json *v = member(obj, key);
    *out = NULL;
    if (!v) {
        return true;
    }
    if (v->type != CV_JSON_STRING || strlen(v->u.string.ptr) != v->u.string.len) {
        http_reply_error(c, 400, "%s: must be a string", key);
        return false;
    }
    *out = v->u.string.ptr;
    return true;
}

/* ---- randomness -------------------------------------------------------------------- */

void http_uuid(char out[FSM_ID_MAX + 1])
{
    cv_uuid_generate(out);
}

uint64_t http_random(uint64_t n)
{
    if (n <= 1) {
        return 0;
    }
    return cv_random_u64() % n;
}
