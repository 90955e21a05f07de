#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sluice/numfmt.h"

/*
 * Shortest decimal digits of |f| that read back to the same value at the given
 * precision. On return digs holds the digits without leading or trailing zeros
 * and *dp is the decimal point position: |f| = 0.DIGS * 10^dp.
 */
static void shortest_digits(char digs[32], int *dp, double f, int bits)
{
	char tmp[48];
	int p, maxp = bits == 32 ? 9 : 17;

	f = fabs(f);
	if (f == 0) {
		strcpy(digs, "0");
		*dp = 1;
		return;
	}
	for (p = 1; p <= maxp; p++) {
		snprintf(tmp, sizeof(tmp), "%.*e", p - 1, f);
		if (bits == 32 ? strtof(tmp, NULL) == (float)f : strtod(tmp, NULL) == f)
			break;
	}
	if (p > maxp)
		snprintf(tmp, sizeof(tmp), "%.*e", maxp - 1, f);
	/* tmp is "D.DDDDe[+-]XX" or "De[+-]XX" */
	size_t nd = 0;
	char *e = strchr(tmp, 'e');
	for (char *c = tmp; c < e; c++)
		if (*c != '.')
			digs[nd++] = *c;
	while (nd > 1 && digs[nd - 1] == '0')
		nd--;
	digs[nd] = '\0';
	*dp = atoi(e + 1) + 1;
}

static size_t put(char *buf, size_t n, size_t o, char c)
{
	if (o + 1 < n)
		buf[o] = c;
	return o + 1;
}

static size_t fmt_e(char *buf, size_t n, size_t o, const char *digs, int dp, int strip0)
{
	int exp = dp - 1;
	char ex[8];

	o = put(buf, n, o, digs[0]);
	if (digs[1]) {
		o = put(buf, n, o, '.');
		for (const char *c = digs + 1; *c; c++)
			o = put(buf, n, o, *c);
	}
	o = put(buf, n, o, 'e');
	o = put(buf, n, o, exp < 0 ? '-' : '+');
	if (exp < 0)
		exp = -exp;
	snprintf(ex, sizeof(ex), strip0 ? "%d" : "%02d", exp);
	for (char *c = ex; *c; c++)
		o = put(buf, n, o, *c);
	return o;
}

static size_t fmt_f(char *buf, size_t n, size_t o, const char *digs, int dp)
{
	int nd = (int)strlen(digs);

	if (dp <= 0) {
		o = put(buf, n, o, '0');
	} else {
		for (int i = 0; i < dp; i++)
			o = put(buf, n, o, i < nd ? digs[i] : '0');
	}
	if (nd > dp) {
		o = put(buf, n, o, '.');
		for (int i = dp; i < nd; i++)
			o = put(buf, n, o, i < 0 ? '0' : digs[i]);
	}
	return o;
}

static char *special(char *buf, size_t n, double f)
{
	if (isnan(f))
		snprintf(buf, n, "NaN");
	else
		snprintf(buf, n, "%cInf", f < 0 ? '-' : '+');
	return buf;
}

char *numfmt_json(char *buf, size_t n, double f)
{
	char digs[32];
	int dp;
	size_t o = 0;
	double a = fabs(f);

	if (n == 0)
		return buf;
	if (!isfinite(f))
		return special(buf, n, f);
	shortest_digits(digs, &dp, f, 64);
	if (signbit(f))
		o = put(buf, n, o, '-');
	if (a != 0 && (a < 1e-6 || a >= 1e21))
		o = fmt_e(buf, n, o, digs, dp, 1);
	else
		o = fmt_f(buf, n, o, digs, dp);
	buf[o < n ? o : n - 1] = '\0';
	return buf;
}

char *numfmt_go_g(char *buf, size_t n, double f, int bits)
{
	char digs[32];
	int dp, exp;
	size_t o = 0;

	if (n == 0)
		return buf;
	if (bits == 32)
		f = (float)f;
	if (!isfinite(f))
		return special(buf, n, f);
	shortest_digits(digs, &dp, f, bits);
	if (signbit(f))
		o = put(buf, n, o, '-');
	exp = dp - 1;
	/* strconv's 'g' with shortest precision switches to 'e' outside 1e-4..1e6 */
	if (exp < -4 || exp >= 6)
		o = fmt_e(buf, n, o, digs, dp, 0);
	else
		o = fmt_f(buf, n, o, digs, dp);
	buf[o < n ? o : n - 1] = '\0';
	return buf;
}
