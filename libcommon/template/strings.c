/* Python's string methods on UTF-8 text, code point by code point through
 * utf8proc: case mapping, strip, replace, count, split, and HTML escaping. */
#include <string.h>
#include <utf8proc.h>
#include "template/tmpl_impl.h"

int tp_utf8_decode(const char *s, size_t n, int32_t *cp)
{
	utf8proc_ssize_t k = utf8proc_iterate((const utf8proc_uint8_t *)s, (utf8proc_ssize_t)n, cp);
	if (k <= 0) {
		*cp = -1;
		return 1;
	}
	return (int)k;
}

bool tp_py_isspace(int32_t cp)
{
	if (cp < 0)
		return false;
	if ((cp >= 9 && cp <= 13) || (cp >= 0x1c && cp <= 0x20) || cp == 0x85)
		return true;
	if (cp < 0x80)
		return false;
	utf8proc_category_t cat = utf8proc_category(cp);
	return cat == UTF8PROC_CATEGORY_ZS || cat == UTF8PROC_CATEGORY_ZL || cat == UTF8PROC_CATEGORY_ZP;
}

static void put_cp(struct strbuf *b, int32_t cp, const char *raw, int k)
{
	if (cp < 0) {
		strbuf_add(b, raw, (size_t)k);
		return;
	}
	utf8proc_uint8_t buf[4];
	utf8proc_ssize_t n = utf8proc_encode_char(cp, buf);
	strbuf_add(b, (const char *)buf, (size_t)n);
}

static bool is_cased(int32_t cp)
{
	return cp >= 0 && (utf8proc_toupper(cp) != cp || utf8proc_tolower(cp) != cp ||
			   utf8proc_category(cp) == UTF8PROC_CATEGORY_LT);
}

static bool jinja_title_sep(int32_t cp)
{
	return tp_py_isspace(cp) || cp == '-' || cp == '(' || cp == '{' || cp == '[' || cp == '<';
}

void tp_str_case(const char *s, size_t n, enum tp_str_case how, struct strbuf *b)
{
	bool prev_cased = false, first = true, after_sep = true;
	for (size_t i = 0; i < n;) {
		int32_t cp, out;
		int k = tp_utf8_decode(s + i, n - i, &cp);
		switch (how) {
		case CASE_UPPER: out = cp < 0 ? cp : utf8proc_toupper(cp); break;
		case CASE_LOWER: out = cp < 0 ? cp : utf8proc_tolower(cp); break;
		case CASE_CAPITALIZE:
			out = cp < 0 ? cp : first ? utf8proc_totitle(cp) : utf8proc_tolower(cp);
			break;
		case CASE_TITLE:
			out = cp < 0 ? cp : prev_cased ? utf8proc_tolower(cp) : utf8proc_totitle(cp);
			prev_cased = is_cased(cp);
			break;
		default: /* Jinja's title filter: words start after whitespace, - ( { [ < */
			out = cp < 0 ? cp : after_sep ? utf8proc_toupper(cp) : utf8proc_tolower(cp);
			after_sep = jinja_title_sep(cp);
			break;
		}
		put_cp(b, out, s + i, k);
		first = false;
		i += (size_t)k;
	}
}

static bool in_chars(int32_t cp, const char *chars, size_t nchars)
{
	if (!chars)
		return tp_py_isspace(cp);
	for (size_t i = 0; i < nchars;) {
		int32_t c;
		i += (size_t)tp_utf8_decode(chars + i, nchars - i, &c);
		if (c == cp)
			return true;
	}
	return false;
}

void tp_str_strip(const char *s, size_t n, const char *chars, size_t nchars, int which, const char **out,
	       size_t *outn)
{
	size_t a = 0, z = n;
	while ((which & 1) && a < z) {
		int32_t cp;
		int k = tp_utf8_decode(s + a, z - a, &cp);
		if (!in_chars(cp, chars, nchars))
			break;
		a += (size_t)k;
	}
	while ((which & 2) && z > a) {
		size_t st = z - 1;
		while (st > a && ((unsigned char)s[st] & 0xC0) == 0x80 && z - st < 4)
			st--;
		int32_t cp;
		int k = tp_utf8_decode(s + st, z - st, &cp);
		if ((size_t)k != z - st) {
			st = z - 1;
			tp_utf8_decode(s + st, 1, &cp);
		}
		if (!in_chars(cp, chars, nchars))
			break;
		z = st;
	}
	*out = s + a;
	*outn = z - a;
}

void tp_str_replace(const char *s, size_t n, const char *old, size_t nold, const char *new_, size_t nnew,
		 long long count, struct strbuf *b)
{
	if (nold == 0) {
		/* Python inserts new between every character, and at both ends */
		long long done = 0;
		for (size_t i = 0; i <= n;) {
			if (count < 0 || done < count) {
				strbuf_add(b, new_, nnew);
				done++;
			}
			if (i == n)
				break;
			int32_t cp;
			int k = tp_utf8_decode(s + i, n - i, &cp);
			strbuf_add(b, s + i, (size_t)k);
			i += (size_t)k;
		}
		return;
	}
	size_t i = 0;
	long long done = 0;
	while (i < n) {
		const char *hit = (count < 0 || done < count) ? memmem(s + i, n - i, old, nold) : NULL;
		if (!hit) {
			strbuf_add(b, s + i, n - i);
			return;
		}
		strbuf_add(b, s + i, (size_t)(hit - (s + i)));
		strbuf_add(b, new_, nnew);
		i = (size_t)(hit - s) + nold;
		done++;
	}
}

size_t tp_str_count(const char *s, size_t n, const char *sub, size_t nsub)
{
	if (nsub == 0)
		return tp_utf8_len(s, n) + 1;
	size_t count = 0;
	for (size_t i = 0; i + nsub <= n;) {
		const char *hit = memmem(s + i, n - i, sub, nsub);
		if (!hit)
			break;
		count++;
		i = (size_t)(hit - s) + nsub;
	}
	return count;
}

json_t *tp_str_split(const char *s, size_t n, const char *sep, size_t nsep, long long maxsplit)
{
	json_t *out = json_array();
	long long done = 0;
	if (sep) {
		size_t i = 0;
		for (;;) {
			const char *hit = (maxsplit < 0 || done < maxsplit) ? memmem(s + i, n - i, sep, nsep) : NULL;
			if (!hit) {
				json_array_append_new(out, json_stringn_nocheck(s + i, n - i));
				return out;
			}
			json_array_append_new(out, json_stringn_nocheck(s + i, (size_t)(hit - (s + i))));
			i = (size_t)(hit - s) + nsep;
			done++;
		}
	}
	size_t i = 0;
	for (;;) {
		while (i < n) {
			int32_t cp;
			int k = tp_utf8_decode(s + i, n - i, &cp);
			if (!tp_py_isspace(cp))
				break;
			i += (size_t)k;
		}
		if (i >= n)
			return out;
		if (maxsplit >= 0 && done >= maxsplit) {
			const char *rest;
			size_t nrest;
			tp_str_strip(s + i, n - i, NULL, 0, 2, &rest, &nrest);
			json_array_append_new(out, json_stringn_nocheck(rest, nrest));
			return out;
		}
		size_t st = i;
		while (i < n) {
			int32_t cp;
			int k = tp_utf8_decode(s + i, n - i, &cp);
			if (tp_py_isspace(cp))
				break;
			i += (size_t)k;
		}
		json_array_append_new(out, json_stringn_nocheck(s + st, i - st));
		done++;
	}
}

void tp_html_escape(const char *s, size_t n, struct strbuf *b)
{
	for (size_t i = 0; i < n; i++) {
		switch (s[i]) {
		case '&': strbuf_addstr(b, "&amp;"); break;
		case '<': strbuf_addstr(b, "&lt;"); break;
		case '>': strbuf_addstr(b, "&gt;"); break;
		case '"': strbuf_addstr(b, "&#34;"); break;
		case '\'': strbuf_addstr(b, "&#39;"); break;
		default: strbuf_addch(b, s[i]);
		}
	}
}
