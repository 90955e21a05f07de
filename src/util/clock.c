/* Wall-clock times in RFC 3339 with milliseconds (clock.h). */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "sluice/clock.h"

long long clock_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void clock_format_ms(char out[CLOCK_TEXT_MAX], long long ms)
{
	char buf[24];
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out, CLOCK_TEXT_MAX, "%s.%03lldZ", buf, ms % 1000);
}

long long clock_parse(const char *s)
{
	struct tm tm;
	const char *rest;
	long long ms = 0;

	if (!s)
		return -1;
	memset(&tm, 0, sizeof(tm));
	if (!(rest = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm)))
		return -1;
	if (*rest == '.') {
		int digits = 0;
		for (rest++; *rest >= '0' && *rest <= '9'; rest++)
			if (digits++ < 3)
				ms = ms * 10 + (*rest - '0');
		while (digits++ < 3)
			ms *= 10;
	}
	if (*rest != 'Z')
		return -1;
	return (long long)timegm(&tm) * 1000 + ms;
}
