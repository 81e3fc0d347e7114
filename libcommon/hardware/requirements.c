/* The requirement tables and the model-kind matrix of ../shared/COMPAT.md,
 * each row citing its table.  Sizes in the tables are decimal-free "GB";
 * they are read as GiB here, as memory is sold and reported in GiB. */
#include "hardware/requirements.h"

#include <string.h>
#include <strings.h>

#define GiB (1024ull * 1024 * 1024)
#define MiB (1024ull * 1024)
#define Gbps (1000ull * 1000 * 1000 / 8)   /* bytes per second */

static const struct hw_mem_row ram_rows[] = {
	/* COMPAT.md, System Memory (RAM) */
	{"1B-3B parameters", 0, 5e9, 4 * GiB, 8 * GiB, 16 * GiB, "small models"},
	{"7B-13B parameters", 5e9, 2e10, 8 * GiB, 16 * GiB, 32 * GiB, "medium models"},
	{"30B-70B parameters", 2e10, 1e11, 32 * GiB, 64 * GiB, 128 * GiB, "large models"},
	{"100B+ parameters", 1e11, 1e30, 64 * GiB, 128 * GiB, 256 * GiB, "very large models"},
};
static const struct hw_mem_row vram_rows[] = {
	/* COMPAT.md, GPU Memory (VRAM) */
	{"1B-3B", 0, 5e9, 2 * GiB, 4 * GiB, 8 * GiB, "FP16, INT8, INT4"},
	{"7B-13B", 5e9, 2e10, 4 * GiB, 8 * GiB, 16 * GiB, "FP16, INT8, INT4"},
	{"30B-70B", 2e10, 1e11, 16 * GiB, 24 * GiB, 48 * GiB, "INT8, INT4 required"},
	{"100B+", 1e11, 1e30, 40 * GiB, 80 * GiB, 160 * GiB, "INT4, multi-GPU"},
};

static const struct hw_mem_row *mem_row(const struct hw_mem_row *rows, size_t n, double params)
{
	for (size_t i = 0; i < n; i++)
		if (params < rows[i].max_params)
			return &rows[i];
	return &rows[n - 1];
}

const struct hw_mem_row *hw_ram_row(double params)
{
	return mem_row(ram_rows, sizeof ram_rows / sizeof *ram_rows, params);
}

const struct hw_mem_row *hw_vram_row(double params)
{
	return mem_row(vram_rows, sizeof vram_rows / sizeof *vram_rows, params);
}

static const struct hw_level_row storage_rows[] = {
	/* COMPAT.md, Minimum Storage Requirements: Single node */
	{"single node", 50 * GiB, 200 * GiB, 200 * GiB, "basic model collection"},
	/* COMPAT.md, Minimum Storage Requirements: Multi-node cluster */
	{"multi-node cluster", 100 * GiB, 500 * GiB, 500 * GiB, "distributed cache, per node"},
};

const struct hw_level_row *hw_storage_row(int multi_node)
{
	return &storage_rows[multi_node ? 1 : 0];
}

static const struct hw_level_row network_rows[] = {
	/* COMPAT.md, Multi-Node Cluster: Management */
	{"management", 1 * Gbps, 1 * Gbps, 10 * Gbps, "control plane"},
	/* COMPAT.md, Multi-Node Cluster: Data transfer */
	{"data", 10 * Gbps, 25 * Gbps, 100 * Gbps, "model distribution"},
	/* COMPAT.md, Multi-Node Cluster: RDMA (optional) */
	{"rdma", 25 * Gbps, 100 * Gbps, 400 * Gbps, "ultra-low latency"},
};

const struct hw_level_row *hw_network_row(const char *use)
{
	for (size_t i = 0; i < sizeof network_rows / sizeof *network_rows; i++)
		if (!strcmp(network_rows[i].what, use))
			return &network_rows[i];
	return NULL;
}

static const char *const backend_names[HB_COUNT] = {
	"cpu", "cuda", "rocm", "mps", "openvino", "qnn",
};
static const char *const kind_names[HK_COUNT] = {
	"encoder-only", "decoder-only", "encoder-decoder", "vision", "vision-encoder-text-decoder",
	"speech", "multimodal", "diffusion", "mixture-of-experts", "state-space", "rag",
};

#define F HW_FULL
#define L HW_LIMITED
#define N HW_NONE
/* COMPAT.md, Model kinds against back ends: the per-kind tables where the file
 * has one, else the Compatibility Matrix (✅ full, ❌ none) with no figures. */
static const struct hw_kind_cell kind_cells[HK_COUNT][HB_COUNT] = {
	[HK_ENCODER_ONLY] = { /* Encoder-Only Models (BERT, RoBERTa, etc.) */
		{F, "medium", "medium", "works well with batch size 1-8"},
		{F, "high", "low", "optimal batch size 16-64"},
		{F, "high", "low", "excellent performance, all models supported"},
		{F, "medium-high", "low", "good on Apple M1/M2 chips"},
		{F, "medium-high", "low", "good with INT8 quantization"},
		{F, "medium", "low", "good with 8-bit quantization"}},
	[HK_DECODER_ONLY] = { /* Decoder-Only Models (GPT-2, LLaMA, etc.) */
		{F, "low", "high", "very slow for large models"},
		{F, "high", "medium-high", "benefits from Tensor Cores"},
		{F, "high", "medium-high", "comparable to CUDA, half-precision support"},
		{F, "medium", "high", "memory limited on smaller devices"},
		{F, "medium", "medium", "good for smaller models (<7B)"},
		{L, "n/a", "n/a", "limited support for large LLMs"}},
	[HK_ENCODER_DECODER] = { /* Compatibility Matrix only */
		{F, NULL, NULL, NULL}, {F, NULL, NULL, NULL}, {F, NULL, NULL, NULL},
		{F, NULL, NULL, NULL}, {F, NULL, NULL, NULL}, {N, NULL, NULL, "not in the matrix for QNN"}},
	[HK_VISION] = { /* Vision Models (ViT, ResNet, etc.) */
		{F, "low-medium", "medium", "works well for inference"},
		{F, "high", "low", "excellent for batch processing"},
		{F, "high", "low", "excellent performance, optimized for vision tasks"},
		{F, "medium-high", "low", "very good on Apple Silicon"},
		{F, "high", "low", "excellent with INT8 quantization"},
		{F, "medium-high", "low", "good with optimized models"}},
	[HK_VISION_TEXT] = { /* Vision-Encoder-Text-Decoder Models (CLIP, BLIP, etc.) */
		{F, "low-medium", "medium", "text-image similarity works well"},
		{F, "high", "medium", "excellent performance"},
		{F, "high", "medium", "full model support, great for CLIP/BLIP"},
		{F, "medium", "medium", "good on Apple Silicon"},
		{F, "medium-high", "low-medium", "good with optimizations"},
		{F, "medium", "low-medium", "works well with CLIP"}},
	[HK_SPEECH] = { /* Speech Models (Whisper, Wav2Vec2, etc.) */
		{F, "low", "medium", "usable for short audio"},
		{F, "high", "medium", "real-time transcription possible"},
		{F, "medium-high", "medium", "good performance"},
		{F, "medium", "medium", "decent on Apple Silicon"},
		{F, "medium", "low-medium", "good with optimizations"},
		{F, "medium", "low-medium", "works well with Whisper-tiny/small"}},
	[HK_MULTIMODAL] = { /* Multimodal Models (FLAVA, LLaVA, etc.) */
		{F, "low", "high", "very slow"},
		{F, "medium-high", "high", "works well with 16+ GB VRAM"},
		{F, "medium", "high", "similar to CUDA"},
		{L, "low-medium", "high", "memory limited on Apple Silicon"},
		{L, "low-medium", "medium-high", "works for some models"},
		{N, "n/a", "n/a", "too complex for current QNN"}},
	[HK_DIFFUSION] = { /* Compatibility Matrix only */
		{F, NULL, NULL, NULL}, {F, NULL, NULL, NULL}, {F, NULL, NULL, NULL},
		{F, NULL, NULL, NULL}, {F, NULL, NULL, NULL}, {N, NULL, NULL, "not in the matrix for QNN"}},
	[HK_MOE] = { /* Mixture-of-Experts Models (Mixtral, etc.) */
		{F, "very low", "very high", "usable but very slow"},
		{F, "medium", "high", "requires 24GB+ VRAM"},
		{L, "low-medium", "high", "limited optimizations"},
		{N, "n/a", "n/a", "memory requirements exceed capabilities"},
		{N, "n/a", "n/a", "not currently supported"},
		{N, "n/a", "n/a", "not currently supported"}},
	[HK_STATE_SPACE] = { /* State-Space Models (Mamba, RWKV, etc.) */
		{F, "low", "medium-high", "slower than transformer models"},
		{F, "high", "medium", "good with specialized kernels"},
		{L, "medium", "medium", "limited kernel support"},
		{L, "low-medium", "medium", "basic operations only"},
		{N, "n/a", "n/a", "no specialized optimizations"},
		{N, "n/a", "n/a", "not currently supported"}},
	[HK_RAG] = { /* Compatibility Matrix only */
		{F, NULL, NULL, NULL}, {F, NULL, NULL, NULL}, {F, NULL, NULL, NULL},
		{F, NULL, NULL, NULL}, {N, NULL, NULL, "not in the matrix for OpenVINO"},
		{N, NULL, NULL, "not in the matrix for QNN"}},
};
#undef F
#undef L
#undef N

const char *hw_backend_name(enum hw_backend b) { return backend_names[b]; }
const char *hw_kind_name(enum hw_kind k) { return kind_names[k]; }

static int find_name(const char *const *names, int n, const char *name)
{
	for (int i = 0; i < n; i++)
		if (!strcasecmp(names[i], name))
			return i;
	return -1;
}

int hw_backend_parse(const char *name)
{
	if (!strcasecmp(name, "mlx"))
		return HB_MPS;   /* Apple's GPU, whichever framework drives it */
	return find_name(backend_names, HB_COUNT, name);
}

int hw_kind_parse(const char *name)
{
	return find_name(kind_names, HK_COUNT, name);
}

const struct hw_kind_cell *hw_kind_support(enum hw_kind k, enum hw_backend b)
{
	return &kind_cells[k][b];
}

/* Substrings of architecture names, most demanding kind first, so that a
 * hybrid (NemotronH: Mamba + MoE) is judged by its hardest part. */
static const struct { const char *needle; enum hw_kind kind; } arch_kinds[] = {
	{"NemotronH", HK_MOE}, {"Jamba", HK_MOE}, {"Mixtral", HK_MOE}, {"Moe", HK_MOE},
	{"MoE", HK_MOE}, {"DeepseekV", HK_MOE}, {"Dbrx", HK_MOE}, {"Arctic", HK_MOE},
	{"Mamba", HK_STATE_SPACE}, {"Rwkv", HK_STATE_SPACE}, {"RWKV", HK_STATE_SPACE},
	{"Rag", HK_RAG}, {"UNet", HK_DIFFUSION}, {"Diffusion", HK_DIFFUSION},
	{"Llava", HK_MULTIMODAL}, {"Flava", HK_MULTIMODAL}, {"Idefics", HK_MULTIMODAL},
	{"Qwen2VL", HK_MULTIMODAL}, {"Mllama", HK_MULTIMODAL}, {"ConditionalGeneration", HK_MULTIMODAL},
	{"CLIP", HK_VISION_TEXT}, {"Blip", HK_VISION_TEXT}, {"VisionEncoderDecoder", HK_VISION_TEXT},
	{"Whisper", HK_SPEECH}, {"Wav2Vec2", HK_SPEECH}, {"Speech", HK_SPEECH}, {"Hubert", HK_SPEECH},
	{"ViT", HK_VISION}, {"ResNet", HK_VISION}, {"ConvNext", HK_VISION}, {"ImageClassification", HK_VISION},
	{"T5", HK_ENCODER_DECODER}, {"Bart", HK_ENCODER_DECODER}, {"Marian", HK_ENCODER_DECODER},
	{"Seq2SeqLM", HK_ENCODER_DECODER},
	{"Bert", HK_ENCODER_ONLY}, {"Roberta", HK_ENCODER_ONLY}, {"Electra", HK_ENCODER_ONLY},
	{"MaskedLM", HK_ENCODER_ONLY}, {"SequenceClassification", HK_ENCODER_ONLY},
	{"ForCausalLM", HK_DECODER_ONLY}, {"LMHeadModel", HK_DECODER_ONLY},
};

int hw_kind_of_architecture(const char *arch)
{
	for (size_t i = 0; i < sizeof arch_kinds / sizeof *arch_kinds; i++)
		if (strstr(arch, arch_kinds[i].needle))
			return arch_kinds[i].kind;
	return -1;
}

/* COMPAT.md, Memory Requirements: ranges per size class and back end; a zero
 * range is "Not supported". */
static const struct {
	const char *name;
	double max_params;
	struct hw_class_cell cells[HB_COUNT];
} classes[] = {
	{"Tiny (<100M)", 1e8, {{500 * MiB, 1 * GiB, 1}, {300 * MiB, 700 * MiB, 1}, {300 * MiB, 700 * MiB, 1},
			       {200 * MiB, 500 * MiB, 1}, {100 * MiB, 300 * MiB, 1}}},
	{"Small (100M-500M)", 5e8, {{1 * GiB, 3 * GiB, 1}, {GiB / 2, 2 * GiB, 1}, {GiB / 2, 2 * GiB, 1},
				    {4 * GiB / 10, 3 * GiB / 2, 1}, {3 * GiB / 10, 1 * GiB, 1}}},
	{"Base (500M-1B)", 1e9, {{3 * GiB, 6 * GiB, 1}, {2 * GiB, 4 * GiB, 1}, {2 * GiB, 4 * GiB, 1},
				 {3 * GiB / 2, 3 * GiB, 1}, {1 * GiB, 2 * GiB, 1}}},
	{"Large (1B-7B)", 7e9, {{6 * GiB, 20 * GiB, 1}, {4 * GiB, 16 * GiB, 1}, {4 * GiB, 16 * GiB, 1},
				{3 * GiB, 12 * GiB, 1}, {0, 0, 0}}},
	{"XL (7B-13B)", 1.3e10, {{20 * GiB, 40 * GiB, 1}, {16 * GiB, 30 * GiB, 1}, {0, 0, 0},
				 {0, 0, 0}, {0, 0, 0}}},
	{"XXL (>13B)", 1e30, {{40 * GiB, 0, 1}, {30 * GiB, 0, 1}, {0, 0, 0}, {0, 0, 0}, {0, 0, 0}}},
};

/* The table's columns are CPU, CUDA/ROCm, MPS, OpenVINO, QNN. */
static int class_column(enum hw_backend b)
{
	switch (b) {
	case HB_CPU: return 0;
	case HB_CUDA: case HB_ROCM: return 1;
	case HB_MPS: return 2;
	case HB_OPENVINO: return 3;
	default: return 4;
	}
}

static size_t class_index(double params)
{
	size_t n = sizeof classes / sizeof *classes, i = 0;
	while (i + 1 < n && params >= classes[i].max_params)
		i++;
	return i;
}

const char *hw_size_class(double params)
{
	return classes[class_index(params)].name;
}

const struct hw_class_cell *hw_class_memory(double params, enum hw_backend b)
{
	return &classes[class_index(params)].cells[class_column(b)];
}
