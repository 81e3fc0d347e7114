/* Inside the tokenizer: the loaded pipeline (normalizers, pre-tokenizers,
 * BPE model, added tokens, post-processor, decoders) and the helpers the
 * files of this module share.  Not for use outside libcommon/tokenizer. */
#ifndef EXO_TOKENIZER_TOK_INT_H
#define EXO_TOKENIZER_TOK_INT_H
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include "tokenizer/tokenizer.h"
#include "util/strbuf.h"

/* Ids from 0 to TOK_MAX_ID - 1: ten times the largest real vocabulary, and
 * no absurd tables from a broken file. */
#define TOK_MAX_ID (1 << 21)

/* UTF-8 */
size_t tok_utf8_len(unsigned char lead);                   /* 1..4, or 1 for a stray byte */
/* Decodes one character of s[0..n) (valid input); *cp gets it, returns its length. */
size_t tok_utf8_get(const char *s, size_t n, uint32_t *cp);
size_t tok_utf8_put(char *out, uint32_t cp);                /* out: 4 bytes */
/* Length of the longest valid prefix of s. */
size_t tok_utf8_valid(const char *s, size_t n);
/* s with every maximal invalid subpart replaced by U+FFFD (as Rust's
 * String::from_utf8_lossy), appended to out. */
void tok_utf8_lossy(struct strbuf *out, const char *s, size_t n);
bool tok_is_space(uint32_t cp);                         /* White_Space */
bool tok_is_alnum(uint32_t cp);                         /* letters and numbers */

/* String -> id hash (open addressing over an arena of keys). */
struct strmap {
	uint32_t *slots;        /* index+1 into ents, 0 empty */
	size_t mask;
	struct { uint32_t off, len; int32_t id; uint32_t hash; } *ents;
	size_t n, cap;
	struct strbuf keys;
};
void tok_strmap_init(struct strmap *m, size_t expect);
/* Inserts or overwrites. */
void tok_strmap_put(struct strmap *m, const char *k, size_t n, int32_t id);
int32_t tok_strmap_get(const struct strmap *m, const char *k, size_t n); /* -1 absent */
void tok_strmap_free(struct strmap *m);

/* (a, b) -> (rank, merged id) */
struct pairmap {
	struct pair_ent { uint64_t key; int32_t rank, id; } *slots;
	size_t mask, n;
};
void tok_pairmap_init(struct pairmap *m, size_t expect);
void tok_pairmap_put(struct pairmap *m, int32_t a, int32_t b, int32_t rank, int32_t id);
const struct pair_ent *tok_pairmap_get(const struct pairmap *m, int32_t a, int32_t b);
void tok_pairmap_free(struct pairmap *m);

/* Byte-level alphabet of GPT-2: code point -> byte. */
int tok_bytelevel_byte(uint32_t cp);                        /* -1 when not in the alphabet */
/* piece (byte-level characters) -> raw bytes; false if a character is outside the alphabet. */
bool tok_bytelevel_unmap(const char *s, size_t n, struct strbuf *out);

/* Normalizers */
enum norm_type { NORM_NFC, NORM_NFD, NORM_NFKC, NORM_NFKD, NORM_LOWER, NORM_PREPEND,
		 NORM_REPLACE, NORM_STRIP };
struct regex {
	pcre2_code *code;
	bool jit;
};
struct normalizer {
	enum norm_type type;
	char *a;  size_t alen;          /* prepend / replacement content */
	struct regex re;                /* replace: the pattern */
	bool left, right;               /* strip */
};

/* Pre-tokenizers */
enum pre_type { PRE_SPLIT, PRE_BYTELEVEL, PRE_METASPACE, PRE_DIGITS, PRE_WHITESPACE_SPLIT };
enum split_behavior { SPLIT_REMOVED, SPLIT_ISOLATED, SPLIT_MERGED_PREV, SPLIT_MERGED_NEXT,
		      SPLIT_CONTIGUOUS };
enum prepend_scheme { PREPEND_ALWAYS, PREPEND_FIRST, PREPEND_NEVER };
struct pretok {
	enum pre_type type;
	struct regex re;                /* split, bytelevel (GPT-2 regex) */
	bool use_regex, add_prefix_space, invert, split, individual_digits;
	enum split_behavior behavior;
	enum prepend_scheme scheme;
	char repl[8]; size_t repl_len;  /* metaspace */
};

/* Decoders */
enum dec_type { DEC_BYTELEVEL, DEC_REPLACE, DEC_BYTEFALLBACK, DEC_FUSE, DEC_STRIP, DEC_METASPACE };
struct decoder {
	enum dec_type type;
	char *pat; size_t plen;         /* replace (string pattern) */
	char *content; size_t clen;     /* replace content */
	uint32_t strip_char;
	size_t start, stop;
	char repl[8]; size_t repl_len;
	enum prepend_scheme scheme;
};

/* Post-processor: the ids around the sequence. */
struct post {
	int32_t *before, *after;
	size_t nbefore, nafter;
};

struct added_tok {
	char *content;
	size_t len;
	int32_t id;
	bool special, lstrip, rstrip, normalized, single_word;
};

/* A trie over added-token bytes for leftmost-longest matching. */
struct trie_node {
	int32_t child, sibling;         /* indexes, -1 none */
	int32_t tok;                    /* added_tok index ending here, -1 none */
	unsigned char c;
};
struct trie {
	struct trie_node *nodes;
	size_t n, cap;
	bool first[256];
};

struct tok {
	char *path;                     /* tokenizer.json, for messages */
	/* model */
	struct strmap vocab;            /* key: raw bytes when bytelevel, else the piece */
	struct pairmap merges;
	int32_t byte_id[256];           /* bytelevel: id of each single byte; fallback: <0xXX> */
	int32_t unk;
	bool byte_fallback, fuse_unk, ignore_merges, bytelevel;
	bool meta_chunks;               /* no piece has ▁ after another character */
	/* every id: its piece as written in the file, at piece_off[id] in
	 * pieces (UINT32_MAX: no such id) */
	struct strbuf pieces;
	uint32_t *piece_off;
	/* when the first decoder is ByteLevel: each id's bytes, at raw_off[id]
	 * in raw, raw_off[id + 1] - raw_off[id] long */
	struct strbuf raw;
	uint32_t *raw_off;
	bool *special;
	size_t n_ids, ids_cap;
	/* added tokens */
	struct added_tok *added;
	size_t n_added;
	struct trie raw_trie, norm_trie;
	/* pipeline */
	struct normalizer *norms;  size_t n_norms;
	struct pretok *pres;       size_t n_pres;
	struct decoder *decs;      size_t n_decs;
	struct post post;
	/* around the model */
	json_t *config;
	char *chat_template;
	int32_t bos;
	int32_t *eos;  size_t n_eos;
};

/* "FILE: FIELD: message", EXO_DATAERR; returns -1. */
int tok_field_error(const struct tok *t, struct exo_err *e, const char *field, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* A boolean member, default when absent or null; -1 when another type. */
int tok_get_bool(const struct tok *t, json_t *obj, const char *key, bool def, bool *out,
		 const char *field, struct exo_err *e);
/* A parsed tokenizer.json into t (t->path set); the sections below in order. */
int tok_load_json(struct tok *t, json_t *j, struct exo_err *e);
/* tokenizer/gguf.c: the tokenizer of a GGUF file. */
struct tok *tok_load_gguf(const char *path, struct exo_err *e);
/* The loaders of each section of the parsed tokenizer.json. */
void tok_set_piece(struct tok *t, int32_t id, const char *s, size_t n);
int tok_load_model(struct tok *t, json_t *model, struct exo_err *e);
int tok_load_added(struct tok *t, json_t *arr, struct exo_err *e);
int tok_load_normalizer(struct tok *t, json_t *j, struct exo_err *e);
int tok_load_pretok(struct tok *t, json_t *j, struct exo_err *e);
int tok_load_post(struct tok *t, json_t *j, struct exo_err *e);
int tok_load_decoder(struct tok *t, json_t *j, struct exo_err *e);
/* PCRE2 with UTF and UCP (a literal: UTF only), JIT-compiled when possible. */
int tok_regex_compile(struct regex *re, const char *pat, size_t len, bool literal,
		      struct exo_err *e);
void tok_regex_free(struct regex *re);
/* Every match of re in s[0..n) replaced by with, appended to out. */
void tok_regex_replace(const struct regex *re, const char *s, size_t n, const char *with, size_t wn,
		       struct strbuf *out);
/* {"String": s} (literal) or {"Regex": r} of tokenizer.json, compiled. */
int tok_load_pattern(const struct tok *t, json_t *pat, const char *field, struct regex *re,
		     struct exo_err *e);
void tok_trie_add(struct trie *tr, const char *s, size_t n, int32_t tok);
void tok_trie_free(struct trie *tr);
/* Longest added token starting at s[0..n), or -1; *mlen its length. */
int32_t tok_trie_match(const struct trie *tr, const char *s, size_t n, size_t *mlen);

/* Parts of a piece of text: matches and the text between them. */
struct span { size_t a, b; bool m; };
struct spans { struct span *v; size_t n, cap; };

/* Encoding scratch, one per tok_encode call. */
struct enc {
	const struct tok *t;
	int32_t *ids;
	size_t n, cap;
	struct strbuf bufs[8];            /* per pre-tokenizer level */
	struct bpe_scratch {
		struct sym { int32_t id, prev, next; uint32_t len; } *syms;
		size_t cap;
		struct heap_ent { int32_t rank, pos, id; } *heap;
		size_t hcap;
	} bpe;
	struct spans spans[8];
	pcre2_match_data *md;
};
void tok_enc_push(struct enc *x, int32_t id);
int tok_normalize(const struct tok *t, const char *s, size_t n, struct strbuf *out, struct exo_err *e);
void tok_pretokenize(struct enc *x, size_t level, const char *s, size_t n, bool first);
void tok_bpe_word(struct enc *x, const char *s, size_t n);
int tok_decode_pipeline(const struct tok *t, const int32_t *ids, size_t n, bool skip_special,
		    struct strbuf *out, struct exo_err *e);
#endif
