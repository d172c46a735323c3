/* The contract between the compiled step kernel and its loader (model_core/inference/kernels/native.py).
 *
 * The loader mirrors these declarations in ctypes; it refuses a library whose wavenet_abi_version() differs
 * from the version it was written for (and the sampler falls back to the torch kernel), so a stale build
 * can never be called with a struct of the wrong shape. Change WAVENET_STEP_ABI_VERSION with any change here.
 *
 * Layouts (row-major, outputs contiguous; see weights.py):
 *   embed (classes, R); conv_weight (layers, K*R, G), taps oldest first; out_weight (layers, G/2, R+S);
 *   out_bias (layers, R+S); head_hidden_weight (S, H); head_out_weight (H, classes).
 * Per-stream state: gate_bias (B, layers, G); queues (B, Q, R), layer l owning rows
 *   [queue_offsets[l], queue_offsets[l] + queue_lengths[l]), the slot of time t being t mod length.
 */
#ifndef WAVENET_STEP_H
#define WAVENET_STEP_H

#include <stdint.h>

#define WAVENET_STEP_ABI_VERSION 2

typedef struct {
    int32_t layers, residual, gate, skip, hidden, classes, taps, queue_total;
    const float *embed, *conv_weight, *out_weight, *out_bias;
    const float *head_hidden_weight, *head_hidden_bias, *head_out_weight, *head_out_bias;
    const int64_t *dilations, *queue_lengths, *queue_offsets;
} wavenet_model;

int32_t wavenet_abi_version(void);

/* codes (B) -> logits (B, classes) of each stream's next sample; queues advance in place.
 * scratch (B, R + S); threads: OpenMP threads over blocks of streams. */
void wavenet_step(const wavenet_model *m, int32_t batch, const int64_t *codes, const float *gate_bias,
                  float *queues, int64_t time, float *logits, float *scratch, int32_t threads);

/* `steps` rounds of draw-then-step: each stream draws from its logits with uniform
 * counter_uniform(seeds[r], counters[r]++) at temperatures[r], then every stream advances with its draw.
 * logits (B, classes) in and out; codes_out (B, steps); codes (B) scratch. */
void wavenet_sample_steps(const wavenet_model *m, int32_t batch, int32_t steps, float *logits,
                          const double *temperatures, const uint64_t *seeds, int64_t *counters,
                          const float *gate_bias, float *queues, int64_t time, int64_t *codes_out,
                          float *scratch, int64_t *codes, int32_t threads);

#endif
