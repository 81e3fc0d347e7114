/* The requirement tables and the model-kind matrix of ../shared/COMPAT.md as
 * data, for exo-validate hardware and exo-partition: what a model of a given
 * size needs in RAM, VRAM and storage, what a cluster's network should carry,
 * and which back ends run which kinds of model. */
#ifndef EXO_HARDWARE_REQUIREMENTS_H
#define EXO_HARDWARE_REQUIREMENTS_H
#include <stdint.h>
#include "hardware/hardware.h"

/* One row of "System Memory (RAM)" or "GPU Memory (VRAM)": the model sizes
 * it covers (parameters, [min_params, max_params)) and its three levels. */
struct hw_mem_row {
	const char *size;          /* "1B-3B parameters" as the table says */
	double min_params, max_params;
	uint64_t minimum, recommended, optimal;
	const char *note;          /* the table's last column */
};
/* The row for a model of params parameters (the first row for smaller
 * models, the last for larger ones). */
const struct hw_mem_row *hw_ram_row(double params);
const struct hw_mem_row *hw_vram_row(double params);

/* "Minimum Storage Requirements" and "Multi-Node Cluster" network speeds. */
struct hw_level_row {
	const char *what;
	uint64_t minimum, recommended, optimal;   /* bytes, or bytes/s for networks */
	const char *note;
};
const struct hw_level_row *hw_storage_row(int multi_node);
const struct hw_level_row *hw_network_row(const char *use);  /* "management", "data" or "rdma" */

/* "Model kinds against back ends". */
enum hw_backend { HB_CPU, HB_CUDA, HB_ROCM, HB_MPS, HB_OPENVINO, HB_QNN, HB_COUNT };
enum hw_kind {
	HK_ENCODER_ONLY, HK_DECODER_ONLY, HK_ENCODER_DECODER, HK_VISION, HK_VISION_TEXT,
	HK_SPEECH, HK_MULTIMODAL, HK_DIFFUSION, HK_MOE, HK_STATE_SPACE, HK_RAG, HK_COUNT
};
struct hw_kind_cell {
	enum hw_support support;   /* HW_FULL, HW_LIMITED or HW_NONE */
	const char *performance, *memory, *note;
};
const char *hw_backend_name(enum hw_backend b);      /* "cpu", "cuda", ... */
int hw_backend_parse(const char *name);              /* -1 when unknown */
const char *hw_kind_name(enum hw_kind k);            /* "decoder-only", ... */
int hw_kind_parse(const char *name);                 /* -1 when unknown */
const struct hw_kind_cell *hw_kind_support(enum hw_kind k, enum hw_backend b);
/* The kind of a Hugging Face architecture name (config.json "architectures"),
 * from its name: MixtralForCausalLM is mixture-of-experts, BertModel
 * encoder-only ...; -1 when unknown.  Hybrids (NemotronH: Mamba and
 * mixture-of-experts layers) give their most demanding kind. */
int hw_kind_of_architecture(const char *arch);

/* "Memory Requirements" by model size class: the range for a back end. */
struct hw_class_cell { uint64_t low, high; int supported; };
const char *hw_size_class(double params);            /* "Tiny (<100M)" ... */
const struct hw_class_cell *hw_class_memory(double params, enum hw_backend b);
#endif
