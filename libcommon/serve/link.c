/* What the stages and the head share: model identity, the seed rule and
 * the draw, and the client side of the hello exchange. */
#include "serve/serve.h"
#include "model/checkpoint.h"
#include "util/log.h"

#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int hash_file_head(crypto_generichash_state *st, const char *path, bool safetensors)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return -1;
	uint8_t buf[65536];
	uint64_t want = UINT64_MAX;
	if (safetensors) { /* the 8-byte header length, then the JSON header: names, types, offsets */
		uint8_t n8[8];
		if (fread(n8, 1, 8, f) != 8) {
			fclose(f);
			return -1;
		}
		want = 0;
		for (int i = 7; i >= 0; i--)
			want = want << 8 | n8[i];
		crypto_generichash_update(st, n8, 8);
		if (want > ((uint64_t)100 << 20))
			want = (uint64_t)100 << 20;
	}
	size_t got;
	while (want && (got = fread(buf, 1, want < sizeof buf ? (size_t)want : sizeof buf, f)) > 0) {
		crypto_generichash_update(st, buf, got);
		want -= got;
	}
	fclose(f);
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Short hash of config.json and every safetensors header, in name order. */
static int dir_revision(const char *dir, char *rev, size_t rev_len, struct exo_err *e)
{
	crypto_generichash_state st;
	crypto_generichash_init(&st, NULL, 0, 16);
	char path[4200];
	snprintf(path, sizeof path, "%s/config.json", dir);
	if (hash_file_head(&st, path, false) < 0)
		return exo_error(e, EXO_NOINPUT, "%s: cannot read", path);
	DIR *d = opendir(dir);
	if (!d)
		return exo_error(e, EXO_NOINPUT, "%s: cannot list", dir);
	char *names[4096];
	size_t n = 0;
	struct dirent *de;
	while ((de = readdir(d)) && n < 4096) {
		size_t l = strlen(de->d_name);
		if (l > 12 && strcmp(de->d_name + l - 12, ".safetensors") == 0)
			names[n++] = xstrdup(de->d_name);
	}
	closedir(d);
	qsort(names, n, sizeof *names, cmp_str);
	for (size_t i = 0; i < n; i++) {
		snprintf(path, sizeof path, "%s/%s", dir, names[i]);
		crypto_generichash_update(&st, (const uint8_t *)names[i], strlen(names[i]) + 1);
		hash_file_head(&st, path, true);
		free(names[i]);
	}
	uint8_t h[16];
	crypto_generichash_final(&st, h, sizeof h);
	char hex[33];
	sodium_bin2hex(hex, sizeof hex, h, sizeof h);
	snprintf(rev, rev_len, "%.12s", hex);
	return 0;
}

static const char *base_name(const char *path, char *buf, size_t len)
{
	snprintf(buf, len, "%s", path);
	size_t l = strlen(buf);
	while (l > 1 && buf[l - 1] == '/')
		buf[--l] = '\0';
	const char *s = strrchr(buf, '/');
	return s ? s + 1 : buf;
}

int serve_model_identity(const char *model, char *id, size_t id_len, char *rev, size_t rev_len,
			 struct exo_err *e)
{
	struct stat st;
	char dir[4096], tmp[4096];
	if (stat(model, &st) == 0 && S_ISDIR(st.st_mode)) {
		snprintf(id, id_len, "%s", base_name(model, tmp, sizeof tmp));
		return dir_revision(model, rev, rev_len, e);
	}
	if (ckpt_resolve(model, dir, sizeof dir, e) < 0)
		return -1;
	snprintf(id, id_len, "%.*s", (int)strcspn(model, "@"), model);
	snprintf(rev, rev_len, "%s", base_name(dir, tmp, sizeof tmp));
	return 0;
}

static uint64_t splitmix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

uint64_t serve_sample_seed(uint64_t seed, int pos)
{
	return splitmix64(seed ^ splitmix64((uint64_t)pos));
}

int32_t serve_draw(struct eng_sampler **sm, const struct eng_sampling *p, int pos, float *logits,
		   size_t vocab, float *logprob, bool *eos)
{
	struct eng_sampling at = *p;
	at.seed = serve_sample_seed(p->seed, pos);
	if (*sm)
		eng_sampler_reset(*sm, &at);
	else if (!(*sm = eng_sampler_new(&at, vocab)))
		return -1;
	int32_t t = eng_sample(*sm, logits, NULL, 0, logprob);
	*eos = false;
	for (int i = 0; i < p->n_eos && !*eos; i++)
		*eos = p->eos[i] == t;
	return t;
}

void serve_stage_name(char *buf, size_t len, int index, const char *addr)
{
	if (index >= 0)
		snprintf(buf, len, "stage %d (%s)", index, addr);
	else
		snprintf(buf, len, "the next stage (%s)", addr);
}

static void describe(char *buf, size_t len, const char *who, int index, const char *model,
		     const char *rev, int first, int last)
{
	char name[32];
	if (index >= 0)
		snprintf(name, sizeof name, "%s %d", who, index);
	else
		snprintf(name, sizeof name, "%s", who);
	if (first < last)
		snprintf(buf, len, "%s serves layers %d..%d of %s@%s", name, first, last - 1, model, rev);
	else
		snprintf(buf, len, "%s serves no layers of %s@%s", name, model, rev);
}

int serve_check_hello(const struct serve_ident *me, const struct proto_msg *peer, bool upstream,
		      char *msg, size_t msg_len)
{
	char mine[600];
	describe(mine, sizeof mine, "stage", me->stage, me->model, me->revision, me->first, me->last);
	if (peer->version != PROTO_VERSION) {
		snprintf(msg, msg_len, "%s with protocol %d; the peer speaks protocol %d", mine,
			 PROTO_VERSION, peer->version);
		return -1;
	}
	/* a checker without a model (exo-bench, exo-validate plan --live) talks
	 * to any stage: it pings, and a forward it sends must fit the stage */
	bool anonymous = upstream ? strcmp(peer->role, "client") == 0 && !peer->model[0] : !me->model[0];
	if (!anonymous && (strcmp(peer->model, me->model) || strcmp(peer->revision, me->revision))) {
		snprintf(msg, msg_len, "%s; the peer serves %s@%s", mine, peer->model, peer->revision);
		return -1;
	}
	if (upstream && !anonymous && peer->layer_end != me->first) {
		snprintf(msg, msg_len, "%s; the peer's range ends at %d", mine, peer->layer_end - 1);
		return -1;
	}
	if (!upstream && !anonymous && peer->layer_start != me->last) {
		char theirs[600];
		describe(theirs, sizeof theirs, "stage", peer->stage, peer->model, peer->revision,
			 peer->layer_start, peer->layer_end);
		snprintf(msg, msg_len, "%s; our range ends at %d", theirs, me->last - 1);
		return -1;
	}
	return 0;
}

int serve_send(struct net_link *l, const struct proto_msg *m, struct exo_err *e)
{
	char *buf;
	size_t len;
	if (proto_encode(m, &buf, &len, e) < 0)
		return -1;
	int rc = net_send(l, buf, len, e);
	free(buf);
	return rc;
}

static int hello_exchange(struct net_link *l, const struct serve_ident *me, struct proto_msg *answer,
			  struct exo_err *e)
{
	struct proto_msg m;
	proto_msg_init(&m, PROTO_HELLO);
	snprintf(m.model, sizeof m.model, "%s", me->model);
	snprintf(m.revision, sizeof m.revision, "%s", me->revision);
	snprintf(m.role, sizeof m.role, "%s", me->role);
	m.layer_start = me->first, m.layer_end = me->last, m.stage = me->stage;
	m.context = me->context, m.vocab = me->vocab;
	char *buf = NULL;
	size_t len;
	if (serve_send(l, &m, e) < 0 || net_recv(l, &buf, &len, -1, e) < 0)
		return -1;
	int rc = proto_decode(buf, len, answer, e);
	if (rc == 0 && answer->op == PROTO_ERROR)
		rc = exo_error(e, proto_error_status(answer->code), "refused us: %s", answer->message);
	else if (rc == 0 && answer->op != PROTO_HELLO)
		rc = exo_error(e, EXO_DATAERR, "answered hello with a %s frame", proto_op_name(answer->op));
	else if (rc == 0 && serve_check_hello(me, answer, false, e->msg, sizeof e->msg) < 0)
		rc = -1, e->code = EXO_CONFIG;
	free(buf);
	return rc;
}

int serve_connect(const char *addr, int index, const struct net_opts *no,
		  const struct serve_ident *me, struct net_link **l, struct proto_msg *answer,
		  struct exo_err *e)
{
	struct proto_msg tmp;
	char name[300];
	serve_stage_name(name, sizeof name, index, addr);
	*l = NULL;
	if (net_connect(addr, no, l, e) < 0) {
		exo_error_prefix(e, "%s", name);
		return -1;
	}
	if (hello_exchange(*l, me, answer ? answer : &tmp, e) < 0) {
		exo_error_prefix(e, "%s", name);
		net_close(*l);
		*l = NULL;
		return -1;
	}
	return 0;
}

int serve_recv_answer(struct net_link *l, char **buf, size_t *len, struct exo_err *e)
{
	struct pollfd p = {.fd = net_fd(l), .events = POLLIN};
	int r;
	do
		r = poll(&p, 1, SERVE_ANSWER_MS);
	while (r < 0 && errno == EINTR);
	if (r == 0)
		return exo_error(e, EXO_TEMPFAIL, "%s: no answer within %d s", net_peer(l),
				 SERVE_ANSWER_MS / 1000);
	return net_recv(l, buf, len, -1, e);
}
