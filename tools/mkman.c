/*
 * mkman: one source, two outputs. Reads a program's page, docs/man/PROG.txt,
 * and writes its man page (roff) and a C file holding every --help text of
 * the program, so that neither can drift from the other.
 *
 *   mkman SOURCE MANPAGE CFILE SYMBOL
 *
 * e.g. mkman docs/man/sluice.txt docs/sluice.1 src/cli/help_sluice.c cli_help_sluice.
 * The outputs are written to a temporary name and renamed into place. Exit 0,
 * or 1 with "SOURCE:LINE: message" lines on stderr (a command without an
 * example, a directive out of place, ...).
 *
 * The source, line by line (docs/man/README.md has an example of each):
 *   # ...                      a comment
 *   @title NAME SEC "DATE" "SOURCE" "MANUAL"   the .TH line
 *   @name TEXT                 NAME: "prog \- TEXT"
 *   @usage SYNOPSIS            before any command: the program's usage lines;
 *                              in a command: the command's (without the program
 *                              name). Words starting with '-' and lower-case
 *                              words are set in bold, upper-case ones in italics.
 *   @section TITLE             a man section (and a "Title:" block in --help)
 *   @command VERB [VERB...]    a command: its own --help text, a .TP item in man
 *   @summary TEXT              the command's line in the program's --help
 *   @example LINE              an example: in the command's --help, and in the
 *                              man page's EXAMPLES section
 *   @item TAG [| HELP]         a definition (an option, a variable): .TP in man,
 *                              two columns in --help. With "| HELP", HELP is the
 *                              --help text and the paragraphs that follow are the
 *                              man text (HELP when there are none).
 *   @end                       ends an item's paragraphs
 *   @man, @help, @both         the following blocks appear only in the man page,
 *                              only in --help, or in both (the default again at
 *                              each @section and @command)
 *   TEXT                       paragraphs, separated by blank lines; **bold**,
 *                              *italics*, \* for a star
 *   - TEXT                     a bullet
 *   ```                        a preformatted block, up to the next ```
 * A directive's text continues on the lines below it that start with a space.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_BLOCKS 2048
#define HELP_WIDTH 79 /* columns of --help text */
#define TAG_COL    24 /* where an item's --help text starts */
#define CMD_COL    30 /* where a command's summary starts in the program's --help */

enum kind { TITLE, NAME, USAGE, SECTION, COMMAND, SUMMARY, EXAMPLE, ITEM, END, PARA, BULLET, PRE };
enum aud { BOTH, MAN, HELP };

struct block {
	enum kind kind;
	enum aud aud;
	char *text;  /* directive text, paragraph, or preformatted lines */
	char *help;  /* ITEM: the "| HELP" text, or NULL */
	int command; /* index of the COMMAND block this belongs to, or -1 */
	int line;
};

static struct block blocks[MAX_BLOCKS];
static int nblocks;
static const char *src_name;
static int errors;

static void oops(int line, const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "%s:%d: ", src_name, line);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	errors++;
}

/* ---- a growing string ---------------------------------------------------- */

struct str {
	char *s;
	size_t len, cap;
};

static void put_n(struct str *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		b->cap = (b->len + n + 1) * 2;
		b->s = realloc(b->s, b->cap);
		if (!b->s) {
			perror("mkman");
			exit(2);
		}
	}
	memcpy(b->s + b->len, s, n);
	b->len += n;
	b->s[b->len] = '\0';
}

static void put(struct str *b, const char *s)
{
	put_n(b, s, strlen(s));
}

static void putf(struct str *b, const char *fmt, ...)
{
	char tmp[4096];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	put(b, tmp);
}

static char *dup_str(const char *s)
{
	char *d = strdup(s);
	if (!d) {
		perror("mkman");
		exit(2);
	}
	return d;
}

static char *trim(char *s)
{
	size_t n;
	while (*s == ' ' || *s == '\t')
		s++;
	n = strlen(s);
	while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\n'))
		s[--n] = '\0';
	return s;
}

/* ---- reading ------------------------------------------------------------- */

static struct block *add(enum kind kind, enum aud aud, const char *text, int command, int line)
{
	if (nblocks == MAX_BLOCKS) {
		oops(line, "more than %d blocks", MAX_BLOCKS);
		exit(1);
	}
	struct block *b = &blocks[nblocks++];
	b->kind = kind;
	b->aud = aud;
	b->text = dup_str(text);
	b->help = NULL;
	b->command = command;
	b->line = line;
	return b;
}

static void append(char **dst, const char *sep, const char *more)
{
	struct str s = {0};
	put(&s, *dst);
	put(&s, sep);
	put(&s, more);
	free(*dst);
	*dst = s.s;
}

static void parse(FILE *f)
{
	char raw[4096];
	int line = 0, command = -1, in_pre = 0, pre_first = 0, in_section = 0;
	enum aud aud = BOTH;
	struct block *open = NULL; /* a paragraph, bullet or directive being continued */
	int open_is_directive = 0;

	while (fgets(raw, sizeof(raw), f)) {
		line++;
		size_t n = strlen(raw);
		if (n && raw[n - 1] == '\n')
			raw[--n] = '\0';
		if (in_pre) {
			if (strcmp(trim(raw), "```") == 0) {
				in_pre = 0, open = NULL;
			} else if (pre_first) {
				free(open->text), open->text = dup_str(raw);
				pre_first = 0;
			} else {
				append(&open->text, "\n", raw);
			}
			continue;
		}
		if (open && open_is_directive && (raw[0] == ' ' || raw[0] == '\t') && *trim(raw)) {
			/* a directive continued: "@item TAG | HELP" continues its HELP */
			append(open->help ? &open->help : &open->text, " ", trim(raw));
			continue;
		}
		char *s = trim(raw);
		if (*s == '\0') {
			open = NULL;
			continue;
		}
		if (s[0] == '#' && raw[0] == '#')
			continue;
		if (strcmp(s, "```") == 0) {
			open = add(PRE, aud, "", command, line);
			in_pre = 1, pre_first = 1;
			continue;
		}
		if (s[0] == '@') {
			char *word = s + 1, *arg = s + 1;
			while (*arg && *arg != ' ')
				arg++;
			if (*arg)
				*arg++ = '\0';
			arg = trim(arg);
			open = NULL;
			open_is_directive = 1;
			if (strcmp(word, "man") == 0 || strcmp(word, "help") == 0 ||
			    strcmp(word, "both") == 0) {
				aud = word[0] == 'm' ? MAN : word[0] == 'h' ? HELP : BOTH;
				continue;
			}
			if (strcmp(word, "title") == 0) {
				open = add(TITLE, BOTH, arg, -1, line);
			} else if (strcmp(word, "name") == 0) {
				open = add(NAME, BOTH, arg, -1, line);
			} else if (strcmp(word, "usage") == 0) {
				if (in_section && command < 0)
					oops(line, "@usage of the program after a @section");
				open = add(USAGE, BOTH, arg, command, line);
			} else if (strcmp(word, "section") == 0) {
				command = -1;
				aud = BOTH;
				in_section = 1;
				open = add(SECTION, BOTH, arg, -1, line);
			} else if (strcmp(word, "command") == 0) {
				if (!in_section)
					oops(line, "@command outside a @section");
				aud = BOTH;
				command = nblocks;
				open = add(COMMAND, BOTH, arg, -1, line);
				open->command = command;
			} else if (strcmp(word, "summary") == 0 || strcmp(word, "example") == 0) {
				if (command < 0)
					oops(line, "@%s outside a @command", word);
				open = add(word[0] == 's' ? SUMMARY : EXAMPLE, BOTH, arg, command,
				           line);
			} else if (strcmp(word, "item") == 0) {
				char *bar = strstr(arg, " | ");
				if (bar)
					*bar = '\0';
				open = add(ITEM, aud, trim(arg), command, line);
				if (bar)
					open->help = dup_str(trim(bar + 3));
			} else if (strcmp(word, "end") == 0) {
				add(END, aud, "", command, line);
			} else {
				oops(line, "unknown directive @%s", word);
			}
			continue;
		}
		/* text */
		if (!in_section) {
			oops(line, "text before the first @section");
			continue;
		}
		if (s[0] == '-' && s[1] == ' ') {
			open = add(BULLET, aud, trim(s + 2), command, line);
			open_is_directive = 0;
		} else if (open && !open_is_directive) {
			append(&open->text, " ", s);
		} else {
			open = add(PARA, aud, s, command, line);
			open_is_directive = 0;
		}
	}
	if (in_pre)
		oops(line, "a ``` block is not closed");
}

/* ---- inline text ----------------------------------------------------------- */

/* **bold** and *italics* removed, \* made a star: the text of --help */
static char *plain(const char *s)
{
	struct str b = {0};
	put(&b, "");
	for (; *s; s++) {
		if (s[0] == '\\' && s[1] == '*') {
			put(&b, "*");
			s++;
		} else if (s[0] == '*') {
			if (s[1] == '*')
				s++;
		} else {
			put_n(&b, s, 1);
		}
	}
	return b.s;
}

static void roff_char(struct str *b, char c)
{
	if (c == '-')
		put(b, "\\-");
	else if (c == '\\')
		put(b, "\\e");
	else
		put_n(b, &c, 1);
}

static void roff_font(struct str *b, int bold, int ital)
{
	put(b, bold && ital ? "\\f(BI" : bold ? "\\fB" : ital ? "\\fI" : "\\fR");
}

/* roff for a line of text: \fB...\fR, \fI...\fR, \- and \e */
static char *roff(const char *s)
{
	struct str b = {0};
	int bold = 0, ital = 0;
	put(&b, "");
	for (; *s; s++) {
		if (s[0] == '\\' && s[1] == '*') {
			put(&b, "*");
			s++;
		} else if (s[0] == '*' && s[1] == '*') {
			bold = !bold;
			roff_font(&b, bold, ital);
			s++;
		} else if (s[0] == '*') {
			ital = !ital;
			roff_font(&b, bold, ital);
		} else {
			roff_char(&b, *s);
		}
	}
	if (bold || ital)
		put(&b, "\\fR");
	return b.s;
}

static int is_upper_word(const char *w, size_t n)
{
	int letters = 0;
	for (size_t i = 0; i < n; i++) {
		if (islower((unsigned char)w[i]))
			return 0;
		if (isupper((unsigned char)w[i]))
			letters++;
	}
	return letters > 0;
}

/*
 * A synopsis or a tag: words set by their look (the first word, words that
 * start with '-' and lower-case words in bold; upper-case words, the
 * arguments, in italics), punctuation []|, and spaces in roman.
 */
static char *roff_tag(const char *s, const char *prefix)
{
	struct str b = {0};
	put(&b, "");
	if (prefix) {
		put(&b, "\\fB");
		put(&b, prefix);
		put(&b, "\\fR ");
	}
	int first = !prefix;
	while (*s) {
		if (strchr("[]|, =", *s)) {
			put_n(&b, s, 1);
			s++;
			continue;
		}
		size_t n = strcspn(s, "[]|, =");
		int italic = !first && s[0] != '-' && is_upper_word(s, n);
		put(&b, italic ? "\\fI" : "\\fB");
		for (size_t i = 0; i < n; i++)
			roff_char(&b, s[i]);
		put(&b, "\\fR");
		s += n;
		first = 0;
	}
	return b.s;
}

/* A roff text line must not start with a control character. */
static void roff_line(struct str *out, const char *line)
{
	if (line[0] == '.' || line[0] == '\'')
		put(out, "\\&");
	put(out, line);
	put(out, "\n");
}

/* Text wrapped to `width`; the first line starts at column `col` (already
 * written), the others are indented by `indent`. */
static void wrap(struct str *out, const char *text, int col, int indent, int width)
{
	const char *p = text;
	int at = col, fresh = 1;
	while (*p) {
		while (*p == ' ')
			p++;
		if (!*p)
			break;
		size_t n = strcspn(p, " ");
		if (!fresh && at + 1 + (int)n > width) {
			putf(out, "\n%*s", indent, "");
			at = indent;
			fresh = 1;
		}
		if (!fresh) {
			put(out, " ");
			at++;
		}
		put_n(out, p, n);
		at += (int)n;
		p += n;
		fresh = 0;
	}
	put(out, "\n");
}

/* roff text wrapped at about 78 columns, a line never starting with '.' */
static void roff_para(struct str *out, const char *text)
{
	char *r = roff(text);
	const char *p = r;
	struct str line = {0};
	put(&line, "");
	while (*p) {
		while (*p == ' ')
			p++;
		if (!*p)
			break;
		size_t n = strcspn(p, " ");
		if (line.len && line.len + 1 + n > 78) {
			roff_line(out, line.s);
			line.len = 0;
			line.s[0] = '\0';
		}
		if (line.len)
			put(&line, " ");
		put_n(&line, p, n);
		p += n;
	}
	if (line.len)
		roff_line(out, line.s);
	free(line.s);
	free(r);
}

/* ---- the model ------------------------------------------------------------ */

static const char *prog; /* "sluice", from @title's first word */

static int visible(const struct block *b, enum aud want)
{
	return b->aud == BOTH || b->aud == want;
}

/* The first words of a command's first usage line, up to an option: "get apps|rollouts" */
static char *command_tag(int c)
{
	for (int i = c + 1; i < nblocks && blocks[i].command == c; i++) {
		if (blocks[i].kind != USAGE)
			continue;
		const char *u = blocks[i].text;
		size_t n = 0;
		for (const char *p = u; *p; p++) {
			if ((*p == '[' || *p == '-') && (p == u || p[-1] == ' '))
				break;
			n = (size_t)(p - u) + 1;
		}
		char *t = dup_str(u);
		t[n] = '\0';
		return trim(t);
	}
	return dup_str(blocks[c].text);
}

/* ---- --help ---------------------------------------------------------------- */

static void help_usage(struct str *out, const char *usage, int first, int program)
{
	/* "Usage: sluice status ROLLOUT [-n NS] ...", wrapped between bracket groups */
	int col = 0, depth = 0, indent;
	const char *p = usage;
	const char *lead = first ? "Usage: " : "       ";

	putf(out, "%s%s ", lead, prog);
	col = (int)strlen(lead) + (int)strlen(prog) + 1;
	/* continuation lines line up after the command word */
	indent = program ? col : col + (int)strcspn(usage, " ") + 1;
	int fresh = 1;
	while (*p) {
		const char *q = p;
		depth = 0;
		while (*q && (depth > 0 || *q != ' ')) {
			if (*q == '[')
				depth++;
			else if (*q == ']')
				depth--;
			q++;
		}
		size_t n = (size_t)(q - p);
		if (!fresh && col + 1 + (int)n > HELP_WIDTH) {
			putf(out, "\n%*s", indent, "");
			col = indent;
			fresh = 1;
		}
		if (!fresh) {
			put(out, " ");
			col++;
		}
		put_n(out, p, n);
		col += (int)n;
		fresh = 0;
		p = q;
		while (*p == ' ')
			p++;
	}
	put(out, "\n");
}

static void help_item(struct str *out, const struct block *b, int indent, int from)
{
	char *tag = plain(b->text), *text = NULL;
	struct str t = {0};
	put(&t, "");
	if (b->help) {
		put(&t, b->help);
	} else {
		/* the item's own paragraphs, as far as --help may show them */
		for (int i = from + 1; i < nblocks; i++) {
			const struct block *p = &blocks[i];
			if (p->kind != PARA || p->command != b->command)
				break;
			if (!visible(p, HELP))
				continue;
			if (t.len)
				put(&t, " ");
			put(&t, p->text);
		}
	}
	text = plain(t.s);
	putf(out, "%*s%s", indent, "", tag);
	int col = indent + (int)strlen(tag);
	int at = indent + TAG_COL - 2;
	if (*text) {
		if (col + 2 <= at) {
			putf(out, "%*s", at - col, "");
			col = at;
		} else {
			put(out, "  ");
			col += 2;
		}
		wrap(out, text, col, at, HELP_WIDTH);
	} else {
		put(out, "\n");
	}
	free(tag);
	free(text);
	free(t.s);
}

/*
 * Blocks [from, to) that --help shows, at `indent`. Blocks are separated by a
 * blank line, except items in a row and a paragraph ending in ':' before them.
 */
static void help_blocks(struct str *out, int from, int to, int indent)
{
	int in_item = 0, last = -1; /* kind of the last block written */
	for (int i = from; i < to; i++) {
		const struct block *b = &blocks[i];
		char *t;
		if (b->kind == ITEM) {
			in_item = 1;
			if (!visible(b, HELP))
				continue;
			if (last >= 0 && last != ITEM && last != -2)
				put(out, "\n");
			help_item(out, b, 2, i);
			last = ITEM;
			continue;
		}
		if (b->kind == END) {
			in_item = 0;
			continue;
		}
		if (b->kind != PARA && b->kind != BULLET && b->kind != PRE)
			continue;
		if (in_item && b->kind == PARA)
			continue; /* shown with its item */
		in_item = 0;
		if (!visible(b, HELP))
			continue;
		if (last >= 0 && !(b->kind == BULLET && last == BULLET))
			put(out, "\n");
		if (b->kind == PARA) {
			t = plain(b->text);
			putf(out, "%*s", indent, "");
			wrap(out, t, indent, indent, HELP_WIDTH);
			last = t[strlen(t) - 1] == ':' ? -2 : PARA;
			free(t);
		} else if (b->kind == BULLET) {
			t = plain(b->text);
			putf(out, "%*s- ", indent + 2, "");
			wrap(out, t, indent + 4, indent + 4, HELP_WIDTH);
			last = BULLET;
			free(t);
		} else {
			const char *p = b->text;
			while (*p) {
				size_t n = strcspn(p, "\n");
				putf(out, "%*s", indent + 2, "");
				put_n(out, p, n);
				put(out, "\n");
				p += n + (p[n] == '\n');
			}
			last = PRE;
		}
	}
}

static char *help_command(int c)
{
	struct str out = {0};
	int end = c + 1, first = 1, examples = 0;
	while (end < nblocks && blocks[end].command == c)
		end++;
	for (int i = c + 1; i < end; i++)
		if (blocks[i].kind == USAGE) {
			help_usage(&out, blocks[i].text, first, 0);
			first = 0;
		}
	if (first)
		oops(blocks[c].line, "@command %s has no @usage", blocks[c].text);
	put(&out, "\n");
	help_blocks(&out, c + 1, end, 0);
	for (int i = c + 1; i < end; i++)
		examples += blocks[i].kind == EXAMPLE;
	if (!examples)
		oops(blocks[c].line, "@command %s has no @example", blocks[c].text);
	putf(&out, "\n%s:\n", examples > 1 ? "Examples" : "Example");
	for (int i = c + 1; i < end; i++)
		if (blocks[i].kind == EXAMPLE)
			putf(&out, "  %s\n", blocks[i].text);
	return out.s;
}

/* "EXIT STATUS" -> "Exit status" */
static char *heading(const char *title)
{
	char *h = dup_str(title);
	for (char *p = h + 1; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	return h;
}

static char *help_program(void)
{
	struct str out = {0};
	int first = 1;
	put(&out, "");
	for (int i = 0; i < nblocks; i++)
		if (blocks[i].kind == USAGE && blocks[i].command < 0) {
			help_usage(&out, blocks[i].text, first, 1);
			first = 0;
		}
	for (int s = 0; s < nblocks; s++) {
		if (blocks[s].kind != SECTION)
			continue;
		int end = s + 1, shown = 0, commands = 0;
		while (end < nblocks && blocks[end].kind != SECTION)
			end++;
		for (int i = s + 1; i < end; i++) {
			const struct block *b = &blocks[i];
			commands += b->kind == COMMAND;
			if (b->command < 0 && visible(b, HELP) &&
			    (b->kind == PARA || b->kind == BULLET || b->kind == PRE ||
			     b->kind == ITEM))
				shown++;
		}
		if (!shown && !commands)
			continue;
		/* no heading for DESCRIPTION, nor for a section that opens with its
		 * own "...:" paragraph; their paragraphs start at column 0 */
		int desc = strcmp(blocks[s].text, "DESCRIPTION") == 0;
		for (int i = s + 1; i < end && !desc; i++) {
			const struct block *b = &blocks[i];
			if (!visible(b, HELP) || b->kind == END)
				continue;
			desc = b->kind == PARA && b->text[strlen(b->text) - 1] == ':';
			break;
		}
		put(&out, "\n");
		if (!desc) {
			char *h = heading(blocks[s].text);
			putf(&out, "%s:\n", h);
			free(h);
		}
		/* the section's own blocks, then its commands as a list */
		int own_end = s + 1;
		while (own_end < end && blocks[own_end].kind != COMMAND)
			own_end++;
		struct str own = {0};
		put(&own, "");
		help_blocks(&own, s + 1, own_end, desc ? 0 : 2);
		put(&out, own.s);
		free(own.s);
		for (int c = own_end; c < end; c++) {
			if (blocks[c].kind != COMMAND)
				continue;
			char *tag = command_tag(c);
			const char *sum = "";
			for (int i = c + 1; i < end && blocks[i].command == c; i++)
				if (blocks[i].kind == SUMMARY)
					sum = blocks[i].text;
			char *t = plain(sum);
			int col = 2 + (int)strlen(tag);
			putf(&out, "  %s", tag);
			if (col + 2 <= CMD_COL)
				putf(&out, "%*s", CMD_COL - col, ""), col = CMD_COL;
			else
				put(&out, "  "), col += 2;
			wrap(&out, t, col, CMD_COL, HELP_WIDTH);
			free(t);
			free(tag);
		}
		/* blocks after the commands that belong to the section, not to a command:
		 * none by construction (a @command runs to the next @section) */
	}
	return out.s;
}

/* ---- the man page ------------------------------------------------------------ */

static void man_section(struct str *out, int s, int end)
{
	int depth = 0; /* 0 section, 1 in an item or command, 2 in an item in a command */
	int fresh = 1; /* nothing written since the .SH/.TP */
	int rs_items = 0, rs_bullets = 0, in_cmd = 0;
	int prev_item_bare = 0; /* the previous block was an item tag with no text yet */

	putf(out, ".SH %s\n", blocks[s].text);
	for (int i = s + 1; i < end; i++) {
		const struct block *b = &blocks[i];
		if (rs_bullets && b->kind != BULLET &&
		    (visible(b, MAN) || b->kind == COMMAND || b->kind == END)) {
			put(out, ".RE\n");
			rs_bullets = 0;
		}
		switch (b->kind) {
		case COMMAND: {
			if (rs_items)
				put(out, ".RE\n"), rs_items = 0;
			char *tag = command_tag(i);
			char *r = roff_tag(tag, NULL);
			putf(out, ".TP\n%s\n", r);
			free(r);
			free(tag);
			depth = 1, fresh = 1, in_cmd = 1, prev_item_bare = 0;
			break;
		}
		case ITEM: {
			if (!visible(b, MAN))
				break;
			if (in_cmd && !rs_items)
				put(out, ".RS\n"), rs_items = 1;
			char *r = roff_tag(b->text, NULL);
			putf(out, "%s\n%s\n", prev_item_bare ? ".TQ" : ".TP", r);
			free(r);
			depth = in_cmd ? 2 : 1, fresh = 1;
			/* its text: the paragraphs that follow, or HELP when there are none */
			int has_text = 0;
			for (int j = i + 1; j < end && blocks[j].kind == PARA; j++)
				has_text |= visible(&blocks[j], MAN);
			if (!has_text && b->help) {
				roff_para(out, b->help);
				fresh = 0;
			}
			prev_item_bare = !has_text && !b->help;
			break;
		}
		case END:
			if (rs_items)
				put(out, ".RE\n"), rs_items = 0;
			depth = in_cmd ? 1 : 0;
			fresh = 0, prev_item_bare = 0;
			break;
		case PARA:
			if (!visible(b, MAN))
				break;
			if (!fresh)
				put(out, depth ? ".IP\n" : ".PP\n");
			roff_para(out, b->text);
			fresh = 0, prev_item_bare = 0;
			break;
		case BULLET:
			if (!visible(b, MAN))
				break;
			if (depth && !rs_bullets)
				put(out, ".RS\n"), rs_bullets = 1;
			put(out, ".IP \\(bu 2\n");
			roff_para(out, b->text);
			fresh = 0, prev_item_bare = 0;
			break;
		case PRE: {
			if (!visible(b, MAN))
				break;
			if (!fresh)
				put(out, depth ? ".IP\n" : ".PP\n");
			put(out, ".EX\n");
			const char *p = b->text;
			while (*p) {
				size_t n = strcspn(p, "\n");
				struct str l = {0};
				put(&l, "");
				for (size_t k = 0; k < n; k++)
					roff_char(&l, p[k]);
				roff_line(out, l.s);
				free(l.s);
				p += n + (p[n] == '\n');
			}
			put(out, ".EE\n");
			fresh = 0, prev_item_bare = 0;
			break;
		}
		default: break;
		}
	}
	if (rs_bullets)
		put(out, ".RE\n");
	if (rs_items)
		put(out, ".RE\n");
	if (strcmp(blocks[s].text, "EXAMPLES") == 0) {
		/* every command's examples, each once, in the order of the commands */
		put(out, fresh ? "" : ".PP\n");
		put(out, ".EX\n");
		for (int i = 0; i < nblocks; i++) {
			if (blocks[i].kind != EXAMPLE)
				continue;
			int seen = 0;
			for (int j = 0; j < i && !seen; j++)
				seen = blocks[j].kind == EXAMPLE &&
				       strcmp(blocks[j].text, blocks[i].text) == 0;
			if (seen)
				continue;
			struct str l = {0};
			put(&l, "");
			for (const char *p = blocks[i].text; *p; p++)
				roff_char(&l, *p);
			roff_line(out, l.s);
			free(l.s);
		}
		put(out, ".EE\n");
	}
}

static char *man_page(const char *source)
{
	struct str out = {0};
	const char *title = NULL, *name = NULL;
	int first = 1;

	putf(&out, ".\\\" Generated from %s by tools/mkman.c: edit that file, then run make.\n",
	     source);
	for (int i = 0; i < nblocks; i++) {
		if (blocks[i].kind == TITLE)
			title = blocks[i].text;
		if (blocks[i].kind == NAME)
			name = blocks[i].text;
	}
	if (!title || !name) {
		oops(1, "@title and @name are required");
		return out.s;
	}
	putf(&out, ".TH %s\n.SH NAME\n%s \\- ", title, prog);
	roff_para(&out, name);
	put(&out, ".SH SYNOPSIS\n.nh\n.ad l\n");
	for (int i = 0; i < nblocks; i++) {
		if (blocks[i].kind != USAGE)
			continue;
		char *r = roff_tag(blocks[i].text, prog);
		if (!first)
			put(&out, ".br\n");
		roff_line(&out, r);
		free(r);
		first = 0;
	}
	put(&out, ".ad\n.hy\n");
	for (int s = 0; s < nblocks; s++) {
		if (blocks[s].kind != SECTION)
			continue;
		int end = s + 1;
		while (end < nblocks && blocks[end].kind != SECTION)
			end++;
		man_section(&out, s, end);
	}
	return out.s;
}

/* ---- the C file ---------------------------------------------------------------- */

static void c_string(struct str *out, const char *s, const char *indent)
{
	put(out, indent);
	put(out, "\"");
	for (; *s; s++) {
		if (*s == '\n') {
			put(out, "\\n\"");
			if (s[1]) {
				put(out, "\n");
				put(out, indent);
				put(out, "\"");
			} else {
				return;
			}
		} else if (*s == '"' || *s == '\\') {
			put(out, "\\");
			put_n(out, s, 1);
		} else if (*s == '?' && s[1] == '?') {
			put(out, "?\\");
		} else {
			put_n(out, s, 1);
		}
	}
	put(out, "\"");
}

/*
 * The options of a command for completion, from its usage lines and items:
 * "-n=NS" (takes an argument), "-o=wide|json|yaml" (one of these), "-A".
 */
static char *flags_of(int c)
{
	struct str f = {0};
	put(&f, "");
	for (int i = c < 0 ? 0 : c + 1; i < nblocks && blocks[i].command == c; i++) {
		if (blocks[i].kind != USAGE && blocks[i].kind != ITEM)
			continue;
		if (blocks[i].kind == ITEM && blocks[i].text[0] != '-')
			continue;
		char *t = dup_str(blocks[i].text);
		for (char *p = t; *p; p++)
			if (strchr("[],", *p) ||
			    (*p == '|' && (p == t || p[-1] == ' ' || p[1] == ' ' || p[1] == '-')))
				*p = ' ';
		char *save = NULL;
		char *w = strtok_r(t, " ", &save), *next;
		for (; w; w = next) {
			next = strtok_r(NULL, " ", &save);
			if (w[0] != '-' || strcmp(w, "-") == 0)
				continue;
			char *eq = strchr(w, '=');
			if (eq)
				*eq = '\0';
			char entry[256];
			const char *arg = eq ? eq + 1 : (next && next[0] != '-' ? next : NULL);
			if (arg && (is_upper_word(arg, strlen(arg)) || strchr(arg, '|')))
				snprintf(entry, sizeof(entry), "%s=%s", w, arg);
			else
				snprintf(entry, sizeof(entry), "%s", w);
			/* once each */
			size_t n = strcspn(entry, "=");
			int seen = 0;
			for (const char *p = f.s; *p && !seen; p += strcspn(p, " "), p += *p == ' ')
				seen = strncmp(p, entry, n) == 0 &&
				       (p[n] == ' ' || p[n] == '=' || !p[n]);
			if (!seen) {
				if (f.len)
					put(&f, " ");
				put(&f, entry);
			}
		}
		free(t);
	}
	return f.s;
}

/* The positional arguments of a command's first usage line: "ROLLOUT", "apps|rollouts" */
static char *args_of(int c)
{
	char *tag = command_tag(c), *sp = strchr(tag, ' ');
	char *a = dup_str(sp ? trim(sp + 1) : "");
	free(tag);
	return a;
}

static char *c_file(const char *source, const char *symbol)
{
	struct str out = {0};
	putf(
	    &out,
	    "/* Generated from %s by tools/mkman.c: edit that file, then run make. */\n"
	    "#include \"sluice/cli.h\"\n\n/* clang-format off */\nconst struct cli_help %s[] = {\n",
	    source, symbol);
	char *text = help_program(), *flags = flags_of(-1);
	put(&out, "\t{\"\", NULL, NULL, ");
	c_string(&out, flags, "");
	put(&out, ",\n");
	c_string(&out, text, "\t ");
	put(&out, "},\n");
	free(text);
	free(flags);
	for (int c = 0; c < nblocks; c++) {
		if (blocks[c].kind != COMMAND)
			continue;
		const char *sum = NULL;
		for (int i = c + 1; i < nblocks && blocks[i].command == c; i++)
			if (blocks[i].kind == SUMMARY)
				sum = blocks[i].text;
		if (!sum)
			oops(blocks[c].line, "@command %s has no @summary", blocks[c].text);
		char *s = plain(sum ? sum : ""), *args = args_of(c);
		text = help_command(c);
		flags = flags_of(c);
		put(&out, "\t{");
		c_string(&out, blocks[c].text, "");
		put(&out, ", ");
		c_string(&out, args, "");
		put(&out, ", ");
		c_string(&out, s, "");
		put(&out, ", ");
		c_string(&out, flags, "");
		put(&out, ",\n");
		c_string(&out, text, "\t ");
		put(&out, "},\n");
		free(s);
		free(args);
		free(text);
		free(flags);
	}
	put(&out, "\t{NULL, NULL, NULL, NULL, NULL},\n};\n/* clang-format on */\n");
	return out.s;
}

/* ---- main ------------------------------------------------------------------------ */

static int write_file(const char *path, const char *text)
{
	char tmp[4096];
	FILE *f;
	snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid());
	if (!(f = fopen(tmp, "w")) || fputs(text, f) < 0 || fclose(f) != 0) {
		perror(tmp);
		return -1;
	}
	if (rename(tmp, path) != 0) {
		perror(path);
		remove(tmp);
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	FILE *f;
	if (argc != 5) {
		fputs("usage: mkman SOURCE MANPAGE CFILE SYMBOL\n", stderr);
		return 2;
	}
	src_name = argv[1];
	if (!(f = fopen(src_name, "r"))) {
		perror(src_name);
		return 2;
	}
	parse(f);
	fclose(f);
	for (int i = 0; i < nblocks; i++)
		if (blocks[i].kind == TITLE) {
			char *p = dup_str(blocks[i].text);
			p[strcspn(p, " ")] = '\0';
			for (char *q = p; *q; q++)
				*q = (char)tolower((unsigned char)*q);
			prog = p;
		}
	if (!prog) {
		oops(1, "no @title");
		return 1;
	}
	char *man = man_page(src_name), *c = c_file(src_name, argv[4]);
	if (errors)
		return 1;
	if (write_file(argv[2], man) < 0 || write_file(argv[3], c) < 0)
		return 1;
	free(man);
	free(c);
	return 0;
}
