/* Health rules on live objects as the API returns them. */
#include <string.h>

#include "sluice/health.h"
#include "support.h"

static enum health of(const char *json, char *msg)
{
	json_error_t err;
	json_t *o = json_loads(json, 0, &err);
	if (!o)
		fail_msg("bad fixture: %s", err.text);
	enum health h = health_of(o, msg, 256);
	/* what the sync memo keeps of a live object says the same */
	char vmsg[256];
	json_t *v = health_view(o);
	assert_non_null(v);
	assert_int_equal(health_of(v, vmsg, sizeof(vmsg)), h);
	assert_string_equal(vmsg, msg);
	json_decref(v);
	json_decref(o);
	return h;
}

static void deployments(void **state)
{
	char msg[256];
	(void)state;
	assert_int_equal(
	    of("{\"kind\":\"Deployment\",\"metadata\":{\"generation\":2},\"spec\":{\"replicas\":3},"
	       "\"status\":{\"observedGeneration\":2,\"replicas\":3,\"updatedReplicas\":3,"
	       "\"availableReplicas\":3}}",
	       msg),
	    HEALTH_HEALTHY);
	assert_int_equal(
	    of("{\"kind\":\"Deployment\",\"metadata\":{\"generation\":2},\"spec\":{\"replicas\":3},"
	       "\"status\":{\"observedGeneration\":2,\"replicas\":3,\"updatedReplicas\":3,"
	       "\"availableReplicas\":1}}",
	       msg),
	    HEALTH_PROGRESSING);
	assert_string_equal(msg, "1 of 3 replicas available");
	assert_int_equal(
	    of("{\"kind\":\"Deployment\",\"metadata\":{\"generation\":3},\"spec\":{\"replicas\":3},"
	       "\"status\":{\"observedGeneration\":2}}",
	       msg),
	    HEALTH_PROGRESSING);
	assert_int_equal(
	    of("{\"kind\":\"Deployment\",\"metadata\":{\"generation\":2},\"spec\":{\"replicas\":2},"
	       "\"status\":{\"observedGeneration\":2,\"updatedReplicas\":2,\"availableReplicas\":0,"
	       "\"conditions\":[{\"type\":\"Progressing\",\"status\":\"False\",\"reason\":"
	       "\"ProgressDeadlineExceeded\"}]}}",
	       msg),
	    HEALTH_DEGRADED);
	assert_string_equal(msg, "progress deadline exceeded: 0 of 2 available");
	assert_int_equal(of("{\"kind\":\"Deployment\",\"spec\":{\"paused\":true}}", msg),
	                 HEALTH_SUSPENDED);
}

static void other_kinds(void **state)
{
	char msg[256];
	(void)state;
	assert_int_equal(of("{\"kind\":\"Job\",\"status\":{\"conditions\":[{\"type\":\"Failed\","
	                    "\"status\":\"True\"}]}}",
	                    msg),
	                 HEALTH_DEGRADED);
	assert_int_equal(of("{\"kind\":\"Job\",\"status\":{\"conditions\":[{\"type\":\"Complete\","
	                    "\"status\":\"True\"}]}}",
	                    msg),
	                 HEALTH_HEALTHY);
	assert_int_equal(
	    of("{\"kind\":\"PersistentVolumeClaim\",\"status\":{\"phase\":\"Pending\"}}", msg),
	    HEALTH_PROGRESSING);
	assert_int_equal(
	    of("{\"kind\":\"PersistentVolumeClaim\",\"status\":{\"phase\":\"Bound\"}}", msg),
	    HEALTH_HEALTHY);
	assert_int_equal(
	    of("{\"kind\":\"Service\",\"spec\":{\"type\":\"LoadBalancer\"},\"status\":{}}", msg),
	    HEALTH_PROGRESSING);
	assert_int_equal(
	    of("{\"kind\":\"CustomResourceDefinition\",\"status\":{\"conditions\":[{\"type\":"
	       "\"Established\",\"status\":\"True\"}]}}",
	       msg),
	    HEALTH_HEALTHY);
	assert_int_equal(of("{\"kind\":\"StatefulSet\",\"metadata\":{\"generation\":1},\"spec\":{"
	                    "\"replicas\":2},"
	                    "\"status\":{\"observedGeneration\":1,\"readyReplicas\":1}}",
	                    msg),
	                 HEALTH_PROGRESSING);
	assert_int_equal(of("{\"kind\":\"ConfigMap\"}", msg), HEALTH_HEALTHY);
	assert_int_equal(health_of(NULL, msg, sizeof(msg)), HEALTH_MISSING);
	assert_true(HEALTH_DEGRADED > HEALTH_PROGRESSING && HEALTH_PROGRESSING > HEALTH_HEALTHY);
}

/* The memo's view of a live object leaves out what health never reads. */
static void view_keeps_only_what_health_reads(void **state)
{
	json_error_t err;
	(void)state;
	json_t *o = json_loads(
	    "{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",\"metadata\":{\"name\":\"web\","
	    "\"namespace\":\"shop\",\"generation\":2,\"resourceVersion\":\"7\",\"labels\":{\"a\":"
	    "\"b\"},\"managedFields\":[{\"manager\":\"sluice\"}]},\"spec\":{\"replicas\":3,"
	    "\"template\":{\"spec\":{\"containers\":[]}}},\"status\":{\"replicas\":3}}",
	    0, &err);
	assert_non_null(o);
	json_t *v = health_view(o);
	assert_non_null(v);
	const json_t *meta = json_object_get(v, "metadata");
	assert_string_equal(json_string_value(json_object_get(v, "kind")), "Deployment");
	assert_string_equal(json_string_value(json_object_get(meta, "resourceVersion")), "7");
	assert_int_equal(json_integer_value(json_object_get(meta, "generation")), 2);
	assert_null(json_object_get(meta, "managedFields"));
	assert_null(json_object_get(meta, "labels"));
	assert_int_equal(
	    json_integer_value(json_object_get(json_object_get(v, "spec"), "replicas")), 3);
	assert_null(json_object_get(json_object_get(v, "spec"), "template"));
	assert_true(json_equal(json_object_get(v, "status"), json_object_get(o, "status")));
	json_decref(v);
	json_decref(o);

	o = json_loads(
	    "{\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"c\"},\"data\":{\"k\":\"v\"}}", 0,
	    &err);
	assert_non_null(o);
	v = health_view(o);
	assert_null(json_object_get(v, "data"));
	assert_string_equal(
	    json_string_value(json_object_get(json_object_get(v, "metadata"), "name")), "c");
	json_decref(v);
	json_decref(o);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(deployments),
	    cmocka_unit_test(other_kinds),
	    cmocka_unit_test(view_keeps_only_what_health_reads),
	};
	return cmocka_run_group_tests_name("health", tests, NULL, NULL);
}
