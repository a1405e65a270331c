/*
 * activation.h — the activation functions' maths, once, for the three forward executors that
 * compute them: the graph (nn/ops.c), the one-row plan (model/rowplan.c) and the explainer's
 * tail (explain/explain.c). Each must give the same bits as the others for the same input, or
 * a row would predict (or explain) differently depending on the path it took; keeping the
 * formulas in one place is what makes that hold by construction rather than by care.
 *
 * Scalar forms here; the vector forms of ReLU and SiLU are the kernels of tensor/kernels.c
 * (keel_k_relu, keel_k_silu), which equal their scalar references bit for bit, and
 * keel_act_forward dispatches to them.
 *
 * Two forms of SiLU's derivative exist on purpose, and give different bits:
 *   keel_act_silu_grad          σ(x) (1 + x (1 − σ(x))) in double, from the input alone:
 *                               the graph's backward pass (training), whose gradients must
 *                               stay exactly what they were (the trained bytes depend on them);
 *   keel_act_silu_grad_from_out σ + h (1 − σ) with σ = h / x in float, from the input and the
 *                               forward output h: the explainer's backward pass, which runs
 *                               per row and per feature and avoids an exponential (its output,
 *                               the attributions, must equally stay as it was).
 */
#ifndef KEEL_NN_ACTIVATION_H
#define KEEL_NN_ACTIVATION_H

#include "nn/nn.h"
#include "tensor/kernels.h"

#include <math.h>
#include <string.h>

/* 1 / sqrt(2) and 1 / sqrt(2π), as the doubles both earlier spellings rounded to. */
#define KEEL_ACT_SQRT1_2     0.7071067811865476
#define KEEL_ACT_INV_SQRT2PI 0.3989422804014327

/* σ(z) = 1 / (1 + e^−z), in the form that never overflows: e^z / (1 + e^z) for z < 0. */
static inline double keel_act_sigmoid(double z)
{
    if (z >= 0) return 1.0 / (1.0 + exp(-z));
    double e = exp(z);
    return e / (1.0 + e);
}

/* y = max(0, x) */
static inline float keel_act_relu(float x)
{
    return x > 0 ? x : 0;
}

/* dy/dx = [x > 0] */
static inline float keel_act_relu_grad(float x)
{
    return x > 0 ? 1.0f : 0.0f;
}

/* y = x Φ(x) = x (1 + erf(x / √2)) / 2, exact (not the tanh approximation). */
static inline float keel_act_gelu(double x)
{
    return (float)(0.5 * x * (1.0 + erf(x * KEEL_ACT_SQRT1_2)));
}

/* dy/dx = Φ(x) + x φ(x), φ(x) = e^(−x²/2) / √(2π); in double, for the caller to scale. */
static inline double keel_act_gelu_grad(double x)
{
    return 0.5 * (1.0 + erf(x * KEEL_ACT_SQRT1_2)) + x * exp(-0.5 * x * x) * KEEL_ACT_INV_SQRT2PI;
}

/* dy/dx of y = x σ(x): σ(x) (1 + x (1 − σ(x))), in double from the input (the graph's form). */
static inline double keel_act_silu_grad(double x)
{
    double s = keel_act_sigmoid(x);
    return s * (1.0 + x * (1.0 - s));
}

/* dy/dx of y = x σ(x) from x and h = y: σ + h (1 − σ) with σ = h / x, in float, so no
 * exponential is needed (the explainer's form). Near x = 0, where h / x loses precision,
 * σ ≈ 1/2 + x/4. Not the same bits as keel_act_silu_grad. */
static inline float keel_act_silu_grad_from_out(float x, float h)
{
    float s = fabsf(x) > 1e-3f ? h / x : 0.5f + 0.25f * x;
    return s + h * (1 - s);
}

/* Applies activation op (KEEL_OP_RELU, _SILU, _GELU; any other op is the identity, as
 * dropout is when predicting) to x[0..n) into y (which may be x). The vector kernels give
 * the scalar forms' bits. */
static inline void keel_act_forward(int op, size_t n, const float *x, float *y)
{
    switch (op) {
    case KEEL_OP_RELU:
        keel_k_relu(n, x, y);
        break;
    case KEEL_OP_SILU:
        keel_k_silu(n, x, y);
        break;
    case KEEL_OP_GELU:
        for (size_t i = 0; i < n; i++)
            y[i] = keel_act_gelu(x[i]);
        break;
    default:
        if (y != x) memcpy(y, x, n * sizeof *y);
        break;
    }
}

#endif
