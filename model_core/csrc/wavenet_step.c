/* One incremental WaveNet step for a batch of streams, with no per-operator dispatch.
 *
 * Why C: at batch 1 a step is ~0.1-0.5 M multiply-adds spread over ~15 tiny operators per layer; in
 * PyTorch eager mode the dispatch of those operators costs several times the arithmetic. Here a whole
 * step is one call. Each stream's row is computed by the same sequence of operations whatever the batch
 * size or thread count, so a stream's logits (and hence its samples) never depend on its batch mates.
 *
 * Layouts match model_core/step_weights.py (row-major, outputs contiguous):
 *   conv_weight (layers, K*R, G), out_weight (layers, G/2, R+S), head weights (in, out).
 *   queues (B, Q, R): layer l owns rows [offset_l, offset_l + (K-1) d_l), slot of time t = t mod length.
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

typedef struct {
    int32_t layers, residual, gate, skip, hidden, classes, taps, queue_total;
    const float *embed, *conv_weight, *out_weight, *out_bias;
    const float *head_hidden_weight, *head_hidden_bias, *head_out_weight, *head_out_bias;
    const int64_t *dilations, *queue_lengths, *queue_offsets;
} wavenet_model;

/* out[o] += sum_i in[i] * w[i * n_out + o]; the inner loop over outputs vectorises. */
static inline void accumulate(float *restrict out, const float *restrict in, const float *restrict w,
                              int n_in, int n_out) {
    for (int i = 0; i < n_in; ++i) {
        const float xi = in[i];
        const float *restrict row = w + (int64_t)i * n_out;
        for (int o = 0; o < n_out; ++o) out[o] += xi * row[o];
    }
}

static void step_row(const wavenet_model *m, int64_t code, const float *gate_bias, float *queues,
                     int64_t time, float *logits) {
    const int R = m->residual, G = m->gate, half = m->gate / 2, S = m->skip, H = m->hidden;
    float x[R], taps[m->taps * R], z[G], h[half], projected[R + S], skip[S], hidden[H];

    memcpy(x, m->embed + code * R, sizeof(float) * R);
    memset(skip, 0, sizeof(float) * S);
    for (int l = 0; l < m->layers; ++l) {
        const int64_t d = m->dilations[l], length = m->queue_lengths[l];
        float *queue = queues + m->queue_offsets[l] * R;
        for (int j = 0; j < m->taps - 1; ++j) {
            const int64_t back = (int64_t)(m->taps - 1 - j) * d;
            const int64_t slot = ((time - back) % length + length) % length;
            memcpy(taps + j * R, queue + slot * R, sizeof(float) * R);
        }
        memcpy(taps + (m->taps - 1) * R, x, sizeof(float) * R);
        if (length) memcpy(queue + (time % length) * R, x, sizeof(float) * R);

        memcpy(z, gate_bias + (int64_t)l * G, sizeof(float) * G);
        accumulate(z, taps, m->conv_weight + (int64_t)l * m->taps * R * G, m->taps * R, G);
        for (int c = 0; c < half; ++c) h[c] = tanhf(z[c]) / (1.0f + expf(-z[half + c]));

        memcpy(projected, m->out_bias + (int64_t)l * (R + S), sizeof(float) * (R + S));
        accumulate(projected, h, m->out_weight + (int64_t)l * half * (R + S), half, R + S);
        for (int c = 0; c < R; ++c) x[c] += projected[c];
        for (int c = 0; c < S; ++c) skip[c] += projected[R + c];
    }
    for (int c = 0; c < S; ++c) skip[c] = skip[c] > 0.0f ? skip[c] : 0.0f;
    memcpy(hidden, m->head_hidden_bias, sizeof(float) * H);
    accumulate(hidden, skip, m->head_hidden_weight, S, H);
    for (int c = 0; c < H; ++c) hidden[c] = hidden[c] > 0.0f ? hidden[c] : 0.0f;
    memcpy(logits, m->head_out_bias, sizeof(float) * m->classes);
    accumulate(logits, hidden, m->head_out_weight, H, m->classes);
}

/* codes (B), gate_bias (B, layers, G), queues (B, Q, R) updated in place, logits (B, classes). */
void wavenet_step(const wavenet_model *m, int32_t batch, const int64_t *codes, const float *gate_bias,
                  float *queues, int64_t time, float *logits, int32_t threads) {
    #pragma omp parallel for schedule(static) num_threads(threads) if (threads > 1 && batch > 1)
    for (int b = 0; b < batch; ++b) {
        step_row(m, codes[b], gate_bias + (int64_t)b * m->layers * m->gate,
                 queues + (int64_t)b * m->queue_total * m->residual, time, logits + (int64_t)b * m->classes);
    }
}
