/* Records: round trips msgpack -> JSON -> msgpack and msgpack -> YAML ->
 * msgpack byte for byte for a sample of every kind, every chunking of the
 * stream reader, and every class of bad input giving status 65 and a message
 * that names the record index and the field. */
#include <msgpack.h>
#include <pthread.h>
#include <stdint.h>
#include <unistd.h>
#include "records/record.h"
#include "tests/tap.h"

/* Values every sample carries: the awkward ones for a round trip. */
#define EXTRAS ", \"r1\": 0.1, \"r2\": 1.0, \"r3\": 1e300, \"r4\": -2.5e-300, \"neg\": -42," \
	" \"imin\": -9223372036854775808, \"imax\": 9223372036854775807," \
	" \"u\": \"h\u00e9llo \u2713 \\u65e5\\u672c\", \"s1\": \"007\", \"s2\": \"true\"," \
	" \"s3\": \"1.5\", \"s4\": \"\", \"s5\": \"null\", \"s6\": \"~\", \"s7\": \"- x: y\"," \
	" \"s8\": \"line\\nbreak\", \"s9\": \" padded \", \"s10\": \"1e5\", \"s11\": \"no\"," \
	" \"nul\": null, \"yes\": true, \"no\": false, \"ea\": [], \"eo\": {}," \
	" \"deep\": {\"a\": [{\"b\": [1, 2.0, \"3\", [], {}]}]}}"

static const char *const samples[] = {
	"{\"kind\": \"node\", \"v\": 1, \"name\": \"box1\", \"arch\": \"x86_64\","
	" \"mem_total\": 17179869184, \"mem_available\": 8589934592,"
	" \"cpu\": {\"model\": \"Ryzen 7\", \"cores\": 8, \"threads\": 16, \"isa\": [\"avx2\", \"fma\"]},"
	" \"gpus\": [{\"index\": 0, \"name\": \"RTX 4090\", \"mem_total\": 25769803776, \"flops\": 8.2e13}]"
	EXTRAS,
	"{\"kind\": \"model\", \"v\": 1, \"id\": \"meta-llama/Llama-3.2-3B-Instruct\","
	" \"architecture\": \"LlamaForCausalLM\", \"layers\": 28, \"hidden\": 3072,"
	" \"bytes_per_layer\": 201326592, \"embed_bytes\": 787480576, \"head_bytes\": 0,"
	" \"kv_bytes_per_token\": 114688, \"dtype\": \"bf16\"" EXTRAS,
	"{\"kind\": \"bench\", \"v\": 1, \"node\": \"box1\", \"suite\": \"memory\","
	" \"name\": \"read_bytes_per_s\", \"value\": 5.1e10, \"min\": 4.9e10, \"median\": 5,"
	" \"max\": 5.2e10" EXTRAS,
	"{\"kind\": \"plan\", \"v\": 1, \"model\": \"m\", \"strategy\": \"memory\", \"layers\": 28,"
	" \"stages\": [{\"index\": 0, \"node\": \"a\", \"address\": \"10.0.0.1:52416\","
	" \"layer_start\": 0, \"layer_end\": 14, \"device\": \"cuda:0\"},"
	" {\"index\": 1, \"node\": \"b\", \"layer_start\": 14, \"layer_end\": 28}]" EXTRAS,
	"{\"kind\": \"check\", \"v\": 1, \"subject\": \"plan\", \"level\": \"warn\","
	" \"code\": \"tight_memory\", \"message\": \"stage 1 uses 97% of memory\"" EXTRAS,
	"{\"kind\": \"error\", \"v\": 1, \"code\": \"session_unknown\", \"message\": \"stage 2 restarted\"" EXTRAS,
	"{\"kind\": \"future-kind\", \"v\": 1, \"anything\": [1, \"x\"]" EXTRAS,
};
#define NSAMPLES (sizeof samples / sizeof *samples)

static json_t *sample(size_t i)
{
	json_error_t je;
	json_t *j = json_loads(samples[i], 0, &je);
	if (!j)
		diag("sample %zu: %s at %d", i, je.text, je.column);
	return j;
}

/* Decode every record of buf in format f and re-encode them all as msgpack. */
static int reencode(const char *buf, size_t len, enum rec_format f, char **out, size_t *olen,
		    struct exo_err *e)
{
	struct rec_reader *r = rec_reader_open_mem(buf, len, "test", f);
	json_t *rec;
	int rc;
	while ((rc = rec_reader_next(r, &rec, e)) == 1) {
		rc = rec_to_msgpack(rec, out, olen, e);
		json_decref(rec);
		if (rc < 0)
			break;
	}
	rec_reader_close(r);
	return rc;
}

static void round_trip(enum rec_format f, const char *name)
{
	for (size_t i = 0; i < NSAMPLES; i++) {
		json_t *j = sample(i);
		char *mp = NULL, *text = NULL, *back = NULL;
		size_t mplen = 0, tlen = 0, blen = 0;
		struct exo_err e = { 0 };
		int rc = j ? rec_to_msgpack(j, &mp, &mplen, &e) : -1;
		if (rc == 0)
			rc = reencode(mp, mplen, REC_MSGPACK, &text, &tlen, &e);
		if (rc == 0 && (tlen != mplen || memcmp(text, mp, mplen)))
			rc = -2;
		free(text);
		text = NULL;
		tlen = 0;
		json_t *dec = NULL;
		struct rec_reader *r = rc == 0 ? rec_reader_open_mem(mp, mplen, "test", REC_MSGPACK) : NULL;
		if (r && rec_reader_next(r, &dec, &e) == 1)
			rc = rec_encode(dec, f, &text, &tlen, &e);
		rec_reader_close(r);
		if (rc == 0)
			rc = reencode(text, tlen, f, &back, &blen, &e);
		ok(rc == 0 && blen == mplen && memcmp(back, mp, mplen) == 0,
		   "msgpack -> %s -> msgpack is byte-identical: %s", name, rec_kind(j));
		if (rc != 0)
			diag("rc %d: %s", rc, e.msg);
		else if (blen != mplen || memcmp(back, mp, mplen))
			diag("%s", text);
		json_decref(j);
		json_decref(dec);
		free(mp);
		free(text);
		free(back);
	}
}

/* The whole stream of samples, as msgpack. */
static char *all_samples(size_t *len)
{
	char *buf = NULL;
	*len = 0;
	for (size_t i = 0; i < NSAMPLES; i++) {
		json_t *j = sample(i);
		rec_to_msgpack(j, &buf, len, NULL);
		json_decref(j);
	}
	return buf;
}

static int count_records(struct rec_reader *r, struct exo_err *e)
{
	json_t *rec;
	int n = 0, rc;
	while ((rc = rec_reader_next(r, &rec, e)) == 1) {
		n++;
		json_decref(rec);
	}
	return rc < 0 ? -1 : n;
}

struct feed {
	int fd;
	const char *buf;
	size_t len;
};

static void *feeder(void *arg)
{
	struct feed *f = arg;
	for (size_t i = 0; i < f->len; i++) {
		if (write(f->fd, f->buf + i, 1) != 1)
			break;
		if (i % 7 == 0)
			sched_yield();
	}
	close(f->fd);
	return NULL;
}

static void chunking(void)
{
	size_t len;
	char *buf = all_samples(&len);
	struct exo_err e = { 0 };
	int all = 1;
	for (size_t chunk = 1; chunk <= 17; chunk++) {
		struct rec_reader *r = rec_reader_open_mem(buf, len, "mem", REC_MSGPACK);
		rec_reader_set_max_read(r, chunk);
		if (count_records(r, &e) != (int)NSAMPLES) {
			all = 0;
			diag("chunk %zu: %s", chunk, e.msg);
		}
		rec_reader_close(r);
	}
	ok(all, "reader returns every record with reads of 1 to 17 bytes");
	int p[2];
	if (pipe(p) < 0)
		return;
	struct feed f = { p[1], buf, len };
	pthread_t t;
	pthread_create(&t, NULL, feeder, &f);
	struct rec_reader *r = rec_reader_open(p[0], "pipe");
	is_int(count_records(r, &e), (int)NSAMPLES, "reader over a pipe written one byte at a time");
	is_int(rec_reader_index(r), (int)NSAMPLES, "index counts the records returned");
	rec_reader_close(r);
	pthread_join(t, NULL);
	close(p[0]);
	free(buf);
}

/* One bad input: -1, code 65, and each of the words in the message. */
static void bad(const char *what, const void *buf, size_t len, enum rec_format f, const char *w1,
		const char *w2)
{
	struct rec_reader *r = rec_reader_open_mem(buf, len, "stdin", f);
	struct exo_err e = { 0 };
	int rc = count_records(r, &e);
	rec_reader_close(r);
	int good = rc == -1 && e.code == 65 && strstr(e.msg, w1) && (!w2 || strstr(e.msg, w2)) &&
		   !strchr(e.msg, '\n');
	ok(good, "%s: status 65 naming '%s'%s%s", what, w1, w2 ? " and " : "", w2 ? w2 : "");
	if (!good)
		diag("rc %d code %d: %s", rc, e.code, e.msg);
}

static void bad_json(const char *what, const char *json, const char *w1, const char *w2)
{
	json_t *j = json_loads(json, 0, NULL);
	char *buf = NULL;
	size_t len = 0;
	/* A good record first, so that the index in the message must be 1. */
	json_t *good = sample(0);
	rec_to_msgpack(good, &buf, &len, NULL);
	if (j)
		rec_to_msgpack(j, &buf, &len, NULL);
	bad(what, buf, len, REC_MSGPACK, w1, w2);
	json_decref(j);
	json_decref(good);
	free(buf);
}

/* A msgpack map {"kind": "node", "v": 1, KEY: <value packed by fn>}. */
static char *crafted(const char *key, void (*fn)(msgpack_packer *), size_t *len)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 3);
	msgpack_pack_str_with_body(&pk, "kind", 4);
	msgpack_pack_str_with_body(&pk, "x", 1);
	msgpack_pack_str_with_body(&pk, "v", 1);
	msgpack_pack_int(&pk, 1);
	msgpack_pack_str_with_body(&pk, key, strlen(key));
	fn(&pk);
	*len = sb.size;
	return sb.data;
}

static void p_bin(msgpack_packer *pk) { msgpack_pack_bin_with_body(pk, "ab", 2); }
static void p_u64(msgpack_packer *pk) { msgpack_pack_uint64(pk, UINT64_MAX); }
static void p_ext(msgpack_packer *pk) { msgpack_pack_ext_with_body(pk, "ab", 2, 5); }
static void p_f32(msgpack_packer *pk) { msgpack_pack_float(pk, 0.5f); }
static void p_deep(msgpack_packer *pk)
{
	for (int i = 0; i < 40; i++)
		msgpack_pack_array(pk, 1);
	msgpack_pack_int(pk, 1);
}
static void p_intkey(msgpack_packer *pk)
{
	msgpack_pack_map(pk, 1);
	msgpack_pack_int(pk, 7);
	msgpack_pack_int(pk, 7);
}

static void bad_crafted(const char *what, const char *key, void (*fn)(msgpack_packer *),
			const char *w1)
{
	size_t len;
	char *buf = crafted(key, fn, &len);
	bad(what, buf, len, REC_MSGPACK, "record 0", w1);
	free(buf);
}

static void bad_inputs(void)
{
	size_t len;
	char *buf = all_samples(&len);
	bad("truncated map", buf, len - 1, REC_MSGPACK, "record 6", "truncated");
	free(buf);
	bad("garbage byte", "\xc1", 1, REC_MSGPACK, "record 0", "malformed msgpack at byte 0");
	bad("top-level array", "\x91\x01", 2, REC_MSGPACK, "record 0", "expected a map");
	bad("top-level integer", "\x07", 1, REC_MSGPACK, "record 0", "expected a map");
	bad("huge announced str length", "\x81\xa4kind\xdb\xff\xff\xff\xff" "abc", 13, REC_MSGPACK,
	    "record 0", "larger than 64 MiB");
	bad("huge announced map count", "\xdf\xff\xff\xff\xff\xa1" "a", 7, REC_MSGPACK,
	    "record 0", "larger than 64 MiB");
	bad("truncated str", "\x81\xa4kind\xa5" "ab", 8, REC_MSGPACK, "record 0", "truncated");
	bad_json("wrong-typed field", "{\"kind\":\"node\",\"v\":1,\"name\":\"a\",\"arch\":\"b\","
		 "\"mem_total\":\"16G\"}", "record 1 (node): field 'mem_total': expected integer, got string", NULL);
	bad_json("missing required field", "{\"kind\":\"node\",\"v\":1,\"name\":\"a\",\"mem_total\":1}",
		 "record 1 (node)", "field 'arch': missing");
	bad_json("newer version", "{\"kind\":\"node\",\"v\":2}", "record 1 (node)", "field 'v': version 2");
	bad_json("missing kind", "{\"v\":1}", "record 1", "field 'kind'");
	bad_json("nested stage field", "{\"kind\":\"plan\",\"v\":1,\"model\":\"m\",\"strategy\":\"s\","
		 "\"layers\":2,\"stages\":[{\"index\":0,\"node\":\"a\",\"layer_start\":0,\"layer_end\":\"2\"}]}",
		 "record 1 (plan)", "field 'stages[0].layer_end': expected integer");
	bad_json("check level outside its set", "{\"kind\":\"check\",\"v\":1,\"subject\":\"s\","
		 "\"level\":\"bad\",\"message\":\"m\"}", "record 1 (check)", "field 'level'");
	bad_crafted("nesting too deep", "deep", p_deep, "nested deeper");
	bad_crafted("bin in a record", "blob", p_bin, "field 'blob': binary data");
	bad_crafted("ext in a record", "ext", p_ext, "field 'ext'");
	bad_crafted("uint64 above INT64_MAX", "big", p_u64, "field 'big': integer above");
	bad_crafted("non-string map key", "m", p_intkey, "field 'm': map key is not a string");
	size_t huge = ((size_t)64 << 20) + 4096;
	char *big = calloc(1, huge);
	memcpy(big, "\x81\xa4kind\xdb\x10\x00\x00\x00", 10);
	bad("message over 64 MiB", big, huge, REC_MSGPACK, "record 0", "larger than 64 MiB");
	/* the same limit in JSON, as an object and as an item of an array */
	memset(big, 'a', huge);
	memcpy(big, "{\"kind\":\"node\",\"v\":1,\"name\":\"", 29);
	memcpy(big + huge - 2, "\"}", 2);
	bad("JSON object over 64 MiB", big, huge, REC_JSON, "record 0", "larger than 64 MiB");
	big[0] = '[';
	memcpy(big + 1, "{\"kind\":\"node\",\"v\":1,\"name\":\"", 29);
	memcpy(big + huge - 3, "\"}]", 3);
	bad("JSON array item over 64 MiB", big, huge, REC_JSON, "record 0", "larger than 64 MiB");
	free(big);
}

static void float32_decodes_as_real(void)
{
	size_t len;
	char *buf = crafted("half", p_f32, &len);
	struct rec_reader *r = rec_reader_open_mem(buf, len, "t", REC_MSGPACK);
	json_t *rec = NULL;
	struct exo_err e;
	rec_reader_next(r, &rec, &e);
	ok(json_is_real(json_object_get(rec, "half")) &&
	   json_real_value(json_object_get(rec, "half")) == 0.5, "float32 decodes to a real");
	json_decref(rec);
	rec_reader_close(r);
	free(buf);
}

static void text_inputs(void)
{
	const char *jl = "{\"kind\":\"x\",\"v\":1}{\"kind\":\"y\",\"v\":1}\n\n {\"kind\":\"z\",\"v\":1}\n";
	struct exo_err e = { 0 };
	struct rec_reader *r = rec_reader_open_mem(jl, strlen(jl), "j", REC_JSON);
	is_int(count_records(r, &e), 3, "JSON: concatenated objects and JSON Lines");
	rec_reader_close(r);
	const char *ja = " [{\"kind\":\"x\",\"v\":1}, {\"kind\":\"y\",\"v\":1}]";
	r = rec_reader_open_mem(ja, strlen(ja), "j", REC_JSON);
	is_int(count_records(r, &e), 2, "JSON: an array of records");
	rec_reader_close(r);
	const char *y = "kind: x\nv: 1\na: 007\nb: '007'\nc: 1.5\nd: ~\ne: True\n---\nkind: y\nv: 1\n";
	r = rec_reader_open_mem(y, strlen(y), "y", REC_YAML);
	json_t *rec = NULL;
	rec_reader_next(r, &rec, &e);
	ok(json_integer_value(json_object_get(rec, "a")) == 7 &&
	   json_is_string(json_object_get(rec, "b")) && json_is_real(json_object_get(rec, "c")) &&
	   json_is_null(json_object_get(rec, "d")) && json_is_true(json_object_get(rec, "e")),
	   "YAML: plain scalars resolve, quoted ones stay strings");
	json_decref(rec);
	is_int(count_records(r, &e), 1, "YAML: one record per document");
	rec_reader_close(r);
	const char *bj = "{\"kind\":\"x\",\"v\":1}\n{\"kind\":\"x\",\"v\":1,\n";
	bad("JSON: truncated object", bj, strlen(bj), REC_JSON, "stdin: record 1", "end of file");
	const char *ba = "kind: x\nv: 1\na: &A [1]\nb: *A\n";
	bad("YAML: anchors refused", ba, strlen(ba), REC_YAML, "stdin:3:4: record 0", "anchors");
	const char *bs = "kind: x\nv: 1\n---\nkind: [1,\n";
	bad("YAML: syntax error names line and column", bs, strlen(bs), REC_YAML, "stdin:5:1: record 1", NULL);
	const char *bd = "kind: x\nv: 1\nv: 2\n";
	bad("YAML: duplicate key", bd, strlen(bd), REC_YAML, "duplicate key 'v'", NULL);
	const char *bt = "kind: node\nv: 1\nname: a\narch: b\nmem_total: '1'\n";
	bad("YAML: quoted number is a string", bt, strlen(bt), REC_YAML, "field 'mem_total'", "got string");
}

static void writers(void)
{
	json_t *j = sample(0);
	char *buf = NULL;
	size_t len = 0;
	rec_encode(j, REC_JSON, &buf, &len, NULL);
	ok(len && buf[len - 1] == '\n' && !memchr(buf, '\n', len - 1) && strstr(buf, "\"r2\":1.0"),
	   "JSON: one line per record, reals keep their decimal point");
	len = 0;
	rec_encode(j, REC_YAML, &buf, &len, NULL);
	ok(strncmp(buf, "---", 3) == 0 && strstr(buf, "s1: \"007\"") && strstr(buf, "r1: 0.1\n"),
	   "YAML: a document per record, number-like strings quoted");
	len = 0;
	rec_encode(j, REC_TEXT, &buf, &len, NULL);
	ok(strstr(buf, "node  box1\n") && strstr(buf, "17179869184 (16.0 GiB)"),
	   "text: header with kind and name, sizes in human form");
	free(buf);
	json_decref(j);
	is_int(rec_format_parse("yaml"), REC_YAML, "format names parse");
	is_int(rec_format_parse("xml"), -1, "unknown format refused");
	json_t *n = rec_new("node");
	ok(strcmp(rec_kind(n), "node") == 0 && json_integer_value(json_object_get(n, "v")) == REC_VERSION,
	   "rec_new sets kind and v");
	json_decref(n);
}

/* Streams are told apart by their first byte that is not white space. */
static void sniffing(void)
{
	is_int(rec_sniff_format("\x82\xa4kind", 6), REC_MSGPACK, "sniff: a msgpack map");
	is_int(rec_sniff_format("\xde\x00\x10", 3), REC_MSGPACK, "sniff: a map16");
	is_int(rec_sniff_format(" \n{\"kind\":1}", 13), REC_JSON, "sniff: JSON after blank space");
	is_int(rec_sniff_format("[{}]", 4), REC_JSON, "sniff: a JSON array");
	is_int(rec_sniff_format("kind: node\n", 11), REC_YAML, "sniff: YAML");
	is_int(rec_sniff_format("---\nkind: node\n", 15), REC_YAML, "sniff: a YAML document marker");
	is_int(rec_sniff_format("", 0), REC_MSGPACK, "sniff: empty is msgpack (an empty stream)");
	is_int(rec_sniff_format("\x01", 1), REC_MSGPACK, "sniff: binary goes to the msgpack reader");
}

int main(void)
{
	sniffing();
	round_trip(REC_JSON, "JSON");
	round_trip(REC_YAML, "YAML");
	chunking();
	float32_decodes_as_real();
	bad_inputs();
	text_inputs();
	writers();
	return done_testing();
}
