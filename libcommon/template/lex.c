/* The template lexer: splits a template into text and the tokens inside
 * {{ }} and {% %}, with Jinja2's whitespace rules as Hugging Face sets them
 * (trim_blocks, lstrip_blocks, '-' and '+' markers) and its newline
 * normalisation (\r\n and \r read as \n, one trailing newline dropped). */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "template/tmpl_impl.h"
#include "util/err.h"

struct lexer {
	const char *s;
	size_t n, pos;
	int line;
	const char *name;
	struct toklist *out;
	struct exo_err *e;
};

static int lerr(struct lexer *lx, const char *fmt, const char *arg)
{
	char msg[256];
	snprintf(msg, sizeof msg, fmt, arg);
	return exo_error(lx->e, EXO_DATAERR, "%s:%d: %s", lx->name, lx->line, msg);
}

static struct token *push(struct lexer *lx, enum tok_kind k)
{
	struct toklist *tl = lx->out;
	tl->t = grow_array(tl->t, &tl->cap, tl->n + 1, sizeof *tl->t, 64);
	struct token *t = &tl->t[tl->n++];
	memset(t, 0, sizeof *t);
	t->kind = k;
	t->line = lx->line;
	return t;
}

static void count_lines(struct lexer *lx, size_t from, size_t to)
{
	for (size_t i = from; i < to; i++)
		lx->line += lx->s[i] == '\n';
}

/* Bytes of the whitespace character at i (Python's \\s: Unicode spaces too), or 0. */
static size_t ws_len(const struct lexer *lx, size_t i)
{
	int32_t cp;
	if (i >= lx->n)
		return 0;
	int k = tp_utf8_decode(lx->s + i, lx->n - i, &cp);
	return tp_py_isspace(cp) ? (size_t)k : 0;
}

static size_t skip_ws(const struct lexer *lx, size_t i)
{
	size_t k;
	while ((k = ws_len(lx, i)) > 0)
		i += k;
	return i;
}

static void push_text(struct lexer *lx, size_t from, size_t to)
{
	if (to <= from)
		return;
	struct token *t = push(lx, TK_DATA);
	t->len = to - from;
	t->str = xmalloc(t->len + 1);
	memcpy(t->str, lx->s + from, t->len);
	t->str[t->len] = 0;
}

/* Position of the next "{{", "{%" or "{#" at or after pos, or n. */
static size_t next_tag(const struct lexer *lx, size_t pos)
{
	for (size_t i = pos; i + 1 < lx->n; i++)
		if (lx->s[i] == '{' && (lx->s[i + 1] == '{' || lx->s[i + 1] == '%' || lx->s[i + 1] == '#'))
			return i;
	return lx->n;
}

/* The text before a tag at `at`, with '-' and lstrip_blocks applied. */
static void text_before(struct lexer *lx, size_t start, size_t at, char kind, char sign)
{
	size_t end = at;
	if (sign == '-') {
		const char *kept;
		tp_str_strip(lx->s + start, end - start, NULL, 0, 2, &kept, &end);
		end += start;
	} else if (sign != '+' && kind != '{') {
		size_t l = end;
		while (l > start && lx->s[l - 1] != '\n')
			l--;
		bool line_starting = start == 0 || lx->s[start - 1] == '\n';
		if (l > start || line_starting) {
			if (skip_ws(lx, l) >= end && end > l)
				end = l;
		}
	}
	size_t line = lx->line;
	push_text(lx, start, end);
	lx->line = (int)line;
	count_lines(lx, start, at);
}

/* After an end marker at pos (just past "%}" / "#}" / "}}"): trim_blocks or '-'. */
static void after_end(struct lexer *lx, char sign, bool block)
{
	if (sign == '-') {
		size_t end = skip_ws(lx, lx->pos);
		count_lines(lx, lx->pos, end);
		lx->pos = end;
	} else if (sign != '+' && block && lx->pos < lx->n && lx->s[lx->pos] == '\n') {
		lx->line++;
		lx->pos++;
	}
}

static int lex_comment(struct lexer *lx)
{
	for (size_t i = lx->pos; i + 1 < lx->n; i++) {
		if (lx->s[i] != '#' || lx->s[i + 1] != '}')
			continue;
		char sign = i > lx->pos && (lx->s[i - 1] == '-' || lx->s[i - 1] == '+') ? lx->s[i - 1] : 0;
		count_lines(lx, lx->pos, i);
		lx->pos = i + 2;
		after_end(lx, sign, true);
		return 0;
	}
	return lerr(lx, "%s", "missing end of comment tag");
}

static int hexval(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	ch = (char)tolower((unsigned char)ch);
	return ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : -1;
}

static void put_utf8(char *o, size_t *k, unsigned long cp)
{
	if (cp < 0x80) {
		o[(*k)++] = (char)cp;
	} else if (cp < 0x800) {
		o[(*k)++] = (char)(0xC0 | (cp >> 6));
		o[(*k)++] = (char)(0x80 | (cp & 0x3F));
	} else if (cp < 0x10000) {
		o[(*k)++] = (char)(0xE0 | (cp >> 12));
		o[(*k)++] = (char)(0x80 | ((cp >> 6) & 0x3F));
		o[(*k)++] = (char)(0x80 | (cp & 0x3F));
	} else {
		o[(*k)++] = (char)(0xF0 | (cp >> 18));
		o[(*k)++] = (char)(0x80 | ((cp >> 12) & 0x3F));
		o[(*k)++] = (char)(0x80 | ((cp >> 6) & 0x3F));
		o[(*k)++] = (char)(0x80 | (cp & 0x3F));
	}
}

/* Python's unicode-escape on the body of a string literal s[0..n). */
static size_t unescape(const char *s, size_t n, char *o)
{
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] != '\\' || i + 1 >= n) {
			o[k++] = s[i];
			continue;
		}
		char ch = s[++i];
		static const char from[] = "nrtabfv\\'\"\n", to[] = "\n\r\t\a\b\f\v\\'\"";
		const char *p = strchr(from, ch);
		if (p && ch == '\n')
			continue;  /* backslash-newline: a line continuation */
		if (p) {
			o[k++] = to[p - from];
			continue;
		}
		int width = ch == 'x' ? 2 : ch == 'u' ? 4 : ch == 'U' ? 8 : 0;
		if (width && i + (size_t)width < n) {
			unsigned long cp = 0;
			int w;
			for (w = 0; w < width && hexval(s[i + 1 + w]) >= 0; w++)
				cp = cp * 16 + (unsigned long)hexval(s[i + 1 + w]);
			if (w == width && cp <= 0x10FFFF) {
				put_utf8(o, &k, cp);
				i += (size_t)width;
				continue;
			}
		}
		if (ch >= '0' && ch <= '7') {
			unsigned long cp = 0;
			int w = 0;
			while (w < 3 && i < n && s[i] >= '0' && s[i] <= '7')
				cp = cp * 8 + (unsigned long)(s[i++] - '0'), w++;
			i--;
			put_utf8(o, &k, cp);
			continue;
		}
		o[k++] = '\\';
		o[k++] = ch;
	}
	return k;
}

static int lex_string(struct lexer *lx)
{
	char q = lx->s[lx->pos];
	size_t i = lx->pos + 1;
	while (i < lx->n && lx->s[i] != q)
		i += lx->s[i] == '\\' ? 2 : 1;
	if (i >= lx->n)
		return lerr(lx, "%s", "unterminated string");
	struct token *t = push(lx, TK_STRING);
	size_t body = i - lx->pos - 1;
	t->str = xmalloc(body * 2 + 1);
	t->len = unescape(lx->s + lx->pos + 1, body, t->str);
	t->str[t->len] = 0;
	count_lines(lx, lx->pos, i);
	lx->pos = i + 1;
	return 0;
}

static int lex_number(struct lexer *lx)
{
	char buf[128];
	size_t k = 0, i = lx->pos;
	bool is_float = false;
	while (i < lx->n && (isdigit((unsigned char)lx->s[i]) || lx->s[i] == '_') && k < 100)
		if (lx->s[i++] != '_')
			buf[k++] = lx->s[i - 1];
	if (i + 1 < lx->n && lx->s[i] == '.' && isdigit((unsigned char)lx->s[i + 1])) {
		is_float = true;
		buf[k++] = lx->s[i++];
		while (i < lx->n && (isdigit((unsigned char)lx->s[i]) || lx->s[i] == '_') && k < 110)
			if (lx->s[i++] != '_')
				buf[k++] = lx->s[i - 1];
	}
	if (i < lx->n && (lx->s[i] == 'e' || lx->s[i] == 'E')) {
		size_t j = i + 1;
		if (j < lx->n && (lx->s[j] == '+' || lx->s[j] == '-'))
			j++;
		if (j < lx->n && isdigit((unsigned char)lx->s[j])) {
			is_float = true;
			while (i < j)
				buf[k++] = lx->s[i++];
			while (i < lx->n && isdigit((unsigned char)lx->s[i]) && k < 126)
				buf[k++] = lx->s[i++];
		}
	}
	buf[k] = 0;
	struct token *t = push(lx, is_float ? TK_FLOAT : TK_INT);
	if (is_float) {
		t->fval = strtod(buf, NULL);
	} else {
		errno = 0;
		t->ival = strtoll(buf, NULL, 10);
		if (errno)
			return lerr(lx, "integer literal %s is too large", buf);
	}
	lx->pos = i;
	return 0;
}

static int lex_op(struct lexer *lx, int *depth)
{
	static const char *const two[] = { "//", "**", "==", "!=", "<=", ">=" };
	const char *p = lx->s + lx->pos;
	for (size_t i = 0; i < sizeof two / sizeof *two; i++)
		if (lx->pos + 1 < lx->n && p[0] == two[i][0] && p[1] == two[i][1]) {
			push(lx, TK_OP)->op = OP2(p[0], p[1]);
			lx->pos += 2;
			return 0;
		}
	if (!strchr("+-/*%~[](){}<>=.:|,;", *p) || !*p) {
		char c[2] = { *p, 0 };
		return lerr(lx, "unexpected character '%s'", c);
	}
	if (strchr("([{", *p))
		++*depth;
	if (strchr(")]}", *p) && --*depth < 0)
		return lerr(lx, "unexpected '%s'", (char[]){ *p, 0 });
	push(lx, TK_OP)->op = *p;
	lx->pos++;
	return 0;
}

/* Tokens of one tag up to its end marker ("}}" or "%}"). */
static int lex_tag(struct lexer *lx, char kind)
{
	char close = kind == '{' ? '}' : '%';
	int depth = 0;
	for (;;) {
		size_t end = skip_ws(lx, lx->pos);
		count_lines(lx, lx->pos, end);
		lx->pos = end;
		if (lx->pos >= lx->n)
			return lerr(lx, "unexpected end of template, expected '%s'", kind == '{' ? "}}" : "%}");
		const char *p = lx->s + lx->pos;
		size_t left = lx->n - lx->pos;
		char sign = 0;
		if (depth == 0 && left >= 3 && (p[0] == '-' || (p[0] == '+' && kind == '%')) && p[1] == close && p[2] == '}')
			sign = p[0];
		if (depth == 0 && (sign || (left >= 2 && p[0] == close && p[1] == '}'))) {
			push(lx, kind == '{' ? TK_VAR_END : TK_BLOCK_END);
			lx->pos += sign ? 3 : 2;
			after_end(lx, sign, kind == '%');
			return 0;
		}
		int rc;
		if (isalpha((unsigned char)*p) || *p == '_') {
			size_t i = lx->pos;
			while (i < lx->n && (isalnum((unsigned char)lx->s[i]) || lx->s[i] == '_'))
				i++;
			struct token *t = push(lx, TK_NAME);
			t->len = i - lx->pos;
			t->str = xmalloc(t->len + 1);
			memcpy(t->str, p, t->len);
			t->str[t->len] = 0;
			lx->pos = i;
			rc = 0;
		} else if (isdigit((unsigned char)*p)) {
			rc = lex_number(lx);
		} else if (*p == '\'' || *p == '"') {
			rc = lex_string(lx);
		} else {
			rc = lex_op(lx, &depth);
		}
		if (rc < 0)
			return rc;
	}
}

/* {% raw %}: everything up to {% endraw %} is text.  pos is just past "{%". */
static bool try_raw(struct lexer *lx, char sign)
{
	size_t i = lx->pos + (sign ? 1 : 0);
	i = skip_ws(lx, i);
	if (lx->n - i < 3 || strncmp(lx->s + i, "raw", 3) != 0)
		return false;
	i += 3;
	i = skip_ws(lx, i);
	char esign = 0;
	if (i < lx->n && (lx->s[i] == '-' || lx->s[i] == '+'))
		esign = lx->s[i++];
	if (lx->n - i < 2 || lx->s[i] != '%' || lx->s[i + 1] != '}')
		return false;
	for (size_t j = i + 2; j + 1 < lx->n; j++) {
		if (lx->s[j] != '{' || lx->s[j + 1] != '%')
			continue;
		size_t k = j + 2;
		char s2 = lx->s[k] == '-' || lx->s[k] == '+' ? lx->s[k++] : 0;
		k = skip_ws(lx, k);
		if (lx->n - k < 6 || strncmp(lx->s + k, "endraw", 6) != 0)
			continue;
		k += 6;
		k = skip_ws(lx, k);
		char s3 = k < lx->n && (lx->s[k] == '-' || lx->s[k] == '+') ? lx->s[k++] : 0;
		if (lx->n - k < 2 || lx->s[k] != '%' || lx->s[k + 1] != '}')
			continue;
		lx->pos = i + 2;
		after_end(lx, esign, false);
		text_before(lx, lx->pos, j, '%', s2);
		lx->pos = k + 2;
		after_end(lx, s3, true);
		return true;
	}
	return false;
}

static char *normalise(const char *src, size_t *n)
{
	size_t len = strlen(src), k = 0;
	char *s = xmalloc(len + 1);
	for (size_t i = 0; i < len; i++) {
		if (src[i] == '\r') {
			s[k++] = '\n';
			if (i + 1 < len && src[i + 1] == '\n')
				i++;
		} else {
			s[k++] = src[i];
		}
	}
	if (k > 0 && s[k - 1] == '\n')
		k--;  /* keep_trailing_newline=False */
	s[k] = 0;
	*n = k;
	return s;
}

int tmpl_lex(const char *src, const char *name, struct toklist *out, struct exo_err *e)
{
	struct lexer lx = { .line = 1, .name = name, .out = out, .e = e };
	char *s = normalise(src, &lx.n);
	lx.s = s;
	int rc = 0;
	while (rc == 0 && lx.pos < lx.n) {
		size_t start = lx.pos, at = next_tag(&lx, start);
		if (at >= lx.n) {
			push_text(&lx, start, lx.n);
			count_lines(&lx, start, lx.n);
			break;
		}
		char kind = lx.s[at + 1];
		char sign = at + 2 < lx.n && (lx.s[at + 2] == '-' || lx.s[at + 2] == '+') ? lx.s[at + 2] : 0;
		text_before(&lx, start, at, kind, sign);
		lx.pos = at + 2;
		if (kind == '%' && try_raw(&lx, sign))
			continue;
		lx.pos += sign ? 1 : 0;
		if (kind == '#') {
			rc = lex_comment(&lx);
			continue;
		}
		push(&lx, kind == '{' ? TK_VAR_BEGIN : TK_BLOCK_BEGIN);
		rc = lex_tag(&lx, kind);
	}
	if (rc == 0)
		push(&lx, TK_EOF);
	free(s);
	return rc;
}

void tmpl_toks_free(struct toklist *tl)
{
	for (size_t i = 0; i < tl->n; i++)
		free(tl->t[i].str);
	free(tl->t);
	tl->t = NULL;
	tl->n = tl->cap = 0;
}
