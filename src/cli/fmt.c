/* Pure formatting for the CLI: durations, weight bars, spans (unit-tested). */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "sluice/cli.h"

/* kubectl's age rule (apimachinery's HumanDuration), so columns read alike */
void cli_fmt_duration(char *buf, size_t n, long long ms)
{
	long long s, m, h;

	if (n == 0)
		return;
	if (ms < -2000) {
		snprintf(buf, n, "-");
		return;
	}
	s = ms < 0 ? 0 : ms / 1000;
	m = s / 60;
	h = s / 3600;
	if (s < 120)
		snprintf(buf, n, "%llds", s);
	else if (m < 10)
		snprintf(buf, n, s % 60 ? "%lldm%02llds" : "%lldm", m, s % 60);
	else if (m < 180)
		snprintf(buf, n, "%lldm", m);
	else if (h < 8)
		snprintf(buf, n, m % 60 ? "%lldh%02lldm" : "%lldh", h, m % 60);
	else if (h < 48)
		snprintf(buf, n, "%lldh", h);
	else if (h < 24 * 8)
		snprintf(buf, n, h % 24 ? "%lldd%02lldh" : "%lldd", h / 24, h % 24);
	else if (h < 24 * 365 * 2)
		snprintf(buf, n, "%lldd", h / 24);
	else if (h < 24 * 365 * 8)
		snprintf(buf, n, "%lldy%lldd", h / (24 * 365), (h / 24) % 365);
	else
		snprintf(buf, n, "%lldy", h / (24 * 365));
}

void cli_fmt_bar(char *buf, size_t n, int percent, int width, int unicode)
{
	static const char full[] = "\xe2\x96\x88", empty[] = "\xe2\x96\x91";
	size_t o = 0;
	int filled;

	if (n == 0)
		return;
	buf[0] = '\0';
	if (width <= 0)
		return;
	if (percent < 0)
		percent = 0;
	if (percent > 100)
		percent = 100;
	filled = (percent * width * 2 + 100) / 200; /* to the nearest cell */
	if (percent > 0 && filled == 0)
		filled = 1;
	for (int i = 0; i < width; i++) {
		const char *cell = unicode ? (i < filled ? full : empty) : (i < filled ? "#" : ".");
		size_t len = strlen(cell);
		if (o + len + 1 > n)
			break;
		memcpy(buf + o, cell, len);
		o += len;
	}
	buf[o] = '\0';
}

long long cli_parse_span(const char *s)
{
	long long total = 0;
	const long long cap = 9000000000000000LL; /* ~285,000 years in ms */

	if (!s || !*s)
		return -1;
	if (strspn(s, "0123456789") == strlen(s)) {
		if (strlen(s) > 15)
			return -1;
		long long v = 0;
		for (const char *p = s; *p; p++)
			v = v * 10 + (*p - '0');
		return v * 1000;
	}
	while (*s) {
		long long v = 0, unit;
		int digits = 0;
		while (isdigit((unsigned char)*s)) {
			if (++digits > 15)
				return -1;
			v = v * 10 + (*s++ - '0');
		}
		if (!digits)
			return -1;
		if (strncmp(s, "ms", 2) == 0) {
			unit = 1;
			s += 2;
		} else {
			switch (*s) {
			case 'w': unit = 7LL * 86400000; break;
			case 'd': unit = 86400000; break;
			case 'h': unit = 3600000; break;
			case 'm': unit = 60000; break;
			case 's': unit = 1000; break;
			default: return -1;
			}
			s++;
		}
		if (v > (cap - total) / unit)
			return -1;
		total += v * unit;
	}
	return total;
}
