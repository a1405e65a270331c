/*
 * hll.c — HyperLogLog distinct counts (declared in sketch.h).
 *
 * 4096 one-byte registers; keel_hll_add (inline, in the header) is a shift, a count of leading
 * zeros and a max. The estimate is Ertl's "improved estimator" (Ertl 2017,
 * New cardinality estimation algorithms for HyperLogLog sketches, algorithm 6): it works on
 * the histogram of register values and corrects both ends of the range analytically, so
 * there is no switch-over to linear counting with its bias bump and no empirical tables.
 */
#include "data/sketch_impl.h"

#include <math.h>
#include <string.h>

#define HLL_M (1u << KEEL_HLL_P)
#define HLL_Q (64 - KEEL_HLL_P) /* hash bits left after the register index */

void keel_hll_init(keel_hll *h)
{
    memset(h->reg, 0, sizeof h->reg);
}

void keel_hll_merge(keel_hll *dst, const keel_hll *src)
{
    for (size_t i = 0; i < HLL_M; i++)
        dst->reg[i] = dst->reg[i] > src->reg[i] ? dst->reg[i] : src->reg[i];
}

/* sigma(x) = x + sum_{k>=1} x^(2^k) 2^(k-1), the correction for empty registers. */
static double hll_sigma(double x)
{
    if (x == 1.0) return INFINITY;
    double y = 1.0, z = x;
    for (int i = 0; i < 100; i++) { /* converges within ~60 steps; the cap is a backstop */
        x *= x;
        double z0 = z;
        z += x * y;
        y += y;
        if (z == z0) break;
    }
    return z;
}

/* tau(x) = (1 - x - sum_{k>=1} (1 - x^(2^-k))^2 2^-k) / 3, the correction for saturated
 * registers. */
static double hll_tau(double x)
{
    if (x == 0.0 || x == 1.0) return 0.0;
    double y = 1.0, z = 1.0 - x;
    for (int i = 0; i < 100; i++) {
        x = sqrt(x);
        double z0 = z;
        y *= 0.5;
        z -= (1.0 - x) * (1.0 - x) * y;
        if (z == z0) break;
    }
    return z / 3.0;
}

double keel_hll_estimate(const keel_hll *h)
{
    uint32_t c[HLL_Q + 2] = {0};
    for (size_t i = 0; i < HLL_M; i++)
        c[h->reg[i] <= HLL_Q + 1 ? h->reg[i] : HLL_Q + 1]++;
    const double m = HLL_M;
    double z = m * hll_tau(1.0 - c[HLL_Q + 1] / m);
    for (int k = HLL_Q; k >= 1; k--)
        z = 0.5 * (z + c[k]);
    z += m * hll_sigma(c[0] / m);
    if (isinf(z)) return 0.0;
    return (m * m / (2.0 * log(2.0))) / z;
}

int keel_hll_write(const keel_hll *h, keel_buf *out)
{
    keel_buf_mark len0 = keel_buf_begin(out);
    if (keel_buf_putc(out, '"') != KEEL_OK || keel_buf_base64(out, h->reg, HLL_M) != KEEL_OK ||
        keel_buf_putc(out, '"') != KEEL_OK)
        return keel_buf_end_rc(out, len0, KEEL_ENOMEM);
    return KEEL_OK;
}

int keel_hll_read(keel_hll *h, const keel_json *v, keel_error *e)
{
    uint8_t reg[HLL_M];
    const char *s = keel_json_str(v);
    if (!s) return keel_error_set(e, KEEL_EFORMAT, "hll sketch: expected a base64 string");
    if (v->u.string.len != (HLL_M + 2) / 3 * 4 ||
        keel_base64_decode(s, v->u.string.len, reg, sizeof reg) != (long)HLL_M)
        return keel_error_set(e, KEEL_EFORMAT, "hll sketch: expected the base64 of %u registers",
                              HLL_M);
    for (size_t i = 0; i < HLL_M; i++)
        if (reg[i] > HLL_Q + 1)
            return keel_error_set(e, KEEL_EFORMAT, "hll sketch: register %zu is %u (max %u)", i,
                                  reg[i], HLL_Q + 1);
    memcpy(h->reg, reg, sizeof reg);
    return KEEL_OK;
}
