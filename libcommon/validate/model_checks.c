/* `exo-validate model` beyond loading: what the model needs in memory at
 * each weight type, and, for a model in the Hugging Face cache, every file
 * against the hash its blob is named by (SHA-256 for LFS files, the git
 * blob id for the others), so a corrupted download is found before a stage
 * serves wrong numbers. */
#include "hub/cache.h"
#include "model/checkpoint.h"
#include "model/config.h"
#include "validate/facts.h"
#include "validate/model_checks.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void emit_memory(const char *model, const struct model_facts *f, struct vcheck_out *out)
{
	struct model_config mc;
	struct exo_err e;
	double kv_per_token = 0;
	if (model_config_load(&mc, f->dir, &e) == 0)
		kv_per_token = 2.0 * mc.n_layers * mc.n_kv_heads * mc.head_dim * sizeof(float);
	char p[32], a[32], b[32], c[32], d[32], s[32], act[64] = "", stored[96] = "", msg[700];
	if (f->active_params < f->params)
		snprintf(act, sizeof act, " (%s active per token)",
			 fmt_params(p, sizeof p, f->active_params));
	if (f->quantized && f->stored_bytes)
		snprintf(stored, sizeof stored, " %s as stored (MLX quantized),",
			 fmt_bytes(s, sizeof s, (double)f->stored_bytes));
	snprintf(msg, sizeof msg, "%s parameters%s%s: weights%s %s at F16/BF16, %s at Q8_0, %s at Q4_0; "
		 "KV cache %s per 1024 tokens of context per session", fmt_params(p, sizeof p, f->params),
		 act, f->params_counted ? "" : " (estimated from config.json)", stored,
		 fmt_bytes(a, sizeof a, (double)model_bytes_f16(f)), fmt_bytes(b, sizeof b, (double)model_bytes_q8(f)),
		 fmt_bytes(c, sizeof c, (double)model_bytes_q4(f)), fmt_bytes(d, sizeof d, kv_per_token * 1024));
	json_t *chk = vcheck_new(model, "model.memory", "ok", msg);
	json_object_set_new(chk, "params", json_real(f->params));
	json_object_set_new(chk, "active_params", json_real(f->active_params));
	if (f->quantized && f->stored_bytes)
		json_object_set_new(chk, "bytes_stored", json_integer((json_int_t)f->stored_bytes));
	json_object_set_new(chk, "bytes_f16", json_integer((json_int_t)model_bytes_f16(f)));
	json_object_set_new(chk, "bytes_q8_0", json_integer((json_int_t)model_bytes_q8(f)));
	json_object_set_new(chk, "bytes_q4_0", json_integer((json_int_t)model_bytes_q4(f)));
	json_object_set_new(chk, "kv_bytes_per_token", json_integer((json_int_t)kv_per_token));
	vcheck_emit(out, chk);
}

static int is_hex(const char *s, size_t n)
{
	if (strlen(s) != n)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!strchr("0123456789abcdef", s[i]))
			return 0;
	return 1;
}

/* SHA-256 of the content, or for git blobs SHA-1 of "blob LEN\0" + content,
 * as lower-case hex into hex; -1 when the file cannot be read. */
static int file_digest(const char *path, int git_blob, char *hex)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	EVP_DigestInit_ex(ctx, git_blob ? EVP_sha1() : EVP_sha256(), NULL);
	if (git_blob) {
		char head[64];
		int n = snprintf(head, sizeof head, "blob %lld", (long long)st.st_size);
		EVP_DigestUpdate(ctx, head, (size_t)n + 1);   /* the NUL is part of it */
	}
	static unsigned char buf[1 << 20];
	ssize_t n;
	while ((n = read(fd, buf, sizeof buf)) > 0)
		EVP_DigestUpdate(ctx, buf, (size_t)n);
	close(fd);
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned len = 0;
	EVP_DigestFinal_ex(ctx, md, &len);
	EVP_MD_CTX_free(ctx);
	for (unsigned i = 0; i < len; i++)
		sprintf(hex + 2 * i, "%02x", md[i]);
	return n < 0 ? -1 : 0;
}

/* One check per snapshot: the files whose blob name disagrees with their content. */
static void emit_hashes(const char *model, const char *dir, struct vcheck_out *out)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	size_t checked = 0, bad = 0;
	char first_bad[1024] = "";
	while (d && (de = readdir(d))) {
		char path[4400], target[4400], hex[2 * EVP_MAX_MD_SIZE + 1];
		snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
		ssize_t n = readlink(path, target, sizeof target - 1);
		if (n <= 0)
			continue;
		target[n] = 0;
		const char *blob = strrchr(target, '/') ? strrchr(target, '/') + 1 : target;
		int sha256 = is_hex(blob, 64), sha1 = is_hex(blob, 40);
		if (!sha256 && !sha1)
			continue;
		checked++;
		hex[0] = 0;
		if (file_digest(path, sha1, hex) < 0 || strcmp(hex, blob)) {
			if (!bad++)
				snprintf(first_bad, sizeof first_bad, "%.255s: content hashes to %.64s, its blob is named %.64s",
					 de->d_name, *hex ? hex : "(unreadable)", blob);
		}
	}
	if (d)
		closedir(d);
	char msg[1400];
	if (bad)
		snprintf(msg, sizeof msg, "%zu of %zu file(s) differ from the hash the cache names them by; %s",
			 bad, checked, first_bad);
	else
		snprintf(msg, sizeof msg, "%zu file(s) match the SHA-256 or git blob id the cache names them by",
			 checked);
	vcheck_emit(out, vcheck_new(model, "model.hashes", bad ? "fail" : "ok", msg));
}

/* MLX checkpoints: the quantization config.json declares (every packed
 * tensor was checked against it when the model loaded). */
static void emit_quantization(const char *model, struct vcheck_out *out)
{
	struct exo_err e;
	struct ckpt *c = ckpt_open(model, &e);
	if (!c)
		return;
	const struct model_quant *q = ckpt_quant(c);
	if (q->present) {
		char msg[400];
		model_quant_describe(q, msg, sizeof msg);
		json_t *chk = vcheck_new(model, "model.quantization", "ok", msg);
		json_object_set_new(chk, "bits", json_integer(q->base.bits));
		json_object_set_new(chk, "group_size", json_integer(q->base.group));
		json_object_set_new(chk, "bits_per_weight", json_real(q->base.bits + 32.0 / q->base.group));
		vcheck_emit(out, chk);
	}
	ckpt_close(c);
}

void model_extra_checks(const char *model, struct vcheck_out *out)
{
	emit_quantization(model, out);
	struct model_facts f;
	struct exo_err e;
	if (model_facts_load(model, &f, &e) < 0)
		return;   /* check_loads has reported why */
	emit_memory(model, &f, out);
	if (hub_snapshot_parse(f.dir, NULL, 0, NULL, 0))
		emit_hashes(model, f.dir, out);
}
