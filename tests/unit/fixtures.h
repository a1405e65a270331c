/*
 * fixtures.h — data and models several unit tests share.
 */
#ifndef KEEL_TESTS_FIXTURES_H
#define KEEL_TESTS_FIXTURES_H

#include "model/model.h"
#include "serve/serve.h"

/* Loads data/pima2.csv (target diabetes last, the schema a prediction contract as below);
 * the frame, its schema in *sp (the caller frees both); NULL on failure, with the reason
 * printed. */
keel_frame *test_load_pima(keel_schema **sp);

/* Trains on data/pima2.csv (target diabetes, 8 numeric features with NA) with hp, its
 * schema made a prediction contract as keel train makes it (no ranges, every feature
 * nullable). Returns the model and leaves the frame and its schema in *fp and *sp (the
 * caller frees all three); NULL on failure, with the reason printed. */
keel_model *test_train_pima(const keel_hparams *hp, keel_frame **fp, keel_schema **sp);

/* Saves m as NAME in the test's scratch directory and opens that file: the model as a
 * reader of the artifact sees it (free with keel_model_close). NULL on failure, with the
 * reason printed. */
keel_model *test_save_open(keel_model *m, const char *name);

/* Whether two parsed request batches are the same: id, columns in order (name, type), every
 * value bit for bit, and the missing flags (present or not, and each one). */
bool test_same_batch(const serve_batch *a, const serve_batch *b);

/* a == b, or both non-NULL and equal as C strings. */
bool test_same_text(const char *a, const char *b);

/* Checks that serve_parse_v2 answers body exactly as serve_parse_v2_slow: the same code,
 * status, message and batch. */
void test_check_v2_as_slow_path(const char *body);

#endif
