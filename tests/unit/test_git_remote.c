/*
 * Git sources over SSH and HTTPS against real servers on loopback (sshd;
 * nginx + fcgiwrap + git-http-backend), started by tests/sandbox/gitservers.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sluice/error.h"
#include "sluice/git.h"
#include "sluice/log.h"
#include "support.h"

static char *tmp;
static char ssh_url[4400], https_url[4400], cache[4300];
static char *ssh_key, *known_hosts, *known_hosts_changed, *password;
static char ca[4400];

static char *slurp_env_file(const char *dir, const char *rel)
{
	char p[4400];
	snprintf(p, sizeof(p), "%s/%s", dir, rel);
	char *s = test_read_file(p, NULL);
	if (s && strchr(s, '\n') && !strstr(rel, "known_hosts") && !strstr(rel, "client"))
		s[strcspn(s, "\n")] = '\0';
	return s;
}

static int group_setup(void **state)
{
	char cmd[16384], srv[4300];
	(void)state;
	tmp = test_tmpdir();
	snprintf(srv, sizeof(srv), "%s/servers", tmp);
	snprintf(cache, sizeof(cache), "%s/cache", tmp);
	snprintf(cmd, sizeof(cmd),
	         "tests/sandbox/gitservers up '%s' >&2 && cd '%s' && git init -q --bare "
	         "repos/apps.git && "
	         "git init -q work && cd work && mkdir apps && "
	         "printf 'apiVersion: v1\\nkind: Namespace\\nmetadata: {name: over-the-wire}\\n' > "
	         "apps/ns.yaml && "
	         "git add -A && git -c user.name=T -c user.email=t@e commit -q -m 'wire commit' && "
	         "git push -q ../repos/apps.git HEAD:refs/heads/main && "
	         "git -C ../repos/apps.git symbolic-ref HEAD refs/heads/main",
	         srv, srv);
	if (system(cmd) != 0)
		return -1;
	char *u = slurp_env_file(srv, "ssh.url");
	snprintf(ssh_url, sizeof(ssh_url), "%s/apps.git", u);
	free(u);
	u = slurp_env_file(srv, "https.url");
	snprintf(https_url, sizeof(https_url), "%s/apps.git", u);
	free(u);
	ssh_key = slurp_env_file(srv, "ssh/client");
	known_hosts = slurp_env_file(srv, "ssh/known_hosts");
	known_hosts_changed = slurp_env_file(srv, "ssh/known_hosts.changed");
	password = slurp_env_file(srv, "https.password");
	snprintf(ca, sizeof(ca), "%s/tls/ca.crt", srv);
	return ssh_key && known_hosts && known_hosts_changed && password ? 0 : -1;
}

static int group_teardown(void **state)
{
	char cmd[4400];
	(void)state;
	snprintf(cmd, sizeof(cmd), "tests/sandbox/gitservers down '%s/servers' >&2", tmp);
	int rc = system(cmd);
	test_rm_rf(tmp);
	free(tmp);
	free(ssh_key);
	free(known_hosts);
	free(known_hosts_changed);
	free(password);
	return rc == 0 ? 0 : -1;
}

static int fetch(const char *url, const struct gitsrc_auth *a, const char *name)
{
	struct gitsrc_opts o;
	struct gitsrc_result r;
	char dest[4400];

	memset(&o, 0, sizeof(o));
	o.url = url;
	o.cache_dir = cache;
	o.auth = a;
	o.timeout_ms = 20000;
	snprintf(dest, sizeof(dest), "%s/%s", tmp, name);
	int rc = gitsrc_fetch(&r, &o, dest);
	if (rc == 0 && strcmp(r.subject, "wire commit") != 0)
		fail_msg("fetched \"%s\"", r.subject);
	return rc;
}

static void ssh_with_a_known_host_key(void **state)
{
	struct gitsrc_auth a;
	(void)state;
	memset(&a, 0, sizeof(a));
	a.ssh_private_key = ssh_key;
	a.ssh_known_hosts = known_hosts;
	if (fetch(ssh_url, &a, "ssh-ok") < 0)
		fail_msg("%s", sluice_error_last());
}

static void ssh_refuses_unknown_and_changed_host_keys(void **state)
{
	struct gitsrc_auth a;
	(void)state;
	memset(&a, 0, sizeof(a));
	a.ssh_private_key = ssh_key;
	a.ssh_known_hosts = "";
	assert_int_equal(fetch(ssh_url, &a, "ssh-unknown"), SLUICE_EUNSAFE);
	assert_non_null(strstr(sluice_error_last(), "is not in known_hosts"));
	a.ssh_known_hosts = known_hosts_changed;
	assert_int_equal(fetch(ssh_url, &a, "ssh-changed"), SLUICE_EUNSAFE);
	assert_non_null(strstr(sluice_error_last(), "does not match known_hosts"));
}

static void ssh_refuses_a_wrong_client_key(void **state)
{
	struct gitsrc_auth a;
	char *other = NULL;
	char cmd[4600];
	(void)state;
	snprintf(cmd, sizeof(cmd), "ssh-keygen -q -t ed25519 -N '' -f '%s/stranger'", tmp);
	assert_int_equal(system(cmd), 0);
	snprintf(cmd, sizeof(cmd), "%s/stranger", tmp);
	other = test_read_file(cmd, NULL);
	memset(&a, 0, sizeof(a));
	a.ssh_private_key = other;
	a.ssh_known_hosts = known_hosts;
	assert_int_equal(fetch(ssh_url, &a, "ssh-stranger"), SLUICE_EAUTH);
	assert_null(strstr(sluice_error_last(), "PRIVATE KEY"));
	free(other);
}

static void https_with_basic_auth_and_a_custom_ca(void **state)
{
	struct gitsrc_auth a;
	(void)state;
	memset(&a, 0, sizeof(a));
	a.username = "sluice";
	a.password = password;
	a.ca_file = ca;
	if (fetch(https_url, &a, "https-ok") < 0)
		fail_msg("%s", sluice_error_last());

	/* a wrong password: refused, and the password is in no message */
	a.password = "not-the-password";
	assert_int_equal(fetch(https_url, &a, "https-badpw"), SLUICE_EAUTH);
	assert_null(strstr(sluice_error_last(), "not-the-password"));

	/* without the CA the server's certificate is not trusted */
	a.password = password;
	a.ca_file = NULL;
	int rc = fetch(https_url, &a, "https-noca");
	assert_true(rc < 0);
	assert_non_null(strstr(sluice_error_last(), "certificate"));
	assert_null(strstr(sluice_error_last(), password));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(ssh_with_a_known_host_key),
	    cmocka_unit_test(ssh_refuses_unknown_and_changed_host_keys),
	    cmocka_unit_test(ssh_refuses_a_wrong_client_key),
	    cmocka_unit_test(https_with_basic_auth_and_a_custom_ca),
	};
	return cmocka_run_group_tests_name("git_remote", tests, group_setup, group_teardown);
}
