/*
 * version: matching a version against a version constraint, for the
 * `version` and `semver` constraint operators.
 *
 * common/constraint.c only checks that a constraint is well formed (at job
 * validation); this module decides whether a node's version satisfies it.
 * Two dialects, as Nomad has:
 *
 *   version  go-version's rules: any number of dot-separated numeric
 *            segments, an optional pre-release (after '-', or letters
 *            straight after the digits: "1.2.3beta") and build metadata
 *            (after '+', ignored in comparisons); operators =, !=, >, >=,
 *            <, <=, ~> (pessimistic). A pre-release version only satisfies
 *            an ordering or pessimistic term whose own version is a
 *            pre-release of the same segments; = and != compare plainly.
 *   semver   Semantic Versioning 2.0: at most three numeric segments,
 *            pre-release only after '-', pre-releases ordered by the
 *            standard's rules with no special case; operators =, !=, >, >=,
 *            <, <= (no ~>).
 *
 * A constraint is a comma-separated list of terms, all of which must hold;
 * a term without an operator means "=". Missing segments count as 0.
 */
#ifndef SCH_VERSION_H
#define SCH_VERSION_H

#include <stdbool.h>

enum sch_version_dialect
{
    SCH_VERSION_GO,    /* the "version" operator */
    SCH_VERSION_SEMVER /* the "semver" operator */
};

/* True when `version` parses in `dialect` and satisfies every term of
 * `constraint`. Anything that does not parse (either side) gives false, as
 * Nomad treats it: the node is simply not a match. Both strings borrowed. */
bool sch_version_match(enum sch_version_dialect dialect, const char *version,
                       const char *constraint);

#endif
