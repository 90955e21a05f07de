/* The API's Status objects into sluice errors. */
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "internal.h"
#include "sluice/error.h"

static int code_for(long status, const char *reason)
{
	if (reason) {
		if (strcmp(reason, "NotFound") == 0)
			return SLUICE_ENOTFOUND;
		if (strcmp(reason, "AlreadyExists") == 0)
			return SLUICE_EEXISTS;
		if (strcmp(reason, "Conflict") == 0)
			return SLUICE_ECONFLICT;
		if (strcmp(reason, "Forbidden") == 0)
			return SLUICE_EFORBIDDEN;
		if (strcmp(reason, "Unauthorized") == 0)
			return SLUICE_EAUTH;
		if (strcmp(reason, "Invalid") == 0 || strcmp(reason, "BadRequest") == 0)
			return SLUICE_EINVALID;
		if (strcmp(reason, "Expired") == 0 || strcmp(reason, "Gone") == 0)
			return SLUICE_EGONE;
		if (strcmp(reason, "Timeout") == 0)
			return SLUICE_ETIMEOUT;
	}
	switch (status) {
	case 400:
	case 415:
	case 422: return SLUICE_EINVALID;
	case 401: return SLUICE_EAUTH;
	case 403: return SLUICE_EFORBIDDEN;
	case 404: return SLUICE_ENOTFOUND;
	case 409: return SLUICE_ECONFLICT;
	case 410: return SLUICE_EGONE;
	case 413: return SLUICE_ELIMIT;
	case 429: return SLUICE_EUNAVAILABLE;
	case 504: return SLUICE_ETIMEOUT;
	}
	return status >= 500 ? SLUICE_EUNAVAILABLE : SLUICE_ERROR;
}

int kube_status_error(long status, const char *body, size_t len, const char *method,
                      const char *url, char *msg, size_t n)
{
	json_error_t err;
	json_t *st = body && len ? json_loadb(body, len, 0, &err) : NULL;
	const char *reason = NULL, *message = NULL;
	int code;
	size_t o;

	if (json_is_object(st) && json_is_string(json_object_get(st, "kind")) &&
	    strcmp(json_string_value(json_object_get(st, "kind")), "Status") == 0) {
		reason = json_string_value(json_object_get(st, "reason"));
		message = json_string_value(json_object_get(st, "message"));
	}
	code = code_for(status, reason);
	if (message && *message) {
		o = (size_t)snprintf(msg, n, "%s", message);
	} else if (status == 401) {
		o = (size_t)snprintf(
		    msg, n, "%s %s: 401 Unauthorized: the credentials were refused", method, url);
	} else {
		/* no Status: show the start of the body, one line */
		char head[160] = "";
		size_t k = 0;
		for (size_t i = 0; body && i < len && k + 1 < sizeof(head); i++)
			head[k++] = (body[i] == '\n' || body[i] == '\r') ? ' ' : body[i];
		head[k] = '\0';
		o = (size_t)snprintf(msg, n, "%s %s: HTTP %ld%s%s", method, url, status,
		                     k ? ": " : "", head);
	}
	/* Invalid: make sure each field cause is in the line */
	json_t *causes = json_object_get(json_object_get(st, "details"), "causes");
	for (size_t i = 0; i < json_array_size(causes) && o < n; i++) {
		const char *f =
		    json_string_value(json_object_get(json_array_get(causes, i), "field"));
		const char *m =
		    json_string_value(json_object_get(json_array_get(causes, i), "message"));
		if (!m || (message && strstr(message, m)))
			continue;
		o += (size_t)snprintf(msg + o, n - o, "; %s%s%s", f ? f : "", f ? ": " : "", m);
	}
	json_decref(st);
	return code;
}
