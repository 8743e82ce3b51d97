/*
 * fuzz_job_decode: libFuzzer target for the job decoder, the door through
 * which every job enters Caravan.
 *
 * Any input must produce either a job or a non-empty list of errors, never
 * a crash, a leak or undefined behaviour. An accepted job must also survive
 * the round trip: encode, decode again, and get an equal job whose
 * encoding is byte-identical to the first.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/job.h"
#include "common/mem.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct cv_errlist errs;
    cv_errlist_init(&errs);
    struct cv_job *job = NULL;
    int rc = cv_job_parse((const char *)data, size, &job, &errs);
    if (rc != 0) {
        if (errs.len == 0 || job != NULL) {
            abort(); /* a rejection must say why, and leave nothing behind */
        }
        char line[CV_ERR_PATH_MAX + CV_ERR_MSG_MAX + 4];
        for (size_t i = 0; i < errs.len; i++) {
            cv_errlist_format(&errs, i, line, sizeof line);
        }
        cv_errlist_free(&errs);
        return 0;
    }

    char *first = cv_job_to_json(job, false);
    struct cv_job *again = NULL;
    struct cv_errlist errs2;
    cv_errlist_init(&errs2);
    if (!first || cv_job_parse(first, strlen(first), &again, &errs2) != 0) {
        abort(); /* Caravan's own encoding of a valid job must be valid */
    }
    char *second = cv_job_to_json(again, false);
    if (!cv_job_equal(job, again) || strcmp(first, second) != 0) {
        abort();
    }
    cv_free(first);
    cv_free(second);
    cv_job_free(job);
    cv_job_free(again);
    cv_errlist_free(&errs);
    cv_errlist_free(&errs2);
    return 0;
}
