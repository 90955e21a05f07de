/* An Application's Git credentials, from the Secret its spec.source.secretRef names. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sluice/base64.h"
#include "sluice/controller.h"
#include "sluice/error.h"
#include "sluice/log.h"

void app_creds_dispose(struct app_creds *cr)
{
	for (int i = 0; i < 5; i++)
		free(cr->buf[i]);
	if (cr->ca_path[0])
		unlink(cr->ca_path);
	memset(cr, 0, sizeof(*cr));
}

/* Credentials from the Secret named by spec.source.secretRef. */
int app_creds_load(struct app_creds *cr, struct kube_client *c, const json_t *app, const char *ns,
                   const char *cache_dir, char *err, size_t errn)
{
	static const char *const keys[] = {"username", "password", "sshPrivateKey", "knownHosts",
	                                   "caCert"};
	const char *name;
	json_t *secret = NULL;

	memset(cr, 0, sizeof(*cr));
	name = json_string_value(json_object_get(
	    json_object_get(json_object_get(json_object_get(app, "spec"), "source"), "secretRef"),
	    "name"));
	if (!name)
		return 0;
	struct kube_ref ref = {"v1", "Secret", ns, name};
	if (kube_get(c, &secret, &ref) < 0) {
		snprintf(err, errn, "secret %s/%s: %s", ns, name, sluice_error_last());
		return -1;
	}
	for (int i = 0; i < 5; i++) {
		const char *b64 =
		    json_string_value(json_object_get(json_object_get(secret, "data"), keys[i]));
		size_t n = 0;
		if (b64 && base64_decode(&cr->buf[i], &n, b64, strlen(b64), 0) == 0)
			slog_add_secret(i == 1 || i == 2 ? cr->buf[i] : NULL);
	}
	json_decref(secret);
	cr->auth.username = cr->buf[0];
	cr->auth.password = cr->buf[1];
	cr->auth.ssh_private_key = cr->buf[2];
	cr->auth.ssh_known_hosts = cr->buf[3];
	if (cr->buf[4]) {
		snprintf(cr->ca_path, sizeof(cr->ca_path), "%s/ca-%s-%s.pem", cache_dir, ns, name);
		FILE *f = fopen(cr->ca_path, "w");
		if (f) {
			fputs(cr->buf[4], f);
			fclose(f);
			cr->auth.ca_file = cr->ca_path;
		}
	}
	return 0;
}
