/* Chat templates: every conversation of every tokenizer fixture renders to
 * its reference prompt exactly; each construct real templates use gives what
 * Jinja2 3.1 gives in transformers' environment (trim_blocks, lstrip_blocks,
 * loopcontrols; the expected strings came from Jinja2 itself); errors name
 * the construct and the line; hostile templates stop at the limits. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "template/template.h"
#include "tests/tap.h"
#include "util/file.h"

struct tcase {
	const char *tmpl, *want;
};

/* Generated with Python Jinja2 3.1 in transformers' environment (trim_blocks,
 * lstrip_blocks, loopcontrols, tojson as json.dumps): template and output. */
static const char *const VARS = "{\"s\": \"Hello World\", \"n\": 3, \"f\": 2.5, \"l\": [3, 1, 2], \"d\": {\"b\": 1, \"a\": 2}, \"e\": \"\", \"z\": 0, \"msgs\": [{\"role\": \"system\", \"content\": \" sys \"}, {\"role\": \"user\", \"content\": \"hi\"}, {\"role\": \"assistant\", \"content\": \"yo\", \"tool_calls\": [{\"function\": {\"name\": \"f\", \"arguments\": {\"x\": 1}}}]}], \"u\": \"h\\u00e9llo \\u00e9t\\u00e9\", \"nl\": \"a\\nb\\n\\nc\", \"words\": [\"b\", \"A\", \"c\", \"a\"]}";
static const struct tcase cases[] = {
	{ "{{ 'a' }}{{ \"b\" }}{{ 'it''s' }}{{ 'x\\ny\\t\\'q\\'' }}{{ '\\u00e9\\x41' }}",
	  "abitsx\ny\t'q'\303\251A" },
	{ "{{ 1 }} {{ 1.0 }} {{ -2 }} {{ 1_000 }} {{ 1e3 }} {{ 0.1 + 0.2 }} {{ 1/3 }} {{ 1e-5 }} {{ 1e16 }} {{ 123456789.125 }}",
	  "1 1.0 -2 1000 1000.0 0.30000000000000004 0.3333333333333333 1e-05 1e+16 123456789.125" },
	{ "{{ true }} {{ false }} {{ none }} {{ True }} {{ False }} {{ None }}",
	  "True False None True False None" },
	{ "{{ [1, 'a', none, true, 1.5, [], {}] }} {{ {'a': 1, 'b': \"it's\", 'c': [None]} }}",
	  "[1, 'a', None, True, 1.5, [], {}] {'a': 1, 'b': \"it's\", 'c': [None]}" },
	{ "{{ ['a\\nb', 'x\"y', \"p'q\", 'both\\'\"'] }}",
	  "['a\\nb', 'x\"y', \"p'q\", 'both\\'\"']" },
	{ "{{ l }} {{ d }} {{ msgs[2].tool_calls }}",
	  "[3, 1, 2] {'b': 1, 'a': 2} [{'function': {'name': 'f', 'arguments': {'x': 1}}}]" },
	{ "{{ 7 + 3 }} {{ 7 - 10 }} {{ 7 * 3 }} {{ 7 / 2 }} {{ 7 // 2 }} {{ -7 // 2 }} {{ 7 % 3 }} {{ -7 % 3 }} {{ 2 ** 10 }} {{ 2 ** -1 }} {{ 7.5 // 2 }} {{ -7.5 % 2 }}",
	  "10 -3 21 3.5 3 -4 1 2 1024 0.5 3.0 0.5" },
	{ "{{ 'ab' * 3 }} {{ 3 * 'x' }} {{ [1] * 3 }} {{ [1, 2] + [3] }} {{ 'a' + 'b' }} {{ 1 + 2.5 }} {{ true + 1 }}",
	  "ababab xxx [1, 1, 1] [1, 2, 3] ab 3.5 2" },
	{ "{{ 'a' ~ 1 ~ none ~ true ~ [1] ~ undefined_var }}",
	  "a1NoneTrue[1]" },
	{ "{{ 1 < 2 }} {{ 2 <= 2 }} {{ 3 > 4 }} {{ 'a' < 'b' }} {{ 1 == 1.0 }} {{ 'a' != 'a' }} {{ [1,2] == [1,2] }} {{ [1, 2] < [1, 3] }}",
	  "True True False True True False True True" },
	{ "{{ 'a' in 'cat' }} {{ 2 in l }} {{ 'a' in d }} {{ 'zz' not in d }} {{ 5 not in l }} {{ 'x' in undefined_var }}",
	  "True True True True True False" },
	{ "{{ true and 'x' }} {{ 0 and 1 }} {{ '' or 'dflt' }} {{ not 1 }} {{ not none }} {{ n > 1 and n < 5 }}",
	  "x 0 dflt False True True" },
	{ "{{ 'y' if n > 1 else 'n' }} {{ 'y' if z else 'n' }}[{{ 'only' if z }}]",
	  "y n[]" },
	{ "{{ -n }} {{ +n }} {{ -f }} {{ -1|abs }} {{ (1, 2) | length }} {{ (n + 1) * 2 }}",
	  "-3 3 -2.5 1 2 8" },
	{ "{{ l[0] }} {{ l[-1] }} {{ l[1:] }} {{ l[:-1] }} {{ l[::-1] }} {{ l[::2] }} {{ s[0] }} {{ s[-5:] }} {{ s[::-1] }} {{ u[1:4] }} {{ u[::-1] }}",
	  "3 2 [1, 2] [3, 1] [2, 1, 3] [3, 2] H World dlroW olleH \303\251ll \303\251t\303\251 oll\303\251h" },
	{ "{{ d.a }} {{ d['b'] }} {{ msgs[0].role }} {{ msgs[0]['content'] }} {{ l.0 }} [{{ d.missing }}] [{{ d['missing'] }}] [{{ l[10] }}]",
	  "2 1 system  sys  3 [] [] []" },
	{ "{% if n == 1 %}one{% elif n == 3 %}three{% else %}other{% endif %}",
	  "three" },
	{ "{% if z %}a{% elif e %}b{% else %}c{% endif %}{% if n %}d{% endif %}",
	  "cd" },
	{ "{% for x in l %}{{ loop.index }}{{ loop.index0 }}{{ loop.first }}{{ loop.last }}{{ loop.length }}{{ loop.revindex }}{{ loop.revindex0 }}|{% endfor %}",
	  "10TrueFalse332|21FalseFalse321|32FalseTrue310|" },
	{ "{% for x in l if x > 1 %}{{ x }}:{{ loop.index }}/{{ loop.length }} {% endfor %}",
	  "3:1/2 2:2/2 " },
	{ "{% for x in [] %}x{% else %}empty{% endfor %}{% for x in l if x > 10 %}x{% else %}none{% endfor %}",
	  "emptynone" },
	{ "{% for x in range(10) %}{% if x == 2 %}{% continue %}{% endif %}{% if x == 5 %}{% break %}{% endif %}{{ x }}{% endfor %}",
	  "0134" },
	{ "{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %}{% for k in d %}{{ k }}{% endfor %}{% for c in 'abc' %}{{ c }}.{% endfor %}",
	  "b=1;a=2;baa.b.c." },
	{ "{% for a, b in [[1, 2], [3, 4]] %}{{ a + b }}{% endfor %}{% for i in range(2, 8, 3) %}{{ i }}{% endfor %}{% for i in range(3, 0, -1) %}{{ i }}{% endfor %}",
	  "3725321" },
	{ "{% for x in l %}{{ loop.previtem }}-{{ loop.nextitem }},{{ loop.cycle('a', 'b') }};{% endfor %}",
	  "-1,a;3-2,b;1-,a;" },
	{ "{% for x in [1, 2] %}{% for y in [3, 4] %}{{ x }}{{ y }}{{ loop.index }} {% endfor %}{% endfor %}",
	  "131 142 231 242 " },
	{ "{% set x = 5 %}{{ x }}{% set a, b = 1, 2 %}{{ a }}{{ b }}{% set t = (1, 2) %}{{ t | length }}",
	  "5122" },
	{ "{% for i in l %}{% set x = i %}{% endfor %}[{{ x }}]{% if true %}{% set y = 1 %}{% endif %}{{ y }}",
	  "[]1" },
	{ "{% set ns = namespace(found=false, count=0) %}{% for m in msgs %}{% if m.role == 'user' %}{% set ns.found = true %}{% endif %}{% set ns.count = ns.count + 1 %}{% endfor %}{{ ns.found }} {{ ns.count }}",
	  "True 3" },
	{ "{% set acc = [] %}{% for x in l %}{% set _ = acc.append(x * 2) %}{% endfor %}{{ acc }}{{ acc.append(1) }}{{ acc|length }}",
	  "[6, 2, 4]None4" },
	{ "{% set blk %}inside {{ n }}{% endset %}[{{ blk }}]{% set up | upper %}shout{% endset %}{{ up }}",
	  "[inside 3]SHOUT" },
	{ "{% macro greet(name, punct='!') %}Hello {{ name }}{{ punct }}{% endmacro %}{{ greet('bob') }} {{ greet('amy', punct='?') }} {{ greet(name='x', punct='.') }}",
	  "Hello bob! Hello amy? Hello x." },
	{ "{% macro m(a) %}{{ a }}{{ varargs | list }}{{ kwargs }}{% endmacro %}{{ m(1, 2, 3, k=4) }}",
	  "1[2, 3]{'k': 4}" },
	{ "{% macro wrap(tag) %}<{{ tag }}>{{ caller() }}</{{ tag }}>{% endmacro %}{% call wrap('b') %}bold {{ n }}{% endcall %}",
	  "<b>bold 3</b>" },
	{ "{% macro lst(items) %}{% for i in items %}{{ caller(i) }}{% endfor %}{% endmacro %}{% call(item) lst(l) %}[{{ item }}]{% endcall %}",
	  "[3][1][2]" },
	{ "{% filter upper %}hello {{ s }}{% endfilter %}{% filter replace('a', 'b') | trim %}  banana  {% endfilter %}",
	  "HELLO HELLO WORLDbbnbnb" },
	{ "{% with a = 1, b = n %}{{ a + b }}{% endwith %}{{ a }}",
	  "4" },
	{ "{# comment #}a{# multi\nline #}b{{ 'c' }}{% raw %}{{ not evaluated }}{% endraw %}",
	  "abc{{ not evaluated }}" },
	{ "a  {{- 'b' -}}  c {%- if true -%}  d  {%- endif -%}  e",
	  "abcde" },
	{ "<ul>\n  {% for x in [1, 2] %}\n    <li>{{ x }}</li>\n  {% endfor %}\n</ul>\n",
	  "<ul>\n    <li>1</li>\n    <li>2</li>\n</ul>" },
	{ "  {% if true %}\n  yes\n  {% endif %}\n  {{ 'var' }}\n  {# c #}\nend\n\n",
	  "  yes\n  var\nend\n" },
	{ "x {%+ if true %}y{% endif +%}\nz {% if true %}  w{% endif %}",
	  "x y\nz   w" },
	{ "a\r\nb\rc {% if true %}\r\nd{% endif %}\n",
	  "a\nb\nc d" },
	{ "{%- set x = 1 -%}\n\n  {{ x }}  \n\n{%- if x %}  t  {% endif -%}  \n  ",
	  "1  t  " },
	{ "a\302\240\343\200\200 {%- if true %}\n\343\200\200\302\240{% if true %}b{% endif %}\034 {{- 'c' -}} \342\200\250\302\240d{% endif %}",
	  "abcd" },
	{ "{{ x is defined }} {{ n is defined }} {{ x is undefined }} {{ none is none }} {{ s is string }} {{ n is string }} {{ d is mapping }} {{ l is mapping }}",
	  "False True True True True False True False" },
	{ "{{ l is iterable }} {{ s is iterable }} {{ n is iterable }} {{ n is number }} {{ f is number }} {{ s is number }} {{ l is sequence }} {{ n is integer }} {{ f is float }}",
	  "True True False True True False True True True" },
	{ "{{ true is true }} {{ 1 is true }} {{ false is false }} {{ true is boolean }} {{ n is odd }} {{ n is even }} {{ 9 is divisibleby 3 }} {{ 9 is divisibleby(4) }}",
	  "True False True True True False True False" },
	{ "{{ n is equalto 3 }} {{ n is eq(3) }} {{ n is ne 3 }} {{ n is lt 5 }} {{ n is gt 5 }} {{ n is ge 3 }} {{ n is le 2 }} {{ 'ab' is lower }} {{ 'AB' is upper }} {{ 2 is in l }}",
	  "True True False True False True False True True True" },
	{ "{{ n is not none }} {{ x is not defined }} {{ not x is defined }} {{ msgs[0] is mapping and msgs[0].content is string }}",
	  "True True True True" },
	{ "[{{ '  pad  ' | trim }}] [{{ 'xxhixx' | trim('x') }}] {{ s | length }} {{ l | count }} {{ d | length }} {{ u | length }} {{ undefined_var | length }}",
	  "[pad] [hi] 11 3 2 9 0" },
	{ "{% for k, v in d | items %}{{ k }}{{ v }}{% endfor %} {{ d | items | map('first') | list }} {{ 'abc' | list }} {{ d | list }} {{ l | first }} {{ l | last }} {{ s | first }} {{ s | last }}",
	  "b1a2 ['b', 'a'] ['a', 'b', 'c'] ['b', 'a'] 3 2 H d" },
	{ "{{ l | join(', ') }} {{ words | join }} {{ msgs | join('|', attribute='role') }}",
	  "3, 1, 2 bAca system|user|assistant" },
	{ "{{ s | upper }} {{ s | lower }} {{ 'hello wORLD' | capitalize }} {{ 'hello wORLD-foo bar(baz' | title }} {{ u | upper }}",
	  "HELLO WORLD hello world Hello world Hello World-Foo Bar(Baz H\303\211LLO \303\211T\303\211" },
	{ "{{ s | replace('o', '0') }} {{ s | replace('l', 'L', 2) }} {{ 'aaa' | replace('', '-') }}",
	  "Hell0 W0rld HeLLo World -a-a-a-" },
	{ "{{ x | default('dflt') }} {{ e | default('dflt') }} {{ e | default('dflt', true) }} {{ x | d('d2') }} {{ none | default('n') }} {{ n | default(7) }}",
	  "dflt  dflt d2 None 3" },
	{ "{{ n | string }} {{ l | string }} {{ '42' | int }} {{ '4.7' | int }} {{ 'x' | int }} {{ 'x' | int(9) }} {{ 3.9 | int }} {{ '2.5' | float }} {{ 2 | float }} {{ 'q' | float }}",
	  "3 [3, 1, 2] 42 4 0 9 3 2.5 2.0 0.0" },
	{ "{{ -3 | abs }} {{ -2.5 | abs }} {{ 2.5 | round }} {{ 3.5 | round }} {{ 2.675 | round(2) }} {{ -0.5 | round }} {{ 3.14159 | round(2) }} {{ 2.1 | round(0, 'ceil') }} {{ 2.9 | round(method='floor') }} {{ 2 | round }}",
	  "3 2.5 2.0 4.0 2.67 -0.0 3.14 3.0 2.0 2" },
	{ "{{ msgs | map(attribute='role') | list }} {{ l | map('string') | join('-') }} {{ words | map('upper') | list }} {{ msgs | map(attribute='nope', default='?') | list }}",
	  "['system', 'user', 'assistant'] 3-1-2 ['B', 'A', 'C', 'A'] ['?', '?', '?']" },
	{ "{{ msgs | selectattr('role', 'equalto', 'user') | map(attribute='content') | list }} {{ msgs | rejectattr('role', 'eq', 'user') | list | length }} {{ msgs | selectattr('tool_calls') | list | length }} {{ msgs | rejectattr('tool_calls', 'defined') | map(attribute='role') | join(',') }}",
	  "['hi'] 2 1 system,user" },
	{ "{{ l | select('odd') | list }} {{ l | reject('odd') | list }} {{ [0, 1, '', 'a', none] | select | list }} {{ l | select('gt', 1) | list }}",
	  "[3, 1] [2] [1, 'a'] [3, 2]" },
	{ "{{ l | sort }} {{ l | sort(reverse=true) }} {{ words | sort }} {{ words | sort(case_sensitive=true) }} {{ msgs | sort(attribute='role') | map(attribute='role') | list }}",
	  "[1, 2, 3] [3, 2, 1] ['A', 'a', 'b', 'c'] ['A', 'a', 'b', 'c'] ['assistant', 'system', 'user']" },
	{ "{{ [3, 1, 3, 2, 1] | unique | list }} {{ words | unique | list }} {{ l | reverse | list }} {{ s | reverse }} {{ d | dictsort | map('last') | list }} {{ d | dictsort(by='value') | map('first') | join }} {{ d | dictsort(reverse=true) | map('join', '=') | list }}",
	  "[3, 1, 2] ['b', 'A', 'c'] [2, 1, 3] dlroW olleH [2, 1] ba ['b=1', 'a=2']" },
	{ "{{ '<a href=\"x\">&\\'</a>' | escape }} {{ '<b>' | e }} {{ '<i>' | safe }}",
	  "&lt;a href=&#34;x&#34;&gt;&amp;&#39;&lt;/a&gt; &lt;b&gt; <i>" },
	{ "{{ nl | indent }}|{{ nl | indent(2, true) }}|{{ nl | indent(2, true, true) }}|{{ nl | indent('> ') }}",
	  "a\n    b\n\n    c|  a\n  b\n\n  c|  a\n  b\n  \n  c|a\n> b\n\n> c" },
	{ "{{ 'one two  three' | wordcount }} {{ l | sum }} {{ [1.5, 2] | sum }} {{ l | min }} {{ l | max }} {{ words | max }} {{ 'hi' | center(9) }}|",
	  "3 6 3.5 1 3 c     hi   |" },
	{ "{{ '%s and %s' | format('a', 1) }} {{ '%d%%' | format(50) }} {{ d | attr('a') }} {{ 'x' | pprint }} {{ l | pprint }}",
	  "a and 1 50%  'x' [3, 1, 2]" },
	{ "{{ d | tojson }} {{ l | tojson }} {{ msgs[2] | tojson }} {{ 'h\303\251 \"q\" \\n' | tojson }} {{ 1.0 | tojson }} {{ none | tojson }} {{ [] | tojson(indent=2) }} {{ {} | tojson(indent=2) }}",
	  "{\"b\": 1, \"a\": 2} [3, 1, 2] {\"role\": \"assistant\", \"content\": \"yo\", \"tool_calls\": [{\"function\": {\"name\": \"f\", \"arguments\": {\"x\": 1}}}]} \"h\303\251 \\\"q\\\" \\n\" 1.0 null [] {}" },
	{ "{{ msgs[2] | tojson(indent=4) }}\n{{ [1, [2, {'a': []}]] | tojson(indent=2) }}",
	  "{\n    \"role\": \"assistant\",\n    \"content\": \"yo\",\n    \"tool_calls\": [\n        {\n            \"function\": {\n                \"name\": \"f\",\n                \"arguments\": {\n                    \"x\": 1\n                }\n            }\n        }\n    ]\n}\n[\n  1,\n  [\n    2,\n    {\n      \"a\": []\n    }\n  ]\n]" },
	{ "{{ d | tojson(sort_keys=true) }} {{ msgs[2] | tojson(separators=(',', ':')) }} {{ u | tojson(ensure_ascii=true) }} {{ ['\360\237\230\200'] | tojson(true) }} {{ d | tojson(indent=1, sort_keys=true) }}",
	  "{\"a\": 2, \"b\": 1} {\"role\":\"assistant\",\"content\":\"yo\",\"tool_calls\":[{\"function\":{\"name\":\"f\",\"arguments\":{\"x\":1}}}]} \"h\\u00e9llo \\u00e9t\\u00e9\" [\"\\ud83d\\ude00\"] {\n \"a\": 2,\n \"b\": 1\n}" },
	{ "{{ -7.5 // 2 }} {{ 7.5 // -2 }} {{ 7 // -2.0 }} {{ -7 % 2.5 }} {{ 2 ** 0.5 }} {{ 10 / 4 }} {{ 1 / 3 * 3 }}",
	  "-4.0 -4.0 -4.0 0.5 1.4142135623730951 2.5 1.0" },
	{ "{% macro inner() %}<{{ caller() if caller is defined else 'nocaller' }}>{% endmacro %}{% macro outer(x) %}[{{ x }}{{ caller() }}]{% endmacro %}{% call outer(inner()) %}body{% endcall %}",
	  "[<nocaller>body]" },
	{ "{{ 'y' if l | select('gt', 100) else 'n' }} {{ 'y' if l | select('gt', 100) | list else 'n' }} {% set g = msgs | selectattr('role', 'eq', 'nobody') %}{{ 'y' if g else 'n' }} {{ true * 'ab' }} {{ [1] * false }} {{ true | round }} {{ l is lower }} {{ 'ab1' is lower }} {{ '12' is lower }}",
	  "y n y ab [] 1 False True False" },
	{ "{{ '\nb' | indent(2, true) }}|{{ '\n' | indent(3, true, true) }}|{{ '' | indent(first=true) }}|{{ 'a\n\n' | indent(2) }}|",
	  "  \n  b|   \n   |    |a\n\n|" },
	{ "{% for x in l %}{% continue %}{% else %}else-after-continue{% endfor %}|{% for x in l %}{% break %}{% else %}else-after-break{% endfor %}|{% for x in l %}{% if x == 1 %}{% break %}{% endif %}{% else %}no-else{% endfor %}",
	  "else-after-continue|else-after-break|" },
	{ "{% for x in l %}{% filter upper %}a{{ x }}{% if x == 1 %}{% break %}{% endif %}{% endfilter %}{% endfor %}|{% for x in l %}{% set s %}b{{ x }}{% continue %}{% endset %}{{ s }}{% endfor %}",
	  "A3|" },
	{ "{% set ns = namespace(a=1) %}{% set ns.a = nothing %}[{{ ns.a }}]{{ ns.a is defined }}",
	  "[]False" },
	{ "{{ '%s-%s' % ('a', 1) }} {{ '%d%%' % 5 }} {{ 'x=%r' % 'q' }} {{ '%s' % [1, 2] | length }} {{ 'id: %s' % n }}",
	  "a-1 5% x='q' 2 id: 3" },
	{ "[{{ '  x  '.strip() }}] [{{ '  x  '.lstrip() }}] [{{ '  x  '.rstrip() }}] [{{ 'xxaxx'.strip('x') }}] [{{ nl.strip() }}]",
	  "[x] [x  ] [  x] [a] [a\nb\n\nc]" },
	{ "{{ 'a,b,,c'.split(',') }} {{ ' a  b c '.split() }} {{ 'a b c'.split(' ', 1) }} {{ 'a,b,c'.rsplit(',') }} {{ nl.splitlines() }}",
	  "['a', 'b', '', 'c'] ['a', 'b', 'c'] ['a', 'b c'] ['a', 'b', 'c'] ['a', 'b', '', 'c']" },
	{ "{{ s.startswith('Hell') }} {{ s.startswith(('x', 'H')) }} {{ s.endswith('d') }} {{ s.endswith('x') }} {{ s.upper() }} {{ s.lower() }} {{ 'hello world'.title() }} {{ 'hELLO'.capitalize() }}",
	  "True True True False HELLO WORLD hello world Hello World Hello" },
	{ "{{ s.replace('l', '_') }} {{ s.replace('l', '_', 1) }} {{ '{} and {}'.format('a', 'b') }} {{ '{1}{0}{{x}}'.format('a', 'b') }} {{ '{name}!'.format(name='n') }}",
	  "He__o Wor_d He_lo World a and b ba{x} n!" },
	{ "{{ s.find('o') }} {{ s.find('z') }} {{ s.rfind('o') }} {{ s.count('l') }} {{ u.find('t') }} {{ '-'.join(['a', 'b']) }} {{ '12'.isdigit() }} {{ 'a1'.isalpha() }} {{ ' '.isspace() }}",
	  "4 -1 7 3 7 a-b True False True" },
	{ "{{ d.get('a') }} {{ d.get('zz') }} {{ d.get('zz', 'dv') }} {{ d.keys() | list }} {{ d.values() | list }} {{ d.items() | map('join', ':') | list }}",
	  "2 None dv ['b', 'a'] [1, 2] ['b:1', 'a:2']" },
	{ "[{{ x }}] [{{ x | trim }}] [{% for i in x %}i{% endfor %}] [{{ x is defined }}] [{{ x or 'o' }}] [{{ x == x }}] [{{ d.nokey is defined }}]",
	  "[] [] [] [False] [o] [True] [False]" },
	{ "{{ range(3) | list }} {{ range(1, 4) | list }} {{ dict(a=1, b='x') }} {{ namespace(a=1).a }}",
	  "[0, 1, 2] [1, 2, 3] {'a': 1, 'b': 'x'} 1" },
	{ "{%- set messages = msgs %}{%- if messages[0]['role'] == 'system' %}{%- set system_message = messages[0]['content']|trim %}{%- set messages = messages[1:] %}{%- endif %}[{{ system_message }}]{{ messages | length }}",
	  "[sys]2" },
};

static char *render(const char *src, const char *vars_json, struct exo_err *e)
{
	json_t *vars = json_loads(vars_json, 0, NULL);
	struct tmpl *t = tmpl_parse(src, "case", e);
	char *out = NULL;
	if (t && tmpl_render(t, vars, &out, e) < 0)
		out = NULL;
	tmpl_free(t);
	json_decref(vars);
	return out;
}

/* The start of a template on one line, for a test's name. */
static const char *label(const char *tmpl)
{
	static char buf[64];
	size_t i;
	for (i = 0; i + 1 < sizeof buf && tmpl[i]; i++)
		buf[i] = tmpl[i] == '\n' || tmpl[i] == '\r' ? ' ' : tmpl[i];
	buf[i] = 0;
	return buf;
}

static void check_cases(void)
{
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		struct exo_err e = { 0 };
		char *out = render(cases[i].tmpl, VARS, &e);
		is_str(out, cases[i].want, "case %zu: %s", i, label(cases[i].tmpl));
		if (!out)
			diag("error: %s", e.msg);
		free(out);
	}
}

/* Templates that must fail, and what the message must say. */
static const struct tcase errors[] = {
	{ "line one\n{{ x | nosuch }}", "case:2: unsupported filter 'nosuch'" },
	{ "a\nb\n{% include 'x.j2' %}", "case:3: unsupported tag 'include'" },
	{ "{% if x is nosuch %}{% endif %}", "case:1: unsupported test 'nosuch'" },
	{ "\n{{ 'a'.nosuch() }}", "case:2: unsupported method 'nosuch' of str" },
	{ "{{ none.strip() }}", "case:1: 'NoneType' object has no attribute 'strip'" },
	{ "{{ [1] | map('nosuch') | list }}", "unsupported filter 'nosuch'" },
	{ "x\ny\n{% if %}{% endif %}", "case:3: unexpected '%}'" },
	{ "{% for x in [1] %}\n{{ x }}", "case:2: unexpected end of template, expected 'endfor'" },
	{ "{% if true %}{% endfor %}", "case:1: unexpected tag 'endfor'" },
	{ "\n\n\n{{ (1 + }}", "case:4: unexpected '}'" },
	{ "{{ 'unterminated }}", "case:1: unterminated string" },
	{ "{# never closed", "case:1: missing end of comment tag" },
	{ "{{ 1 ]}}", "case:1: unexpected ']'" },
	{ "{% for x in l recursive %}{% endfor %}", "unsupported loop 'recursive'" },
	{ "\n{% break %}", "case:2: 'break' outside loop" },
	{ "{% for x in l %}{% macro m() %}{% continue %}{% endmacro %}{% endfor %}", "'continue' outside loop" },
	{ "\n{{ raise_exception('Conversation roles must alternate') }}", "case:2: Conversation roles must alternate" },
	{ "{{ x.y }}", "case:1: 'x' is undefined" },
	{ "{{ x + 1 }}", "'x' is undefined" },
	{ "{{ 1 / 0 }}", "division by zero" },
	{ "{{ '%s' % (1, 2) }}", "not all arguments converted" },
	{ "{{ '%s %s' | format(1) }}", "not enough arguments for format string" },
	{ "{{ 1e300 * 1e10 }}", "not finite" },
	{ "{{ 0 ** -1 }}", "0 cannot be raised to a negative power" },
	{ "{{ 'a' + 1 }}", "unsupported operand type(s) for +: 'str' and 'int'" },
	{ "{{ 9223372036854775807 + 1 }}", "integer overflow" },
	{ "{{ none | length }}", "has no len()" },
	{ "{% for x in 3 %}{% endfor %}", "'int' object is not iterable" },
	{ "{% set a, b = [1] %}", "cannot unpack 1 values into 2 names" },
	{ "{% set d = {} %}{% set d.x = 1 %}", "cannot assign attribute on non-namespace object" },
	{ "{% set a = [] %}{{ a.append(a) }}", "a list cannot contain itself" },
	{ "{% macro r(n) %}{{ r(n + 1) }}{% endmacro %}{{ r(0) }}", "macro calls nested more than 50 deep" },
	{ "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
	  "more than 1000000 loop iterations" },
	{ "{% set s = 'x' * 1000000 %}{% for i in range(100) %}{{ s }}{% endfor %}", "output longer than" },
	{ "{{ 'x' * 100000000 }}", "string longer than" },
	{ "{% set s = 'x' * 10000000 %}{% for i in range(100) %}{% set t = s ~ i %}{% endfor %}",
	  "more than 268435456 bytes of strings" },
	{ "{{ range(1000000000) | length }}", "range longer than 100000 items" },
	/* each assignment checks the value for the namespace: n deep, n nodes */
	{ "{% set ns = namespace(d=[]) %}{% for i in range(100000) %}{% set ns.d = [ns.d] %}{% endfor %}",
	  "more than 20000000 steps" },
};

static void check_errors(void)
{
	for (size_t i = 0; i < sizeof errors / sizeof *errors; i++) {
		struct exo_err e = { 0 };
		char *out = render(errors[i].tmpl, VARS, &e);
		ok(!out && e.code == EXO_DATAERR && strstr(e.msg, errors[i].want), "error %zu: %s", i,
		   label(errors[i].tmpl));
		if (out || !strstr(e.msg, errors[i].want))
			diag("got code %d '%s', want '%s'", e.code, e.msg, errors[i].want);
		free(out);
	}
	/* nesting: 300 parentheses, 300 blocks */
	const char *parts[][3] = { { "{{ ", "(", "1" }, { "", "{% if true %}", "x" } };
	const char *closes[][2] = { { ")", " }}" }, { "{% endif %}", "" } };
	for (int k = 0; k < 2; k++) {
		char src[8000] = "";
		strcat(src, parts[k][0]);
		for (int i = 0; i < 300; i++)
			strcat(src, parts[k][1]);
		strcat(src, parts[k][2]);
		for (int i = 0; i < 300; i++)
			strcat(src, closes[k][0]);
		strcat(src, closes[k][1]);
		struct exo_err e = { 0 };
		char *out = render(src, "{}", &e);
		ok(!out && strstr(e.msg, "case:1: template nested too deeply"), "300 nested %s refused: %s",
		   k ? "blocks" : "parentheses", e.msg);
		free(out);
	}
}

/* The template of a fixture dir: tokenizer_config's chat_template or chat_template.jinja. */
static char *fixture_template(const char *dir, json_t *config, const char *from)
{
	char path[8192];
	if (from && !strcmp(from, "chat_template.jinja")) {
		snprintf(path, sizeof path, "%s/chat_template.jinja", dir);
		return file_read_all(path, NULL, NULL);
	}
	json_t *t = json_object_get(config, "chat_template");
	return json_is_string(t) ? strdup(json_string_value(t)) : NULL;
}

static int check_fixture_line(const char *dir, const char *name, json_t *config, json_t *c, int lineno)
{
	char *src = fixture_template(dir, config, json_string_value(json_object_get(c, "chat_template_from")));
	struct exo_err e = { 0 };
	struct tmpl *t = src ? tmpl_parse(src, name, &e) : NULL;
	char *out = NULL;
	if (t && chat_render(t, config, json_object_get(c, "messages"), json_object_get(c, "tools"),
			     json_is_true(json_object_get(c, "add_generation_prompt")),
			     json_object_get(c, "template_kwargs"), &out, &e) < 0)
		out = NULL;
	is_str(out, json_string_value(json_object_get(c, "prompt")), "%s chat.jsonl line %d", name, lineno);
	if (!out)
		diag("error: %s", e.msg);
	free(out);
	tmpl_free(t);
	free(src);
	return 1;
}

static void check_fixtures(void)
{
	char base[4096];
	snprintf(base, sizeof base, "%s/fixtures/tokenizers", tap_shared());
	DIR *d = opendir(base);
	if (!d) {
		skip("no tokenizer fixtures");
		return;
	}
	int count = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		char dir[4096 + 512], path[8192];
		snprintf(dir, sizeof dir, "%s/%s", base, de->d_name);
		snprintf(path, sizeof path, "%s/chat.jsonl", dir);
		FILE *f = fopen(path, "r");
		if (!f || de->d_name[0] == '.') {
			if (f)
				fclose(f);
			continue;
		}
		snprintf(path, sizeof path, "%s/tokenizer_config.json", dir);
		/* model_max_length can exceed 64 bits: integers as reals (only strings are used) */
		json_t *config = json_load_file(path, JSON_PRESERVE_ORDER | JSON_DECODE_INT_AS_REAL, NULL);
		snprintf(path, sizeof path, "%s/chat.jsonl", dir);
		char *line = NULL;
		size_t cap = 0;
		int lineno = 0;
		while (getline(&line, &cap, f) > 0) {
			json_t *c = json_loads(line, JSON_PRESERVE_ORDER, NULL);
			lineno++;
			if (c)
				count += check_fixture_line(dir, de->d_name, config, c, lineno);
			json_decref(c);
		}
		free(line);
		fclose(f);
		json_decref(config);
	}
	closedir(d);
	ok(count >= 32, "rendered %d fixture conversations", count);
}

/* chat_render's variables: special tokens as strings (AddedToken objects too),
 * tools and documents null when absent, template_kwargs on top. */
static void check_chat_variables(void)
{
	const char *src = "{{ bos_token }}|{{ eos_token }}|{{ pad_token is defined }}|{{ unk_token }}|"
			  "{{ additional_special_tokens | join(',') }}|{{ tools is none }}|{{ documents is none }}|"
			  "{{ add_generation_prompt }}|{{ messages | length }}|{{ extra }}";
	json_t *config = json_loads("{\"bos_token\": {\"__type\": \"AddedToken\", \"content\": \"<B>\", "
				    "\"lstrip\": false}, \"eos_token\": \"</E>\", \"pad_token\": null, "
				    "\"unk_token\": \"<u>\", \"chat_template\": \"x\", "
				    "\"additional_special_tokens\": [\"<x>\", {\"content\": \"<y>\"}]}", 0, NULL);
	json_t *msgs = json_loads("[{\"role\": \"user\", \"content\": \"hi\"}]", 0, NULL);
	json_t *extra = json_loads("{\"extra\": 7, \"unk_token\": \"<U2>\"}", 0, NULL);
	struct exo_err e = { 0 };
	struct tmpl *t = tmpl_parse(src, "vars", &e);
	char *out = NULL;
	if (t && chat_render(t, config, msgs, NULL, true, extra, &out, &e) < 0)
		out = NULL;
	is_str(out, "<B>|</E>|False|<U2>|<x>,<y>|True|True|True|1|7", "chat_render variables");
	free(out);
	json_t *tools = json_loads("[{\"type\": \"function\"}]", 0, NULL);
	out = NULL;
	if (t && chat_render(t, config, msgs, tools, false, NULL, &out, &e) < 0)
		out = NULL;
	is_str(out, "<B>|</E>|False|<u>|<x>,<y>|False|True|False|1|", "chat_render with tools, no kwargs");
	free(out);
	tmpl_free(t);
	json_decref(tools);
	json_decref(extra);
	json_decref(msgs);
	json_decref(config);
}

int main(void)
{
	check_fixtures();
	check_cases();
	check_errors();
	check_chat_variables();
	return done_testing();
}
