/* A Z39.50 load client in C (YAZ's ZOOM C library), for benches/bench_z3950.py.
 *
 * N threads, each with its own connection (Init once, with a login when one is given), then per
 * request a Search of the next query of the list and a Present of record 1 (piggyback off: two
 * round trips, as Connexion makes), for a given number of seconds. Prints one JSON object:
 * requests, rate, latency percentiles of the search + present pair (from a histogram of 10 us
 * buckets), bytes per record, errors and the client's own CPU seconds.
 *
 *   zoom_bench TARGET USER|- PASSWORD|- CLIENTS SECONDS QUERYFILE [SYNTAX]
 *
 * Built by bench_z3950.py with: cc -O2 -o zoom_bench zoom_bench.c -lyaz -lpthread
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <yaz/zoom.h>

#define BUCKET_US 10
#define BUCKETS 100000 /* 1 s; slower requests go in the last bucket */

static char **queries;
static size_t nqueries;
static const char *target, *user, *password, *syntax = "usmarc";
static int clients;
static double seconds;
static volatile int go;

struct worker {
    pthread_t thread;
    int index;
    unsigned long requests, errors, bytes;
    double max_us;
    unsigned *hist;
    char error[256];
};

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Search, then present record 1: the record's length, 0 for no hit, -1 for an error. */
static long fetch(ZOOM_connection c, const char *pqf, char *error, size_t n)
{
    const char *msg, *add;
    long len = 0;
    ZOOM_resultset rs = ZOOM_connection_search_pqf(c, pqf);
    if (ZOOM_connection_error(c, &msg, &add)) {
        snprintf(error, n, "search %s: %s %s", pqf, msg, add ? add : "");
        ZOOM_resultset_destroy(rs);
        return -1;
    }
    if (ZOOM_resultset_size(rs) > 0) {
        ZOOM_record rec = ZOOM_resultset_record(rs, 0);
        int size = 0;
        if (!rec || !ZOOM_record_get(rec, "raw", &size)) {
            if (ZOOM_connection_error(c, &msg, &add))
                snprintf(error, n, "present %s: %s %s", pqf, msg, add ? add : "");
            else
                snprintf(error, n, "present %s: no record", pqf);
            ZOOM_resultset_destroy(rs);
            return -1;
        }
        len = size;
    }
    ZOOM_resultset_destroy(rs);
    return len;
}

static ZOOM_connection open_connection(char *error, size_t n)
{
    const char *msg, *add;
    ZOOM_options o = ZOOM_options_create();
    ZOOM_connection c;
    ZOOM_options_set(o, "preferredRecordSyntax", syntax);
    ZOOM_options_set(o, "piggyback", "0");
    if (user)
        ZOOM_options_set(o, "user", user);
    if (password)
        ZOOM_options_set(o, "password", password);
    c = ZOOM_connection_create(o);
    ZOOM_options_destroy(o);
    ZOOM_connection_connect(c, target, 0);
    if (ZOOM_connection_error(c, &msg, &add)) {
        snprintf(error, n, "connect %s: %s %s", target, msg, add ? add : "");
        ZOOM_connection_destroy(c);
        return NULL;
    }
    return c;
}

static void *work(void *arg)
{
    struct worker *w = arg;
    ZOOM_connection c = open_connection(w->error, sizeof w->error);
    size_t k = w->index;
    double stop;
    if (!c) {
        w->errors++;
        return NULL;
    }
    if (fetch(c, queries[k % nqueries], w->error, sizeof w->error) <= 0) /* warm up */
        w->errors++;
    while (!go)
        ;
    stop = now() + seconds;
    for (;;) {
        double t0 = now(), us;
        long len;
        if (t0 >= stop)
            break;
        len = fetch(c, queries[k % nqueries], w->error, sizeof w->error);
        us = (now() - t0) * 1e6;
        if (len <= 0) {
            if (len == 0)
                snprintf(w->error, sizeof w->error, "no hit for %s", queries[k % nqueries]);
            w->errors++;
            if (w->errors > 100)
                break;
        } else {
            size_t b = (size_t)(us / BUCKET_US);
            w->hist[b < BUCKETS ? b : BUCKETS - 1]++;
            w->requests++;
            w->bytes += (unsigned long)len;
            if (us > w->max_us)
                w->max_us = us;
        }
        k += (size_t)clients;
    }
    ZOOM_connection_destroy(c);
    return NULL;
}

static double percentile(const unsigned *hist, unsigned long total, double p)
{
    unsigned long want = (unsigned long)(total * p), seen = 0;
    size_t b;
    for (b = 0; b < BUCKETS; b++) {
        seen += hist[b];
        if (seen > want)
            return (b + 0.5) * BUCKET_US / 1000.0;
    }
    return BUCKETS * BUCKET_US / 1000.0;
}

static int read_queries(const char *path)
{
    FILE *f = fopen(path, "r");
    char line[4096];
    size_t cap = 1024;
    if (!f)
        return -1;
    queries = malloc(cap * sizeof *queries);
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = 0;
        if (!*line)
            continue;
        if (nqueries == cap)
            queries = realloc(queries, (cap *= 2) * sizeof *queries);
        queries[nqueries++] = strdup(line);
    }
    fclose(f);
    return nqueries ? 0 : -1;
}

int main(int argc, char **argv)
{
    struct worker *ws;
    unsigned *hist;
    unsigned long requests = 0, errors = 0, bytes = 0;
    double t0, wall, max_us = 0;
    struct rusage ru;
    const char *first_error = "";
    int i;
    size_t b;
    if (argc < 7) {
        fprintf(stderr, "usage: zoom_bench TARGET USER|- PASSWORD|- CLIENTS SECONDS QUERYFILE "
                        "[SYNTAX]\n");
        return 2;
    }
    target = argv[1];
    user = strcmp(argv[2], "-") ? argv[2] : NULL;
    password = strcmp(argv[3], "-") ? argv[3] : NULL;
    clients = atoi(argv[4]);
    seconds = atof(argv[5]);
    if (argc > 7)
        syntax = argv[7];
    if (clients < 1 || seconds <= 0 || read_queries(argv[6])) {
        fprintf(stderr, "zoom_bench: bad arguments or no queries in %s\n", argv[6]);
        return 2;
    }
    ws = calloc((size_t)clients, sizeof *ws);
    for (i = 0; i < clients; i++) {
        ws[i].index = i;
        ws[i].hist = calloc(BUCKETS, sizeof(unsigned));
        pthread_create(&ws[i].thread, NULL, work, &ws[i]);
    }
    t0 = now();
    go = 1;
    for (i = 0; i < clients; i++)
        pthread_join(ws[i].thread, NULL);
    wall = now() - t0;
    hist = calloc(BUCKETS, sizeof(unsigned));
    for (i = 0; i < clients; i++) {
        requests += ws[i].requests;
        errors += ws[i].errors;
        bytes += ws[i].bytes;
        if (ws[i].max_us > max_us)
            max_us = ws[i].max_us;
        if (ws[i].errors && !*first_error)
            first_error = ws[i].error;
        for (b = 0; b < BUCKETS; b++)
            hist[b] += ws[i].hist[b];
    }
    getrusage(RUSAGE_SELF, &ru);
    printf("{\"requests\": %lu, \"seconds\": %.3f, \"rate\": %.1f, \"p50_ms\": %.3f, "
           "\"p99_ms\": %.3f, \"max_ms\": %.3f, \"bytes\": %.1f, \"errors\": %lu, "
           "\"client_cpu_s\": %.3f, \"error\": \"",
           requests, wall, requests / wall, percentile(hist, requests, 0.5),
           percentile(hist, requests, 0.99), max_us / 1000.0,
           requests ? (double)bytes / requests : 0.0, errors,
           ru.ru_utime.tv_sec + ru.ru_stime.tv_sec +
               (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6);
    for (const char *p = first_error; *p; p++)
        if (*p >= 0x20 && *p < 0x7f && *p != '"' && *p != '\\')
            putchar(*p);
    printf("\"}\n");
    return requests ? 0 : 1;
}
