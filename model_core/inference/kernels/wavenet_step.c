/* One incremental WaveNet step for a batch of streams, with no per-operator dispatch.
 *
 * Why C: at batch 1 a step is ~0.1-0.5 M multiply-adds spread over ~15 tiny operators per layer; in
 * PyTorch eager mode the dispatch of those operators costs several times the arithmetic. Here a whole
 * step is one call.
 *
 * Streams are processed in blocks of BLOCK rows so each weight row loaded from cache serves BLOCK
 * streams (the register-blocked kernel below); a block is the unit of OpenMP parallelism.
 *
 * Determinism: every output element is computed as the same sequence of fused multiply-adds over the
 * inputs in order, whether its row is in a full block or a leftover one, on any thread. A stream's
 * logits (hence its samples) never depend on its batch mates. tests/test_sampler.py checks this bit for bit.
 *
 * Layouts and the struct: wavenet_step.h.
 */
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <string.h>

#include "wavenet_step.h"

#define BLOCK 8
#ifdef __AVX512F__
#define LANES 16
#else
#define LANES 8
#endif

int32_t wavenet_abi_version(void) { return WAVENET_STEP_ABI_VERSION; }

typedef float vec __attribute__((vector_size(LANES * 4), aligned(4)));  /* unaligned loads are fine */

/* out[r][o] += sum_i in[r][i] * w[i][o] for ROWS rows, 2 * LANES outputs at a time: 2 * ROWS vector
 * accumulators stay in registers across the whole i loop and each weight vector serves ROWS rows. */
static inline __attribute__((always_inline)) int accumulate_tiles(
        float *restrict out, int ld_out, const float *restrict in, int ld_in, const float *restrict w,
        int n_in, int n_out, const int ROWS) {
    int o0 = 0;
    for (; o0 + 2 * LANES <= n_out; o0 += 2 * LANES) {
        vec acc[BLOCK][2];
        for (int r = 0; r < ROWS; ++r) {
            acc[r][0] = *(const vec *)(out + r * ld_out + o0);
            acc[r][1] = *(const vec *)(out + r * ld_out + o0 + LANES);
        }
        for (int i = 0; i < n_in; ++i) {
            const vec w0 = *(const vec *)(w + (int64_t)i * n_out + o0);
            const vec w1 = *(const vec *)(w + (int64_t)i * n_out + o0 + LANES);
            for (int r = 0; r < ROWS; ++r) {
                const float x = in[r * ld_in + i];
                acc[r][0] += x * w0;
                acc[r][1] += x * w1;
            }
        }
        for (int r = 0; r < ROWS; ++r) {
            *(vec *)(out + r * ld_out + o0) = acc[r][0];
            *(vec *)(out + r * ld_out + o0 + LANES) = acc[r][1];
        }
    }
    return o0;
}

/* The same sums for `rows` <= BLOCK rows. A lone row streams each weight row once over all outputs
 * (vectorised by the compiler; no register tile to fill); leftover outputs of a tile (sizes not a multiple
 * of 2 * LANES) take the same path. Every output gets the same fused multiply-adds in the same order. */
static void accumulate(float *restrict out, int ld_out, const float *restrict in, int ld_in,
                       const float *restrict w, int n_in, int n_out, int rows) {
    const int o0 = rows == BLOCK ? accumulate_tiles(out, ld_out, in, ld_in, w, n_in, n_out, BLOCK) : 0;
    if (o0 == n_out) return;
    for (int r = 0; r < rows; ++r) {
        float *restrict o_row = out + r * ld_out;
        for (int i = 0; i < n_in; ++i) {
            const float x = in[r * ld_in + i];
            const float *restrict w_row = w + (int64_t)i * n_out;
            for (int o = o0; o < n_out; ++o) o_row[o] += x * w_row[o];
        }
    }
}

static void broadcast_bias(float *out, int ld_out, const float *bias, int n, int rows) {
    for (int r = 0; r < rows; ++r) memcpy(out + r * ld_out, bias, sizeof(float) * n);
}

static void relu(float *x, int n) {
    for (int c = 0; c < n; ++c) x[c] = x[c] > 0.0f ? x[c] : 0.0f;
}

/* Layer l for `rows` (<= BLOCK) consecutive streams: x (rows, R) and skip (rows, S) updated in place. */
static void layer_block(const wavenet_model *m, int l, int rows, const float *gate_bias, float *queues,
                        int64_t time, float *x, float *skip) {
    const int R = m->residual, G = m->gate, half = m->gate / 2, S = m->skip, K = m->taps;
    const int64_t d = m->dilations[l], length = m->queue_lengths[l];
    float taps[BLOCK][K * R], z[BLOCK][G], h[BLOCK][half], projected[BLOCK][R + S];

    for (int r = 0; r < rows; ++r) {
        float *queue = queues + (int64_t)r * m->queue_total * R + m->queue_offsets[l] * R;
        for (int j = 0; j < K - 1; ++j) {
            const int64_t back = (int64_t)(K - 1 - j) * d;
            const int64_t slot = ((time - back) % length + length) % length;
            memcpy(taps[r] + j * R, queue + slot * R, sizeof(float) * R);
        }
        memcpy(taps[r] + (K - 1) * R, x + r * R, sizeof(float) * R);
        if (length) memcpy(queue + (time % length) * R, x + r * R, sizeof(float) * R);
        memcpy(z[r], gate_bias + ((int64_t)r * m->layers + l) * G, sizeof(float) * G);
    }
    accumulate(&z[0][0], G, &taps[0][0], K * R, m->conv_weight + (int64_t)l * K * R * G, K * R, G, rows);
    for (int r = 0; r < rows; ++r)
        for (int c = 0; c < half; ++c) h[r][c] = tanhf(z[r][c]) / (1.0f + expf(-z[r][half + c]));
    broadcast_bias(&projected[0][0], R + S, m->out_bias + (int64_t)l * (R + S), R + S, rows);
    accumulate(&projected[0][0], R + S, &h[0][0], half, m->out_weight + (int64_t)l * half * (R + S), half,
               R + S, rows);
    for (int r = 0; r < rows; ++r) {
        for (int c = 0; c < R; ++c) x[r * R + c] += projected[r][c];
        for (int c = 0; c < S; ++c) skip[r * S + c] += projected[r][R + c];
    }
}

/* ReLU, 1x1, ReLU, 1x1 on the skip sums of `rows` streams -> logits (rows, classes). */
static void head_block(const wavenet_model *m, int rows, float *skip, float *logits) {
    const int S = m->skip, H = m->hidden;
    float hidden[BLOCK][H];
    relu(skip, rows * S);
    broadcast_bias(&hidden[0][0], H, m->head_hidden_bias, H, rows);
    accumulate(&hidden[0][0], H, skip, S, m->head_hidden_weight, S, H, rows);
    relu(&hidden[0][0], rows * H);
    broadcast_bias(logits, m->classes, m->head_out_bias, m->classes, rows);
    accumulate(logits, m->classes, &hidden[0][0], H, m->head_out_weight, H, m->classes, rows);
}

/* Streams [first, first + count): every layer for all their blocks (layer-outer, so a layer's weights are
 * fetched into cache once for all of them: the whole model does not fit in one core's L2), then the head. */
static void step_rows(const wavenet_model *m, int first, int count, const int64_t *codes,
                      const float *gate_bias, float *queues, int64_t time, float *logits, float *x, float *skip) {
    const int R = m->residual, S = m->skip;
    for (int r = first; r < first + count; ++r) {
        memcpy(x + (int64_t)r * R, m->embed + codes[r] * R, sizeof(float) * R);
        memset(skip + (int64_t)r * S, 0, sizeof(float) * S);
    }
    for (int l = 0; l < m->layers; ++l)
        for (int b = first; b < first + count; b += BLOCK) {
            const int rows = first + count - b < BLOCK ? first + count - b : BLOCK;
            layer_block(m, l, rows, gate_bias + (int64_t)b * m->layers * m->gate,
                        queues + (int64_t)b * m->queue_total * R, time, x + (int64_t)b * R, skip + (int64_t)b * S);
        }
    for (int b = first; b < first + count; b += BLOCK) {
        const int rows = first + count - b < BLOCK ? first + count - b : BLOCK;
        head_block(m, rows, skip + (int64_t)b * S, logits + (int64_t)b * m->classes);
    }
}

/* Counter-based uniform in [0, 1): SplitMix64's finaliser over (seed, counter), as draws.py. */
static inline uint64_t mix64(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static inline double counter_uniform(uint64_t seed, uint64_t counter) {
    const uint64_t golden = 0x9E3779B97F4A7C15ULL;
    const uint64_t z = mix64(seed * golden + 1) + (counter + 1) * golden;
    return (double)(mix64(z) >> 11) * (1.0 / 9007199254740992.0);
}

/* Inverse-CDF draw from softmax(logits / temperature), in double, as draws.py does it. */
static int64_t sample_row(const float *logits, int classes, double temperature, double u) {
    double cdf[classes], peak = -INFINITY;
    for (int c = 0; c < classes; ++c) {
        cdf[c] = (double)logits[c] / temperature;
        peak = cdf[c] > peak ? cdf[c] : peak;
    }
    double total = 0.0;
    for (int c = 0; c < classes; ++c) cdf[c] = total += exp(cdf[c] - peak);
    const double target = u * total;
    int64_t code = 0;
    for (int c = 0; c < classes; ++c) code += cdf[c] <= target;
    return code < classes ? code : classes - 1;
}

/* `steps` steps of every stream: with `given` codes (B), one step fed those; otherwise each step first
 * draws each stream's code from its logits (counters advanced, draws written to codes_out (B, steps),
 * codes (B) as scratch). scratch (B, R + S) holds the residual and skip streams.
 *
 * Streams never read each other's state, so each thread takes a contiguous share of whole blocks and runs
 * every step of the call on them alone: one fork and one join per call, no barrier per step or layer.
 * Threads that sleep between calls (OMP_WAIT_POLICY=PASSIVE) cost one wake-up per call, and a thread
 * that loses its core for a while delays only the call's end, not every step of its team mates. Each
 * row's arithmetic is the same whichever thread runs it. */
static void advance(const wavenet_model *m, int batch, int steps, const int64_t *given, float *logits,
                    const double *temperatures, const uint64_t *seeds, int64_t *counters,
                    const float *gate_bias, float *queues, int64_t time, int64_t *codes_out, float *scratch,
                    int64_t *codes, int threads) {
    const int blocks = (batch + BLOCK - 1) / BLOCK;
    const int teams = threads < blocks ? threads : blocks;
    float *x = scratch, *skip = scratch + (int64_t)batch * m->residual;
    #pragma omp parallel num_threads(teams) if (teams > 1)
    {
        const int team = teams > 1 ? omp_get_thread_num() : 0;
        const int first = (int)((int64_t)blocks * team / teams) * BLOCK;
        const int last = (int)((int64_t)blocks * (team + 1) / teams) * BLOCK;
        const int end = last < batch ? last : batch;
        for (int k = 0; k < steps && end > first; ++k) {
            if (given == NULL)
                for (int r = first; r < end; ++r) {
                    const double u = counter_uniform(seeds[r], (uint64_t)counters[r]++);
                    codes[r] = sample_row(logits + (int64_t)r * m->classes, m->classes, temperatures[r], u);
                    codes_out[(int64_t)r * steps + k] = codes[r];
                }
            step_rows(m, first, end - first, given ? given : codes, gate_bias, queues, time + k, logits, x, skip);
        }
    }
}

void wavenet_step(const wavenet_model *m, int32_t batch, const int64_t *codes, const float *gate_bias,
                  float *queues, int64_t time, float *logits, float *scratch, int32_t threads) {
    advance(m, batch, 1, codes, logits, NULL, NULL, NULL, gate_bias, queues, time, NULL, scratch, NULL, threads);
}

/* One call replaces `steps` round trips through Python, which at small batches cost more than the step. */
void wavenet_sample_steps(const wavenet_model *m, int32_t batch, int32_t steps, float *logits,
                          const double *temperatures, const uint64_t *seeds, int64_t *counters,
                          const float *gate_bias, float *queues, int64_t time, int64_t *codes_out,
                          float *scratch, int64_t *codes, int32_t threads) {
    advance(m, batch, steps, NULL, logits, temperatures, seeds, counters, gate_bias, queues, time, codes_out,
            scratch, codes, threads);
}
