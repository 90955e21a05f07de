/*
 * bench/apply: server-side apply every manifest under DIR with sluice's
 * client, as many at once as the client allows, and report the time taken.
 * Used by `make bench`; not installed.
 *
 *   apply DIR   (KUBECONFIG names the cluster)
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "sluice/diag.h"
#include "sluice/error.h"
#include "sluice/kube.h"
#include "sluice/manifest.h"

int main(int argc, char **argv)
{
	struct kube_config *cfg = NULL;
	struct kube_client *c = NULL;
	struct kube_client_opts o = {0};
	struct manifest_set *set = NULL;
	struct diag errs;
	struct timespec t0, t1;
	json_t **objs;
	int *rcs, rc, failed = 0;

	if (argc != 2) {
		fprintf(stderr, "usage: apply DIR\n");
		return 2;
	}
	diag_init(&errs);
	if (manifest_load(&set, argv[1], &errs) < 0) {
		fprintf(stderr, "apply: %s\n", errs.count ? errs.msgs[0] : sluice_error_last());
		return 1;
	}
	o.qps = 1000;
	o.burst = 2000;
	o.max_inflight = 64;
	o.max_retries = 5;
	if (kube_config_load(&cfg, NULL, NULL) < 0 || kube_client_new(&c, cfg, &o) < 0) {
		fprintf(stderr, "apply: %s\n", sluice_error_last());
		return 1;
	}
	objs = calloc(set->count, sizeof(*objs));
	rcs = calloc(set->count, sizeof(*rcs));
	for (size_t i = 0; i < set->count; i++)
		objs[i] = set->objs[i].obj;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	rc = kube_apply_many(c, objs, set->count, "sluice-bench", KUBE_FORCE, rcs, NULL);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	for (size_t i = 0; i < set->count; i++)
		failed += rcs[i] < 0;
	printf("applied %zu objects in %.0f ms with %lu requests, %d failed\n", set->count,
	       (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6,
	       kube_client_requests(c), failed);
	if (rc < 0)
		fprintf(stderr, "apply: %s\n", sluice_error_last());
	free(objs);
	free(rcs);
	manifest_set_free(set);
	diag_dispose(&errs);
	kube_client_free(c);
	kube_config_free(cfg);
	return rc < 0 ? 1 : 0;
}
