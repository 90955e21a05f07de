#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "sluice/diag.h"
#include "sluice/error.h"

void diag_init(struct diag *d)
{
	d->msgs = NULL;
	d->count = 0;
	d->cap = 0;
	d->dropped = 0;
}

void diag_dispose(struct diag *d)
{
	if (!d)
		return;
	for (size_t i = 0; i < d->count; i++)
		free(d->msgs[i]);
	free(d->msgs);
	diag_init(d);
}

int diag_add(struct diag *d, const char *fmt, ...)
{
	va_list ap;
	char *msg = NULL;
	int n;

	if (d->count >= SLUICE_DIAG_MAX) {
		d->dropped++;
		return 0;
	}
	if (d->count == d->cap) {
		size_t ncap = d->cap ? d->cap * 2 : 8;
		char **nm = realloc(d->msgs, ncap * sizeof(*nm));
		if (!nm)
			goto fail;
		d->msgs = nm;
		d->cap = ncap;
	}
	va_start(ap, fmt);
	n = vasprintf(&msg, fmt, ap);
	va_end(ap);
	if (n < 0)
		goto fail;
	for (char *p = msg; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	d->msgs[d->count++] = msg;
	return 0;
fail:
	d->dropped++;
	return SLUICE_ENOMEM;
}

size_t diag_total(const struct diag *d)
{
	return d->count + d->dropped;
}
