#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "sluice/error.h"

static _Thread_local char last_msg[SLUICE_ERROR_MSG_MAX];
static _Thread_local int last_code;

int sluice_error_set(int code, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(last_msg, sizeof(last_msg), fmt, ap);
	va_end(ap);
	if (n < 0)
		last_msg[0] = '\0';
	else if ((size_t)n >= sizeof(last_msg))
		memcpy(last_msg + sizeof(last_msg) - 4, "...", 4);
	for (char *p = last_msg; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	last_code = code;
	return code;
}

const char *sluice_error_last(void)
{
	return last_msg;
}

int sluice_error_last_code(void)
{
	return last_code;
}

void sluice_error_clear(void)
{
	last_msg[0] = '\0';
	last_code = SLUICE_OK;
}

const char *sluice_error_name(int code)
{
	switch (code) {
	case SLUICE_OK: return "OK";
	case SLUICE_ERROR: return "ERROR";
	case SLUICE_ENOMEM: return "ENOMEM";
	case SLUICE_EINVALID: return "EINVALID";
	case SLUICE_ENOTFOUND: return "ENOTFOUND";
	case SLUICE_ECONFLICT: return "ECONFLICT";
	case SLUICE_EAUTH: return "EAUTH";
	case SLUICE_ELIMIT: return "ELIMIT";
	case SLUICE_EIO: return "EIO";
	case SLUICE_ETIMEOUT: return "ETIMEOUT";
	case SLUICE_EUNSAFE: return "EUNSAFE";
	case SLUICE_EEXISTS: return "EEXISTS";
	case SLUICE_EFORBIDDEN: return "EFORBIDDEN";
	case SLUICE_EGONE: return "EGONE";
	case SLUICE_EUNAVAILABLE: return "EUNAVAILABLE";
	case SLUICE_ETLS: return "ETLS";
	}
	return "EUNKNOWN";
}
