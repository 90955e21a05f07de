/*
 * Git sources over SSH and HTTPS against real servers on loopback (sshd;
 * nginx + fcgiwrap + git-http-backend; git daemon for pushes over git://),
 * started by tests/sandbox/gitservers: fetches, and revertCommit's revert
 * pushed back to the server.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sluice/error.h"
#include "sluice/git.h"
#include "sluice/log.h"
#include "support.h"

static char *tmp;
static char srv[4300], ssh_url[4400], https_url[4400], daemon_url[4400], cache[4300];
static char *ssh_key, *known_hosts, *known_hosts_changed, *password;
static char ca[4400];

#define GIT "git -c user.name=Dev -c user.email=dev@example.com -c init.defaultBranch=main"

static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int sh(const char *fmt, ...)
{
	char cmd[16384];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	return system(cmd);
}

/*
 * The first line `git --git-dir=REPOS/NAME.git ARGS` prints into line (size
 * n): what the server holds.
 */
static void on_server(char *line, size_t n, const char *name, const char *args)
{
	char cmd[8192];
	snprintf(cmd, sizeof(cmd), "git --git-dir='%s/repos/%s.git' %s 2>/dev/null", srv, name,
	         args);
	FILE *p = popen(cmd, "r");
	line[0] = '\0';
	if (p) {
		if (!fgets(line, (int)n, p))
			line[0] = '\0';
		pclose(p);
	}
	line[strcspn(line, "\n")] = '\0';
}

static void assert_on_server(const char *name, const char *args, const char *want)
{
	char got[512];
	on_server(got, sizeof(got), name, args);
	if (strcmp(got, want) != 0)
		fail_msg("%s.git: git %s: \"%s\", want \"%s\"", name, args, got, want);
}

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
	char cmd[16384];
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
	u = slurp_env_file(srv, "daemon.url");
	snprintf(daemon_url, sizeof(daemon_url), "%s", u ? u : "");
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

/*
 * A repository NAME.git on the servers, whose main (also its HEAD) holds "web
 * v1" (web.yaml says image web:1), "web v2" (web:2: the failed change, its id
 * into bad) and "unrelated" (other.yaml). work-NAME is a developer's clone.
 */
static void make_revert_repo(const char *name, char bad[41])
{
	if (sh("set -e; cd '%s' && git init -q --bare repos/%s.git && " GIT " init -q work-%s && "
	       "cd work-%s && printf 'image: web:1\\n' > web.yaml && " GIT " add -A && " GIT
	       " commit -q -m 'web v1' && printf 'image: web:2\\n' > web.yaml && " GIT
	       " commit -qam 'web v2' && echo other > other.yaml && " GIT " add -A && " GIT
	       " commit -q -m unrelated && git remote add origin ../repos/%s.git && "
	       "git push -q origin HEAD:refs/heads/main && "
	       "git --git-dir=../repos/%s.git symbolic-ref HEAD refs/heads/main",
	       srv, name, name, name, name, name) != 0)
		fail_msg("cannot create %s.git", name);
	on_server(bad, 41, name, "rev-parse main~1");
}

/*
 * Someone pushes to main between sluice's fetch and its push: a one-shot
 * pre-receive hook moves main to the branch "meanwhile" (a developer's commit
 * on top of main) before the push it runs for is applied, so the server finds
 * main no longer where the push expects it and refuses it.
 */
static void someone_pushes_meanwhile(const char *name)
{
	if (sh("set -e; cd '%s/work-%s' && git fetch -q origin && "
	       "git checkout -q -B meanwhile origin/main && echo note > notes.txt && " GIT
	       " add -A && " GIT " commit -q -m 'a developer, meanwhile' && "
	       "git push -q origin meanwhile && "
	       "printf '#!/bin/sh\\nrm -f \"$0\"\\n"
	       "unset GIT_QUARANTINE_PATH GIT_OBJECT_DIRECTORY GIT_ALTERNATE_OBJECT_DIRECTORIES\\n"
	       "git update-ref refs/heads/main refs/heads/meanwhile\\n' "
	       "> ../repos/%s.git/hooks/pre-receive && chmod +x ../repos/%s.git/hooks/pre-receive",
	       srv, name, name, name) != 0)
		fail_msg("cannot set up the concurrent push on %s.git", name);
}

/* A developer commits `image` to web.yaml on main and pushes it; its id into id. */
static void developer_pushes(const char *name, const char *image, char id[41])
{
	if (sh("set -e; cd '%s/work-%s' && git fetch -q origin && git checkout -q -B main "
	       "origin/main && printf 'image: %s\\n' > web.yaml && " GIT " commit -qam '%s' && "
	       "git push -q origin HEAD:main",
	       srv, name, image, image) != 0)
		fail_msg("cannot push %s to %s.git", image, name);
	on_server(id, 41, name, "rev-parse main");
}

static void assert_clean_message(const char *secret)
{
	const char *m = sluice_error_last();
	if (strchr(m, '\n'))
		fail_msg("not one line: %s", m);
	if (secret && strstr(m, secret))
		fail_msg("the secret is in the message: %s", m);
	if (strstr(m, "PRIVATE KEY"))
		fail_msg("the key is in the message: %s", m);
}

/*
 * revertCommit against a real server: the revert lands on the server's branch
 * as a fast-forward and names the reverted commit; a second revert finds it
 * already undone; a push the server refuses (main moved meanwhile) is a clear
 * one-line error and lands nothing; the next try reverts on top of the moved
 * branch. `secret` (the password, if any) appears in no message.
 */
static void revert_over(const char *url, const struct gitsrc_auth *a, const char *revision,
                        const char *name, const char *secret)
{
	struct gitsrc_opts o;
	struct gitsrc_result r;
	char bad[41], bad3[41], want[128], tip[41], moved[41];

	make_revert_repo(name, bad);
	memset(&o, 0, sizeof(o));
	o.url = url;
	o.revision = revision;
	o.cache_dir = cache;
	o.auth = a;
	o.timeout_ms = 20000;

	on_server(tip, sizeof(tip), name, "rev-parse main");
	if (gitsrc_revert(&r, &o, bad, "progress deadline: canary not ready") < 0)
		fail_msg("gitsrc_revert over %s: %s", name, sluice_error_last());
	assert_on_server(name, "rev-parse main", r.commit);
	assert_on_server(name, "rev-parse main~1", tip); /* a fast-forward */
	assert_on_server(name, "log -1 --format=%s main", "Revert \"web v2\"");
	assert_on_server(name, "log -1 --format=%an main", "sluice");
	assert_on_server(name, "show main:web.yaml", "image: web:1");
	assert_on_server(name, "show main:other.yaml", "other"); /* only the failed change */
	assert_string_equal(r.subject, "Revert \"web v2\"");
	if (sh("git --git-dir='%s/repos/%s.git' log -1 --format=%%b main | grep -qx 'This "
	       "reverts commit %s.'",
	       srv, name, bad) != 0 ||
	    sh("git --git-dir='%s/repos/%s.git' log -1 --format=%%b main | grep -qx 'sluice "
	       "rolled it back: progress deadline: canary not ready'",
	       srv, name) != 0)
		fail_msg("the revert's message does not name %s and the reason", bad);

	/* a second revert: already undone, nothing pushed */
	on_server(tip, sizeof(tip), name, "rev-parse main");
	assert_int_equal(gitsrc_revert(&r, &o, bad, "again"), SLUICE_EEXISTS);
	assert_non_null(strstr(sluice_error_last(), "is already undone on main"));
	assert_clean_message(secret);
	assert_on_server(name, "rev-parse main", tip);

	/* web:3 fails too, but a developer pushes while sluice reverts it */
	developer_pushes(name, "web:3", bad3);
	someone_pushes_meanwhile(name);
	int rc = gitsrc_revert(&r, &o, bad3, "progress deadline");
	if (rc != SLUICE_ECONFLICT)
		fail_msg("a revert while main moved, over %s: %d, want SLUICE_ECONFLICT: %s", name,
		         rc, sluice_error_last());
	assert_non_null(strstr(sluice_error_last(), "the server refused the revert push to main"));
	assert_clean_message(secret);
	on_server(moved, sizeof(moved), name, "rev-parse meanwhile");
	assert_on_server(name, "rev-parse main", moved); /* the developer's push, nothing of ours */
	assert_on_server(name, "ls-tree --name-only main notes.txt", "notes.txt");

	/* the next try reverts web:3 on top of the developer's commit */
	if (gitsrc_revert(&r, &o, bad3, "progress deadline") < 0)
		fail_msg("gitsrc_revert after the race, over %s: %s", name, sluice_error_last());
	assert_on_server(name, "rev-parse main", r.commit);
	assert_on_server(name, "rev-parse main~1", moved);
	assert_on_server(name, "show main:web.yaml", "image: web:1"); /* as before web:3 */
	assert_on_server(name, "show main:notes.txt", "note");
	snprintf(want, sizeof(want), "This reverts commit %s.", bad3);
	assert_on_server(name, "log -1 --format=%b main", want);
}

static void revert_over_ssh(void **state)
{
	struct gitsrc_auth a;
	char url[4500];
	(void)state;
	memset(&a, 0, sizeof(a));
	a.ssh_private_key = ssh_key;
	a.ssh_known_hosts = known_hosts;
	snprintf(url, sizeof(url), "%.*s/rv-ssh.git", (int)(strlen(ssh_url) - strlen("/apps.git")),
	         ssh_url);
	revert_over(url, &a, NULL, "rv-ssh", NULL);
}

static void revert_over_https(void **state)
{
	struct gitsrc_auth a;
	char url[4500];
	(void)state;
	memset(&a, 0, sizeof(a));
	a.username = "sluice";
	a.password = password;
	a.ca_file = ca;
	snprintf(url, sizeof(url), "%.*s/rv-https.git",
	         (int)(strlen(https_url) - strlen("/apps.git")), https_url);
	revert_over(url, &a, "main", "rv-https", password);
}

static void revert_over_git_daemon(void **state)
{
	char url[4500];
	(void)state;
	snprintf(url, sizeof(url), "%s/rv-daemon.git", daemon_url);
	revert_over(url, NULL, "main", "rv-daemon", NULL);
}

/* A revert whose credentials are refused, or whose URL carries them: in no message. */
static void revert_credentials_stay_out_of_messages(void **state)
{
	struct gitsrc_opts o;
	struct gitsrc_result r;
	struct gitsrc_auth a;
	char bad[41], url[4500], tip[41];
	const char *host = https_url + strlen("https://");
	(void)state;

	make_revert_repo("rv-creds", bad);
	memset(&a, 0, sizeof(a));
	a.username = "sluice";
	a.password = "wrong-password-4711";
	a.ca_file = ca;
	memset(&o, 0, sizeof(o));
	snprintf(url, sizeof(url), "https://%.*s/rv-creds.git",
	         (int)(strlen(host) - strlen("/apps.git")), host);
	o.url = url;
	o.cache_dir = cache;
	o.auth = &a;
	o.timeout_ms = 20000;
	on_server(tip, sizeof(tip), "rv-creds", "rev-parse main");
	assert_int_equal(gitsrc_revert(&r, &o, bad, "x"), SLUICE_EAUTH);
	assert_clean_message("wrong-password-4711");
	assert_on_server("rv-creds", "rev-parse main", tip);

	/* the right password in the URL: the push reaches the server, which
	 * refuses it (main moved); the message shows the URL without it */
	snprintf(url, sizeof(url), "https://sluice:%s@%.*s/rv-creds.git", password,
	         (int)(strlen(host) - strlen("/apps.git")), host);
	a.username = NULL;
	a.password = NULL;
	someone_pushes_meanwhile("rv-creds");
	assert_int_equal(gitsrc_revert(&r, &o, bad, "x"), SLUICE_ECONFLICT);
	assert_clean_message(password);
	assert_non_null(strstr(sluice_error_last(), "https://***@"));
	on_server(tip, sizeof(tip), "rv-creds", "rev-parse meanwhile");
	assert_on_server("rv-creds", "rev-parse main", tip);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(ssh_with_a_known_host_key),
	    cmocka_unit_test(ssh_refuses_unknown_and_changed_host_keys),
	    cmocka_unit_test(ssh_refuses_a_wrong_client_key),
	    cmocka_unit_test(https_with_basic_auth_and_a_custom_ca),
	    cmocka_unit_test(revert_over_ssh),
	    cmocka_unit_test(revert_over_https),
	    cmocka_unit_test(revert_over_git_daemon),
	    cmocka_unit_test(revert_credentials_stay_out_of_messages),
	};
	return cmocka_run_group_tests_name("git_remote", tests, group_setup, group_teardown);
}
