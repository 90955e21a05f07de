/*
 * The controller's own metrics: a small registry of counter and gauge
 * families with label sets, rendered in the Prometheus text exposition
 * format 0.0.4 (served at GET /metrics, http.h).
 *
 * Thread-safe: one mutex per registry; every call may come from any thread
 * (the rollout engine writes, the HTTP server's thread renders).
 *
 * Bounded: at most METRICS_MAX_FAMILIES families, each with at most the
 * registry's series cap (METRICS_DEFAULT_SERIES). A new series beyond the cap
 * replaces the family's least recently updated one; the replaced series are
 * counted per family and rendered as
 * sluice_metrics_series_dropped_total{family="..."}. Label values longer than
 * METRICS_MAX_VALUE bytes are cut (at a UTF-8 boundary); invalid UTF-8 becomes
 * U+FFFD. Label values may hold anything else: the renderer escapes backslash,
 * double quote and newline.
 *
 *   metrics_family(m, METRICS_GAUGE, "sluice_x", "What x is.",
 *                  (const char *[]){"namespace", "name", NULL});
 *   metrics_set(m, "sluice_x", (const char *[]){"shop", "web", NULL}, 0.5);
 */
#ifndef SLUICE_METRICS_H
#define SLUICE_METRICS_H

#include <stddef.h>

#include "sluice/buf.h"

#define METRICS_MAX_FAMILIES   128
#define METRICS_MAX_LABELS     8
#define METRICS_DEFAULT_SERIES 1000
#define METRICS_MAX_VALUE      256        /* bytes of one label value */
#define METRICS_MAX_OUTPUT     (8u << 20) /* bytes of one rendering */

enum metrics_type { METRICS_COUNTER = 0, METRICS_GAUGE, METRICS_HISTOGRAM };

#define METRICS_MAX_BUCKETS 16

struct metrics;

/*
 * A registry of its own (tests, tools); max_series is the cap per family
 * (0: METRICS_DEFAULT_SERIES). Returns 0 or SLUICE_ENOMEM. Free with
 * metrics_free() (NULL is fine).
 */
int metrics_new(struct metrics **out, size_t max_series);
void metrics_free(struct metrics *m);

/*
 * The process's registry, the one sluiced serves: made on first use, never
 * freed; NULL only when out of memory.
 */
struct metrics *metrics_default(void);

/*
 * Declare a family: `name` ([a-zA-Z_:][a-zA-Z0-9_:]*; counters end in
 * _total), `help` (one line of text, copied), `labels` a NULL-terminated list
 * of label names ([a-zA-Z_][a-zA-Z0-9_]*, not starting "__"; at most
 * METRICS_MAX_LABELS; may be NULL for none). Declaring the same family again
 * is a no-op returning 0; the same name with another type or labels is
 * SLUICE_ECONFLICT. Also SLUICE_EINVALID (bad name), SLUICE_ELIMIT (too many
 * families or labels), SLUICE_ENOMEM.
 */
int metrics_family(struct metrics *m, enum metrics_type type, const char *name, const char *help,
                   const char *const *labels);

/*
 * Set a gauge's series (`values`: NULL-terminated, one per declared label, in
 * order; NULL for a family without labels), or add `delta` (>= 0 for a
 * counter) to a series, created at 0. Returns 0, SLUICE_ENOTFOUND (no such
 * family), SLUICE_EINVALID (set on a counter, a negative or non-finite
 * counter delta, the wrong number of values) or SLUICE_ENOMEM.
 */
int metrics_set(struct metrics *m, const char *name, const char *const *values, double v);
int metrics_add(struct metrics *m, const char *name, const char *const *values, double delta);

/*
 * A series's value into *v. Returns 0 or SLUICE_ENOTFOUND (no such family or
 * series; also after it was dropped).
 */
int metrics_get(struct metrics *m, const char *name, const char *const *values, double *v);

/*
 * Declare a histogram family (as metrics_family) with `nbounds` upper bounds
 * (ascending, finite, at most METRICS_MAX_BUCKETS; +Inf is implied), and
 * observe one value into a series of it. Rendered as _bucket{le=...}
 * (cumulative), _sum and _count. metrics_get() on a histogram gives the
 * count. Errors as for metrics_family and metrics_add (SLUICE_EINVALID also
 * for bad bounds, or observe on a family that is not a histogram).
 */
int metrics_histogram(struct metrics *m, const char *name, const char *help,
                      const char *const *labels, const double *bounds, size_t nbounds);
int metrics_observe(struct metrics *m, const char *name, const char *const *values, double v);

/* Series replaced because family `name` was full (0 for an unknown family). */
unsigned long long metrics_dropped(struct metrics *m, const char *name);

/*
 * Append every family with at least one series to `out`, in declaration
 * order: "# HELP", "# TYPE", then one line per series in the order they were
 * made. Returns 0, or SLUICE_ELIMIT / SLUICE_ENOMEM from the buffer (then
 * `out` holds a partial rendering: discard it).
 */
int metrics_render(struct metrics *m, struct buf *out);

#endif
