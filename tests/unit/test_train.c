/*
 * test_train.c — the training loop's pieces (train/train.h): the gradient hook, the loss and
 * validation figures as parts that add up, and the early-stopping decision.
 */
#include "tests/unit/fixtures.h"
#include "tests/unit/harness.h"
#include "train/train.h"

#include <stdlib.h>

static void small_hparams(keel_hparams *hp, int epochs)
{
    keel_hparams_init(hp);
    hp->hidden[0] = hp->hidden[1] = 16;
    hp->max_epochs = epochs;
}

typedef struct hook_log {
    uint64_t calls, next_step;
    size_t rows, n_params;
    bool in_order;
    int fail_at; /* the step whose hook fails (returns KEEL_ECANCELED); -1: none */
} hook_log;

static int log_gradients(void *ud, float *grad, size_t n_params, const keel_step_info *s)
{
    hook_log *h = ud;
    if (s->step != h->next_step) h->in_order = false;
    h->next_step = s->step + 1;
    h->calls++;
    h->rows += s->rows;
    h->n_params = n_params;
    (void)grad;
    return (int)s->step == h->fail_at ? KEEL_ECANCELED : KEEL_OK;
}

TEST(train_gradient_hook_sees_every_step_and_changes_nothing)
{
    keel_schema *s;
    keel_frame *f = test_load_pima(&s);
    REQUIRE(f);
    keel_train_options o = {.target = "diabetes"};
    small_hparams(&o.hp, 3);
    keel_model *a = NULL, *b = NULL;
    keel_train_result ra, rb;
    keel_error e;
    REQUIRE(keel_train(f, NULL, 0, &o, &a, &ra, &e) == KEEL_OK);
    hook_log h = {.in_order = true, .fail_at = -1};
    o.on_gradients = log_gradients;
    o.ud = &h;
    REQUIRE(keel_train(f, NULL, 0, &o, &b, &rb, &e) == KEEL_OK);
    uint64_t per_epoch = (rb.n_train + rb.batch_size - 1) / rb.batch_size;
    CHECK_EQ_INT(h.calls, per_epoch * (uint64_t)rb.epochs);
    CHECK_EQ_INT(h.rows, rb.n_train * (size_t)rb.epochs);
    CHECK(h.in_order);
    CHECK_EQ_INT(h.n_params, a->graph->n_params);
    /* A hook that leaves the gradient alone trains the same weights, bit for bit. */
    CHECK(memcmp(a->graph->params, b->graph->params, a->graph->n_params * sizeof(float)) == 0);
    keel_model_free(a);
    keel_model_free(b);
    /* A failing hook stops training with its code. */
    h = (hook_log){.in_order = true, .fail_at = 5};
    CHECK_EQ_INT(keel_train(f, NULL, 0, &o, &b, &rb, &e), KEEL_ECANCELED);
    CHECK(b == NULL);
    CHECK_EQ_INT(h.calls, 6);
    keel_frame_free(f);
    keel_schema_free(s);
}

TEST(train_pieces_add_up_to_the_whole)
{
    keel_schema *s;
    keel_frame *f = test_load_pima(&s);
    REQUIRE(f);
    keel_train_options o = {.target = "diabetes"};
    small_hparams(&o.hp, 2);
    keel_train_result res;
    keel_error e;
    keel_trainer *t;
    REQUIRE(keel_trainer_new(f, NULL, 0, &o, &res, &t, &e) == KEEL_OK);
    REQUIRE(keel_trainer_epoch(t) == KEEL_OK);
    /* The validation rows in one part and in three give the same logits and, summed, the
     * same loss (to rounding: the sums' order differs). */
    size_t n;
    const float *logits = keel_trainer_val_logits(t, &n);
    REQUIRE(n > 10);
    keel_val_parts whole = {0}, split = {0};
    REQUIRE(keel_trainer_validate(t, 0, n, &whole) == KEEL_OK);
    float *first = malloc(n * sizeof *first);
    REQUIRE(first);
    memcpy(first, logits, n * sizeof *first);
    keel_val_parts p[3] = {{0}};
    size_t cut1 = n / 3, cut2 = n / 2;
    CHECK_EQ_INT(keel_trainer_validate(t, 0, cut1, &p[0]), KEEL_OK);
    CHECK_EQ_INT(keel_trainer_validate(t, cut1, cut2 - cut1, &p[1]), KEEL_OK);
    CHECK_EQ_INT(keel_trainer_validate(t, cut2, n - cut2, &p[2]), KEEL_OK);
    CHECK_EQ_INT(keel_trainer_validate(t, cut2, n, &p[2]), KEEL_EINVAL); /* past the end */
    for (int i = 0; i < 3; i++) {
        split.loss += p[i].loss;
        split.rows += p[i].rows;
    }
    CHECK_EQ_INT(split.rows, n);
    CHECK_NEAR(split.loss, whole.loss, 1e-9 * whole.loss);
    CHECK(memcmp(first, logits, n * sizeof *first) == 0);
    /* The figures: the loss is the mean, the metric (ROC AUC here) from the logits alone. */
    double l1, m1, l2, m2;
    const int32_t *lab = keel_trainer_val_labels(t);
    const keel_model *m = keel_trainer_model(t);
    REQUIRE(m && m->n_out == 1);
    CHECK_EQ_INT(keel_train_figures(m, &whole, logits, lab, n, &l1, &m1), KEEL_OK);
    CHECK_EQ_INT(keel_train_figures(m, &split, logits, lab, n, &l2, &m2), KEEL_OK);
    CHECK_NEAR(l1, whole.loss / (double)n, 0);
    CHECK_NEAR(l1, l2, 1e-9);
    CHECK_NEAR(m1, m2, 0);
    CHECK(m1 >= 0 && m1 <= 1);
    free(first);
    /* A step's loss parts: weighted sums whose ratio is the batch's loss. */
    keel_loss_parts lp = {0};
    size_t pos[8] = {0, 1, 2, 3, 4, 5, 6, 7};
    REQUIRE(keel_trainer_step(t, pos, 8, &lp) == KEEL_OK);
    CHECK_EQ_INT(lp.rows, 8);
    CHECK(lp.weight > 0);
    CHECK_NEAR(lp.wloss / lp.weight, lp.loss_rows / 8, 1e-6);
    CHECK_EQ_INT(keel_trainer_step(t, pos, 0, &lp), KEEL_EINVAL);
    keel_trainer_free(t);
    keel_frame_free(f);
    keel_schema_free(s);
}

TEST(train_judge_stops_after_patience_bad_epochs)
{
    keel_train_stop st = {.best_loss = INFINITY};
    bool stop;
    CHECK(keel_train_judge(&st, 1, 0.5, 2, &stop) && !stop);
    CHECK(keel_train_judge(&st, 2, 0.4, 2, &stop) && !stop);
    CHECK(!keel_train_judge(&st, 3, 0.4 - 1e-8, 2, &stop) && !stop); /* not by more than 1e-7 */
    CHECK_EQ_INT(st.best_epoch, 2);
    CHECK(!keel_train_judge(&st, 4, 0.45, 2, &stop) && stop);
    CHECK_EQ_INT(st.bad_epochs, 2);
    CHECK_NEAR(st.best_loss, 0.4, 0);
}

/* The per-column embedding is one dense matrix that grows with the square of the numeric
 * columns; past 2^26 weights training is refused before anything is allocated, with the way
 * out in the message. Pima's 8 columns reach it with a very wide embedding per column. */
TEST(train_refuses_a_huge_per_column_embedding)
{
    keel_schema *s;
    keel_frame *f = test_load_pima(&s);
    REQUIRE(f);
    keel_train_options o = {.target = "diabetes"};
    small_hparams(&o.hp, 1);
    o.hp.feature_dim = 100000;
    keel_model *m = NULL;
    keel_train_result r;
    keel_error e;
    CHECK_EQ_INT(keel_train(f, NULL, 0, &o, &m, &r, &e), KEEL_ELIMIT);
    CHECK(m == NULL);
    CHECK(strstr(e.msg, "million weights (it grows with the square of the numeric columns); "
                        "keel builds at most 64 million: --feature-dim 0 feeds") != NULL);
    /* At the default it trains. */
    o.hp.feature_dim = 8;
    CHECK_EQ_INT(keel_train(f, NULL, 0, &o, &m, &r, &e), KEEL_OK);
    keel_model_free(m);
    keel_frame_free(f);
    keel_schema_free(s);
}
