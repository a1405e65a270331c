/*
 * optim.h — AdamW over one flat parameter buffer, and the learning-rate schedule.
 *
 * AdamW (Loshchilov & Hutter): m = β1 m + (1-β1) g; v = β2 v + (1-β2) g²;
 * p -= lr (m̂ / (sqrt(v̂) + ε) + wd p), with bias-corrected m̂, v̂. Weight decay applies to the
 * parameters whose decay mask entry is 1 (weights), not to biases, norms or embeddings.
 * With wd = 0 this is Adam exactly as PyTorch's torch.optim.Adam computes it.
 */
#ifndef KEEL_TRAIN_OPTIM_H
#define KEEL_TRAIN_OPTIM_H

#include "base/base.h"

typedef struct keel_adamw {
    size_t n;
    float *m, *v;         /* moments, n floats each (checkpointed) */
    const uint8_t *decay; /* borrowed: 1 where weight decay applies; NULL = everywhere */
    float beta1, beta2, eps, weight_decay;
    uint64_t step; /* updates done (checkpointed) */
} keel_adamw;

/* Sets up o for n parameters: moments zeroed, step 0, decay NULL, defaults β1 0.9,
 * β2 0.999, ε 1e-8, weight decay 0 (change the fields afterwards). KEEL_ENOMEM (o is then
 * zeroed, and keel_adamw_free on it is harmless). */
int keel_adamw_init(keel_adamw *o, size_t n);
/* Frees the moments and zeroes o; NULL-safe. */
void keel_adamw_free(keel_adamw *o);
/* One update of params (o->n floats) with gradient grad at learning rate lr, in the order
 * PyTorch uses (step_size = lr / (1 - β1^t), denom = sqrt(v) / sqrt(1 - β2^t) + ε, decay
 * p *= 1 - lr wd first), so that with wd = 0 it matches torch.optim.Adam to float rounding.
 * The float fields β1, β2 and weight_decay are read as the decimals they spell (0.999f as
 * 0.999), as PyTorch's double hyper-parameters are.
 * Uses AVX-512 where the CPU has it (same results as the plain loop) and, for large n,
 * keel_tensor_threads() threads. Not thread-safe on one o. */
void keel_adamw_step(keel_adamw *o, float *params, const float *grad, float lr);

/* Learning rate at step t of total: linear warm-up over `warmup` steps from 0 to base, then
 * cosine decay to base * floor_ratio at `total` (and floor after it). With total <= warmup
 * there is no decay: base after the warm-up. Pure; thread-safe. */
float keel_lr_schedule(float base, uint64_t t, uint64_t warmup, uint64_t total, float floor_ratio);

#endif
