/*
 * Leader election's decisions, on a fake clock (milliseconds we choose), and
 * /readyz. The elector's thread and the Lease on a real API server are
 * covered by tests/cli/test_leader.sh.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "sluice/controller.h"
#include "sluice/error.h"
#include "sluice/http.h"
#include "support.h"

#define LEASE 15000
#define RENEW 10000
#define RETRY 2000

static void init(struct leader_state *s, const char *me)
{
	leader_state_init(s, me, LEASE, RENEW, RETRY);
}

static struct leader_record rec(const char *holder, const char *renew, long transitions,
                                const char *rv)
{
	struct leader_record r;
	memset(&r, 0, sizeof(r));
	snprintf(r.holder, sizeof(r.holder), "%s", holder);
	r.duration_s = 15;
	r.transitions = transitions;
	snprintf(r.acquire, sizeof(r.acquire), "2026-11-30T01:00:00.000000Z");
	snprintf(r.renew, sizeof(r.renew), "%s", renew);
	snprintf(r.rv, sizeof(r.rv), "%s", rv);
	return r;
}

/* Do what the elector does with action a at `now`, the write succeeding or not. */
static void act(struct leader_state *s, enum leader_action a, const char *wall, int rc,
                long long now, const char *new_rv)
{
	struct leader_record w;
	leader_record_make(&w, s, a, wall);
	if (rc == 0)
		snprintf(w.rv, sizeof(w.rv), "%s", new_rv);
	leader_wrote(s, &w, rc, now, now + 5);
}

static void no_lease_creates_and_leads(void **state)
{
	struct leader_state s;
	struct leader_record w;
	(void)state;

	init(&s, "a");
	assert_false(leader_state_may_write(&s, 0));
	assert_int_equal(leader_observe(&s, NULL, 1000), LEADER_CANDIDATE);
	assert_int_equal(leader_decide(&s, 1000), LEADER_CREATE);
	leader_record_make(&w, &s, LEADER_CREATE, "2026-11-30T02:00:00.000000Z");
	assert_string_equal(w.holder, "a");
	assert_int_equal(w.duration_s, 15);
	assert_int_equal(w.transitions, 0);
	assert_string_equal(w.acquire, w.renew);
	assert_string_equal(w.rv, "");
	snprintf(w.rv, sizeof(w.rv), "7");
	assert_int_equal(leader_wrote(&s, &w, 0, 1000, 1040), LEADER_LEADING);
	/* the deadline counts from when the request was sent, not answered */
	assert_true(leader_state_may_write(&s, 1000 + RENEW - 1));
	assert_false(leader_state_may_write(&s, 1000 + RENEW));
	/* renewing keeps acquireTime and the transitions, and sends the resourceVersion */
	leader_record_make(&w, &s, LEADER_RENEW, "2026-11-30T02:00:02.000000Z");
	assert_string_equal(w.acquire, "2026-11-30T02:00:00.000000Z");
	assert_string_equal(w.renew, "2026-11-30T02:00:02.000000Z");
	assert_string_equal(w.rv, "7");
	assert_int_equal(leader_next_try(&s, 1040), 1040 + RETRY);
}

static void standby_waits_a_lease_duration_from_what_it_saw(void **state)
{
	struct leader_state s;
	struct leader_record r = rec("b", "2026-11-30T02:00:00.000000Z", 3, "10");
	(void)state;

	init(&s, "a");
	assert_int_equal(leader_observe(&s, &r, 100000), LEADER_STANDBY);
	assert_int_equal(leader_decide(&s, 100000), LEADER_WAIT);
	assert_false(leader_state_may_write(&s, 100000));
	/* nothing changes: the same record read again does not move the clock */
	leader_observe(&s, &r, 108000);
	assert_int_equal(leader_decide(&s, 100000 + LEASE - 1), LEADER_WAIT);
	/* the next look is at the moment the lease would run out, if sooner than a retry */
	assert_int_equal(leader_next_try(&s, 108000), 108000 + RETRY);
	assert_int_equal(leader_next_try(&s, 114000), 100000 + LEASE);
	leader_observe(&s, &r, 100000 + LEASE);
	assert_int_equal(s.role, LEADER_CANDIDATE);
	assert_int_equal(leader_decide(&s, 100000 + LEASE), LEADER_ACQUIRE);
	/* taking over counts a transition and uses the resourceVersion read */
	struct leader_record w;
	leader_record_make(&w, &s, LEADER_ACQUIRE, "2026-11-30T02:00:20.000000Z");
	assert_string_equal(w.holder, "a");
	assert_int_equal(w.transitions, 4);
	assert_string_equal(w.acquire, "2026-11-30T02:00:20.000000Z");
	assert_string_equal(w.rv, "10");
	snprintf(w.rv, sizeof(w.rv), "11");
	assert_int_equal(leader_wrote(&s, &w, 0, 115000, 115010), LEADER_LEADING);
	assert_true(leader_state_may_write(&s, 115010));
}

static void a_renewal_seen_restarts_the_wait(void **state)
{
	struct leader_state s;
	struct leader_record r1 = rec("b", "2026-11-30T02:00:00.000000Z", 0, "10");
	struct leader_record r2 = rec("b", "2026-11-30T02:00:02.000000Z", 0, "11");
	(void)state;

	init(&s, "a");
	leader_observe(&s, &r1, 0);
	leader_observe(&s, &r2, 10000);
	assert_int_equal(leader_decide(&s, 15000), LEADER_WAIT);
	assert_int_equal(leader_decide(&s, 24999), LEADER_WAIT);
	assert_int_equal(leader_decide(&s, 25000), LEADER_ACQUIRE);
	/* a metadata-only change (resourceVersion) is not a renewal */
	struct leader_record r3 = r2;
	snprintf(r3.rv, sizeof(r3.rv), "12");
	leader_observe(&s, &r3, 20000);
	assert_int_equal(leader_decide(&s, 25000), LEADER_ACQUIRE);
	assert_string_equal(s.rec.rv, "12");
}

/* The holder's timestamps are never compared with our clock. */
static void clock_skew_does_not_matter(void **state)
{
	struct leader_state s;
	(void)state;

	/* a holder whose clock is an hour behind: its renewTime looks long expired */
	struct leader_record old = rec("b", "2026-11-30T01:00:00.000000Z", 0, "5");
	init(&s, "a");
	assert_int_equal(leader_observe(&s, &old, 50000), LEADER_STANDBY);
	assert_int_equal(leader_decide(&s, 50001), LEADER_WAIT);
	/* a holder whose clock is a year ahead, but which stopped renewing */
	struct leader_record ahead = rec("c", "2027-11-30T01:00:00.000000Z", 0, "6");
	init(&s, "a");
	leader_observe(&s, &ahead, 50000);
	leader_observe(&s, &ahead, 64999);
	assert_int_equal(leader_decide(&s, 64999), LEADER_WAIT);
	leader_observe(&s, &ahead, 65000);
	assert_int_equal(leader_decide(&s, 65000), LEADER_ACQUIRE);
}

static void a_released_lease_is_taken_at_once(void **state)
{
	struct leader_state s, holder;
	struct leader_record rel;
	(void)state;

	/* the holder releases as client-go's ReleaseOnCancel does */
	init(&holder, "b");
	leader_observe(&holder, NULL, 0);
	act(&holder, LEADER_CREATE, "2026-11-30T02:00:00.000000Z", 0, 0, "3");
	leader_record_release(&rel, &holder, "2026-11-30T02:00:05.000000Z");
	assert_string_equal(rel.holder, "");
	assert_int_equal(rel.duration_s, 1);
	assert_string_equal(rel.rv, "3");
	snprintf(rel.rv, sizeof(rel.rv), "4");
	assert_int_equal(leader_wrote(&holder, &rel, 0, 5000, 5001), LEADER_CANDIDATE);
	assert_false(leader_state_may_write(&holder, 5001));

	init(&s, "a");
	leader_observe(&s, &rel, 5002);
	assert_int_equal(s.role, LEADER_CANDIDATE);
	assert_int_equal(leader_decide(&s, 5002), LEADER_ACQUIRE);
	/* no waiting for the next retry: the elector acts on the watch's news */
	act(&s, LEADER_ACQUIRE, "2026-11-30T02:00:05.100000Z", 0, 5100, "5");
	assert_int_equal(s.role, LEADER_LEADING);
	assert_int_equal(s.rec.transitions, 1);
}

static void a_leader_that_cannot_renew_stops_before_anyone_takes_over(void **state)
{
	struct leader_state s, standby;
	(void)state;

	init(&s, "a");
	leader_observe(&s, NULL, 0);
	act(&s, LEADER_CREATE, "2026-11-30T02:00:00.000000Z", 0, 0, "1");
	/* the standby sees that write a little later */
	init(&standby, "b");
	leader_observe(&standby, &s.rec, 300);
	/* every renewal fails from here on (the API is unreachable) */
	for (long long t = RETRY; t < RENEW; t += RETRY) {
		act(&s, LEADER_RENEW, "2026-11-30T02:00:02.000000Z", SLUICE_EUNAVAILABLE, t, NULL);
		assert_int_equal(s.role, LEADER_LEADING);
		assert_true(leader_state_may_write(&s, t));
	}
	assert_true(leader_state_may_write(&s, RENEW - 1));
	assert_false(leader_state_may_write(&s, RENEW));
	assert_int_equal(leader_tick(&s, RENEW), LEADER_CANDIDATE);
	/* writes stopped at 10 s; the standby may take over only from 15.3 s */
	assert_int_equal(leader_decide(&standby, RENEW), LEADER_WAIT);
	assert_int_equal(leader_decide(&standby, 300 + LEASE - 1), LEADER_WAIT);
	assert_int_equal(leader_decide(&standby, 300 + LEASE), LEADER_ACQUIRE);
	/* a conflict (someone wrote first) is an answer, not an outage */
	long long contact = s.contact_at;
	act(&s, LEADER_RENEW, "x", SLUICE_ECONFLICT, 11000, NULL);
	assert_true(s.contact_at > contact);
}

static void a_leader_that_finds_another_holder_stops_at_once(void **state)
{
	struct leader_state s;
	struct leader_record other = rec("b", "2026-11-30T02:00:30.000000Z", 2, "40");
	(void)state;

	init(&s, "a");
	leader_observe(&s, NULL, 0);
	act(&s, LEADER_CREATE, "2026-11-30T02:00:00.000000Z", 0, 0, "1");
	assert_true(leader_state_may_write(&s, 2000));
	assert_int_equal(leader_observe(&s, &other, 2000), LEADER_STANDBY);
	assert_false(leader_state_may_write(&s, 2000));
	assert_int_equal(leader_decide(&s, 2000), LEADER_WAIT);
}

/* Restarted with the same identity, the Lease still naming it: renew, not a transition. */
static void our_own_record_is_renewed(void **state)
{
	struct leader_state s;
	struct leader_record mine = rec("a", "2026-11-30T02:00:00.000000Z", 5, "9");
	(void)state;

	init(&s, "a");
	assert_int_equal(leader_observe(&s, &mine, 0), LEADER_CANDIDATE);
	assert_false(leader_state_may_write(&s, 0));
	assert_int_equal(leader_decide(&s, 0), LEADER_RENEW);
	act(&s, LEADER_RENEW, "2026-11-30T02:00:01.000000Z", 0, 0, "10");
	assert_int_equal(s.role, LEADER_LEADING);
	assert_int_equal(s.rec.transitions, 5);
	assert_string_equal(s.rec.acquire, "2026-11-30T01:00:00.000000Z");
}

static void lease_json_round_trip(void **state)
{
	struct leader_record r = rec("pod-1_42", "2026-11-30T02:00:00.123456Z", 7, "99"), back;
	char t[40];
	(void)state;

	json_t *o = leader_lease_new(&r, "sluice-system", "sluiced");
	assert_non_null(o);
	assert_string_equal(json_string_value(json_object_get(o, "apiVersion")),
	                    "coordination.k8s.io/v1");
	assert_string_equal(
	    json_string_value(json_object_get(json_object_get(o, "metadata"), "resourceVersion")),
	    "99");
	assert_int_equal(leader_record_from_lease(&back, o), 0);
	assert_memory_equal(&back, &r, sizeof(r));
	json_decref(o);

	/* released: holderIdentity is present and empty */
	struct leader_record rel = rec("", "2026-11-30T02:00:00.000000Z", 7, "");
	o = leader_lease_new(&rel, "ns", "l");
	assert_string_equal(
	    json_string_value(json_object_get(json_object_get(o, "spec"), "holderIdentity")), "");
	assert_null(json_object_get(json_object_get(o, "metadata"), "resourceVersion"));
	json_decref(o);

	o = json_pack("{s:{s:s}}", "metadata", "name", "x");
	assert_int_equal(leader_record_from_lease(&back, o), SLUICE_EINVALID);
	json_decref(o);

	/* MicroTime: exactly six fractional digits, as the API server parses it */
	leader_micro_time(t, 1796004003000007LL);
	assert_string_equal(t, "2026-11-30T02:00:03.000007Z");
}

static void options_are_checked_as_client_go_does(void **state)
{
	struct leader_opts o = {"sluice-system", "sluiced", "pod_1", 15000, 10000, 2000};
	(void)state;

	assert_int_equal(leader_opts_check(&o), 0);
	o.renew_ms = 15000;
	assert_int_equal(leader_opts_check(&o), SLUICE_EINVALID);
	assert_non_null(strstr(sluice_error_last(), "--leader-elect-renew-deadline"));
	o.renew_ms = 2400; /* not more than 1.2 x the retry period */
	assert_int_equal(leader_opts_check(&o), SLUICE_EINVALID);
	o.renew_ms = 10000;
	o.lease_ms = 15500;
	assert_int_equal(leader_opts_check(&o), SLUICE_EINVALID);
	assert_non_null(strstr(sluice_error_last(), "whole seconds"));
	o.lease_ms = 15000;
	o.namespace = "Not_A_Namespace";
	assert_int_equal(leader_opts_check(&o), SLUICE_EINVALID);
	assert_non_null(strstr(sluice_error_last(), "--leader-elect-namespace"));
}

static void default_namespace_is_the_pods(void **state)
{
	char *dir = test_tmpdir(), path[4200], ns[256];
	(void)state;

	assert_non_null(dir);
	setenv("SLUICE_IN_CLUSTER_ROOT", dir, 1);
	leader_default_namespace(ns, sizeof(ns));
	assert_string_equal(ns, "sluice-system");
	snprintf(path, sizeof(path), "%s/var/run/secrets/kubernetes.io/serviceaccount", dir);
	char cmd[4400];
	snprintf(cmd, sizeof(cmd), "mkdir -p '%s'", path);
	assert_int_equal(system(cmd), 0);
	strcat(path, "/namespace");
	assert_int_equal(test_write_file(path, "platform\n"), 0);
	leader_default_namespace(ns, sizeof(ns));
	assert_string_equal(ns, "platform");
	unsetenv("SLUICE_IN_CLUSTER_ROOT");
	test_rm_rf(dir);
	free(dir);
}

/* ---- /readyz ---- */

static size_t keep(char *p, size_t s, size_t n, void *ud)
{
	strncat((char *)ud, p, s * n < 200 ? s * n : 200);
	return s * n;
}

static long get(int port, const char *path, char *body)
{
	CURL *e = curl_easy_init();
	char url[128];
	long code = 0;

	body[0] = '\0';
	snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, path);
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, keep);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, body);
	if (curl_easy_perform(e) == CURLE_OK)
		curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &code);
	curl_easy_cleanup(e);
	return code;
}

static int verdict;

static int fake_ready(void *ud, char *why, size_t n)
{
	(void)ud;
	snprintf(why, n, "%s", verdict ? "standing by (Lease ns/l held by b)" : "no answer yet");
	return verdict;
}

static void readyz_says_what_the_controller_says(void **state)
{
	struct http_server *s = NULL;
	char body[256];
	(void)state;

	assert_int_equal(http_server_start(&s, "127.0.0.1:0", NULL, NULL, NULL), 0);
	int port = http_server_port(s);
	assert_int_equal(get(port, "/readyz", body), 200);
	assert_string_equal(body, "ok\n");
	http_server_set_ready(s, fake_ready, NULL);
	verdict = 0;
	assert_int_equal(get(port, "/readyz", body), 503);
	assert_string_equal(body, "not ready: no answer yet\n");
	/* liveness does not follow readiness */
	assert_int_equal(get(port, "/healthz", body), 200);
	verdict = 1;
	assert_int_equal(get(port, "/readyz", body), 200);
	assert_string_equal(body, "ok: standing by (Lease ns/l held by b)\n");
	http_server_stop(s);
}

/* Without election, every replica may write and is ready. */
static void no_election_means_no_gate(void **state)
{
	char why[64];
	(void)state;
	assert_int_equal(leader_may_write(NULL), 1);
	assert_int_equal(leader_ready(NULL, why, sizeof(why)), 1);
	assert_int_equal(leader_term(NULL), 0);
	leader_resign(NULL);
	leader_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(no_lease_creates_and_leads),
	    cmocka_unit_test(standby_waits_a_lease_duration_from_what_it_saw),
	    cmocka_unit_test(a_renewal_seen_restarts_the_wait),
	    cmocka_unit_test(clock_skew_does_not_matter),
	    cmocka_unit_test(a_released_lease_is_taken_at_once),
	    cmocka_unit_test(a_leader_that_cannot_renew_stops_before_anyone_takes_over),
	    cmocka_unit_test(a_leader_that_finds_another_holder_stops_at_once),
	    cmocka_unit_test(our_own_record_is_renewed),
	    cmocka_unit_test(lease_json_round_trip),
	    cmocka_unit_test(options_are_checked_as_client_go_does),
	    cmocka_unit_test(default_namespace_is_the_pods),
	    cmocka_unit_test(readyz_says_what_the_controller_says),
	    cmocka_unit_test(no_election_means_no_gate),
	};
	return cmocka_run_group_tests_name("leader", tests, NULL, NULL);
}
