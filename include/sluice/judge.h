/*
 * The comparative canary judge: Kayenta's NetflixACAJudge in C.
 *
 * Pure computation, no I/O, no global state, thread-safe. Three layers:
 *
 *   mannwhitney()     the Mann-Whitney U (Wilcoxon rank-sum) test of x against
 *                     y, as R's wilcox.test(x, y, conf.int = TRUE) computes it:
 *                     U, two-sided and one-sided p-values (exact distribution
 *                     or tie-corrected normal approximation), the
 *                     Hodges-Lehmann shift estimate and its confidence interval.
 *   judge_classify()  one metric, canary (experiment) against baseline
 *                     (control): PASS, HIGH, LOW, NODATA or NODATA_FAIL.
 *   judge_score()     metric results -> weighted group score 0..100 -> PASS,
 *                     MARGINAL or FAIL; judge_intervals() for a run of
 *                     several intervals.
 *
 * Where each rule comes from is cited in src/analysis/judge.c.
 */
#ifndef SLUICE_JUDGE_H
#define SLUICE_JUDGE_H

#include <stddef.h>

/*
 * Most samples per side mannwhitney() accepts (more: SLUICE_ELIMIT).
 * judge_classify() thins longer series to this many by a fixed stride instead.
 * Nothing of size nx * ny is ever allocated: order statistics of the pairwise
 * differences are found by selection in O((nx + ny) * 64) time.
 */
#define JUDGE_MAX_SAMPLES 10000

/* The exact U distribution is used below this many samples per side (as R). */
#define JUDGE_EXACT_BELOW 50

/* Most metrics judge_score() takes (more: SLUICE_ELIMIT). */
#define JUDGE_MAX_METRICS 4096

/* Kayenta's defaults (NetflixACAJudge). */
#define JUDGE_DEFAULT_CONFIDENCE 0.98
#define JUDGE_DEFAULT_TOLERANCE  0.25

enum mw_method {
	MW_AUTO = 0, /* exact when no ties and both sides < JUDGE_EXACT_BELOW, else normal */
	MW_EXACT,    /* exact when possible (no ties, small), else normal: see r->method */
	MW_NORMAL    /* always the normal approximation (Kayenta, R's exact = FALSE) */
};

struct mw_options {
	double conf_level;     /* of the interval, in (0, 1); 0 means 0.95 (R's default) */
	enum mw_method method; /* MW_AUTO */
	int no_correction;     /* 1: no continuity correction (R's correct = FALSE) */
};

struct mw_result {
	size_t nx, ny;
	double u;               /* U of x: pairs with x > y, ties counting 1/2 (R's W) */
	double u_min;           /* min(u, nx * ny - u) */
	int ties;               /* 1 when the pooled sample has ties (no exact p then) */
	enum mw_method method;  /* MW_EXACT or MW_NORMAL: what gave p_value and the interval */
	double z;               /* normal statistic, tie- and continuity-corrected (two-sided) */
	double p_value;         /* two-sided, by `method` */
	double p_greater;       /* one-sided, alternative "x is shifted up", by `method` */
	double p_less;          /* one-sided, alternative "x is shifted down", by `method` */
	double p_exact;         /* two-sided exact p; NaN when not computed */
	double p_normal;        /* two-sided normal-approximation p; always computed */
	double estimate;        /* Hodges-Lehmann: median of the nx*ny differences x_i - y_j */
	double ci_low, ci_high; /* confidence interval of the shift x - y */
	double conf_level;      /* as asked */
	double conf_achieved;   /* exact: 1 - the attained alpha; normal: as asked */
};

/*
 * The test of x (nx values) against y (ny values) with R's defaults: MW_AUTO,
 * continuity correction, 95% interval. Same as mannwhitney_with(..., NULL, r).
 */
int mannwhitney(const double *x, size_t nx, const double *y, size_t ny, struct mw_result *r);

/*
 * The test with options (NULL: the defaults above). Every value must be
 * finite and at most DBL_MAX/2 in size (so that every difference is finite);
 * 1 <= nx, ny <= JUDGE_MAX_SAMPLES. The inputs are not modified.
 * Returns 0, SLUICE_EINVALID (empty, non-finite, bad option), SLUICE_ELIMIT
 * (too many samples) or SLUICE_ENOMEM, with a message (sluice_error_last()).
 * When every value is the same, z = 0 and the p-values are 1 (R gives NaN).
 */
int mannwhitney_with(const double *x, size_t nx, const double *y, size_t ny,
                     const struct mw_options *opt, struct mw_result *r);

/*
 * The exact null distribution of U for sample sizes m and n (no ties):
 * *p = P(U <= q). Both sizes below JUDGE_EXACT_BELOW, else SLUICE_ELIMIT.
 */
int mannwhitney_exact_cdf(double *p, size_t m, size_t n, double q);

/* ---- one metric ---- */

enum judge_direction {
	JUDGE_DIR_EITHER = 0, /* both a rise and a fall are bad (Kayenta's default) */
	JUDGE_DIR_INCREASE,   /* only a rise is bad: errors, latency */
	JUDGE_DIR_DECREASE    /* only a fall is bad: throughput, success rate */
};

enum judge_nan {
	JUDGE_NAN_REMOVE = 0, /* drop NaN, +-Inf, |v| > DBL_MAX/2; Kayenta's default */
	JUDGE_NAN_REPLACE     /* count them as 0 (counters where no data means none) */
};

enum judge_class {
	JUDGE_CLASS_PASS = 0,
	JUDGE_CLASS_HIGH,
	JUDGE_CLASS_LOW,
	JUDGE_CLASS_NODATA,     /* ignored by the group score, counts for the 50% rule */
	JUDGE_CLASS_NODATA_FAIL /* mustHaveData: counts as a failed metric */
};

struct judge_metric_config {
	const char *name;  /* borrowed; for the reason text; may be NULL */
	const char *group; /* borrowed; the scoring group; NULL means "default" */
	enum judge_direction direction;
	enum judge_nan nan_strategy;
	double confidence;       /* JUDGE_DEFAULT_CONFIDENCE */
	double tolerance;        /* JUDGE_DEFAULT_TOLERANCE (fraction of |estimate|) */
	double allowed_increase; /* HIGH also needs mean ratio >= this; 1.0 = no extra rule */
	double allowed_decrease; /* LOW also needs mean ratio <= this; 1.0 = no extra rule */
	int must_have_data;      /* no data is NODATA_FAIL (unless critical: NODATA) */
	int critical;            /* anything but PASS makes the whole score 0 */
	enum mw_method method;   /* MW_NORMAL: Kayenta's interval; MW_AUTO to go exact */
};

/* Kayenta's defaults: either direction, remove NaN, 0.98, 0.25, ratios 1.0, MW_NORMAL. */
void judge_metric_config_init(struct judge_metric_config *cfg);

struct judge_metric_result {
	enum judge_class cls;
	int critical;      /* copied from the config */
	const char *group; /* borrowed from the config ("default" when it had none) */
	double ratio;      /* mean(canary) / mean(baseline); 1.0 when no test or mean 0 */
	double estimate;   /* Hodges-Lehmann shift canary - baseline (0 when no test) */
	double ci_low, ci_high;
	double bound;     /* tolerance * |estimate| */
	size_t n_control; /* samples used, after NaN handling and thinning */
	size_t n_experiment;
	int thinned;      /* 1 when a side was thinned to JUDGE_MAX_SAMPLES */
	char reason[160]; /* one line: why this class */
};

/*
 * Classify the canary (experiment, ne values) against the baseline (control,
 * nc values); either array may be NULL when its count is 0. Values may be
 * NaN/Inf (see nan_strategy). Returns 0, or SLUICE_EINVALID (bad config),
 * SLUICE_ENOMEM.
 */
int judge_classify(struct judge_metric_result *out, const struct judge_metric_config *cfg,
                   const double *control, size_t nc, const double *experiment, size_t ne);

/* "Pass", "High", "Low", "Nodata", "NodataFailMetric" (Kayenta's labels). */
const char *judge_class_name(enum judge_class c);

/* ---- the score ---- */

enum judge_verdict { JUDGE_VERDICT_PASS = 0, JUDGE_VERDICT_MARGINAL, JUDGE_VERDICT_FAIL };

struct judge_group_weight {
	const char *group; /* borrowed */
	double weight;     /* >= 0; all weights together at most 100 */
};

struct judge_score_config {
	const struct judge_group_weight *weights; /* may be NULL when n_weights is 0 */
	size_t n_weights;
	double pass;     /* e.g. 95 */
	double marginal; /* e.g. 75; 0 <= marginal <= pass <= 100 */
};

struct judge_group_score {
	const char *group; /* borrowed from the metric results */
	double score;      /* 0..100; 100 when the group had no data */
	double weight;     /* the weight it got */
	int nodata;        /* 1 when no metric of the group had data */
	size_t n_metrics;
};

struct judge_score {
	double score; /* 0..100, rounded to 2 decimals */
	enum judge_verdict verdict;
	int critical_failure; /* a critical metric was not PASS: score 0 */
	int too_many_nodata;  /* >= 50% of the metrics were NODATA: score 0 */
	size_t n_pass, n_high, n_low, n_nodata, n_nodata_fail;
	size_t n_groups;  /* groups seen (may exceed the caller's capacity) */
	char reason[160]; /* one line */
};

/*
 * Score n metric results. Per-group scores go to groups[0..cap) when groups
 * is not NULL. Returns 0, or SLUICE_EINVALID (weights negative or over 100,
 * a weight named twice, bad thresholds), SLUICE_ELIMIT (n > JUDGE_MAX_METRICS),
 * SLUICE_ENOMEM. No metrics at all scores 0.
 */
int judge_score(struct judge_score *out, struct judge_group_score *groups, size_t cap,
                const struct judge_metric_result *m, size_t n,
                const struct judge_score_config *cfg);

/* score >= pass: PASS; >= marginal: MARGINAL; else FAIL (ThresholdScoreClassifier). */
enum judge_verdict judge_verdict_of(double score, double pass, double marginal);

/* "Pass", "Marginal", "Fail". */
const char *judge_verdict_name(enum judge_verdict v);

/* ---- several intervals ---- */

enum judge_run { JUDGE_RUN_CONTINUE = 0, JUDGE_RUN_PASS, JUDGE_RUN_FAIL };

/*
 * A run of `total` intervals of which the first n have scores. Any score at or
 * below marginal fails at once (fail fast); once all `total` are in, the last
 * must also reach pass. *decided_at (may be NULL) gets the index of the score
 * that decided PASS or FAIL, else n. total 0 or n > total: the run ends with
 * these n. No scores (n 0): CONTINUE. A NaN score fails.
 */
enum judge_run judge_intervals(size_t *decided_at, const double *scores, size_t n, size_t total,
                               double pass, double marginal);

#endif
