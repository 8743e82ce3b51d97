/*
 * regiond_config_internal: what the files of regiond/config share and
 * nobody outside sees: the types of the table of keys, the bounds of
 * values, and the helpers of regiond_config.c that the file loader
 * (regiond_config_file.c), the flags (regiond_config_flags.c), the checks
 * (regiond_config_check.c) and the JSON output (regiond_config_json.c) use.
 * regiond_config.h is the module's contract; nothing here is part of it.
 *
 * Names of shared functions carry rcfg__ (double underscore: internal).
 */
#ifndef CV_REGIOND_CONFIG_INTERNAL_H
#define CV_REGIOND_CONFIG_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "common/log.h"
#include "regiond/config/regiond_config.h"

#define HOST_MAX_LEN   253  /* a DNS name */
#define PATH_MAX_LEN   4095 /* data_dir, log_file */
#define SCHEMA_MAX_LEN 63   /* PostgreSQL's NAMEDATALEN - 1 */

/* ---- the table of keys (regiond_config.c) ------------------------------------ */

enum kind
{
    K_OBJECT,   /* nested keys in `sub` */
    K_NAME,     /* region, datacenter, name */
    K_IP,       /* an IP address literal */
    K_HOST,     /* an IP address literal or a DNS name */
    K_PATH,     /* a file system path */
    K_OPTPATH,  /* a path, or "" for none */
    K_CONNINFO, /* a libpq connection string */
    K_SCHEMA,   /* a PostgreSQL schema name */
    K_ADAPTOR,  /* "embedded" | "postgres" */
    K_LEVEL,    /* a log level */
    K_UINT,     /* an integer in [min, max], stored in `size` bytes */
    K_EXPECT,   /* bootstrap_expect: 1, 3 or 5 */
    K_DOUBLE,   /* a number in (0, dmax] */
    K_BOOL,
    K_PEERS, /* an array of "ID@HOST:PORT" */
    K_DEV,   /* "dev": a flag only */
};

struct field
{
    const char *key;
    enum kind kind;
    size_t off;  /* of the member in struct rcfg */
    size_t size; /* K_UINT: 2, 4 or 8 */
    uint64_t min, max;
    double dmax;
    const struct field *sub; /* K_OBJECT: a table ending with a NULL key */
};

/* The top-level keys of a file, ending with a NULL key. */
extern const struct field rcfg__top_fields[];

/* Where f's value lives in c. */
void *rcfg__member(struct rcfg *c, const struct field *f);
/* The entry of `table` named by the `len` bytes at `key`, or NULL. */
const struct field *rcfg__table_find(const struct field *table, const char *key, size_t len);
/* The entry for a dotted key path ("store.postgres.schema"); the path must
 * name one. */
const struct field *rcfg__field_by_path(const char *path);

/* ---- checks of single values (regiond_config.c) ------------------------------ */

bool rcfg__name_valid(const char *s);
bool rcfg__ip_unspecified(const char *s);
bool rcfg__schema_valid(const char *s);
/* The log levels' names, indexed by enum cv_log_level. */
extern const char *const rcfg__level_names[];
const char *rcfg__adaptor_name(enum rcfg_store_adaptor a);
/* Decimal digits only: CV_EINVAL for anything else, CV_ETOOBIG past 2^64-1. */
int rcfg__parse_decimal(const char *s, uint64_t *out);
/* true/1 or false/0. */
int rcfg__parse_bool(const char *s, bool *out);

/* ---- setting values (regiond_config.c) ---------------------------------------- */

/* Frees *slot and sets it to a copy of s (NULL for none). */
void rcfg__replace_string(char **slot, const char *s);
/* The error for an integer `text` out of f's range, at `path`. */
int rcfg__range_error(const struct field *f, const char *text, const char *path,
                      struct cv_err *err);
/* Each checks the value against f and sets it in c, or fails naming `path`;
 * `text` is the value as written, for messages. */
int rcfg__set_uint(struct rcfg *c, const struct field *f, uint64_t v, const char *text,
                   const char *path, struct cv_err *err);
int rcfg__set_double(struct rcfg *c, const struct field *f, double v, const char *text,
                     const char *path, struct cv_err *err);
int rcfg__set_string(struct rcfg *c, const struct field *f, const char *s, const char *path,
                     struct cv_err *err);
/* Whether values of kind k are set with rcfg__set_string. */
bool rcfg__is_string_kind(enum kind k);

/* ---- peers (regiond_config.c) ------------------------------------------------- */

void rcfg__peers_clear(struct rcfg *c);
/* Parses "ID@HOST:PORT" and appends it to c's peers. */
int rcfg__peers_add(struct rcfg *c, const char *s, const char *path, struct cv_err *err);
/* "host:port", with an IPv6 address in brackets. */
void rcfg__format_hostport(char *out, size_t n, const char *host, unsigned port);

/* ---- defaults (regiond_config.c) ---------------------------------------------- */

/* -dev's defaults over c's current values. */
void rcfg__apply_dev_defaults(struct rcfg *c);

#endif
