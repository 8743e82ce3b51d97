/*
 * proc: the start time and state of a process from /proc/<pid>/stat.
 *
 * The second field (the command name) is in parentheses and may itself hold
 * spaces and parentheses, so fields are counted after the last ')'.
 */
#include "nodeagent/proc.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/err.h"

int agent_proc_start_time(pid_t pid, uint64_t *start_time, char *state)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return CV_ENOTFOUND;
    }
    char buf[1024];
    ssize_t n;
    do {
        n = read(fd, buf, sizeof buf - 1);
    } while (n < 0 && errno == EINTR);
    close(fd);
    if (n <= 0) {
        return CV_ENOTFOUND;
    }
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    if (!p || p[1] != ' ') {
        return CV_EPARSE;
    }
    p += 2; /* field 3, the state */
    if (state) {
        *state = *p;
    }
    /* Field 3 is at p; skip to field 22. */
    for (int field = 3; field < 22; field++) {
        p = strchr(p, ' ');
        if (!p) {
            return CV_EPARSE;
        }
        p++;
    }
    char *end;
    errno = 0;
    unsigned long long v = strtoull(p, &end, 10);
    if (errno != 0 || end == p) {
        return CV_EPARSE;
    }
    *start_time = (uint64_t)v;
    return 0;
}
