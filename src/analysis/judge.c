/*
 * The comparative canary judge (see include/sluice/judge.h).
 *
 * Sources, at spinnaker/kayenta a69573be (docs/reference/peers.md §2.3):
 *   kayenta-judge/.../classifiers/metric/MannWhitneyClassifier.scala   the metric rule
 *   kayenta-judge/.../scorers/WeightedSumScorer.scala                  the score
 *   kayenta-judge/.../classifiers/score/ThresholdScoreClassifier.scala pass/marginal
 *   kayenta-mannwhitney/.../MannWhitney.scala                          the interval (R port)
 *   kayenta-standalone-canary-analysis/.../MonitorCanaryTask.java,
 *     GenerateCanaryAnalysisResultTask.java                            several intervals
 * and R's wilcox.test (src/library/stats/R/wilcox.test.R) for the statistics,
 * which Kayenta's MannWhitney ports.
 *
 * The work is bounded: O((nx + ny) log(nx + ny)) to sort and rank, and each
 * order statistic of the nx * ny pairwise differences is found by bisection
 * over the ordered bit patterns of doubles (at most 64 rounds of an
 * O(nx + ny) two-pointer count), so nothing of size nx * ny is allocated and
 * no subsampling is needed. The exact distribution (only below
 * JUDGE_EXACT_BELOW per side) is a DP of at most ~12M additions.
 */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sluice/error.h"
#include "sluice/judge.h"

/* ---- normal distribution ---- */

/* P(Z <= z). erfc keeps full relative precision in the lower tail. */
static double pnorm(double z)
{
	return 0.5 * erfc(-z / M_SQRT2);
}

/*
 * The p-quantile of N(0,1), 0 < p < 1: Acklam's rational approximation
 * (relative error 1.15e-9), then two Halley steps against erfc, which take it
 * to double precision.
 */
static double qnorm(double p)
{
	static const double a[] = {-3.969683028665376e+01, 2.209460984245205e+02,
	                           -2.759285104469687e+02, 1.383577518672690e+02,
	                           -3.066479806614716e+01, 2.506628277459239e+00};
	static const double b[] = {-5.447609879822406e+01, 1.615858368580409e+02,
	                           -1.556989798598866e+02, 6.680131188771972e+01,
	                           -1.328068155288572e+01};
	static const double c[] = {-7.784894002430293e-03, -3.223964580411365e-01,
	                           -2.400758277161838e+00, -2.549732539343734e+00,
	                           4.374664141464968e+00,  2.938163982698783e+00};
	static const double d[] = {7.784695709041462e-03, 3.224671290700398e-01,
	                           2.445134137142996e+00, 3.754408661907416e+00};
	const double plow = 0.02425;
	double q, r, x;

	if (p < plow) {
		q = sqrt(-2 * log(p));
		x = (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
		    ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
	} else if (p <= 1 - plow) {
		q = p - 0.5;
		r = q * q;
		x = (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q /
		    (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
	} else {
		q = sqrt(-2 * log1p(-p));
		x = -(((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
		    ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
	}
	for (int i = 0; i < 2; i++) {
		double e = pnorm(x) - p;
		double u = e * sqrt(2 * M_PI) * exp(x * x / 2);
		x = x - u / (1 + x * u / 2);
	}
	return x;
}

/* ---- exact distribution of U ---- */

/*
 * counts[u], u = 0..m*n: the number of the C(m+n, m) orderings of m x's and
 * n y's in which U (pairs with x > y) equals u; *total gets C(m+n, m).
 * The DP walks the pooled order: the t-th smallest value, taken as the j-th x,
 * adds t - j (the y's below it) to U. Additions of non-negative numbers only,
 * so the counts keep full relative precision (C(98, 49) ~ 2.5e28 fits a double).
 */
static double *exact_counts(size_t m, size_t n, double *total)
{
	size_t mn, w, t;
	double *dp, *row;

	if (m > n) {
		size_t s = m;
		m = n;
		n = s;
	}
	mn = m * n;
	w = mn + 1;
	dp = calloc((m + 1) * w, sizeof *dp);
	if (!dp)
		return NULL;
	dp[0] = 1;
	for (t = 1; t <= m + n; t++) {
		size_t jmax = t < m ? t : m;
		size_t jmin = t > n ? t - n : 1;
		for (size_t j = jmax; j >= jmin && j >= 1; j--) {
			size_t add = t - j;
			const double *src = dp + (j - 1) * w;
			double *dst = dp + j * w;
			size_t hi = (j - 1) * add;
			for (size_t u = hi + 1; u-- > 0;)
				dst[u + add] += src[u];
		}
	}
	row = malloc(w * sizeof *row);
	if (row) {
		memcpy(row, dp + m * w, w * sizeof *row);
		*total = 0;
		for (size_t u = 0; u < w; u++)
			*total += row[u];
	}
	free(dp);
	return row;
}

/* P(U <= q) from counts (q < 0: 0). */
static double cdf_at(const double *cnt, size_t mn, double total, double q)
{
	double s = 0;

	if (q < 0)
		return 0;
	if (q >= (double)mn)
		return 1;
	for (size_t u = 0; u <= (size_t)q; u++)
		s += cnt[u];
	return s / total;
}

/* P(U >= q), summed from the top so that small tails keep their precision. */
static double upper_at(const double *cnt, size_t mn, double total, double q)
{
	double s = 0;

	if (q <= 0)
		return 1;
	if (q > (double)mn)
		return 0;
	for (size_t u = mn + 1; u-- > (size_t)q;)
		s += cnt[u];
	return s / total;
}

int mannwhitney_exact_cdf(double *p, size_t m, size_t n, double q)
{
	double total, *cnt;

	if (!p || isnan(q))
		return sluice_error_set(SLUICE_EINVALID, "mannwhitney: bad argument");
	if (m >= JUDGE_EXACT_BELOW || n >= JUDGE_EXACT_BELOW)
		return sluice_error_set(SLUICE_ELIMIT,
		                        "mannwhitney: exact distribution only below %d per side",
		                        JUDGE_EXACT_BELOW);
	if (m == 0 || n == 0) {
		*p = q >= 0 ? 1 : 0;
		return 0;
	}
	cnt = exact_counts(m, n, &total);
	if (!cnt)
		return sluice_error_set(SLUICE_ENOMEM, "mannwhitney: out of memory");
	*p = cdf_at(cnt, m * n, total, floor(q));
	free(cnt);
	return 0;
}

/* ---- order statistics of the pairwise differences ---- */

/* A key whose unsigned order is the numeric order of (non-NaN) doubles. */
static uint64_t dkey(double v)
{
	uint64_t b;

	memcpy(&b, &v, sizeof b);
	return (b >> 63) ? ~b : b | (UINT64_C(1) << 63);
}

static double dval(uint64_t k)
{
	uint64_t b = (k >> 63) ? k & ~(UINT64_C(1) << 63) : ~k;
	double v;

	memcpy(&v, &b, sizeof v);
	return v;
}

/*
 * #{(i, j): xs[i] - ys[j] <= v} for ascending xs and ys. Rounded subtraction
 * is monotone, so the computed differences are sorted along rows and columns
 * and one pointer sweep counts them exactly.
 */
static size_t count_le(const double *xs, size_t nx, const double *ys, size_t ny, double v)
{
	size_t j = 0, c = 0;

	for (size_t i = 0; i < nx; i++) {
		while (j < ny && xs[i] - ys[j] > v)
			j++;
		c += ny - j;
	}
	return c;
}

/* The k-th smallest (1-based) of the nx * ny computed differences xs[i] - ys[j]. */
static double kth_diff(const double *xs, size_t nx, const double *ys, size_t ny, size_t k)
{
	uint64_t lo = dkey(xs[0] - ys[ny - 1]);
	uint64_t hi = dkey(xs[nx - 1] - ys[0]);

	while (lo < hi) {
		uint64_t mid = lo + (hi - lo) / 2;
		if (count_le(xs, nx, ys, ny, dval(mid)) >= k)
			hi = mid;
		else
			lo = mid + 1;
	}
	return dval(lo);
}

/*
 * A usable sample: finite and at most DBL_MAX/2 in size, so that every
 * difference x - y is finite too (its exact value is at most DBL_MAX).
 */
static int in_range(double v)
{
	return fabs(v) <= DBL_MAX / 2;
}

/*
 * (a + b) / 2 for a <= b without overflow: halves first (exact for normal
 * numbers, so the same rounding as R's), kept inside [a, b] where halving
 * subnormals rounds.
 */
static double midpoint(double a, double b)
{
	return fmin(fmax(a / 2 + b / 2, a), b);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double *sorted_copy(const double *v, size_t n)
{
	double *s = malloc(n * sizeof *s);

	if (s) {
		memcpy(s, v, n * sizeof *s);
		qsort(s, n, sizeof *s, cmp_double);
	}
	return s;
}

/* ---- the test ---- */

int mannwhitney(const double *x, size_t nx, const double *y, size_t ny, struct mw_result *r)
{
	return mannwhitney_with(x, nx, y, ny, NULL, r);
}

int mannwhitney_with(const double *x, size_t nx, const double *y, size_t ny,
                     const struct mw_options *opt, struct mw_result *r)
{
	struct mw_options o = {0};
	double *xs = NULL, *ys = NULL, *cnt = NULL;
	double rx = 0, tie_all = 0, tie_in = 0, total = 0;
	double conf, nm, big_n, d, sigma, sigma_w, cc;
	size_t i = 0, j = 0, mn;
	int rc = 0;

	if (opt)
		o = *opt;
	if (!r)
		return sluice_error_set(SLUICE_EINVALID, "mannwhitney: no result");
	memset(r, 0, sizeof *r);
	conf = o.conf_level == 0 ? 0.95 : o.conf_level;
	if (!(conf > 0 && conf < 1))
		return sluice_error_set(SLUICE_EINVALID,
		                        "mannwhitney: conf_level %g is not between 0 and 1", conf);
	if (o.method != MW_AUTO && o.method != MW_EXACT && o.method != MW_NORMAL)
		return sluice_error_set(SLUICE_EINVALID, "mannwhitney: unknown method %d",
		                        (int)o.method);
	if (!x || !y || nx == 0 || ny == 0)
		return sluice_error_set(SLUICE_EINVALID, "mannwhitney: a sample is empty");
	if (nx > JUDGE_MAX_SAMPLES || ny > JUDGE_MAX_SAMPLES)
		return sluice_error_set(SLUICE_ELIMIT,
		                        "mannwhitney: %zu and %zu samples, at most %d per side", nx,
		                        ny, JUDGE_MAX_SAMPLES);
	for (size_t k = 0; k < nx; k++)
		if (!in_range(x[k]))
			return sluice_error_set(SLUICE_EINVALID,
			                        "mannwhitney: x[%zu] is %g: not finite or beyond "
			                        "+-DBL_MAX/2",
			                        k, x[k]);
	for (size_t k = 0; k < ny; k++)
		if (!in_range(y[k]))
			return sluice_error_set(SLUICE_EINVALID,
			                        "mannwhitney: y[%zu] is %g: not finite or beyond "
			                        "+-DBL_MAX/2",
			                        k, y[k]);
	xs = sorted_copy(x, nx);
	ys = sorted_copy(y, ny);
	if (!xs || !ys) {
		rc = sluice_error_set(SLUICE_ENOMEM, "mannwhitney: out of memory");
		goto out;
	}

	/* Midranks by merging the sorted samples, and the tie sizes t (sum t^3 - t). */
	while (i < nx || j < ny) {
		double v = (j >= ny || (i < nx && xs[i] <= ys[j])) ? xs[i] : ys[j];
		double a = 0, b = 0, t, mid;
		size_t before = i + j;
		while (i < nx && xs[i] == v) {
			i++;
			a++;
		}
		while (j < ny && ys[j] == v) {
			j++;
			b++;
		}
		t = a + b;
		mid = (double)before + (t + 1) / 2;
		rx += a * mid;
		tie_all += t * t * t - t;
		tie_in += a * a * a - a + b * b * b - b;
	}

	nm = (double)nx * (double)ny;
	mn = nx * ny;
	big_n = (double)nx + (double)ny;
	r->nx = nx;
	r->ny = ny;
	r->u = rx - (double)nx * ((double)nx + 1) / 2;
	r->u_min = r->u < nm - r->u ? r->u : nm - r->u;
	r->ties = tie_all > 0;
	r->conf_level = conf;
	r->p_exact = NAN;

	/* Normal approximation (R's wilcox.test, exact = FALSE). */
	cc = o.no_correction ? 0 : 0.5;
	d = r->u - nm / 2;
	sigma = sqrt(fmax(0, nm / 12 * ((big_n + 1) - tie_all / (big_n * (big_n - 1)))));
	if (sigma > 0) {
		double corr = d > 0 ? cc : d < 0 ? -cc : 0;
		r->z = (d - corr) / sigma;
		r->p_normal = fmin(1, 2 * fmin(pnorm(r->z), pnorm(-r->z)));
		r->p_greater = pnorm(-(d - cc) / sigma);
		r->p_less = pnorm((d + cc) / sigma);
	} else {
		r->z = 0;
		r->p_normal = r->p_greater = r->p_less = 1;
	}
	r->p_value = r->p_normal;
	r->method = MW_NORMAL;

	/* Exact distribution when there are no ties and the samples are small. */
	if (o.method != MW_NORMAL && !r->ties && nx < JUDGE_EXACT_BELOW && ny < JUDGE_EXACT_BELOW) {
		double p;
		cnt = exact_counts(nx, ny, &total);
		if (!cnt) {
			rc = sluice_error_set(SLUICE_ENOMEM, "mannwhitney: out of memory");
			goto out;
		}
		/* R: p <- if (W > nm/2) P(U >= W) else P(U <= W); min(2p, 1) */
		p = r->u > nm / 2 ? upper_at(cnt, mn, total, r->u) : cdf_at(cnt, mn, total, r->u);
		r->p_exact = fmin(1, 2 * p);
		r->p_value = r->p_exact;
		r->p_greater = upper_at(cnt, mn, total, r->u);
		r->p_less = cdf_at(cnt, mn, total, r->u);
		r->z = 0;
		r->method = MW_EXACT;
	}

	/* Hodges-Lehmann estimate: median of the differences (R: median(diffs)). */
	if (mn % 2)
		r->estimate = kth_diff(xs, nx, ys, ny, mn / 2 + 1);
	else
		r->estimate = midpoint(kth_diff(xs, nx, ys, ny, mn / 2),
		                       kth_diff(xs, nx, ys, ny, mn / 2 + 1));

	if (r->method == MW_EXACT) {
		/*
		 * R: qu <- qwilcox(alpha/2, nx, ny); if (qu == 0) qu <- 1;
		 * ql <- nx*ny - qu; cint <- c(diffs[qu], diffs[ql + 1]);
		 * achieved.alpha <- 2 * pwilcox(qu - 1, nx, ny). qwilcox is the
		 * smallest q with P(U <= q) >= p, p fuzzed by 10 DBL_EPSILON as in R.
		 */
		double want = (1 - conf) / 2 - 10 * DBL_EPSILON, acc = 0;
		size_t qu = 0;
		while (qu < mn && (acc += cnt[qu] / total) < want)
			qu++;
		if (qu == 0)
			qu = 1;
		r->ci_low = kth_diff(xs, nx, ys, ny, qu);
		r->ci_high = kth_diff(xs, nx, ys, ny, mn - qu + 1);
		r->conf_achieved = 1 - 2 * cdf_at(cnt, mn, total, (double)qu - 1);
	} else {
		/*
		 * R (and Kayenta's port) find the interval by root-finding on
		 * (W(d) - nm/2 - sign * cc) / sigma(d) = +-z, W(d) the statistic of
		 * x - d against y. W(d) is a step function that drops at the
		 * differences, and between them sigma(d) only sees the ties within
		 * each sample, so the roots are order statistics of the
		 * differences: D(ceil(nm/2 - cc - z sigma_w)) and
		 * D(ceil(nm/2 + cc + z sigma_w)). uniroot(tol = 1e-4) lands within
		 * 1e-4 of them; this is the jump itself.
		 */
		double zq = -qnorm((1 - conf) / 2);
		double lo, hi;
		sigma_w = sqrt(fmax(0, nm / 12 * ((big_n + 1) - tie_in / (big_n * (big_n - 1)))));
		lo = ceil(nm / 2 - cc - zq * sigma_w);
		hi = ceil(nm / 2 + cc + zq * sigma_w);
		lo = fmin(fmax(lo, 1), nm);
		hi = fmin(fmax(hi, 1), nm);
		r->ci_low = kth_diff(xs, nx, ys, ny, (size_t)lo);
		r->ci_high = kth_diff(xs, nx, ys, ny, (size_t)hi);
		r->conf_achieved = conf;
	}
out:
	free(xs);
	free(ys);
	free(cnt);
	return rc;
}

/* ---- one metric ---- */

void judge_metric_config_init(struct judge_metric_config *cfg)
{
	memset(cfg, 0, sizeof *cfg);
	cfg->direction = JUDGE_DIR_EITHER;
	cfg->nan_strategy = JUDGE_NAN_REMOVE;
	cfg->confidence = JUDGE_DEFAULT_CONFIDENCE;
	cfg->tolerance = JUDGE_DEFAULT_TOLERANCE;
	cfg->allowed_increase = 1.0;
	cfg->allowed_decrease = 1.0;
	cfg->method = MW_NORMAL;
}

const char *judge_class_name(enum judge_class c)
{
	switch (c) {
	case JUDGE_CLASS_PASS: return "Pass";
	case JUDGE_CLASS_HIGH: return "High";
	case JUDGE_CLASS_LOW: return "Low";
	case JUDGE_CLASS_NODATA: return "Nodata";
	case JUDGE_CLASS_NODATA_FAIL: return "NodataFailMetric";
	}
	return "?";
}

/*
 * The usable samples: NaN, +-Inf and values beyond +-DBL_MAX/2 removed or
 * replaced by 0 (Kayenta's nanStrategy; the last two are treated as NaN since
 * their differences would not be finite), then thinned by a fixed stride (every k-th sample, in the
 * given time order) to at most JUDGE_MAX_SAMPLES. NULL only when out of memory.
 */
static double *usable(const double *v, size_t n, enum judge_nan nan, size_t *out_n, int *thinned)
{
	double *u = malloc((n ? n : 1) * sizeof *u);
	size_t k = 0, stride, m = 0;

	if (!u)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		if (in_range(v[i]))
			u[k++] = v[i];
		else if (nan == JUDGE_NAN_REPLACE)
			u[k++] = 0;
	}
	if (k > JUDGE_MAX_SAMPLES) {
		stride = (k + JUDGE_MAX_SAMPLES - 1) / JUDGE_MAX_SAMPLES;
		for (size_t i = 0; i < k; i += stride)
			u[m++] = u[i];
		k = m;
		*thinned = 1;
	}
	*out_n = k;
	return u;
}

/* Mean as a sum of v/n, which cannot overflow for finite v. */
static double mean_of(const double *v, size_t n)
{
	double s = 0;

	for (size_t i = 0; i < n; i++)
		s += v[i] / (double)n;
	return s;
}

int judge_classify(struct judge_metric_result *out, const struct judge_metric_config *cfg,
                   const double *control, size_t nc, const double *experiment, size_t ne)
{
	double *c = NULL, *e = NULL, *cs = NULL, *es = NULL;
	const char *name;
	struct mw_options mo = {0};
	struct mw_result mw;
	size_t ncu = 0, neu = 0;
	int rc = 0, high, low;

	if (!out || !cfg)
		return sluice_error_set(SLUICE_EINVALID, "judge: no result or config");
	memset(out, 0, sizeof *out);
	name = cfg->name ? cfg->name : "metric";
	if (!(cfg->confidence > 0 && cfg->confidence < 1))
		return sluice_error_set(SLUICE_EINVALID,
		                        "judge: %s: confidence %g is not in (0, 1)", name,
		                        cfg->confidence);
	if (!(cfg->tolerance >= 0 && isfinite(cfg->tolerance)))
		return sluice_error_set(SLUICE_EINVALID, "judge: %s: tolerance %g is not >= 0",
		                        name, cfg->tolerance);
	if (isnan(cfg->allowed_increase) || isnan(cfg->allowed_decrease))
		return sluice_error_set(SLUICE_EINVALID, "judge: %s: effect size is NaN", name);
	if (cfg->direction != JUDGE_DIR_EITHER && cfg->direction != JUDGE_DIR_INCREASE &&
	    cfg->direction != JUDGE_DIR_DECREASE)
		return sluice_error_set(SLUICE_EINVALID, "judge: %s: unknown direction", name);
	if (cfg->nan_strategy != JUDGE_NAN_REMOVE && cfg->nan_strategy != JUDGE_NAN_REPLACE)
		return sluice_error_set(SLUICE_EINVALID, "judge: %s: unknown nanStrategy", name);
	if ((nc && !control) || (ne && !experiment))
		return sluice_error_set(SLUICE_EINVALID, "judge: %s: NULL samples", name);

	out->critical = cfg->critical ? 1 : 0;
	out->group = cfg->group ? cfg->group : "default";
	out->ratio = 1.0;
	c = usable(control, nc, cfg->nan_strategy, &ncu, &out->thinned);
	e = usable(experiment, ne, cfg->nan_strategy, &neu, &out->thinned);
	if (!c || !e) {
		rc = sluice_error_set(SLUICE_ENOMEM, "judge: out of memory");
		goto out;
	}
	out->n_control = ncu;
	out->n_experiment = neu;

	/*
	 * MannWhitneyClassifier.classify: no data on either side is Nodata with
	 * nanStrategy remove (NodataFailMetric when mustHaveData and not
	 * critical; a critical metric stays Nodata and fails the score as
	 * critical), and Pass with nanStrategy replace.
	 */
	if (ncu == 0 || neu == 0) {
		const char *side = ncu == 0 && neu == 0 ? "baseline and canary"
		                   : ncu == 0           ? "baseline"
		                                        : "canary";
		if (cfg->nan_strategy == JUDGE_NAN_REPLACE) {
			out->cls = JUDGE_CLASS_PASS;
			snprintf(out->reason, sizeof out->reason,
			         "%s: no %s data, nanStrategy replace: Pass", name, side);
		} else if (cfg->must_have_data && !cfg->critical) {
			out->cls = JUDGE_CLASS_NODATA_FAIL;
			snprintf(out->reason, sizeof out->reason, "%s: no %s data (mustHaveData)",
			         name, side);
		} else {
			out->cls = JUDGE_CLASS_NODATA;
			snprintf(out->reason, sizeof out->reason, "%s: no %s data", name, side);
		}
		goto out;
	}

	/* Identical samples pass; so does a pooled sample of one value. */
	cs = sorted_copy(c, ncu);
	es = sorted_copy(e, neu);
	if (!cs || !es) {
		rc = sluice_error_set(SLUICE_ENOMEM, "judge: out of memory");
		goto out;
	}
	if (ncu == neu && memcmp(cs, es, ncu * sizeof *cs) == 0) {
		out->cls = JUDGE_CLASS_PASS;
		snprintf(out->reason, sizeof out->reason, "%s: canary and baseline are identical",
		         name);
		goto out;
	}
	if (cs[0] == cs[ncu - 1] && es[0] == es[neu - 1] && cs[0] == es[0]) {
		out->cls = JUDGE_CLASS_PASS;
		snprintf(out->reason, sizeof out->reason, "%s: every sample is %g", name, cs[0]);
		goto out;
	}

	/*
	 * Kayenta adds Gaussian noise (sd 1e-5 x value) when each side is a
	 * single value, because its root-finder cannot work when sigma is 0.
	 * Here no noise is needed: the differences are then all b - a, so the
	 * estimate and both ends of the interval are exactly b - a, which is
	 * what the noise gives as its scale goes to 0. Deterministic.
	 */
	mo.conf_level = cfg->confidence;
	mo.method = cfg->method;
	rc = mannwhitney_with(es, neu, cs, ncu, &mo, &mw);
	if (rc < 0)
		goto out;
	out->estimate = mw.estimate;
	out->ci_low = mw.ci_low;
	out->ci_high = mw.ci_high;
	/* calculateDeviation: meanRatio(control, experiment), 1.0 when mean(control) is 0 */
	{
		double mc = mean_of(c, ncu);
		out->ratio = mc == 0 ? 1.0 : mean_of(e, neu) / mc;
	}
	/* calculateBounds: +-tolerance * |Hodges-Lehmann estimate| */
	out->bound = cfg->tolerance * fabs(mw.estimate);

	/*
	 * MannWhitneyClassifier.compare (peers.md §2.3):
	 *   High if direction is increase or either, lowerCI > +bound and
	 *        deviation >= allowedIncrease;
	 *   Low  if direction is decrease or either, upperCI < -bound and
	 *        deviation <= allowedDecrease;
	 *   Pass otherwise (High is tested first).
	 */
	high = (cfg->direction == JUDGE_DIR_INCREASE || cfg->direction == JUDGE_DIR_EITHER) &&
	       mw.ci_low > out->bound && out->ratio >= cfg->allowed_increase;
	low = (cfg->direction == JUDGE_DIR_DECREASE || cfg->direction == JUDGE_DIR_EITHER) &&
	      mw.ci_high < -out->bound && out->ratio <= cfg->allowed_decrease;
	out->cls = high ? JUDGE_CLASS_HIGH : low ? JUDGE_CLASS_LOW : JUDGE_CLASS_PASS;
	snprintf(out->reason, sizeof out->reason,
	         "%s: %s: shift %.4g, %g%% CI [%.4g, %.4g], bound %.4g, mean ratio %.4g", name,
	         judge_class_name(out->cls), mw.estimate, cfg->confidence * 100, mw.ci_low,
	         mw.ci_high, out->bound, out->ratio);
out:
	free(c);
	free(e);
	free(cs);
	free(es);
	return rc;
}

/* ---- the score ---- */

const char *judge_verdict_name(enum judge_verdict v)
{
	switch (v) {
	case JUDGE_VERDICT_PASS: return "Pass";
	case JUDGE_VERDICT_MARGINAL: return "Marginal";
	case JUDGE_VERDICT_FAIL: return "Fail";
	}
	return "?";
}

/* ThresholdScoreClassifier: score >= pass: Pass; >= marginal: Marginal; else Fail. */
enum judge_verdict judge_verdict_of(double score, double pass, double marginal)
{
	if (score >= pass)
		return JUDGE_VERDICT_PASS;
	if (score >= marginal)
		return JUDGE_VERDICT_MARGINAL;
	return JUDGE_VERDICT_FAIL;
}

struct tally {
	const char *group;
	size_t pass, high, low, nodata_fail, n;
};

int judge_score(struct judge_score *out, struct judge_group_score *groups, size_t cap,
                const struct judge_metric_result *m, size_t n, const struct judge_score_config *cfg)
{
	struct tally *g = NULL;
	size_t ng = 0, unweighted = 0;
	double wsum = 0, share, sum = 0;
	const struct judge_metric_result *crit = NULL;
	int rc = 0;

	if (!out || !cfg || (n && !m))
		return sluice_error_set(SLUICE_EINVALID,
		                        "judge: score: no result, config or metrics");
	memset(out, 0, sizeof *out);
	if (!(cfg->marginal >= 0 && cfg->marginal <= cfg->pass && cfg->pass <= 100))
		return sluice_error_set(SLUICE_EINVALID,
		                        "judge: score: thresholds need 0 <= marginal (%g) <= pass "
		                        "(%g) <= 100",
		                        cfg->marginal, cfg->pass);
	if (cfg->n_weights && !cfg->weights)
		return sluice_error_set(SLUICE_EINVALID, "judge: score: NULL weights");
	for (size_t i = 0; i < cfg->n_weights; i++) {
		const struct judge_group_weight *w = &cfg->weights[i];
		if (!w->group || !(w->weight >= 0 && isfinite(w->weight)))
			return sluice_error_set(SLUICE_EINVALID,
			                        "judge: score: weight %zu: needs a group and a "
			                        "weight >= 0",
			                        i);
		for (size_t k = 0; k < i; k++)
			if (strcmp(cfg->weights[k].group, w->group) == 0)
				return sluice_error_set(SLUICE_EINVALID,
				                        "judge: score: group %s weighted twice",
				                        w->group);
		wsum += w->weight;
	}
	if (wsum > 100 + 1e-9)
		return sluice_error_set(
		    SLUICE_EINVALID, "judge: score: group weights total %g, more than 100", wsum);
	if (n > JUDGE_MAX_METRICS)
		return sluice_error_set(SLUICE_ELIMIT, "judge: score: %zu metrics, at most %d", n,
		                        JUDGE_MAX_METRICS);
	if (n == 0) {
		out->verdict = judge_verdict_of(0, cfg->pass, cfg->marginal);
		snprintf(out->reason, sizeof out->reason, "no metrics");
		return 0;
	}
	g = calloc(n, sizeof *g);
	if (!g)
		return sluice_error_set(SLUICE_ENOMEM, "judge: out of memory");

	/* WeightedSumScorer.calculateGroupScore: tally each group's labels. */
	for (size_t i = 0; i < n; i++) {
		const char *name = m[i].group ? m[i].group : "default";
		size_t k;
		for (k = 0; k < ng && strcmp(g[k].group, name) != 0; k++)
			;
		if (k == ng)
			g[ng++].group = name;
		g[k].n++;
		switch (m[i].cls) {
		case JUDGE_CLASS_PASS:
			g[k].pass++;
			out->n_pass++;
			break;
		case JUDGE_CLASS_HIGH:
			g[k].high++;
			out->n_high++;
			break;
		case JUDGE_CLASS_LOW:
			g[k].low++;
			out->n_low++;
			break;
		case JUDGE_CLASS_NODATA: out->n_nodata++; break;
		case JUDGE_CLASS_NODATA_FAIL:
			g[k].nodata_fail++;
			out->n_nodata_fail++;
			break;
		default:
			rc = sluice_error_set(SLUICE_EINVALID,
			                      "judge: score: metric %zu: bad class", i);
			goto out;
		}
		if (m[i].critical && m[i].cls != JUDGE_CLASS_PASS && !crit)
			crit = &m[i];
	}
	out->n_groups = ng;

	/*
	 * calculateSummaryScore: groups without a weight share what the weights
	 * leave of 100 equally; a group with no data counts as 100.
	 */
	for (size_t k = 0; k < ng; k++) {
		size_t w;
		for (w = 0; w < cfg->n_weights && strcmp(cfg->weights[w].group, g[k].group); w++)
			;
		if (w == cfg->n_weights)
			unweighted++;
	}
	share = unweighted ? (100 - wsum) / (double)unweighted : 0;
	for (size_t k = 0; k < ng; k++) {
		size_t tot = g[k].pass + g[k].high + g[k].low + g[k].nodata_fail, w;
		double score = tot ? (double)g[k].pass / (double)tot * 100 : 100, weight = share;
		for (w = 0; w < cfg->n_weights; w++)
			if (strcmp(cfg->weights[w].group, g[k].group) == 0)
				weight = cfg->weights[w].weight;
		sum += score * (weight / 100);
		if (groups && k < cap) {
			groups[k].group = g[k].group;
			groups[k].score = score;
			groups[k].weight = weight;
			groups[k].nodata = tot == 0;
			groups[k].n_metrics = g[k].n;
		}
	}

	/* score(): a critical failure first, then NODATA_THRESHOLD = 50 percent. */
	if (crit) {
		out->critical_failure = 1;
		out->score = 0;
		snprintf(out->reason, sizeof out->reason, "critical metric failed: %.130s",
		         crit->reason);
	} else if ((double)out->n_nodata / (double)n * 100 >= 50) {
		out->too_many_nodata = 1;
		out->score = 0;
		snprintf(out->reason, sizeof out->reason,
		         "%zu of %zu metrics returned no data (50%% or more)", out->n_nodata, n);
	} else {
		/* MathUtils.round(summaryScore, 2) */
		out->score = floor(sum * 100 + 0.5) / 100;
		snprintf(out->reason, sizeof out->reason,
		         "score %.2f: %zu pass, %zu high, %zu low, %zu nodata, %zu nodata-fail",
		         out->score, out->n_pass, out->n_high, out->n_low, out->n_nodata,
		         out->n_nodata_fail);
	}
	out->verdict = judge_verdict_of(out->score, cfg->pass, cfg->marginal);
out:
	free(g);
	return rc;
}

/*
 * Several intervals. The docs (CanaryAnalysisExecutionRequest.java) say the
 * last score must meet pass and the earlier ones must "meet or exceed" the
 * marginal score; the code (MonitorCanaryTask: `canaryScore <= marginal` is
 * TERMINAL; GenerateCanaryAnalysisResultTask.getAggregatedJudgment: final
 * `<= marginal` fails, then `< pass` fails) fails a score equal to marginal.
 * The code is followed.
 */
enum judge_run judge_intervals(size_t *decided_at, const double *scores, size_t n, size_t total,
                               double pass, double marginal)
{
	size_t at = n;
	enum judge_run run = JUDGE_RUN_CONTINUE;

	if (total == 0 || n > total)
		total = n;
	if (n && !scores)
		n = 0;
	for (size_t i = 0; i < n; i++) {
		if (!(scores[i] > marginal)) {
			at = i;
			run = JUDGE_RUN_FAIL;
			goto out;
		}
	}
	if (n > 0 && n == total) {
		at = n - 1;
		run = scores[n - 1] >= pass ? JUDGE_RUN_PASS : JUDGE_RUN_FAIL;
	}
out:
	if (decided_at)
		*decided_at = at;
	return run;
}
