/*
 * test_codec: the table-driven codec over a small schema defined here,
 * with one field of every kind.
 */
#include <stdio.h>
#include <string.h>

#include "common/buf.h"
#include "common/codec.h"
#include "common/json.h"
#include "common/jsongen.h"
#include "common/mem.h"
#include "testutil.h"

/* map[string]bool: a one-field element schema with a NULL name */
struct flag
{
    char *key;
    bool value;
};

/* map[string]Port */
struct port
{
    char *key;
    char *label;
    int64_t to;
};

struct item
{
    char *name;
    int64_t count;
};

struct inner
{
    char *path;
    uint64_t size;
};

struct thing
{
    char *name;
    int64_t count; /* 0..100, default 1 */
    int64_t big;
    uint64_t index;
    bool enabled; /* default true */
    double ratio; /* default 0.5 */
    struct cv_strings tags;
    struct cv_strmap meta;
    struct inner inner;
    struct inner *ptr;
    CV_VEC(struct item) items;
    CV_VEC(struct port) ports;
    CV_VEC(struct flag) flags;
    struct cv_json_doc *config;
};

static const struct cv_field flag_fields[] = {
    CV_FIELD(NULL, CV_F_BOOL, struct flag, value, NULL, 0, 0),
};
static const struct cv_schema flag_schema = CV_SCHEMA("Flag", struct flag, NULL, flag_fields);

static const struct cv_field port_fields[] = {
    F_STRING("Label", struct port, label),
    F_INT_RANGE("To", struct port, to, 0, 65535),
};
static const struct cv_schema port_schema = CV_SCHEMA("Port", struct port, NULL, port_fields);

static const struct cv_field item_fields[] = {
    F_STRING("Name", struct item, name),
    F_INT_RANGE("Count", struct item, count, 0, 1000),
};
static const struct cv_schema item_schema = CV_SCHEMA("Item", struct item, NULL, item_fields);

static const struct cv_field inner_fields[] = {
    F_STRING("Path", struct inner, path),
    F_UINT("Size", struct inner, size),
};
static const struct cv_schema inner_schema = CV_SCHEMA("Inner", struct inner, NULL, inner_fields);

static void thing_init(void *obj)
{
    struct thing *t = obj;
    t->count = 1;
    t->enabled = true;
    t->ratio = 0.5;
}

static const struct cv_field thing_fields[] = {
    F_STRING("Name", struct thing, name),
    F_INT_RANGE("Count", struct thing, count, 0, 100),
    F_INT("Big", struct thing, big),
    F_UINT("Index", struct thing, index),
    F_BOOL("Enabled", struct thing, enabled),
    F_DOUBLE("Ratio", struct thing, ratio),
    F_STRINGS("Tags", struct thing, tags),
    F_STRMAP("Meta", struct thing, meta),
    F_STRUCT("Inner", struct thing, inner, &inner_schema),
    F_STRUCT_PTR("Ptr", struct thing, ptr, &inner_schema),
    F_ARRAY("Items", struct thing, items, &item_schema),
    F_STRUCT_MAP("Ports", struct thing, ports, &port_schema),
    F_STRUCT_MAP("Flags", struct thing, flags, &flag_schema),
    F_JSON("Config", struct thing, config),
    F_UNSUPPORTED("Vault"),
    F_IGNORED("CreateIndex"),
};
static const struct cv_schema thing_schema =
    CV_SCHEMA("Thing", struct thing, thing_init, thing_fields);

static const char full_json[] =
    "{\"Name\": \"web\", \"Count\": 7, \"Big\": -9223372036854775807,"
    " \"Index\": 18446744073709551615, \"Enabled\": false, \"Ratio\": 0.25,"
    " \"Tags\": [\"b\", \"a\"], \"Meta\": {\"zone\": \"z1\", \"app\": \"x\", \"env\": \"prod\"},"
    " \"Inner\": {\"Path\": \"/in\", \"Size\": 10},"
    " \"Ptr\": {\"Path\": \"/ptr\", \"Size\": 20},"
    " \"Items\": [{\"Name\": \"i0\", \"Count\": 0}, {\"Name\": \"i1\", \"Count\": 1000}],"
    " \"Ports\": {\"https\": {\"Label\": \"tls\", \"To\": 443}, \"http\": {\"To\": 80}},"
    " \"Flags\": {\"on\": true, \"off\": false},"
    " \"Config\": {\"image\": \"redis\", \"args\": [1, \"x\"]},"
    " \"Vault\": null, \"CreateIndex\": 12}";

static struct cv_json_doc *parse(const char *text)
{
    struct cv_json_doc *doc = NULL;
    struct cv_err err;
    int rc = cv_json_parse(text, strlen(text), NULL, &doc, &err);
    if (rc) {
        print_error("parse failed: %s\n", err.msg);
    }
    assert_int_equal(rc, 0);
    return doc;
}

/* Decodes text into t (initialized here) and returns cv_decode's code;
 * errs is initialized here too. */
static int decode_text(const char *text, struct thing *t, struct cv_errlist *errs)
{
    struct cv_json_doc *doc = parse(text);
    cv_init(&thing_schema, t);
    cv_errlist_init(errs);
    int rc = cv_decode(&thing_schema, cv_json_doc_root(doc), t, "", errs);
    cv_json_doc_free(doc);
    return rc;
}

static void decode_ok(const char *text, struct thing *t)
{
    struct cv_errlist errs;
    int rc = decode_text(text, t, &errs);
    for (size_t i = 0; i < errs.len; i++) {
        char buf[600];
        print_error("unexpected error: %s\n", cv_errlist_format(&errs, i, buf, sizeof buf));
    }
    assert_int_equal(rc, 0);
    assert_int_equal(errs.len, 0);
    cv_errlist_free(&errs);
}

/* Decodes text and asserts exactly the given "path: msg" errors, in order. */
static void expect_errors(const char *text, const char *const *expect, size_t n)
{
    struct thing t;
    struct cv_errlist errs;
    int rc = decode_text(text, &t, &errs);
    char buf[600];
    for (size_t i = 0; i < errs.len && i < n; i++) {
        const char *got = cv_errlist_format(&errs, i, buf, sizeof buf);
        if (strcmp(got, expect[i]) != 0) {
            print_error("error %zu: got \"%s\", expected \"%s\"\n", i, got, expect[i]);
        }
        assert_string_equal(got, expect[i]);
    }
    if (errs.len != n) {
        for (size_t i = 0; i < errs.len; i++) {
            print_error("  %s\n", cv_errlist_format(&errs, i, buf, sizeof buf));
        }
    }
    assert_int_equal(errs.len, n);
    assert_int_equal(rc, n ? CV_EVALIDATE : 0);
    cv_errlist_free(&errs);
    cv_release(&thing_schema, &t);
}

#define EXPECT_ERRORS(text, ...)                                            \
    do {                                                                    \
        static const char *const expect_[] = {__VA_ARGS__};                 \
        expect_errors((text), expect_, sizeof expect_ / sizeof expect_[0]); \
    } while (0)

static void test_init(void **state)
{
    (void)state;
    struct thing t;
    memset(&t, 0xab, sizeof t);
    cv_init(&thing_schema, &t);
    assert_string_equal(t.name, "");
    assert_string_equal(t.inner.path, ""); /* embedded structs too */
    assert_i64_equal(t.count, 1);          /* the schema's init ran */
    assert_true(t.enabled);
    assert_true(t.ratio == 0.5);
    assert_null(t.ptr);
    assert_null(t.config);
    assert_int_equal(t.tags.len, 0);
    assert_int_equal(t.items.len, 0);
    cv_release(&thing_schema, &t);
    /* release leaves it zeroed */
    assert_null(t.name);
    assert_i64_equal(t.count, 0);
}

static void test_decode_success(void **state)
{
    (void)state;
    struct thing t;
    decode_ok(full_json, &t);
    assert_string_equal(t.name, "web");
    assert_i64_equal(t.count, 7);
    assert_i64_equal(t.big, INT64_MIN + 1);
    assert_u64_equal(t.index, UINT64_MAX);
    assert_false(t.enabled);
    assert_true(t.ratio == 0.25);

    assert_int_equal(t.tags.len, 2); /* arrays keep their order */
    assert_string_equal(t.tags.items[0], "b");
    assert_string_equal(t.tags.items[1], "a");

    /* map[string]string sorted by key */
    assert_int_equal(t.meta.len, 3);
    assert_string_equal(t.meta.items[0].key, "app");
    assert_string_equal(t.meta.items[1].key, "env");
    assert_string_equal(t.meta.items[2].key, "zone");
    assert_string_equal(t.meta.items[2].value, "z1");
    assert_string_equal(cv_strmap_get(&t.meta, "env"), "prod");
    assert_null(cv_strmap_get(&t.meta, "nope"));

    assert_string_equal(t.inner.path, "/in");
    assert_u64_equal(t.inner.size, 10);
    assert_non_null(t.ptr);
    assert_string_equal(t.ptr->path, "/ptr");
    assert_u64_equal(t.ptr->size, 20);

    assert_int_equal(t.items.len, 2);
    assert_string_equal(t.items.items[0].name, "i0");
    assert_i64_equal(t.items.items[0].count, 0);
    assert_i64_equal(t.items.items[1].count, 1000);

    /* struct maps sorted by key; absent fields of an element at their default */
    assert_int_equal(t.ports.len, 2);
    assert_string_equal(t.ports.items[0].key, "http");
    assert_string_equal(t.ports.items[0].label, "");
    assert_i64_equal(t.ports.items[0].to, 80);
    assert_string_equal(t.ports.items[1].key, "https");
    assert_string_equal(t.ports.items[1].label, "tls");
    assert_i64_equal(t.ports.items[1].to, 443);

    assert_int_equal(t.flags.len, 2);
    assert_string_equal(t.flags.items[0].key, "off");
    assert_false(t.flags.items[0].value);
    assert_string_equal(t.flags.items[1].key, "on");
    assert_true(t.flags.items[1].value);

    /* the JSON field is a copy that outlives the parsed document */
    assert_non_null(t.config);
    const struct cv_json *cfg = cv_json_doc_root(t.config);
    assert_string_equal(cv_json_object_get(cfg, "image")->u.string.ptr, "redis");
    assert_int_equal(cv_json_object_get(cfg, "args")->u.array.len, 2);

    cv_release(&thing_schema, &t);
    assert_null(t.ptr);
}

static void test_empty_object_and_path_prefix(void **state)
{
    (void)state;
    struct thing t, fresh;
    decode_ok("{}", &t);
    cv_init(&thing_schema, &fresh);
    assert_true(cv_equal(&thing_schema, &t, &fresh));
    cv_release(&thing_schema, &t);
    cv_release(&thing_schema, &fresh);

    /* errors are reported below the given path */
    struct cv_json_doc *doc = parse("{\"Count\": \"x\", \"Items\": [{\"Nope\": 1}]}");
    struct cv_errlist errs;
    cv_errlist_init(&errs);
    cv_init(&thing_schema, &t);
    assert_int_equal(cv_decode(&thing_schema, cv_json_doc_root(doc), &t, "Job.Things[3]", &errs),
                     CV_EVALIDATE);
    char buf[300];
    assert_int_equal(errs.len, 2);
    assert_string_equal(cv_errlist_format(&errs, 0, buf, sizeof buf),
                        "Job.Things[3].Count: must be an integer, got string");
    assert_string_equal(cv_errlist_format(&errs, 1, buf, sizeof buf),
                        "Job.Things[3].Items[0].Nope: unknown field in Item");
    cv_errlist_free(&errs);
    cv_release(&thing_schema, &t);
    cv_json_doc_free(doc);
}

static void test_null_leaves_defaults(void **state)
{
    (void)state;
    struct thing t;
    decode_ok(
        "{\"Name\": null, \"Count\": null, \"Big\": null, \"Index\": null, \"Enabled\": null,"
        " \"Ratio\": null, \"Tags\": null, \"Meta\": null, \"Inner\": null, \"Ptr\": null,"
        " \"Items\": null, \"Ports\": null, \"Flags\": null, \"Config\": null,"
        " \"Vault\": null, \"CreateIndex\": null}",
        &t);
    assert_string_equal(t.name, "");
    assert_i64_equal(t.count, 1);
    assert_true(t.enabled);
    assert_true(t.ratio == 0.5);
    assert_null(t.ptr);
    assert_null(t.config);
    assert_int_equal(t.tags.len, 0);
    assert_int_equal(t.meta.len, 0);
    assert_int_equal(t.items.len, 0);
    assert_int_equal(t.ports.len, 0);
    assert_string_equal(t.inner.path, "");
    cv_release(&thing_schema, &t);

    /* null inside containers: a map value becomes "", a struct field keeps its default */
    decode_ok("{\"Meta\": {\"k\": null}, \"Flags\": {\"f\": null}, \"Items\": [{\"Count\": null}]}",
              &t);
    assert_string_equal(cv_strmap_get(&t.meta, "k"), "");
    assert_int_equal(t.flags.len, 1);
    assert_false(t.flags.items[0].value);
    assert_i64_equal(t.items.items[0].count, 0);
    cv_release(&thing_schema, &t);
}

static void test_type_errors(void **state)
{
    (void)state;
    EXPECT_ERRORS(
        "{\"Name\": 5, \"Count\": \"x\","
        " \"Items\": [{\"Name\": \"a\", \"Count\": 1}, {\"Name\": \"b\", \"Count\": \"3\"}],"
        " \"Tags\": [\"a\", 1, null], \"Meta\": {\"k\": 2}, \"Inner\": {\"Size\": -1},"
        " \"Ptr\": [], \"Enabled\": \"yes\", \"Ratio\": \"r\", \"Index\": 1.5,"
        " \"Flags\": {\"x\": \"true\"}, \"Ports\": {\"http\": {\"To\": \"80\"}},"
        " \"Big\": 1e3}",
        "Name: must be a string, got number", "Count: must be an integer, got string",
        "Items[1].Count: must be an integer, got string", "Tags[1]: must be a string, got number",
        "Tags[2]: must be a string, got null", "Meta.k: must be a string, got number",
        "Inner.Size: -1 is out of range (0 to 18446744073709551615)",
        "Ptr: must be an object, got array", "Enabled: must be a boolean, got string",
        "Ratio: must be a number, got string", "Index: must be a non-negative integer, got 1.5",
        "Flags.x: must be a boolean, got string", "Ports.http.To: must be an integer, got string",
        "Big: must be an integer, got 1e3");

    EXPECT_ERRORS(
        "{\"Tags\": \"a\", \"Meta\": [], \"Items\": {}, \"Ports\": [], \"Flags\": 1,"
        " \"Inner\": true, \"Count\": 2.0}",
        "Tags: must be an array of strings, got string",
        "Meta: must be an object of strings, got array", "Items: must be an array, got object",
        "Ports: must be an object, got array", "Flags: must be an object, got number",
        "Inner: must be an object, got boolean", "Count: must be an integer, got 2.0");

    EXPECT_ERRORS("{\"Items\": [1, {\"Name\": []}], \"Ports\": {\"a\": \"b\"}}",
                  "Items[0]: must be an object, got number",
                  "Items[1].Name: must be a string, got array",
                  "Ports.a: must be an object, got string");

    /* the top-level value itself */
    EXPECT_ERRORS("[]", "must be an object, got array");
}

static void test_range_errors(void **state)
{
    (void)state;
    EXPECT_ERRORS(
        "{\"Count\": 101, \"Big\": 9223372036854775808,"
        " \"Index\": 18446744073709551616, \"Ratio\": 1e400,"
        " \"Items\": [{\"Count\": -1}], \"Ports\": {\"p\": {\"To\": 65536}}}",
        "Count: 101 is out of range (0 to 100)",
        "Big: 9223372036854775808 is out of range for a 64-bit integer",
        "Index: 18446744073709551616 is out of range (0 to 18446744073709551615)",
        "Ratio: 1e400 is out of range", "Items[0].Count: -1 is out of range (0 to 1000)",
        "Ports.p.To: 65536 is out of range (0 to 65535)");
    /* a range field with an integer beyond int64 */
    EXPECT_ERRORS("{\"Count\": -99999999999999999999}",
                  "Count: -99999999999999999999 is out of range (0 to 100)");
    /* the edges pass */
    struct thing t;
    decode_ok(
        "{\"Count\": 0, \"Big\": 9223372036854775807, \"Index\": -0,"
        " \"Ports\": {\"p\": {\"To\": 65535}}}",
        &t);
    assert_i64_equal(t.count, 0);
    assert_i64_equal(t.big, INT64_MAX);
    assert_u64_equal(t.index, 0);
    cv_release(&thing_schema, &t);
    decode_ok("{\"Count\": 100}", &t);
    assert_i64_equal(t.count, 100);
    cv_release(&thing_schema, &t);
}

static void test_nul_in_strings_rejected(void **state)
{
    (void)state;
    EXPECT_ERRORS(
        "{\"Name\": \"a\\u0000b\", \"Tags\": [\"\\u0000\"], \"Meta\": {\"k\\u0000\": \"v\"},"
        " \"Ports\": {\"p\\u0000q\": {}}}",
        "Name: must not contain a NUL character", "Tags[0]: must not contain a NUL character",
        "Meta.k?: key must not contain a NUL character",
        "Ports.p?q: key must not contain a NUL character");
}

static void test_unknown_fields(void **state)
{
    (void)state;
    EXPECT_ERRORS(
        "{\"Nmae\": \"x\", \"Items\": [{\"Foo\": 1}], \"Inner\": {\"Bar\": null},"
        " \"Ports\": {\"p\": {\"Label\": \"l\", \"Baz\": 2}}}",
        "Nmae: unknown field in Thing", "Items[0].Foo: unknown field in Item",
        "Inner.Bar: unknown field in Inner", "Ports.p.Baz: unknown field in Port");
}

static void test_case_mismatch_suggestion(void **state)
{
    (void)state;
    EXPECT_ERRORS("{\"name\": \"x\", \"COUNT\": 1, \"Items\": [{\"count\": 1}], \"vault\": {}}",
                  "name: unknown field (did you mean \"Name\"?)",
                  "COUNT: unknown field (did you mean \"Count\"?)",
                  "Items[0].count: unknown field (did you mean \"Count\"?)",
                  "vault: unknown field (did you mean \"Vault\"?)");
}

static void test_hostile_keys_in_paths(void **state)
{
    (void)state;
    /* control characters are shown as '?', long keys are cut at 64 bytes */
    struct cv_buf key = CV_BUF_INIT;
    for (int i = 0; i < 200; i++) {
        cv_buf_append_char(&key, (char)('a' + i % 26));
    }
    char text[512];
    snprintf(text, sizeof text, "{\"a\\nb\\u007f\": 1, \"%s\": 2}", cv_buf_str(&key));
    char expect_long[128];
    snprintf(expect_long, sizeof expect_long, "%.64s...: unknown field in Thing", cv_buf_str(&key));
    const char *expect[] = {"a?b?: unknown field in Thing", expect_long};
    expect_errors(text, expect, 2);
    cv_buf_free(&key);
}

static void test_unsupported_field(void **state)
{
    (void)state;
    const char *zeros[] = {"null", "false", "0", "0.0", "-0", "\"\"", "[]", "{}"};
    for (size_t i = 0; i < sizeof zeros / sizeof zeros[0]; i++) {
        char text[64];
        snprintf(text, sizeof text, "{\"Vault\": %s}", zeros[i]);
        struct thing t;
        decode_ok(text, &t);
        cv_release(&thing_schema, &t);
    }
    const char *values[] = {"true", "1", "-1", "0.5", "\"x\"", "[null]", "{\"Policies\": []}"};
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
        char text[64];
        snprintf(text, sizeof text, "{\"Vault\": %s}", values[i]);
        EXPECT_ERRORS(text, "Vault: not supported by Caravan");
    }
}

static void test_ignored_field(void **state)
{
    (void)state;
    struct thing t, fresh;
    decode_ok("{\"CreateIndex\": {\"any\": [\"thing\"]}}", &t);
    cv_init(&thing_schema, &fresh);
    assert_true(cv_equal(&thing_schema, &t, &fresh));
    cv_release(&thing_schema, &t);
    cv_release(&thing_schema, &fresh);
}

static void test_error_cap(void **state)
{
    (void)state;
    struct cv_buf b = CV_BUF_INIT;
    cv_buf_append_char(&b, '{');
    for (int i = 0; i < 250; i++) {
        cv_buf_appendf(&b, "%s\"f%d\": 1", i ? ", " : "", i);
    }
    cv_buf_append_char(&b, '}');
    struct thing t;
    struct cv_errlist errs;
    assert_int_equal(decode_text(cv_buf_str(&b), &t, &errs), CV_EVALIDATE);
    /* a hundred errors, then one line saying the rest was dropped */
    assert_int_equal(errs.len, 101);
    char buf[200];
    assert_string_equal(cv_errlist_format(&errs, errs.len - 1, buf, sizeof buf),
                        "too many errors: stopped after 100");
    for (size_t i = 0; i + 1 < errs.len; i++) {
        char want[64];
        snprintf(want, sizeof want, "f%zu: unknown field in Thing", i);
        assert_string_equal(cv_errlist_format(&errs, i, buf, sizeof buf), want);
    }
    cv_errlist_free(&errs);
    cv_release(&thing_schema, &t);
    cv_buf_free(&b);
}

static void test_exactly_max_errors_all_reported(void **state)
{
    (void)state;
    /* 100 errors are all listed; the "too many" line starts at the 101st */
    struct cv_buf b = CV_BUF_INIT;
    cv_buf_append_char(&b, '{');
    for (int i = 0; i < 100; i++) {
        cv_buf_appendf(&b, "%s\"f%d\": 1", i ? ", " : "", i);
    }
    /* a valid field among them changes nothing */
    cv_buf_append_str(&b, ", \"Name\": \"n\"");
    cv_buf_append_char(&b, '}');
    struct thing t;
    struct cv_errlist errs;
    assert_int_equal(decode_text(cv_buf_str(&b), &t, &errs), CV_EVALIDATE);
    assert_int_equal(errs.len, 100);
    char buf[200];
    assert_string_equal(cv_errlist_format(&errs, 99, buf, sizeof buf),
                        "f99: unknown field in Thing");
    assert_string_equal(t.name, "n");
    cv_errlist_free(&errs);
    cv_release(&thing_schema, &t);
    cv_buf_free(&b);
}

/* ---- encode -------------------------------------------------------------- */

static char *encode(const struct thing *t)
{
    struct cv_jgen *g = cv_jgen_new(false);
    cv_encode(&thing_schema, t, g);
    const char *out;
    size_t len;
    struct cv_err err;
    int rc = cv_jgen_finish(g, &out, &len, &err);
    if (rc) {
        print_error("encode failed: %s\n", err.msg);
    }
    assert_int_equal(rc, 0);
    char *copy = cv_strndup(out, len);
    cv_jgen_free(g);
    return copy;
}

static void test_encode(void **state)
{
    (void)state;
    struct thing t;
    decode_ok(full_json, &t);
    char *text = encode(&t);
    /* schema order; maps sorted; unsupported and ignored fields left out */
    assert_string_equal(
        text,
        "{\"Name\":\"web\",\"Count\":7,\"Big\":-9223372036854775807,"
        "\"Index\":18446744073709551615,\"Enabled\":false,\"Ratio\":0.25,"
        "\"Tags\":[\"b\",\"a\"],\"Meta\":{\"app\":\"x\",\"env\":\"prod\",\"zone\":\"z1\"},"
        "\"Inner\":{\"Path\":\"/in\",\"Size\":10},\"Ptr\":{\"Path\":\"/ptr\",\"Size\":20},"
        "\"Items\":[{\"Name\":\"i0\",\"Count\":0},{\"Name\":\"i1\",\"Count\":1000}],"
        "\"Ports\":{\"http\":{\"Label\":\"\",\"To\":80},\"https\":{\"Label\":\"tls\",\"To\":443}},"
        "\"Flags\":{\"off\":false,\"on\":true},"
        "\"Config\":{\"image\":\"redis\",\"args\":[1,\"x\"]}}");
    cv_free(text);
    cv_release(&thing_schema, &t);

    /* empty collections and absent pointers are null */
    cv_init(&thing_schema, &t);
    text = encode(&t);
    assert_string_equal(text,
                        "{\"Name\":\"\",\"Count\":1,\"Big\":0,\"Index\":0,\"Enabled\":true,"
                        "\"Ratio\":0.5,\"Tags\":null,\"Meta\":null,"
                        "\"Inner\":{\"Path\":\"\",\"Size\":0},\"Ptr\":null,\"Items\":null,"
                        "\"Ports\":null,\"Flags\":null,\"Config\":null}");
    cv_free(text);
    cv_release(&thing_schema, &t);
}

static void test_round_trip(void **state)
{
    (void)state;
    const char *inputs[] = {
        full_json, "{}", "{\"Tags\": [\"\"], \"Meta\": {\"\": \"\"}}",
        "{\"Ptr\": {}, \"Items\": [{}], \"Ports\": {\"p\": {}}, \"Config\": 0}"};
    for (size_t i = 0; i < sizeof inputs / sizeof inputs[0]; i++) {
        struct thing a, b;
        decode_ok(inputs[i], &a);
        char *text = encode(&a);
        decode_ok(text, &b);
        if (!cv_equal(&thing_schema, &a, &b)) {
            print_error("round trip of %s changed it: %s\n", inputs[i], text);
        }
        assert_true(cv_equal(&thing_schema, &a, &b));
        /* and encoding is stable */
        char *again = encode(&b);
        assert_string_equal(again, text);
        cv_free(again);
        cv_free(text);
        cv_release(&thing_schema, &a);
        cv_release(&thing_schema, &b);
    }
}

/* ---- copy, equality, release --------------------------------------------- */

static void test_copy_is_deep(void **state)
{
    (void)state;
    struct thing a, c;
    decode_ok(full_json, &a);
    cv_copy(&thing_schema, &c, &a);
    assert_true(cv_equal(&thing_schema, &a, &c));
    assert_ptr_not_equal(c.name, a.name);
    assert_ptr_not_equal(c.tags.items, a.tags.items);
    assert_ptr_not_equal(c.tags.items[0], a.tags.items[0]);
    assert_ptr_not_equal(c.meta.items[0].key, a.meta.items[0].key);
    assert_ptr_not_equal(c.inner.path, a.inner.path);
    assert_ptr_not_equal(c.ptr, a.ptr);
    assert_ptr_not_equal(c.items.items, a.items.items);
    assert_ptr_not_equal(c.items.items[0].name, a.items.items[0].name);
    assert_ptr_not_equal(c.ports.items[0].key, a.ports.items[0].key);
    assert_ptr_not_equal(c.ports.items[1].label, a.ports.items[1].label);
    assert_ptr_not_equal(c.flags.items[0].key, a.flags.items[0].key);
    assert_ptr_not_equal(c.config, a.config);

    /* changing the copy leaves the original alone */
    cv_set_string(&c.name, "changed");
    cv_strings_push(&c.tags, "c");
    cv_set_string(&c.tags.items[0], "B");
    cv_strmap_set(&c.meta, "app", "y");
    cv_set_string(&c.inner.path, "/other");
    c.ptr->size = 99;
    cv_set_string(&c.items.items[1].name, "I1");
    cv_set_string(&c.ports.items[1].label, "plain");
    c.flags.items[1].value = false;
    assert_false(cv_equal(&thing_schema, &a, &c));

    assert_string_equal(a.name, "web");
    assert_int_equal(a.tags.len, 2);
    assert_string_equal(a.tags.items[0], "b");
    assert_string_equal(cv_strmap_get(&a.meta, "app"), "x");
    assert_string_equal(a.inner.path, "/in");
    assert_u64_equal(a.ptr->size, 20);
    assert_string_equal(a.items.items[1].name, "i1");
    assert_string_equal(a.ports.items[1].label, "tls");
    assert_true(a.flags.items[1].value);

    /* the copy outlives the original */
    cv_release(&thing_schema, &a);
    assert_string_equal(cv_json_object_get(cv_json_doc_root(c.config), "image")->u.string.ptr,
                        "redis");
    assert_string_equal(c.ports.items[0].key, "http");
    cv_release(&thing_schema, &c);
}

/* One mutation of a copy that cv_equal must notice. */
typedef void (*mutation)(struct thing *t);

static void m_name(struct thing *t)
{
    cv_set_string(&t->name, "x");
}
static void m_count(struct thing *t)
{
    t->count++;
}
static void m_big(struct thing *t)
{
    t->big = 0;
}
static void m_index(struct thing *t)
{
    t->index--;
}
static void m_enabled(struct thing *t)
{
    t->enabled = !t->enabled;
}
static void m_ratio(struct thing *t)
{
    t->ratio = 0.26;
}
static void m_tags(struct thing *t)
{
    cv_strings_push(&t->tags, "z");
}
static void m_tag(struct thing *t)
{
    cv_set_string(&t->tags.items[1], "A");
}
static void m_meta_value(struct thing *t)
{
    cv_strmap_set(&t->meta, "env", "dev");
}
static void m_meta_key(struct thing *t)
{
    cv_strmap_set(&t->meta, "new", "1");
}
static void m_inner(struct thing *t)
{
    t->inner.size = 11;
}
static void m_ptr(struct thing *t)
{
    cv_release(&inner_schema, t->ptr);
    cv_free(t->ptr);
    t->ptr = NULL;
}
static void m_ptr_field(struct thing *t)
{
    cv_set_string(&t->ptr->path, "");
}
static void m_item(struct thing *t)
{
    t->items.items[0].count = 5;
}
static void m_items_len(struct thing *t)
{
    cv_release(&item_schema, &t->items.items[1]);
    t->items.len = 1;
}
static void m_port_key(struct thing *t)
{
    cv_set_string(&t->ports.items[0].key, "http2");
}
static void m_port(struct thing *t)
{
    t->ports.items[1].to = 8443;
}
static void m_flag(struct thing *t)
{
    t->flags.items[0].value = true;
}
static void m_config(struct thing *t)
{
    cv_json_doc_free(t->config);
    struct cv_json_doc *doc = parse("{\"args\": [1, \"x\"], \"image\": \"redis:7\"}");
    t->config = doc;
}
static void m_config_null(struct thing *t)
{
    cv_json_doc_free(t->config);
    t->config = NULL;
}

static void test_equal_notices_every_field(void **state)
{
    (void)state;
    const mutation mutations[] = {m_name,     m_count, m_big,       m_index,      m_enabled,
                                  m_ratio,    m_tags,  m_tag,       m_meta_value, m_meta_key,
                                  m_inner,    m_ptr,   m_ptr_field, m_item,       m_items_len,
                                  m_port_key, m_port,  m_flag,      m_config,     m_config_null};
    struct thing a;
    decode_ok(full_json, &a);
    for (size_t i = 0; i < sizeof mutations / sizeof mutations[0]; i++) {
        struct thing c;
        cv_copy(&thing_schema, &c, &a);
        assert_true(cv_equal(&thing_schema, &a, &c));
        mutations[i](&c);
        if (cv_equal(&thing_schema, &a, &c) || cv_equal(&thing_schema, &c, &a)) {
            print_error("mutation %zu not noticed\n", i);
            fail();
        }
        cv_release(&thing_schema, &c);
    }

    /* JSON values compare structurally: member order does not matter */
    struct thing b;
    decode_ok("{\"Config\": {\"b\": 1, \"a\": [true]}}", &b);
    struct thing d;
    decode_ok("{\"Config\": {\"a\": [true], \"b\": 1}}", &d);
    assert_true(cv_equal(&thing_schema, &b, &d));
    cv_release(&thing_schema, &b);
    cv_release(&thing_schema, &d);
    cv_release(&thing_schema, &a);
}

static void test_release_after_failed_decode(void **state)
{
    (void)state;
    /* a decode that fails halfway still leaves something cv_release frees */
    struct thing t;
    struct cv_errlist errs;
    assert_int_equal(
        decode_text("{\"Name\": \"n\", \"Tags\": [\"a\", 2, \"c\"], \"Ptr\": {\"Size\": \"x\"},"
                    " \"Items\": [{\"Name\": \"i\"}, 3], \"Ports\": {\"p\": {\"To\": -1},"
                    " \"q\": {\"Label\": \"l\"}}, \"Config\": [1], \"Nope\": 1}",
                    &t, &errs),
        CV_EVALIDATE);
    assert_int_equal(errs.len, 5);
    /* what was valid was kept */
    assert_int_equal(t.tags.len, 2);
    assert_string_equal(t.tags.items[1], "c");
    assert_non_null(t.ptr);
    cv_errlist_free(&errs);
    cv_release(&thing_schema, &t);
}

/* ---- helpers ------------------------------------------------------------- */

static void test_strmap_set(void **state)
{
    (void)state;
    struct cv_strmap m = {NULL, 0};
    cv_strmap_set(&m, "m", "1");
    cv_strmap_set(&m, "c", "2");
    cv_strmap_set(&m, "x", "3");
    cv_strmap_set(&m, "a", "4");
    cv_strmap_set(&m, "c", "5"); /* replaces */
    cv_strmap_set(&m, "", "6");
    assert_int_equal(m.len, 5);
    const char *keys[] = {"", "a", "c", "m", "x"};
    const char *values[] = {"6", "4", "5", "1", "3"};
    for (size_t i = 0; i < 5; i++) {
        assert_string_equal(m.items[i].key, keys[i]);
        assert_string_equal(m.items[i].value, values[i]);
        assert_string_equal(cv_strmap_get(&m, keys[i]), values[i]);
    }
    assert_null(cv_strmap_get(&m, "b"));

    /* a struct holding it releases it through the schema */
    struct thing t;
    cv_init(&thing_schema, &t);
    t.meta = m;
    cv_strmap_set(&t.meta, "zz", "last");
    assert_string_equal(t.meta.items[t.meta.len - 1].key, "zz");
    cv_release(&thing_schema, &t);
}

static void test_strings_push_and_set_string(void **state)
{
    (void)state;
    struct thing t;
    cv_init(&thing_schema, &t);
    char value[8] = "one";
    cv_strings_push(&t.tags, value);
    strcpy(value, "two"); /* the list holds its own copy */
    cv_strings_push(&t.tags, value);
    cv_strings_push(&t.tags, "");
    assert_int_equal(t.tags.len, 3);
    assert_string_equal(t.tags.items[0], "one");
    assert_string_equal(t.tags.items[1], "two");
    assert_string_equal(t.tags.items[2], "");

    cv_set_string(&t.name, "a");
    cv_set_string(&t.name, "b"); /* frees the old value */
    assert_string_equal(t.name, "b");
    cv_set_string(&t.inner.path, NULL);
    assert_null(t.inner.path);
    /* a NULL string encodes and compares as "" */
    struct thing fresh;
    cv_init(&thing_schema, &fresh);
    assert_true(cv_equal(&inner_schema, &t.inner, &fresh.inner));
    cv_release(&thing_schema, &fresh);
    cv_release(&thing_schema, &t);
}

/* ---- defaults set by a schema's init ---------------------------------------- */

struct with_defaults
{
    struct cv_strings datacenters;
    struct cv_strmap meta;
    struct cv_json_doc *config;
};

static void with_defaults_init(void *obj)
{
    struct with_defaults *w = obj;
    cv_strings_push(&w->datacenters, "dc1");
    cv_strmap_set(&w->meta, "owner", "ops");
    struct cv_json_doc *doc = NULL;
    cv_json_parse("{}", 2, NULL, &doc, NULL);
    w->config = doc;
}

static const struct cv_field with_defaults_fields[] = {
    F_STRINGS("Datacenters", struct with_defaults, datacenters),
    F_STRMAP("Meta", struct with_defaults, meta),
    F_JSON("Config", struct with_defaults, config),
};
static const struct cv_schema with_defaults_schema =
    CV_SCHEMA("WithDefaults", struct with_defaults, with_defaults_init, with_defaults_fields);

static void test_defaults_from_init_kept_when_absent(void **state)
{
    (void)state;
    struct cv_json_doc *doc = parse("{}");
    struct with_defaults w;
    cv_init(&with_defaults_schema, &w);
    struct cv_errlist errs;
    cv_errlist_init(&errs);
    assert_int_equal(cv_decode(&with_defaults_schema, cv_json_doc_root(doc), &w, "", &errs), 0);
    assert_int_equal(w.datacenters.len, 1);
    assert_string_equal(w.datacenters.items[0], "dc1");
    assert_string_equal(cv_strmap_get(&w.meta, "owner"), "ops");
    cv_release(&with_defaults_schema, &w);
    cv_json_doc_free(doc);
}

static void test_decode_over_init_defaults(void **state)
{
    (void)state;
    /* bug: codec.c decode_strings(), decode_strmap(), decode_array(),
     * decode_struct_map() and the CV_F_JSON case of decode_field() assign the
     * decoded value over the field without freeing what the schema's init put
     * there (only CV_F_STRING frees the old value), so a default set by init
     * leaks when the input sets the field: decoding {"Datacenters": ["x"],
     * "Meta": {"a": "b"}, "Config": 1} over these defaults leaks the "dc1"
     * list, the "owner" map and the {} document (the leak fixture fails). */
    struct cv_json_doc *doc =
        parse("{\"Datacenters\": [\"x\"], \"Meta\": {\"a\": \"b\"}, \"Config\": 1}");
    struct with_defaults w;
    cv_init(&with_defaults_schema, &w);
    struct cv_errlist errs;
    cv_errlist_init(&errs);
    assert_int_equal(cv_decode(&with_defaults_schema, cv_json_doc_root(doc), &w, "", &errs), 0);
    assert_int_equal(w.datacenters.len, 1);
    assert_string_equal(w.datacenters.items[0], "x");
    assert_int_equal(w.meta.len, 1);
    assert_string_equal(cv_strmap_get(&w.meta, "a"), "b");
    cv_release(&with_defaults_schema, &w);
    cv_json_doc_free(doc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        CV_TEST(test_init),
        CV_TEST(test_decode_success),
        CV_TEST(test_empty_object_and_path_prefix),
        CV_TEST(test_null_leaves_defaults),
        CV_TEST(test_type_errors),
        CV_TEST(test_range_errors),
        CV_TEST(test_nul_in_strings_rejected),
        CV_TEST(test_unknown_fields),
        CV_TEST(test_case_mismatch_suggestion),
        CV_TEST(test_hostile_keys_in_paths),
        CV_TEST(test_unsupported_field),
        CV_TEST(test_ignored_field),
        CV_TEST(test_error_cap),
        CV_TEST(test_exactly_max_errors_all_reported),
        CV_TEST(test_encode),
        CV_TEST(test_round_trip),
        CV_TEST(test_copy_is_deep),
        CV_TEST(test_equal_notices_every_field),
        CV_TEST(test_release_after_failed_decode),
        CV_TEST(test_strmap_set),
        CV_TEST(test_strings_push_and_set_string),
        CV_TEST(test_defaults_from_init_kept_when_absent),
        CV_TEST(test_decode_over_init_defaults),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
