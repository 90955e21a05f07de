/*
 * libFuzzer target: the canary judge on hostile samples (metric values come
 * from Prometheus responses). The first 4 bytes pick the split point and the
 * options; the rest are doubles (any bit pattern: NaN, Inf, -0, subnormals).
 * Checks the invariants that hold for any input: ci_low <= estimate <= ci_high,
 * p-values in [0, 1], U in [0, nx*ny].
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sluice/judge.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct judge_metric_config cfg;
	struct judge_metric_result res;
	struct mw_options o = {0};
	struct mw_result r;
	double *v;
	size_t n, split;

	if (size < 4)
		return 0;
	n = (size - 4) / sizeof(double);
	v = malloc((n ? n : 1) * sizeof *v);
	if (!v)
		return 0;
	memcpy(v, data + 4, n * sizeof *v);
	split = n ? data[0] % (n + 1) : 0;

	judge_metric_config_init(&cfg);
	cfg.direction = (enum judge_direction)(data[1] % 3);
	cfg.nan_strategy = (enum judge_nan)(data[1] / 3 % 2);
	cfg.must_have_data = data[1] / 6 % 2;
	cfg.critical = data[1] / 12 % 2;
	cfg.method = (enum mw_method)(data[2] % 3);
	cfg.confidence = 0.5 + (double)data[3] / 512;
	(void)judge_classify(&res, &cfg, v, split, v + split, n - split);

	o.method = cfg.method;
	o.conf_level = cfg.confidence;
	o.no_correction = data[2] / 3 % 2;
	if (mannwhitney_with(v, split, v + split, n - split, &o, &r) == 0) {
		if (!(r.ci_low <= r.estimate && r.estimate <= r.ci_high))
			abort();
		if (!(r.p_value >= 0 && r.p_value <= 1 && r.p_greater >= 0 && r.p_less <= 1))
			abort();
		if (!(r.u >= 0 && r.u <= (double)split * (double)(n - split)))
			abort();
	}
	free(v);
	return 0;
}
