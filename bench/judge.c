/*
 * bench/judge: the comparative judge (judge.h) on simulated canaries, the way
 * the analysis runner uses it (src/analysis/runner.c): an error-rate metric
 * judged against stable, direction increase, confidence 0.98, tolerance 0.25,
 * lookback 5m read as 30 points, failureLimit 0 (the first failed run rolls
 * back). Used by `make bench`; not installed.
 *
 *   judge [SEED]   (default 20261130; fixed once, not tuned)
 *
 * Each simulated rollout is 20 minutes of traffic, second by second: stable
 * serves 75 requests/s, the canary 25 (a 25% weight); each request fails with
 * the version's error probability. A point of a series is what Prometheus
 * answers for errors/requests over [1m] at that instant, so neighbouring
 * points overlap (as they do for real). The analysis runs every minute from
 * minute 5 to 19 (15 runs); the canary is rolled back when any run fails.
 *
 * The error probability is 1% outside an incident. A global incident
 * (minutes 5-15) hits both versions alike: 20%, moved minute by minute by a
 * shared log-normal factor (sd 0.25), so both series rise, wobble and fall
 * together and only the per-request noise differs. A worse canary fails with
 * twice stable's probability throughout.
 *
 * Beside the judge, the peer's way: a fixed threshold (max 0.05 on the
 * canary's [1m] error rate at each run, as Argo Rollouts and Flagger
 * analyses are usually written).
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sluice/error.h"
#include "sluice/judge.h"

#define CANARIES      100
#define SECONDS       1320 /* 22 minutes */
#define STABLE_RPS    75
#define CANARY_RPS    25
#define WINDOW        60 /* rate(...[1m]) */
#define POINTS        30 /* lookback 5m at a 10 s step */
#define STEP          10
#define FIRST_RUN     360 /* minute 6: a full lookback of full windows behind it */
#define RUN_EVERY     60
#define FIXED_MAX     0.05
#define INCIDENT_FROM 360
#define INCIDENT_TO   960

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

struct scenario {
	const char *what;
	int incident;      /* minutes 5-15 at 20% for both */
	double worse;      /* the canary's error probability is this times stable's */
	int should_fail;   /* 1: a rollback is a catch; 0: a false rollback */
	const char *label; /* what the count means */
};

struct outcome {
	int rolled_back, fixed_rolled_back;
	int runs_to_catch[CANARIES];
	int ncaught;
};

/* Errors/requests over (t - window, t] from per-second counts. */
static double ratio_at(const double *err, int rps, int t, int window)
{
	double e = 0;
	for (int s = t - window + 1; s <= t; s++)
		e += err[s];
	return e / ((double)rps * window);
}

/*
 * One simulated rollout with rate(...[window s]); returns the run (1..) that
 * rolled it back, or 0.
 */
static int one_rollout(const struct scenario *sc, int window, int *fixed_run)
{
	static double serr[SECONDS], cerr[SECONDS];
	double shared[SECONDS / 60];
	double base[POINTS], canary[POINTS];
	struct judge_metric_config cfg;
	struct judge_metric_result res;
	int rolled = 0;

	for (int m = 0; m < SECONDS / 60; m++)
		shared[m] = exp(0.25 * rng_norm());
	for (int s = 0; s < SECONDS; s++) {
		double p = 0.01;
		if (sc->incident && s >= INCIDENT_FROM && s < INCIDENT_TO)
			p = fmin(1, 0.20 * shared[s / 60]);
		double pc = fmin(1, p * sc->worse);
		serr[s] = cerr[s] = 0;
		for (int r = 0; r < STABLE_RPS; r++)
			serr[s] += rng_unif() < p;
		for (int r = 0; r < CANARY_RPS; r++)
			cerr[s] += rng_unif() < pc;
	}
	judge_metric_config_init(&cfg);
	cfg.name = "error-rate";
	cfg.direction = JUDGE_DIR_INCREASE;
	cfg.confidence = JUDGE_DEFAULT_CONFIDENCE;
	cfg.tolerance = JUDGE_DEFAULT_TOLERANCE;
	*fixed_run = 0;
	for (int run = 1, t = FIRST_RUN; t < SECONDS; run++, t += RUN_EVERY) {
		for (int k = 0; k < POINTS; k++) {
			int at = t - (POINTS - 1 - k) * STEP - 1;
			base[k] = ratio_at(serr, STABLE_RPS, at, window);
			canary[k] = ratio_at(cerr, CANARY_RPS, at, window);
		}
		/* the fixed threshold reads the canary's rate over [1m] now */
		if (!*fixed_run && ratio_at(cerr, CANARY_RPS, t - 1, 60) > FIXED_MAX)
			*fixed_run = run;
		if (judge_classify(&res, &cfg, base, POINTS, canary, POINTS) < 0) {
			fprintf(stderr, "judge: %s\n", sluice_error_last());
			exit(1);
		}
		if (!rolled && res.cls == JUDGE_CLASS_HIGH)
			rolled = run;
	}
	return rolled;
}

static int by_int(const void *a, const void *b)
{
	return *(const int *)a - *(const int *)b;
}

static void scenario_run(const struct scenario *sc, int window)
{
	struct outcome o;

	memset(&o, 0, sizeof(o));
	for (int c = 0; c < CANARIES; c++) {
		int fixed, run = one_rollout(sc, window, &fixed);
		o.rolled_back += run > 0;
		o.fixed_rolled_back += fixed > 0;
		if (run)
			o.runs_to_catch[o.ncaught++] = run;
	}
	printf("    %-44s judge %3d/%d %s", sc->what, o.rolled_back, CANARIES, sc->label);
	if (!sc->should_fail)
		printf(" (target 0)");
	if (sc->should_fail && o.ncaught) {
		qsort(o.runs_to_catch, (size_t)o.ncaught, sizeof(int), by_int);
		printf(" (median: run %d)", o.runs_to_catch[(o.ncaught - 1) / 2]);
	}
	printf("; fixed max %.2f: %3d/%d\n", FIXED_MAX, o.fixed_rolled_back, CANARIES);
}

int main(int argc, char **argv)
{
	static const struct scenario scenarios[] = {
	    {"healthy canary during a global incident", 1, 1.0, 0, "false rollbacks"},
	    {"healthy canary, no incident", 0, 1.0, 0, "false rollbacks"},
	    {"canary at 2x stable's error rate (1% vs 2%)", 0, 2.0, 1, "caught"},
	    {"canary at 2x stable's, during the incident", 1, 2.0, 1, "caught"},
	};
	uint64_t seed = argc > 1 ? strtoull(argv[1], NULL, 10) : UINT64_C(20261130);

	rng_state = seed;
	printf("  %d canaries per line, each 15 runs over a simulated rollout, 25%% of the traffic "
	       "(seed %llu)\n",
	       CANARIES, (unsigned long long)seed);
	printf("  points of rate(...[10s]) 10 s apart (the window is the step: independent "
	       "points)\n");
	for (size_t i = 0; i < sizeof(scenarios) / sizeof(*scenarios); i++)
		scenario_run(&scenarios[i], STEP);
	printf("  points of rate(...[1m]) 10 s apart (windows overlap, as [{{interval}}] at "
	       "interval 1m gives)\n");
	for (size_t i = 0; i < sizeof(scenarios) / sizeof(*scenarios); i++)
		scenario_run(&scenarios[i], 60);
	return 0;
}
