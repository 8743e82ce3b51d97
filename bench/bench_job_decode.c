/*
 * bench_job_decode: how fast a job enters Caravan.
 *
 * Measures, on one job file repeated for a fixed time each:
 *   yajl tokenize   the yardstick: yajl's parser with no callbacks, the floor
 *                   no JSON-based decoder can beat
 *   json tree       cv_json_parse: tree building, limits, duplicate keys
 *   job decode      cv_job_parse: the above plus the codec, Nomad's defaults
 *                   and every validation rule
 *   job encode      cv_job_to_json of the decoded job
 * and prints operations per second, MB/s and the cost relative to the
 * yardstick. Nothing is asserted: figures are for reading.
 *
 *   bench_job_decode [JOB_FILE] [SECONDS_PER_CASE]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yajl/yajl_parse.h>

#include "common/clock.h"
#include "common/job.h"
#include "common/json.h"
#include "common/mem.h"

struct result
{
    double ops_per_sec;
    double mb_per_sec;
};

typedef void (*bench_fn)(const char *text, size_t len, void *ctx);

static struct result run(const char *name, bench_fn fn, const char *text, size_t len, void *ctx,
                         double seconds)
{
    const struct cv_clock *clock = cv_clock_system();
    uint64_t start = cv_clock_monotonic_ns(clock);
    uint64_t deadline = start + (uint64_t)(seconds * 1e9);
    uint64_t ops = 0, now = start;
    while (now < deadline) {
        for (int i = 0; i < 64; i++) {
            fn(text, len, ctx);
        }
        ops += 64;
        now = cv_clock_monotonic_ns(clock);
    }
    double elapsed = (double)(now - start) / 1e9;
    struct result r = {(double)ops / elapsed, (double)ops * (double)len / elapsed / 1e6};
    printf("%-16s %12.0f ops/s %9.1f MB/s", name, r.ops_per_sec, r.mb_per_sec);
    return r;
}

static void yajl_only(const char *text, size_t len, void *ctx)
{
    (void)ctx;
    yajl_handle h = yajl_alloc(NULL, NULL, NULL);
    if (yajl_parse(h, (const unsigned char *)text, len) != yajl_status_ok ||
        yajl_complete_parse(h) != yajl_status_ok) {
        fprintf(stderr, "bench: input is not valid JSON\n");
        exit(1);
    }
    yajl_free(h);
}

static void json_tree(const char *text, size_t len, void *ctx)
{
    (void)ctx;
    struct cv_json_doc *doc = NULL;
    if (cv_json_parse(text, len, NULL, &doc, NULL) != 0) {
        exit(1);
    }
    cv_json_doc_free(doc);
}

static void job_decode(const char *text, size_t len, void *ctx)
{
    (void)ctx;
    struct cv_errlist errs;
    cv_errlist_init(&errs);
    struct cv_job *job = NULL;
    if (cv_job_parse(text, len, &job, &errs) != 0) {
        fprintf(stderr, "bench: the job is not valid (run caravan job validate on it)\n");
        exit(1);
    }
    cv_job_free(job);
    cv_errlist_free(&errs);
}

static void job_encode(const char *text, size_t len, void *ctx)
{
    (void)text;
    (void)len;
    cv_free(cv_job_to_json(ctx, false));
}

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        exit(1);
    }
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *data = cv_malloc((size_t)size + 1);
    *len = fread(data, 1, (size_t)size, f);
    data[*len] = '\0';
    fclose(f);
    return data;
}

int main(int argc, char **argv)
{
    const char *path = argc > 1 ? argv[1] : "ops/examples/web.json";
    double seconds = argc > 2 ? atof(argv[2]) : 2.0;
    size_t len = 0;
    char *text = read_file(path, &len);

    struct cv_errlist errs;
    cv_errlist_init(&errs);
    struct cv_job *job = NULL;
    if (cv_job_parse(text, len, &job, &errs) != 0) {
        fprintf(stderr, "bench: %s is not a valid job\n", path);
        return 1;
    }
    cv_errlist_free(&errs);

    printf("job file: %s (%zu bytes), %.1f s per case\n", path, len, seconds);
    struct result base = run("yajl tokenize", yajl_only, text, len, NULL, seconds);
    printf("   (yardstick)\n");
    struct result tree = run("json tree", json_tree, text, len, NULL, seconds);
    printf("   %.2fx the yardstick's time\n", base.ops_per_sec / tree.ops_per_sec);
    struct result decode = run("job decode", job_decode, text, len, NULL, seconds);
    printf("   %.2fx the yardstick's time\n", base.ops_per_sec / decode.ops_per_sec);
    struct result encode = run("job encode", job_encode, text, len, job, seconds);
    printf("   %.2fx the yardstick's time\n", base.ops_per_sec / encode.ops_per_sec);

    cv_job_free(job);
    cv_free(text);
    return 0;
}
