/*
 * config: cluster membership, one server at a time (thesis §4.1).
 *
 * A RAFT_CONFIG entry holds the whole configuration, not a delta, so that a
 * server added to the cluster learns every member from the one entry that
 * added it. The configuration in force is always that of the last such
 * entry in the log (or the bootstrap one), committed or not; when a
 * truncation removes that entry, the log is scanned back for the one
 * before. Entry data: the byte 'C', a version byte (1), a count byte, then
 * per server its id (8 bytes, little-endian) and a voter flag byte.
 */
#include <string.h>

#include "common/mem.h"
#include "regiond/raft/raft_internal.h"

#define CONFIG_MAGIC   'C'
#define CONFIG_VERSION 1
#define SERVER_BYTES   9

static size_t encode(const struct raft_server *servers, size_t n, unsigned char *out)
{
    out[0] = CONFIG_MAGIC;
    out[1] = CONFIG_VERSION;
    out[2] = (unsigned char)n;
    for (size_t i = 0; i < n; i++) {
        unsigned char *p = out + 3 + i * SERVER_BYTES;
        for (int b = 0; b < 8; b++) {
            p[b] = (unsigned char)(servers[i].id >> (8 * b));
        }
        p[8] = servers[i].voter ? 1 : 0;
    }
    return 3 + n * SERVER_BYTES;
}

/* Returns the number of servers, or -1 when the data is not a configuration. */
int raft__config_decode(const void *data, size_t len, struct raft_server *out)
{
    const unsigned char *d = data;
    if (len < 3 || d[0] != CONFIG_MAGIC || d[1] != CONFIG_VERSION || d[2] > RAFT_MAX_SERVERS ||
        len != 3 + (size_t)d[2] * SERVER_BYTES) {
        return -1;
    }
    for (size_t i = 0; i < d[2]; i++) {
        const unsigned char *p = d + 3 + i * SERVER_BYTES;
        raft_id id = 0;
        for (int b = 0; b < 8; b++) {
            id |= (raft_id)p[b] << (8 * b);
        }
        if (id == 0 || p[8] > 1) {
            return -1;
        }
        out[i].id = id;
        out[i].voter = p[8] == 1;
    }
    return d[2];
}

bool raft__is_voter(const struct raft *r, size_t i)
{
    return r->servers[i].voter;
}

bool raft__self_voter(const struct raft *r)
{
    return r->self >= 0 && r->servers[r->self].voter;
}

/* Makes `servers` the configuration in force, keeping the replication
 * progress of servers that stay. */
static void install(struct raft *r, const struct raft_server *servers, size_t n, raft_index index)
{
    struct peer old[RAFT_MAX_SERVERS];
    struct raft_server old_servers[RAFT_MAX_SERVERS];
    size_t old_n = r->n_servers;
    memcpy(old, r->peers, sizeof old);
    memcpy(old_servers, r->servers, sizeof old_servers);

    memcpy(r->servers, servers, n * sizeof *servers);
    r->n_servers = n;
    r->config_index = index;
    r->self = raft__server_position(r, r->cfg.id);
    memset(r->granted, 0, sizeof r->granted);
    for (size_t i = 0; i < n; i++) {
        struct peer *p = &r->peers[i];
        size_t j = 0;
        while (j < old_n && old_servers[j].id != servers[i].id) {
            j++;
        }
        if (j < old_n) {
            *p = old[j];
        } else {
            memset(p, 0, sizeof *p);
            p->id = servers[i].id;
            p->next = raft__last_index(r) + 1;
            p->mode = PEER_PROBE;
            p->recent_active = true; /* a new member gets a full interval to answer */
        }
    }
}

void raft__config_appended(struct raft *r, const struct raft_entry *e)
{
    struct raft_server servers[RAFT_MAX_SERVERS];
    int n = raft__config_decode(e->data, e->len, servers);
    if (n >= 0) {
        install(r, servers, (size_t)n, e->index);
    }
}

void raft__config_install(struct raft *r, const struct raft_server *servers, size_t n,
                          raft_index index)
{
    install(r, servers, n, index);
}

void raft__config_from_log(struct raft *r)
{
    for (raft_index i = raft__last_index(r); i > r->log.offset; i--) {
        const struct raft_entry *e = raft_log_get(&r->log, i);
        if (e->type == RAFT_CONFIG) {
            struct raft_server servers[RAFT_MAX_SERVERS];
            int n = raft__config_decode(e->data, e->len, servers);
            if (n >= 0) {
                install(r, servers, (size_t)n, i);
                return;
            }
        }
    }
    if (r->has_snapshot) {
        install(r, r->snapshot.servers, r->snapshot.n_servers, r->snapshot.index);
        return;
    }
    struct raft_server boot[RAFT_MAX_SERVERS];
    for (size_t i = 0; i < r->cfg.n_servers; i++) {
        boot[i].id = r->cfg.servers[i];
        boot[i].voter = true;
    }
    install(r, boot, r->cfg.n_servers, 0);
}

/* A leader that is no longer a voter hands over once the change commits. */
void raft__config_maybe_step_down(struct raft *r)
{
    if (r->state == RAFT_LEADER && !raft__self_voter(r) && r->commit >= r->config_index) {
        raft__become_follower(r, r->term, 0);
    }
}

static int change(struct raft *r, const struct raft_server *servers, size_t n, raft_propose_cb cb,
                  void *cb_data)
{
    unsigned char data[3 + RAFT_MAX_SERVERS * SERVER_BYTES];
    size_t len = encode(servers, n, data);
    return raft__propose_entry(r, RAFT_CONFIG, data, len, cb, cb_data, NULL);
}

/* What every change needs: a leader with no change or transfer under way. */
static int can_change(const struct raft *r, raft_id id)
{
    if (r->state == RAFT_FAILED) {
        return RAFT_EIO;
    }
    if (r->state != RAFT_LEADER) {
        return RAFT_ENOTLEADER;
    }
    if (r->config_index > r->commit || r->transferee) {
        return RAFT_EBUSY;
    }
    return id == 0 ? RAFT_EINVAL : 0;
}

int raft_add(struct raft *r, raft_id id, raft_propose_cb cb, void *cb_data)
{
    int rc = can_change(r, id);
    if (rc != 0) {
        return rc;
    }
    if (raft__server_position(r, id) >= 0 || r->n_servers == RAFT_MAX_SERVERS) {
        return RAFT_EINVAL;
    }
    struct raft_server servers[RAFT_MAX_SERVERS];
    memcpy(servers, r->servers, r->n_servers * sizeof *servers);
    servers[r->n_servers] = (struct raft_server){id, false};
    return change(r, servers, r->n_servers + 1, cb, cb_data);
}

int raft_promote(struct raft *r, raft_id id, raft_propose_cb cb, void *cb_data)
{
    int rc = can_change(r, id);
    if (rc != 0) {
        return rc;
    }
    int pos = raft__server_position(r, id);
    if (pos < 0 || r->servers[pos].voter) {
        return RAFT_EINVAL;
    }
    struct raft_server servers[RAFT_MAX_SERVERS];
    memcpy(servers, r->servers, r->n_servers * sizeof *servers);
    servers[pos].voter = true;
    return change(r, servers, r->n_servers, cb, cb_data);
}

int raft_remove(struct raft *r, raft_id id, raft_propose_cb cb, void *cb_data)
{
    int rc = can_change(r, id);
    if (rc != 0) {
        return rc;
    }
    int pos = raft__server_position(r, id);
    if (pos < 0) {
        return RAFT_EINVAL;
    }
    size_t voters = 0;
    for (size_t i = 0; i < r->n_servers; i++) {
        voters += r->servers[i].voter;
    }
    if (r->servers[pos].voter && voters == 1) {
        return RAFT_EINVAL; /* the last voter: nobody could commit anything again */
    }
    struct raft_server servers[RAFT_MAX_SERVERS];
    size_t n = 0;
    for (size_t i = 0; i < r->n_servers; i++) {
        if ((int)i != pos) {
            servers[n++] = r->servers[i];
        }
    }
    return change(r, servers, n, cb, cb_data);
}

size_t raft_configuration(const struct raft *r, struct raft_server *out, size_t cap)
{
    for (size_t i = 0; i < r->n_servers && i < cap; i++) {
        out[i] = r->servers[i];
    }
    return r->n_servers;
}

raft_index raft_match_index(const struct raft *r, raft_id id)
{
    if (r->state != RAFT_LEADER) {
        return 0;
    }
    if (id == r->cfg.id) {
        return r->durable;
    }
    int pos = raft__server_position(r, id);
    return pos >= 0 ? r->peers[pos].match : 0;
}
