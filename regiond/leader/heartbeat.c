/*
 * heartbeat: the leader's node heartbeat timers (contract in heartbeat.h).
 *
 * One record per node (its ID inline), found by ID in a hash map and
 * ordered by expiry in an indexed min-heap: a reset moves the record in the
 * heap in O(log n), a tick pops the expired ones, and the next deadline is
 * the heap's head. 10,000 nodes cost 10,000 small blocks and no timers.
 */
#include "regiond/leader/heartbeat.h"

#include <string.h>

#include "common/log.h"
#include "common/mem.h"
#include "regiond/leader/lheap.h"
#include "regiond/leader/lmap.h"

struct hb_timer
{
    uint64_t expiry;
    uint64_t seq; /* tie-break: equal expiries come out in arrival order */
    size_t pos;
    char id[];
};

struct hb
{
    struct hb_config cfg;
    bool enabled;
    uint64_t seq;
    struct lmap nodes; /* id => hb_timer */
    struct lheap by_expiry;
};

void hb_config_default(struct hb_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->min_ttl_ns = HB_DEFAULT_MIN_TTL_NS;
    cfg->max_per_second = HB_DEFAULT_MAX_PER_SECOND;
    cfg->grace_ns = HB_DEFAULT_GRACE_NS;
    cfg->failover_ttl_ns = HB_DEFAULT_FAILOVER_TTL_NS;
}

void hb_node_list_init(struct hb_node_list *list)
{
    list->ids = NULL;
    list->len = 0;
    list->cap = 0;
}

void hb_node_list_free(struct hb_node_list *list)
{
    for (size_t i = 0; i < list->len; i++) {
        cv_free(list->ids[i]);
    }
    cv_free(list->ids);
    hb_node_list_init(list);
}

static bool expires_before(const void *pa, const void *pb)
{
    const struct hb_timer *a = pa, *b = pb;
    if (a->expiry != b->expiry) {
        return a->expiry < b->expiry;
    }
    return a->seq < b->seq;
}

static uint64_t add_sat(uint64_t a, uint64_t b)
{
    return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

int hb_new(const struct hb_config *cfg, struct hb **out, struct cv_err *err)
{
    *out = NULL;
    if (!cfg->random) {
        return cv_err_setf(err, CV_EINVAL, "heartbeat: a random source is required");
    }
    if (cfg->min_ttl_ns == 0 || cfg->failover_ttl_ns == 0) {
        return cv_err_setf(err, CV_EINVAL, "heartbeat: TTLs must be positive");
    }
    /* The negated test also rejects NaN. */
    if (!(cfg->max_per_second > 0)) {
        return cv_err_setf(err, CV_EINVAL, "heartbeat: max heartbeats per second must be positive");
    }
    struct hb *h = cv_calloc(1, sizeof *h);
    h->cfg = *cfg;
    uint64_t k0 = cfg->random(cfg->random_ctx);
    uint64_t k1 = cfg->random(cfg->random_ctx);
    lmap_init(&h->nodes, k0, k1);
    lheap_init(&h->by_expiry, expires_before, offsetof(struct hb_timer, pos));
    *out = h;
    return 0;
}

static void drop_all(struct hb *h)
{
    size_t pos = 0;
    void *v;
    while (lmap_next(&h->nodes, &pos, NULL, &v)) {
        cv_free(v);
    }
    lmap_free(&h->nodes);
    lheap_free(&h->by_expiry);
}

void hb_free(struct hb *h)
{
    if (!h) {
        return;
    }
    drop_all(h);
    cv_free(h);
}

uint64_t hb_ttl_base(const struct hb_config *cfg, size_t node_count)
{
    /* Nomad's RateScaledInterval, with its floor of one action a day. */
    if (cfg->max_per_second <= 1.0 / 86400) {
        return cfg->min_ttl_ns;
    }
    double ns = (double)node_count / cfg->max_per_second * (double)CV_NSEC_PER_SEC;
    if (ns >= 1.8e19) {
        return UINT64_MAX / 2;
    }
    uint64_t base = (uint64_t)ns;
    return base > cfg->min_ttl_ns ? base : cfg->min_ttl_ns;
}

uint64_t hb_ttl(struct hb *h, size_t node_count)
{
    uint64_t base = hb_ttl_base(&h->cfg, node_count);
    return base + h->cfg.random(h->cfg.random_ctx) % base;
}

/* Sets a node's expiry, adding a timer when it has none. */
static void set_expiry(struct hb *h, const char *node_id, uint64_t expiry)
{
    struct hb_timer *t = lmap_get(&h->nodes, node_id);
    if (!t) {
        size_t n = strlen(node_id) + 1;
        t = cv_malloc(sizeof *t + n);
        memcpy(t->id, node_id, n);
        t->pos = LHEAP_NONE;
        t->expiry = expiry;
        t->seq = ++h->seq;
        lmap_put(&h->nodes, t->id, t);
        lheap_push(&h->by_expiry, t);
        return;
    }
    t->expiry = expiry;
    t->seq = ++h->seq;
    lheap_fix(&h->by_expiry, t);
}

void hb_initialize(struct hb *h, const char *const *node_ids, size_t n, uint64_t now)
{
    drop_all(h);
    h->enabled = true;
    uint64_t expiry = add_sat(now, h->cfg.failover_ttl_ns);
    for (size_t i = 0; i < n; i++) {
        set_expiry(h, node_ids[i], expiry);
    }
    cv_log(CV_LOG_INFO, "heartbeat", "timers initialized", "nodes=%zu failover_ttl_s=%.0f",
           lmap_len(&h->nodes), (double)h->cfg.failover_ttl_ns / (double)CV_NSEC_PER_SEC);
}

void hb_stop(struct hb *h)
{
    drop_all(h);
    h->enabled = false;
}

bool hb_enabled(const struct hb *h)
{
    return h->enabled;
}

int hb_reset(struct hb *h, const char *node_id, uint64_t now, uint64_t *ttl_ns, struct cv_err *err)
{
    if (ttl_ns) {
        *ttl_ns = 0;
    }
    if (!h->enabled) {
        return cv_err_setf(err, CV_ENOTLEADER,
                           "failed to reset heartbeat since server is not leader");
    }
    if (!node_id || !node_id[0]) {
        return cv_err_setf(err, CV_EINVAL, "heartbeat: missing node ID");
    }
    size_t count = lmap_len(&h->nodes) + (lmap_get(&h->nodes, node_id) ? 0 : 1);
    uint64_t ttl = hb_ttl(h, count);
    set_expiry(h, node_id, add_sat(add_sat(now, ttl), h->cfg.grace_ns));
    if (ttl_ns) {
        *ttl_ns = ttl;
    }
    return 0;
}

bool hb_clear(struct hb *h, const char *node_id)
{
    struct hb_timer *t = lmap_remove(&h->nodes, node_id);
    if (!t) {
        return false;
    }
    lheap_remove(&h->by_expiry, t);
    cv_free(t);
    return true;
}

static void list_push(struct hb_node_list *list, char *id)
{
    if (list->len == list->cap) {
        list->cap = list->cap ? list->cap * 2 : 16;
        list->ids = cv_reallocarray(list->ids, list->cap, sizeof *list->ids);
    }
    list->ids[list->len++] = id;
}

size_t hb_tick(struct hb *h, uint64_t now, struct hb_node_list *expired)
{
    size_t n = 0;
    struct hb_timer *t;
    while ((t = lheap_peek(&h->by_expiry)) != NULL && t->expiry <= now) {
        lheap_pop(&h->by_expiry);
        lmap_remove(&h->nodes, t->id);
        cv_log(CV_LOG_WARN, "heartbeat", "node TTL expired", "node_id=%s", t->id);
        list_push(expired, cv_strdup(t->id));
        cv_free(t);
        n++;
    }
    return n;
}

uint64_t hb_next_deadline(const struct hb *h)
{
    const struct hb_timer *t = lheap_peek(&h->by_expiry);
    return t ? t->expiry : UINT64_MAX;
}

size_t hb_count(const struct hb *h)
{
    return lmap_len(&h->nodes);
}

bool hb_expiry(const struct hb *h, const char *node_id, uint64_t *expiry)
{
    const struct hb_timer *t = lmap_get(&h->nodes, node_id);
    if (!t) {
        return false;
    }
    if (expiry) {
        *expiry = t->expiry;
    }
    return true;
}
