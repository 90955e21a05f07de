/*
 * The canary judge: Mann-Whitney U against published R output and Kayenta's
 * own test values, brute-force enumerations where no published value exists,
 * the Kayenta metric rule, the score, several intervals, a seeded simulation
 * of a global incident and a speed check. Offline, deterministic.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sluice/error.h"
#include "sluice/judge.h"
#include "support.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

static void near(double got, double want, double tol, const char *what)
{
	if (!(fabs(got - want) <= tol)) {
		print_error("%s: got %.10g, want %.10g (tolerance %g)\n", what, got, want, tol);
		fail();
	}
}

#define MW_OK(call)                                                                  \
	do {                                                                         \
		int rc_ = (call);                                                    \
		if (rc_ != 0) {                                                      \
			print_error("%s: %d %s\n", #call, rc_, sluice_error_last()); \
			fail();                                                      \
		}                                                                    \
	} while (0)

/* ---- brute force, independent of src/analysis/judge.c ---- */

/* U of a against b by counting pairs: a > b counts 1, a == b counts 1/2. */
static double pairs_u(const double *a, size_t na, const double *b, size_t nb)
{
	double u = 0;

	for (size_t i = 0; i < na; i++)
		for (size_t j = 0; j < nb; j++)
			u += a[i] > b[j] ? 1 : a[i] == b[j] ? 0.5 : 0;
	return u;
}

/*
 * The permutation distribution of U: every way of taking nx of the pooled
 * values as "x" (bitmask over at most 20 values). Fills us[] (one U per
 * assignment) and returns their number.
 */
static size_t enumerate_u(const double *x, size_t nx, const double *y, size_t ny, double *us)
{
	double pool[20], a[20], b[20];
	size_t n = nx + ny, cnt = 0;

	memcpy(pool, x, nx * sizeof *x);
	memcpy(pool + nx, y, ny * sizeof *y);
	for (uint32_t mask = 0; mask < (1u << n); mask++) {
		size_t na = 0, nb = 0;
		if ((size_t)__builtin_popcount(mask) != nx)
			continue;
		for (size_t i = 0; i < n; i++) {
			if (mask & (1u << i))
				a[na++] = pool[i];
			else
				b[nb++] = pool[i];
		}
		us[cnt++] = pairs_u(a, na, b, nb);
	}
	return cnt;
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* ---- Mann-Whitney against references ---- */

/*
 * R documentation, ?wilcox.test, two-sample example (data: Hollander & Wolfe
 * 1973, p. 69f, permeability of the human chorioamnion):
 *   wilcox.test(x, y, alternative = "g")  ->  W = 35, p-value = 0.1272
 *   wilcox.test(x, y, alternative = "greater", exact = FALSE, correct = FALSE)
 *                                         ->  W = 35, p-value = 0.1103
 *   two-sided exact (twice the first)     ->  p-value = 0.2544
 * The Hodges-Lehmann estimate and 95% interval are not printed in R's docs;
 * they are computed here independently: all 3003 assignments are enumerated
 * for the U distribution, and the 50 differences sorted (R's algorithm:
 * qu = qwilcox(0.025), cint = diffs[qu], diffs[nm - qu + 1]). That gives
 * estimate 0.305, interval [-0.15, 0.76], achieved level 0.9600 (also checked
 * offline with a separate Python enumeration).
 */
static void r_doc_example(void **state)
{
	static const double x[] = {0.80, 0.83, 1.89, 1.04, 1.45, 1.38, 1.91, 1.64, 0.73, 1.46};
	static const double y[] = {1.15, 0.88, 0.90, 0.74, 1.21};
	struct mw_result r, rn;
	struct mw_options nocorr = {.method = MW_NORMAL, .no_correction = 1};
	struct mw_options norm = {.method = MW_NORMAL};
	static double us[3003];
	double d[50], ge = 0, le = 0, acc = 0;
	size_t n, qu = 0;
	(void)state;

	MW_OK(mannwhitney(x, 10, y, 5, &r));
	assert_int_equal(r.method, MW_EXACT);
	near(r.u, 35, 0, "W");
	near(r.u_min, 15, 0, "min U");
	near(r.p_value, 0.2544, 5e-5, "exact two-sided p (R docs)");
	near(r.p_greater, 0.1272, 5e-5, "exact greater p (R docs)");
	near(r.p_exact, r.p_value, 0, "p_exact");

	MW_OK(mannwhitney_with(x, 10, y, 5, &nocorr, &rn));
	assert_int_equal(rn.method, MW_NORMAL);
	near(rn.p_greater, 0.1103, 5e-5, "H&W large-sample p (R docs)");

	/* Independently: the enumerated permutation distribution. */
	n = enumerate_u(x, 10, y, 5, us);
	assert_int_equal(n, 3003);
	for (size_t i = 0; i < n; i++) {
		ge += us[i] >= 35;
		le += us[i] <= 35;
	}
	near(r.p_greater, ge / (double)n, 1e-12, "P(U >= 35) by enumeration");
	near(r.p_less, le / (double)n, 1e-12, "P(U <= 35) by enumeration");
	near(r.p_value, fmin(1, 2 * fmin(ge, le) / (double)n), 1e-12, "two-sided by enumeration");

	/* Normal with continuity correction, by hand: z = (35 - 25 - 0.5) / sqrt(50 * 16 / 12). */
	MW_OK(mannwhitney_with(x, 10, y, 5, &norm, &rn));
	near(rn.p_value, erfc((9.5 / sqrt(50.0 * 16 / 12)) / M_SQRT2), 1e-12, "normal p");
	near(r.p_normal, rn.p_value, 0, "p_normal computed with the exact one");

	/* Hodges-Lehmann and the exact interval, by sorting the 50 differences. */
	for (size_t i = 0, k = 0; i < 10; i++)
		for (size_t j = 0; j < 5; j++)
			d[k++] = x[i] - y[j];
	qsort(d, 50, sizeof *d, cmp_d);
	qsort(us, n, sizeof *us, cmp_d);
	while (qu < n && (acc += 1.0 / (double)n) < 0.025)
		qu++;
	/* us sorted ascending: P(U <= us[i]) >= 0.025 first at index qu; its value is qwilcox */
	qu = (size_t)us[qu];
	assert_int_equal(qu, 9);
	near(r.estimate, (d[24] + d[25]) / 2, 1e-15, "HL estimate");
	near(r.estimate, 0.305, 1e-12, "HL estimate value");
	near(r.ci_low, d[qu - 1], 0, "CI low");
	near(r.ci_high, d[50 - qu], 0, "CI high");
	near(r.ci_low, -0.15, 1e-12, "CI low value");
	near(r.ci_high, 0.76, 1e-12, "CI high value");
	near(r.conf_achieved, 0.9600399600399601, 1e-12, "achieved level");
}

/*
 * Published R output with ties (normal approximation with tie and continuity
 * correction; R warns "cannot compute exact p-value with ties"):
 *  - mtcars, wilcox.test(mpg ~ am): W = 42, p-value = 0.001871 (r-tutor.com,
 *    "Mann-Whitney-Wilcoxon Test"); 0.001871391 printed in
 *    stats.stackexchange.com/questions/290830.
 *  - endmemo.com/r/wilcoxon.php: x = c(1,5,9,24,56,21,3,7,21,4) against
 *    y = c(12,15,5,9,9,14,56,22,3,7,32,5): W = 51.5, p-value = 0.5966; against
 *    y = c(1233,4356,987,39999,1111,200000): W = 0, p-value = 0.001364.
 */
static void r_published_ties(void **state)
{
	/* R's mtcars: mpg split by am (0 automatic = x, 1 manual = y), in row order */
	static const double automatic[] = {21.4, 18.7, 18.1, 14.3, 24.4, 22.8, 19.2,
	                                   17.8, 16.4, 17.3, 15.2, 10.4, 10.4, 14.7,
	                                   21.5, 15.5, 15.2, 13.3, 19.2};
	static const double manual[] = {21.0, 21.0, 22.8, 32.4, 30.4, 33.9, 27.3,
	                                26.0, 30.4, 15.8, 19.7, 15.0, 21.4};
	static const double x[] = {1, 5, 9, 24, 56, 21, 3, 7, 21, 4};
	static const double y1[] = {12, 15, 5, 9, 9, 14, 56, 22, 3, 7, 32, 5};
	static const double y2[] = {1233, 4356, 987, 39999, 1111, 200000};
	struct mw_result r;
	(void)state;

	MW_OK(mannwhitney(automatic, NELEM(automatic), manual, NELEM(manual), &r));
	assert_true(r.ties);
	assert_int_equal(r.method, MW_NORMAL);
	assert_true(isnan(r.p_exact));
	near(r.u, 42, 0, "mtcars W");
	near(r.p_value, 0.001871391, 5e-10, "mtcars p");

	MW_OK(mannwhitney(x, NELEM(x), y1, NELEM(y1), &r));
	near(r.u, 51.5, 0, "endmemo W");
	near(r.p_value, 0.5966, 5e-5, "endmemo p");

	MW_OK(mannwhitney(x, NELEM(x), y2, NELEM(y2), &r));
	assert_int_equal(r.method, MW_NORMAL); /* ties inside x (21, 21) only */
	near(r.u, 0, 0, "endmemo W = 0");
	near(r.p_value, 0.001364, 5e-7, "endmemo p 2");
}

/*
 * The tie-corrected variance from first principles: under H0 every
 * assignment of the pooled values is equally likely, so the exact mean and
 * variance of U (midranks, ties counting 1/2) come from enumerating them all.
 * The normal p-value computed from that variance must equal the library's.
 */
static void tie_variance_by_enumeration(void **state)
{
	static const double x[] = {1, 2, 2, 3, 5, 5};
	static const double y[] = {2, 3, 3, 4, 5, 6, 6, 7};
	static double us[3003];
	double mean = 0, var = 0, u, d, z;
	struct mw_result r;
	size_t n;
	(void)state;

	n = enumerate_u(x, 6, y, 8, us);
	assert_int_equal(n, 3003);
	for (size_t i = 0; i < n; i++)
		mean += us[i] / (double)n;
	for (size_t i = 0; i < n; i++)
		var += (us[i] - mean) * (us[i] - mean) / (double)n;
	near(mean, 24, 1e-9, "E[U] = nm/2");
	u = pairs_u(x, 6, y, 8);
	d = u - 24;
	z = (d - (d > 0 ? 0.5 : d < 0 ? -0.5 : 0)) / sqrt(var);

	MW_OK(mannwhitney(x, 6, y, 8, &r));
	assert_true(r.ties);
	near(r.u, u, 0, "U");
	near(r.z, z, 1e-9, "z");
	near(r.p_value, erfc(fabs(z) / M_SQRT2), 1e-12, "p from enumerated variance");
}

/*
 * Kayenta's own tests (spinnaker/kayenta, kayenta-mannwhitney):
 *  MannWhitneySuite "returns expected values": control 1,2,3,4, experiment
 *    10,20,30,40, confidence 0.95 -> interval [6, 39], estimate 22.5 (its
 *    port of R's exact = FALSE path, i.e. the normal approximation).
 *  WilcoxTests "pwilson tests": pwilcox(317, 30, 30) = 0.02481 (1e-5);
 *    "cwilcox java tests": cwilcox(0, 1, 20) / 21 = 0.047619047619047616.
 */
static void kayenta_reference(void **state)
{
	static const double control[] = {1, 2, 3, 4};
	static const double experiment[] = {10, 20, 30, 40};
	struct mw_options o = {.conf_level = 0.95, .method = MW_NORMAL};
	struct mw_result r;
	double p;
	(void)state;

	MW_OK(mannwhitney_with(experiment, 4, control, 4, &o, &r));
	near(r.ci_low, 6, 0, "Kayenta CI low");
	near(r.ci_high, 39, 0, "Kayenta CI high");
	near(r.estimate, 22.5, 0, "Kayenta estimate");

	MW_OK(mannwhitney_exact_cdf(&p, 30, 30, 317));
	near(p, 0.02481, 1e-5, "pwilcox(317, 30, 30)");
	MW_OK(mannwhitney_exact_cdf(&p, 1, 20, 0));
	near(p, 0.047619047619047616, 1e-17, "cwilcox(0, 1, 20) / 21");
	assert_int_equal(mannwhitney_exact_cdf(&p, 50, 3, 1), SLUICE_ELIMIT);
}

/* The exact DP against enumeration for every small m, n and every q. */
static void exact_cdf_by_enumeration(void **state)
{
	static double us[1 << 12];
	double x[12], y[12];
	(void)state;

	for (size_t m = 1; m <= 6; m++) {
		for (size_t n = 1; n <= 6; n++) {
			size_t cnt;
			for (size_t i = 0; i < m; i++)
				x[i] = (double)i * 1.5 + 0.25;
			for (size_t j = 0; j < n; j++)
				y[j] = (double)j * 1.7 + 0.1; /* no ties with x */
			cnt = enumerate_u(x, m, y, n, us);
			for (size_t q = 0; q <= m * n; q++) {
				double le = 0, p;
				for (size_t k = 0; k < cnt; k++)
					le += us[k] <= (double)q;
				MW_OK(mannwhitney_exact_cdf(&p, m, n, (double)q));
				near(p, le / (double)cnt, 1e-13, "P(U <= q)");
			}
		}
	}
}

/* R's wdiff(): the statistic of x - d against y, written out plainly. */
static double wdiff(const double *x, size_t nx, const double *y, size_t ny, double dd, double zq)
{
	double pool[200], rx = 0, ties = 0, nxf = (double)nx, nyf = (double)ny, n = nxf + nyf;
	double dz, sigma;
	size_t np = nx + ny;

	for (size_t i = 0; i < nx; i++)
		pool[i] = x[i] - dd;
	for (size_t j = 0; j < ny; j++)
		pool[nx + j] = y[j];
	for (size_t i = 0; i < nx; i++) {
		double less = 0, eq = 0;
		for (size_t k = 0; k < np; k++) {
			less += pool[k] < pool[i];
			eq += pool[k] == pool[i];
		}
		rx += less + (eq + 1) / 2;
	}
	for (size_t i = 0; i < np; i++) {
		double t = 0, first = 1;
		for (size_t k = 0; k < np; k++) {
			t += pool[k] == pool[i];
			if (k < i && pool[k] == pool[i])
				first = 0;
		}
		if (first)
			ties += t * t * t - t;
	}
	dz = rx - nxf * (nxf + 1) / 2 - nxf * nyf / 2;
	sigma = sqrt((nxf * nyf / 12) * ((n + 1) - ties / (n * (n - 1))));
	return (dz - (dz > 0 ? 0.5 : dz < 0 ? -0.5 : 0)) / sigma - zq;
}

/* The root of wdiff(., zq) as R's root() finds it: where it turns from > 0 to <= 0. */
static double wroot(const double *x, size_t nx, const double *y, size_t ny, const double *dsorted,
                    size_t nd, double zq)
{
	if (wdiff(x, nx, y, ny, dsorted[0], zq) <= 0)
		return dsorted[0];
	for (size_t k = 0; k + 1 < nd; k++) {
		if (dsorted[k] == dsorted[k + 1])
			continue;
		if (wdiff(x, nx, y, ny, (dsorted[k] + dsorted[k + 1]) / 2, zq) <= 0)
			return dsorted[k];
	}
	return dsorted[nd - 1];
}

static uint64_t rng_state;

static uint64_t rng_next(void)
{
	/* splitmix64 */
	uint64_t z = (rng_state += UINT64_C(0x9E3779B97F4A7C15));
	z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
	return z ^ (z >> 31);
}

static double rng_unif(void)
{
	return ((double)(rng_next() >> 11) + 0.5) * (1.0 / 9007199254740992.0);
}

static double rng_norm(void)
{
	return sqrt(-2 * log(rng_unif())) * cos(2 * M_PI * rng_unif());
}

/*
 * The normal-approximation interval as order statistics, checked against a
 * plain root search on R's own wdiff() (z quantiles from tables:
 * qnorm(0.975) = 1.959963984540054, qnorm(0.99) = 2.326347874040841), with
 * and without ties inside the samples.
 */
static void normal_ci_matches_r_roots(void **state)
{
	static const double zq[] = {1.959963984540054, 2.326347874040841};
	static const double conf[] = {0.95, 0.98};
	double x[40], y[30], d[1200];
	(void)state;

	rng_state = 7;
	for (int pass = 0; pass < 4; pass++) {
		for (size_t i = 0; i < 40; i++)
			x[i] = 10 + 2 * rng_norm() + (pass & 1);
		for (size_t j = 0; j < 30; j++)
			y[j] = 10 + 2 * rng_norm();
		if (pass >= 2) { /* ties within x, within y and across */
			for (size_t i = 0; i < 40; i++)
				x[i] = round(x[i]);
			for (size_t j = 0; j < 30; j++)
				y[j] = j % 2 ? round(y[j]) : y[j];
		}
		for (size_t i = 0, k = 0; i < 40; i++)
			for (size_t j = 0; j < 30; j++)
				d[k++] = x[i] - y[j];
		qsort(d, 1200, sizeof *d, cmp_d);
		for (size_t c = 0; c < 2; c++) {
			struct mw_options o = {.conf_level = conf[c], .method = MW_NORMAL};
			struct mw_result r;
			MW_OK(mannwhitney_with(x, 40, y, 30, &o, &r));
			near(r.ci_low, wroot(x, 40, y, 30, d, 1200, zq[c]), 0, "normal CI low");
			near(r.ci_high, wroot(x, 40, y, 30, d, 1200, -zq[c]), 0, "normal CI high");
			near(r.estimate, (d[599] + d[600]) / 2, 0, "HL median");
		}
	}
}

/* ---- one metric ---- */

static struct judge_metric_config metric(const char *name, enum judge_direction dir)
{
	struct judge_metric_config c;
	judge_metric_config_init(&c);
	c.name = name;
	c.direction = dir;
	return c;
}

static enum judge_class classify(const struct judge_metric_config *c, const double *ctl, size_t nc,
                                 const double *exp, size_t ne)
{
	struct judge_metric_result r;
	int rc = judge_classify(&r, c, ctl, nc, exp, ne);
	if (rc != 0) {
		print_error("judge_classify: %d %s\n", rc, sluice_error_last());
		fail();
	}
	return r.cls;
}

/* Error rates around p over n samples: Binomial(requests, p) / requests per sample. */
static void error_rates(double *v, size_t n, double p, int requests)
{
	for (size_t i = 0; i < n; i++) {
		int errors = 0;
		for (int k = 0; k < requests; k++)
			errors += rng_unif() < p;
		v[i] = (double)errors / requests;
	}
}

static void classify_identical_and_ties(void **state)
{
	struct judge_metric_config c = metric("latency", JUDGE_DIR_EITHER);
	double a[30], b[30], k1[20], k2[20];
	struct judge_metric_result r;
	(void)state;

	rng_state = 11;
	for (size_t i = 0; i < 30; i++)
		a[i] = 100 + 10 * rng_norm();
	for (size_t i = 0; i < 30; i++)
		b[i] = a[29 - i]; /* same values, other order */
	assert_int_equal(classify(&c, a, 30, a, 30), JUDGE_CLASS_PASS);
	assert_int_equal(classify(&c, a, 30, b, 30), JUDGE_CLASS_PASS);

	/* every value the same on both sides: Pass (no jitter needed) */
	for (size_t i = 0; i < 20; i++)
		k1[i] = k2[i] = 0.5;
	assert_int_equal(classify(&c, k1, 20, k2, 15), JUDGE_CLASS_PASS);

	/*
	 * Each side constant but different: Kayenta jitters (sd 1e-5 x value);
	 * here the interval is exactly [b - a, b - a], the noise's limit.
	 */
	for (size_t i = 0; i < 20; i++)
		k2[i] = 0.7;
	MW_OK(judge_classify(&r, &c, k1, 20, k2, 20));
	assert_int_equal(r.cls, JUDGE_CLASS_HIGH);
	near(r.estimate, 0.2, 1e-15, "constant shift");
	near(r.ci_low, 0.2, 1e-15, "constant shift CI low");
	near(r.ci_high, 0.2, 1e-15, "constant shift CI high");
	assert_int_equal(classify(&c, k2, 20, k1, 20), JUDGE_CLASS_LOW);
}

static void classify_worse_canary_and_global_incident(void **state)
{
	struct judge_metric_config inc = metric("error-rate", JUDGE_DIR_INCREASE);
	struct judge_metric_config dec = metric("error-rate", JUDGE_DIR_DECREASE);
	double base[30], canary[30];
	struct judge_metric_result r;
	(void)state;

	/* canary clearly worse: error rates 0.20 against 0.01, 30 samples each */
	rng_state = 21;
	error_rates(base, 30, 0.01, 500);
	error_rates(canary, 30, 0.20, 500);
	MW_OK(judge_classify(&r, &inc, base, 30, canary, 30));
	assert_int_equal(r.cls, JUDGE_CLASS_HIGH);
	assert_true(r.ratio > 10);
	/* a rise is not bad when only a fall is */
	assert_int_equal(classify(&dec, base, 30, canary, 30), JUDGE_CLASS_PASS);
	/* an effect-size floor above the ratio keeps it Pass (Kayenta's allowedIncrease) */
	inc.allowed_increase = 2 * r.ratio;
	assert_int_equal(classify(&inc, base, 30, canary, 30), JUDGE_CLASS_PASS);
	inc.allowed_increase = 1.5;
	assert_int_equal(classify(&inc, base, 30, canary, 30), JUDGE_CLASS_HIGH);

	/* a global incident: both equally bad -> the canary is innocent */
	error_rates(base, 30, 0.20, 500);
	error_rates(canary, 30, 0.20, 500);
	assert_int_equal(classify(&inc, base, 30, canary, 30), JUDGE_CLASS_PASS);

	/* throughput that falls: Low with decrease, Pass with increase */
	for (size_t i = 0; i < 30; i++) {
		base[i] = 1000 + 30 * rng_norm();
		canary[i] = 600 + 30 * rng_norm();
	}
	assert_int_equal(classify(&dec, base, 30, canary, 30), JUDGE_CLASS_LOW);
	inc.allowed_increase = 1.0;
	assert_int_equal(classify(&inc, base, 30, canary, 30), JUDGE_CLASS_PASS);
}

static void classify_no_data_and_nan(void **state)
{
	struct judge_metric_config c = metric("errors", JUDGE_DIR_INCREASE);
	double base[20], nan3[20];
	struct judge_metric_result r;
	(void)state;

	for (size_t i = 0; i < 20; i++) {
		base[i] = 0.01 + 0.001 * (double)i;
		nan3[i] = NAN;
	}
	/* empty canary */
	MW_OK(judge_classify(&r, &c, base, 20, NULL, 0));
	assert_int_equal(r.cls, JUDGE_CLASS_NODATA);
	assert_string_equal(judge_class_name(r.cls), "Nodata");
	c.must_have_data = 1;
	assert_int_equal(classify(&c, base, 20, NULL, 0), JUDGE_CLASS_NODATA_FAIL);
	assert_string_equal(judge_class_name(JUDGE_CLASS_NODATA_FAIL), "NodataFailMetric");
	/* critical and mustHaveData: stays Nodata, flagged critical (fails the score) */
	c.critical = 1;
	MW_OK(judge_classify(&r, &c, base, 20, NULL, 0));
	assert_int_equal(r.cls, JUDGE_CLASS_NODATA);
	assert_int_equal(r.critical, 1);
	c.critical = 0;
	c.must_have_data = 0;

	/* nanStrategy remove: an all-NaN canary has no data */
	assert_int_equal(classify(&c, base, 20, nan3, 20), JUDGE_CLASS_NODATA);
	/* NaNs among values are dropped: the same values with NaNs added still Pass */
	{
		double with_nan[25];
		for (size_t i = 0; i < 20; i++)
			with_nan[i] = base[i];
		for (size_t i = 20; i < 25; i++)
			with_nan[i] = i == 24 ? -1e308 : i % 2 ? NAN : INFINITY;
		MW_OK(judge_classify(&r, &c, base, 20, with_nan, 25));
		assert_int_equal(r.cls, JUDGE_CLASS_PASS);
		assert_int_equal(r.n_experiment, 20);
	}
	/* nanStrategy replace: NaN is 0, so the canary's zeros are lower than the baseline */
	c.nan_strategy = JUDGE_NAN_REPLACE;
	MW_OK(judge_classify(&r, &c, base, 20, nan3, 20));
	assert_int_equal(r.n_experiment, 20);
	assert_int_equal(r.cls, JUDGE_CLASS_PASS); /* lower, but only a rise is bad */
	c.direction = JUDGE_DIR_EITHER;
	assert_int_equal(classify(&c, base, 20, nan3, 20), JUDGE_CLASS_LOW);
	/* ... and an empty series with replace is Pass (Kayenta) */
	assert_int_equal(classify(&c, base, 20, NULL, 0), JUDGE_CLASS_PASS);

	/* bad configuration */
	c.confidence = 1.5;
	assert_int_equal(judge_classify(&r, &c, base, 20, base, 20), SLUICE_EINVALID);
}

/* ---- the score ---- */

static struct judge_metric_result res(const char *group, enum judge_class cls, int critical)
{
	struct judge_metric_result r;
	memset(&r, 0, sizeof r);
	r.group = group;
	r.cls = cls;
	r.critical = critical;
	snprintf(r.reason, sizeof r.reason, "%s metric", judge_class_name(cls));
	return r;
}

static void score_groups_and_weights(void **state)
{
	struct judge_group_weight w[] = {{"errors", 60}};
	struct judge_score_config cfg = {w, 1, 95, 75};
	struct judge_metric_result m[6];
	struct judge_group_score gs[4];
	struct judge_score s;
	(void)state;

	/* errors: 1 of 2 pass (50); latency: 2 of 3 (66.67); saturation: no data (100) */
	m[0] = res("errors", JUDGE_CLASS_PASS, 0);
	m[1] = res("errors", JUDGE_CLASS_HIGH, 0);
	m[2] = res("latency", JUDGE_CLASS_PASS, 0);
	m[3] = res("latency", JUDGE_CLASS_PASS, 0);
	m[4] = res("latency", JUDGE_CLASS_NODATA_FAIL, 0);
	m[5] = res("saturation", JUDGE_CLASS_NODATA, 0);
	MW_OK(judge_score(&s, gs, 4, m, 6, &cfg));
	assert_int_equal(s.n_groups, 3);
	near(gs[0].score, 50, 1e-12, "errors group");
	near(gs[0].weight, 60, 0, "errors weight");
	near(gs[1].score, 200.0 / 3, 1e-12, "latency group");
	near(gs[1].weight, 20, 0, "unweighted share");
	near(gs[2].score, 100, 0, "no-data group counts as 100");
	assert_true(gs[2].nodata);
	/* 50 * 0.6 + 66.667 * 0.2 + 100 * 0.2 = 63.333 -> 63.33 */
	near(s.score, 63.33, 1e-9, "weighted sum, 2 decimals");
	assert_int_equal(s.verdict, JUDGE_VERDICT_FAIL);

	/* all pass but the no-data one: 100 */
	m[1] = res("errors", JUDGE_CLASS_PASS, 0);
	m[4] = res("latency", JUDGE_CLASS_PASS, 0);
	MW_OK(judge_score(&s, NULL, 0, m, 6, &cfg));
	near(s.score, 100, 0, "all pass");
	assert_int_equal(s.verdict, JUDGE_VERDICT_PASS);

	/* a critical metric that is not Pass: 0 */
	m[2] = res("latency", JUDGE_CLASS_LOW, 1);
	MW_OK(judge_score(&s, NULL, 0, m, 6, &cfg));
	assert_true(s.critical_failure);
	near(s.score, 0, 0, "critical");
	assert_int_equal(s.verdict, JUDGE_VERDICT_FAIL);
	/* a critical metric with no data also fails */
	m[2] = res("latency", JUDGE_CLASS_NODATA, 1);
	MW_OK(judge_score(&s, NULL, 0, m, 6, &cfg));
	assert_true(s.critical_failure);
	/* a critical metric that passes does not */
	m[2] = res("latency", JUDGE_CLASS_PASS, 1);
	MW_OK(judge_score(&s, NULL, 0, m, 6, &cfg));
	assert_false(s.critical_failure);
	near(s.score, 100, 0, "critical pass");

	/* no weights: equal shares */
	cfg.n_weights = 0;
	m[1] = res("errors", JUDGE_CLASS_HIGH, 0);
	MW_OK(judge_score(&s, gs, 4, m, 6, &cfg));
	near(gs[0].weight, 100.0 / 3, 1e-12, "equal share");
	near(s.score, 83.33, 1e-9, "(50 + 100 + 100) / 3");
	assert_int_equal(s.verdict, JUDGE_VERDICT_MARGINAL);

	/* bad weights */
	{
		struct judge_group_weight over[] = {{"errors", 70}, {"latency", 40}};
		struct judge_group_weight twice[] = {{"errors", 10}, {"errors", 10}};
		struct judge_score_config bad = {over, 2, 95, 75};
		assert_int_equal(judge_score(&s, NULL, 0, m, 6, &bad), SLUICE_EINVALID);
		bad.weights = twice;
		assert_int_equal(judge_score(&s, NULL, 0, m, 6, &bad), SLUICE_EINVALID);
		bad.weights = w;
		bad.n_weights = 1;
		bad.marginal = 96;
		assert_int_equal(judge_score(&s, NULL, 0, m, 6, &bad), SLUICE_EINVALID);
	}
}

static void score_nodata_rule_and_thresholds(void **state)
{
	struct judge_score_config cfg = {NULL, 0, 95, 75};
	struct judge_metric_result m[4];
	struct judge_score s;
	(void)state;

	/* 2 of 4 NODATA (50%): score 0 although the rest pass */
	m[0] = res("a", JUDGE_CLASS_PASS, 0);
	m[1] = res("a", JUDGE_CLASS_PASS, 0);
	m[2] = res("a", JUDGE_CLASS_NODATA, 0);
	m[3] = res("b", JUDGE_CLASS_NODATA, 0);
	MW_OK(judge_score(&s, NULL, 0, m, 4, &cfg));
	assert_true(s.too_many_nodata);
	near(s.score, 0, 0, "50% nodata");
	/* 1 of 4: fine (group b has no data -> 100) */
	m[3] = res("b", JUDGE_CLASS_PASS, 0);
	MW_OK(judge_score(&s, NULL, 0, m, 4, &cfg));
	assert_false(s.too_many_nodata);
	near(s.score, 100, 0, "25% nodata");
	/* NODATA_FAIL is not NODATA for the 50% rule, but fails in its group */
	m[2] = res("a", JUDGE_CLASS_NODATA_FAIL, 0);
	m[3] = res("b", JUDGE_CLASS_NODATA_FAIL, 0);
	MW_OK(judge_score(&s, NULL, 0, m, 4, &cfg));
	assert_false(s.too_many_nodata);
	near(s.score, 33.33, 1e-9, "(66.67 + 0) / 2");
	/* no metrics: 0 */
	MW_OK(judge_score(&s, NULL, 0, NULL, 0, &cfg));
	near(s.score, 0, 0, "no metrics");

	/* thresholds: >= pass Pass, >= marginal Marginal, else Fail */
	assert_int_equal(judge_verdict_of(95, 95, 75), JUDGE_VERDICT_PASS);
	assert_int_equal(judge_verdict_of(94.99, 95, 75), JUDGE_VERDICT_MARGINAL);
	assert_int_equal(judge_verdict_of(75, 95, 75), JUDGE_VERDICT_MARGINAL);
	assert_int_equal(judge_verdict_of(74.99, 95, 75), JUDGE_VERDICT_FAIL);
	assert_string_equal(judge_verdict_name(JUDGE_VERDICT_MARGINAL), "Marginal");
}

static void multi_interval(void **state)
{
	static const double pass3[] = {80, 90, 96};
	static const double at_marginal[] = {80, 75, 99};
	static const double low_last[] = {80, 90, 94};
	size_t at;
	(void)state;

	assert_int_equal(judge_intervals(&at, pass3, 3, 3, 95, 75), JUDGE_RUN_PASS);
	assert_int_equal(at, 2);
	/* still running: the earlier ones only need to stay above marginal */
	assert_int_equal(judge_intervals(&at, pass3, 2, 3, 95, 75), JUDGE_RUN_CONTINUE);
	assert_int_equal(at, 2);
	/* a score at marginal fails fast (Kayenta's code: canaryScore <= marginal) */
	assert_int_equal(judge_intervals(&at, at_marginal, 2, 3, 95, 75), JUDGE_RUN_FAIL);
	assert_int_equal(at, 1);
	/* the last one must reach pass */
	assert_int_equal(judge_intervals(&at, low_last, 3, 3, 95, 75), JUDGE_RUN_FAIL);
	assert_int_equal(at, 2);
	/* a single interval run */
	assert_int_equal(judge_intervals(&at, pass3 + 2, 1, 1, 95, 75), JUDGE_RUN_PASS);
	assert_int_equal(judge_intervals(NULL, pass3, 0, 3, 95, 75), JUDGE_RUN_CONTINUE);
}

/* ---- simulation ---- */

#define SIM_CANARIES 100
#define SIM_SAMPLES  60  /* one per minute for an hour: Kayenta asks for >= 50 */
#define SIM_REQUESTS 200 /* requests per minute per side */

/*
 * One canary analysis: error rate (Binomial(200, p) / 200 per minute) and p99
 * latency (lognormal, sd 0.2 in log space) for baseline and canary, both
 * direction increase, groups errors 50 / latency 50, pass 95, marginal 75.
 * `incident` makes minutes 20..44 bad for both sides (error rate 0.20,
 * latency x3.5); `worse` multiplies the canary's error probability.
 */
static enum judge_verdict sim_canary(int incident, double worse, double *naive_mean)
{
	static const struct judge_group_weight w[] = {{"errors", 50}, {"latency", 50}};
	struct judge_score_config sc = {w, 2, 95, 75};
	struct judge_metric_config ce = metric("error-rate", JUDGE_DIR_INCREASE);
	struct judge_metric_config cl = metric("latency-p99", JUDGE_DIR_INCREASE);
	double be[SIM_SAMPLES], ca[SIM_SAMPLES], bl[SIM_SAMPLES], cal[SIM_SAMPLES], mean = 0;
	struct judge_metric_result m[2];
	struct judge_score s;

	ce.group = "errors";
	cl.group = "latency";
	for (size_t t = 0; t < SIM_SAMPLES; t++) {
		int bad = incident && t >= 20 && t < 45;
		double p = bad ? 0.20 : 0.01, lat = bad ? 420 : 120;
		error_rates(&be[t], 1, p, SIM_REQUESTS);
		error_rates(&ca[t], 1, fmin(1, p * worse), SIM_REQUESTS);
		bl[t] = lat * exp(0.2 * rng_norm());
		cal[t] = lat * exp(0.2 * rng_norm());
		mean += ca[t] / SIM_SAMPLES;
	}
	*naive_mean = mean;
	MW_OK(judge_classify(&m[0], &ce, be, SIM_SAMPLES, ca, SIM_SAMPLES));
	MW_OK(judge_classify(&m[1], &cl, bl, SIM_SAMPLES, cal, SIM_SAMPLES));
	MW_OK(judge_score(&s, NULL, 0, m, 2, &sc));
	return s.verdict;
}

static void simulation_global_incident(void **state)
{
	int fail = 0, marginal = 0, naive = 0, caught = 0, caught_incident = 0;
	double mean;
	(void)state;

	rng_state = 20240601; /* fixed once, not tuned */
	for (int i = 0; i < SIM_CANARIES; i++) {
		enum judge_verdict v = sim_canary(1, 1.0, &mean);
		fail += v == JUDGE_VERDICT_FAIL;
		marginal += v == JUDGE_VERDICT_MARGINAL;
		naive += mean > 0.05; /* a fixed "error rate < 5%" policy */
	}
	for (int i = 0; i < SIM_CANARIES; i++)
		caught += sim_canary(0, 3.0, &mean) == JUDGE_VERDICT_FAIL;
	for (int i = 0; i < SIM_CANARIES; i++)
		caught_incident += sim_canary(1, 3.0, &mean) == JUDGE_VERDICT_FAIL;
	printf("simulation: global incident, healthy canary: %d/%d FAIL (false rollbacks), "
	       "%d MARGINAL; a fixed 5%% error-rate threshold would roll back %d/%d\n",
	       fail, SIM_CANARIES, marginal, naive, SIM_CANARIES);
	printf("simulation: canary 3x the error rate: caught %d/%d; 3x during the incident: "
	       "caught %d/%d\n",
	       caught, SIM_CANARIES, caught_incident, SIM_CANARIES);
	assert_int_equal(fail, 0);
	assert_true(caught >= 95);
}

/* ---- speed ---- */

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void speed(void **state)
{
	static double b1[1000], c1[1000], b2[1000], c2[1000], big_x[10000], big_y[10000];
	struct judge_metric_config c = metric("m", JUDGE_DIR_INCREASE);
	struct judge_metric_result m[2];
	struct mw_result r;
	double t0, best = 1e9, t_big, t_exact;
	(void)state;

	rng_state = 99;
	for (size_t i = 0; i < 1000; i++) {
		b1[i] = 100 + 10 * rng_norm();
		c1[i] = 101 + 10 * rng_norm();
		b2[i] = round(50 + 5 * rng_norm()); /* ties */
		c2[i] = round(50 + 5 * rng_norm());
	}
	for (int rep = 0; rep < 5; rep++) {
		t0 = now_ms();
		MW_OK(judge_classify(&m[0], &c, b1, 1000, c1, 1000));
		MW_OK(judge_classify(&m[1], &c, b2, 1000, c2, 1000));
		best = fmin(best, now_ms() - t0);
	}
	for (size_t i = 0; i < 10000; i++) {
		big_x[i] = rng_norm();
		big_y[i] = rng_norm() + 0.01;
	}
	t0 = now_ms();
	MW_OK(mannwhitney(big_x, 10000, big_y, 10000, &r));
	t_big = now_ms() - t0;
	t0 = now_ms();
	MW_OK(mannwhitney(big_x, 49, big_y, 49, &r));
	t_exact = now_ms() - t0;
	assert_int_equal(r.method, MW_EXACT);
	printf("speed: 2 metrics x 2 x 1000 samples judged in %.3f ms (best of 5); "
	       "10000 x 10000 test %.3f ms; exact 49 x 49 %.3f ms\n",
	       best, t_big, t_exact);
	assert_true(best < 50);
	assert_int_equal(mannwhitney(big_x, 10001, big_y, 10, &r), SLUICE_ELIMIT);
}

static void bad_input(void **state)
{
	static const double x[] = {1, 2, NAN};
	static const double huge[] = {1e308, 1};
	static const double zero2[] = {0, 0};
	static const double tiny[] = {3.07343e-319};
	struct mw_options o = {.conf_level = 1.0};
	struct mw_result r;
	(void)state;

	assert_int_equal(mannwhitney(x, 3, x, 2, &r), SLUICE_EINVALID);
	assert_int_equal(mannwhitney(x, 0, x, 2, &r), SLUICE_EINVALID);
	assert_int_equal(mannwhitney_with(x, 2, x, 2, &o, &r), SLUICE_EINVALID);
	/* values whose differences could overflow are refused */
	assert_int_equal(mannwhitney(huge, 2, x, 2, &r), SLUICE_EINVALID);
	/* subnormal differences (found by fuzz_judge): the estimate stays inside its interval */
	MW_OK(mannwhitney(zero2, 2, tiny, 1, &r));
	assert_true(r.ci_low <= r.estimate && r.estimate <= r.ci_high);
	/* all values tied: p = 1, estimate 0 */
	MW_OK(mannwhitney(x, 1, x, 1, &r));
	near(r.p_value, 1, 0, "one value each, equal");
	near(r.estimate, 0, 0, "estimate 0");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(r_doc_example),
	    cmocka_unit_test(r_published_ties),
	    cmocka_unit_test(tie_variance_by_enumeration),
	    cmocka_unit_test(kayenta_reference),
	    cmocka_unit_test(exact_cdf_by_enumeration),
	    cmocka_unit_test(normal_ci_matches_r_roots),
	    cmocka_unit_test(classify_identical_and_ties),
	    cmocka_unit_test(classify_worse_canary_and_global_incident),
	    cmocka_unit_test(classify_no_data_and_nan),
	    cmocka_unit_test(score_groups_and_weights),
	    cmocka_unit_test(score_nodata_rule_and_thresholds),
	    cmocka_unit_test(multi_interval),
	    cmocka_unit_test(simulation_global_incident),
	    cmocka_unit_test(speed),
	    cmocka_unit_test(bad_input),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
