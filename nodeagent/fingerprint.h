/*
 * fingerprint: what the agent tells the servers about its machine, as a
 * Nomad Node ready for Node.Register.
 *
 * It reads /proc/cpuinfo (cores and MHz; a fall back of 1000 MHz per core
 * when the kernel does not say), /proc/meminfo (MemTotal), statvfs of the
 * data dir (free disk), uname and /etc/os-release, and the configuration
 * (datacenter, name, class, pool, meta, reserved resources, drivers). The
 * attributes are Nomad's: kernel.name, kernel.version, os.name, cpu.arch,
 * unique.hostname, cpu.numcores, cpu.frequency, cpu.totalcompute,
 * memory.totalbytes, unique.storage.bytestotal, unique.storage.bytesfree,
 * driver.<name> = "1" for each enabled driver.
 *
 * The node's identity, its ID and SecretID (UUIDs), is made once and kept
 * in <data dir>/node-id ({"ID": "...", "SecretID": "..."}, written to a
 * temporary file, fsynced, renamed, the directory fsynced), so a restarted
 * agent is the same node. The data dir is created when missing.
 */
#ifndef CV_AGENT_FINGERPRINT_H
#define CV_AGENT_FINGERPRINT_H

#include "common/clock.h"
#include "common/err.h"
#include "common/node.h"
#include "common/random.h"
#include "nodeagent/agent_config.h"

#define AGENT_NODE_ID_FILE "node-id"

/* Reads <data_dir>/node-id, or creates it (and data_dir) with new UUIDs.
 * Errors name the file; a malformed file is CV_EPARSE, never replaced. */
int agent_node_identity(const char *data_dir, char id[CV_UUID_LEN + 1],
                        char secret[CV_UUID_LEN + 1], struct cv_err *err);

/* Builds the node (Status "ready") from the machine and cfg (borrowed).
 * clock gives the drivers' UpdateTime (NULL: the system clock). On success
 * *out is a new node (cv_node_free). */
int agent_fingerprint(const struct agent_config *cfg, const struct cv_clock *clock,
                      struct cv_node **out, struct cv_err *err);

#endif
