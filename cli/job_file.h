/*
 * job_file: turning a job file into the body of a register or plan
 * request (shared by `job run` and `job plan`; the code is in job_run.c).
 */
#ifndef CV_CLI_JOB_FILE_H
#define CV_CLI_JOB_FILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Members of the request besides the job. */
struct cli_job_req
{
    bool diff;                 /* plan: "Diff": true */
    bool enforce_index;        /* run -check-index */
    uint64_t job_modify_index; /* with enforce_index */
    bool preserve_counts;
    int64_t eval_priority; /* 0: the job's */
};

/* Reads the job file at path ("-": standard input) and makes the body
 * {"Job": <job>, ...members of req} in *body (a new string, cv_free). The
 * job's ID and Type ("service" when absent) are copied out. On failure
 * prints one "Error ..." line and returns -1. */
int cli_job_file_body(const char *path, const struct cli_job_req *req, char **body, char *id,
                      size_t id_size, char *type, size_t type_size);

#endif
