/*
 * agent_procs: process and file helpers of the agent's end-to-end tests
 * (see agent_procs.h).
 */
#include "agent_procs.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

bool e2e_read_file(const char *path, char *buf, size_t size)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        return false;
    }
    size_t n = fread(buf, 1, size - 1, f);
    buf[n] = '\0';
    fclose(f);
    return true;
}

const char *e2e_jstr(const struct cv_json *obj, const char *key)
{
    const struct cv_json *v = obj ? cv_json_object_get(obj, key) : NULL;
    return v && v->type == CV_JSON_STRING ? v->u.string.ptr : "";
}

pid_t e2e_task_pid(const char *data_dir, const char *alloc_id, const char *task)
{
    char path[800];
    snprintf(path, sizeof path, "%s/allocs/%s/%s.json", data_dir, alloc_id, task);
    char *text = calloc(1, 1 << 20);
    pid_t pid = 0;
    if (text && e2e_read_file(path, text, 1 << 20)) {
        struct cv_json_doc *doc = NULL;
        if (cv_json_parse(text, strlen(text), NULL, &doc, NULL) == 0) {
            const struct cv_json *h = cv_json_object_get(cv_json_doc_root(doc), "Handle");
            const struct cv_json *p = h ? cv_json_object_get(h, "Pid") : NULL;
            int64_t v = 0;
            if (p && p->type == CV_JSON_NUMBER && cv_json_int64(p, &v) == 0) {
                pid = (pid_t)v;
            }
            cv_json_doc_free(doc);
        }
    }
    free(text);
    return pid;
}

int e2e_find_sleeps(long secs, pid_t *pids, int max)
{
    char want[64];
    int wl = snprintf(want, sizeof want, "sleep%c%ld", '\0', secs) + 1;
    DIR *d = opendir("/proc");
    int n = 0;
    struct dirent *de;
    for (int i = 0; d && i < 1000000 && (de = readdir(d)) != NULL; i++) {
        if (de->d_name[0] < '1' || de->d_name[0] > '9') {
            continue;
        }
        char path[300], buf[256];
        snprintf(path, sizeof path, "/proc/%s/cmdline", de->d_name);
        int fd = open(path, O_RDONLY);
        if (fd < 0) {
            continue;
        }
        ssize_t len = read(fd, buf, sizeof buf - 1);
        close(fd);
        if (len <= 0) {
            continue;
        }
        buf[len] = '\0';
        const char *base = strrchr(buf, '/'); /* within argv[0]: stops at its NUL */
        base = base ? base + 1 : buf;
        size_t off = (size_t)(base - buf);
        if ((ssize_t)(off + (size_t)wl) == len && memcmp(base, want, (size_t)wl) == 0) {
            if (pids && n < max) {
                pids[n] = (pid_t)atol(de->d_name);
            }
            n++;
        }
    }
    if (d) {
        closedir(d);
    }
    return n;
}

bool e2e_alive(pid_t pid)
{
    return kill(pid, 0) == 0;
}
