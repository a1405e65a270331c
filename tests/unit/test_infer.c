/* Tests of schema inference: personal-data checks and type/role decisions. */
#include "harness.h"

#include "data/infer.h"

static const char *put(const char *name, const char *text)
{
    static char path[700];
    snprintf(path, sizeof path, "%s/%s", test_tmpdir(), name);
    FILE *f = fopen(path, "wb");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
    return path;
}

static const keel_schema_column *col(const keel_schema *s, const char *name)
{
    long i = keel_schema_find(s, name);
    return i < 0 ? NULL : &s->columns[i];
}

TEST(infer_personal_data_checks)
{
    CHECK(keel_looks_like_email("ann.lee+x@mail.example.co.uk", 28));
    CHECK(!keel_looks_like_email("not an email@x.com", 18));
    CHECK(!keel_looks_like_email("a@b", 3));
    CHECK(keel_looks_like_card("4111 1111 1111 1111", 19));  /* a test Visa number */
    CHECK(!keel_looks_like_card("4111 1111 1111 1112", 19)); /* Luhn fails */
    CHECK(keel_looks_like_iban("GB82 WEST 1234 5698 7654 32", 27));
    CHECK(!keel_looks_like_iban("GB82 WEST 1234 5698 7654 33", 27));
    CHECK(keel_looks_like_phone("+44 20 7946 0958", 16));
    CHECK(!keel_looks_like_phone("12345678", 8)); /* a bare number: more likely an amount */
    CHECK(!keel_looks_like_phone("0.006399", 8)); /* a measurement */
    CHECK(keel_looks_like_phone("555.123.4567", 12));
    CHECK(keel_looks_like_phone("+441234567890", 13));
    CHECK(keel_looks_like_national_id("123-45-6789", 11));
    CHECK(!keel_looks_like_national_id("666-45-6789", 11));
    CHECK(keel_looks_like_national_id("QQ123456C", 9));
}

TEST(infer_types_and_roles)
{
    const char *path =
        put("t.csv", "customer_id,email,age,plan,active,signup,comment,score,churn\n"
                     "C001,ann@example.com,34,gold,yes,2024-01-05,likes the app a lot,0.5,no\n"
                     "C002,bob@example.org,NA,basic,no,2024-02-11,\"long, quoted\",1.25,yes\n"
                     "C003,cy@example.net,51,gold,yes,2024-03-02,never calls support,-,no\n"
                     "C004,dee@example.com,29,basic,no,2024-03-09,moved house in may,2,no\n");
    keel_infer_options o;
    keel_infer_options_init(&o);
    o.target = "churn";
    keel_schema *s;
    keel_error e;
    REQUIRE(keel_infer_file(path, &o, &s, &e) == KEEL_OK);
    CHECK_EQ_INT(col(s, "customer_id")->type, KEEL_TYPE_ID);
    CHECK_EQ_INT(col(s, "customer_id")->role, KEEL_ROLE_ID);
    CHECK_EQ_INT(col(s, "email")->pii, KEEL_PII_EMAIL);
    CHECK_EQ_INT(col(s, "age")->type, KEEL_TYPE_NUMERIC);
    CHECK(col(s, "age")->integer);
    CHECK_NEAR(col(s, "age")->min, 29, 0);
    CHECK_NEAR(col(s, "age")->max, 51, 0);
    CHECK_EQ_INT(col(s, "plan")->type, KEEL_TYPE_CATEGORICAL);
    CHECK_EQ_INT(col(s, "plan")->categories.n, 2);
    CHECK_EQ_INT(col(s, "active")->type, KEEL_TYPE_BOOLEAN);
    CHECK_EQ_INT(col(s, "signup")->type, KEEL_TYPE_TIMESTAMP);
    CHECK_EQ_INT(col(s, "signup")->role, KEEL_ROLE_TIME);
    CHECK_EQ_INT(col(s, "score")->type, KEEL_TYPE_NUMERIC); /* "-" is missing here */
    CHECK(keel_strlist_find(&s->missing, "-", 1) >= 0);
    CHECK_EQ_INT(col(s, "churn")->role, KEEL_ROLE_TARGET);
    CHECK_EQ_INT(col(s, "churn")->type, KEEL_TYPE_CATEGORICAL);
    keel_schema_free(s);
}

TEST(infer_target_must_exist_and_files_must_have_a_header)
{
    const char *path = put("t.csv", "a,b\n1,2\n");
    keel_infer_options o;
    keel_infer_options_init(&o);
    o.target = "nope";
    keel_schema *s = (keel_schema *)1;
    keel_error e;
    CHECK_EQ_INT(keel_infer_file(path, &o, &s, &e), KEEL_EINVAL);
    CHECK(s == NULL);
    CHECK(strstr(e.msg, "'nope'") != NULL);
    path = put("empty.csv", "");
    CHECK_EQ_INT(keel_infer_file(path, NULL, &s, &e), KEEL_EEMPTY);
    CHECK_EQ_INT(keel_infer_file("/nonexistent.csv", NULL, &s, &e), KEEL_ENOENT);
}

TEST(infer_duplicate_and_empty_header_names)
{
    const char *path = put("t.csv", "a,a,\n1,2,3\n4,5,6\n");
    keel_schema *s;
    keel_error e;
    REQUIRE(keel_infer_file(path, NULL, &s, &e) == KEEL_OK);
    CHECK_STR(s->columns[0].name, "a");
    CHECK_STR(s->columns[1].name, "a_2");
    CHECK_STR(s->columns[2].name, "column_3");
    CHECK_EQ_INT(keel_schema_check(s, &e), KEEL_OK);
    keel_schema_free(s);
}

TEST(infer_out_of_memory_is_clean)
{
    const char *path = put("t.csv", "id,x,k\n1,2.5,a\n2,3.5,b\n3,,a\n");
    for (long n = 1; n < 400; n++) {
        long live = test_alloc_live();
        test_fail_alloc_after(n);
        keel_schema *s = NULL;
        keel_error e;
        int rc = keel_infer_file(path, NULL, &s, &e);
        keel_schema_free(s);
        test_fail_alloc_after(0);
        CHECK_EQ_INT(test_alloc_live(), live);
        if (rc == KEEL_OK) break;
        if (rc != KEEL_ENOMEM) {
            harness_fail(__FILE__, __LINE__, "n=%ld: rc %d (%s)", n, rc, e.msg);
            break;
        }
    }
}

/* JSON Lines: every distinct key becomes a column, which every record then holds; the keys
 * are capped (the error names the line and key), and a key that cannot name a column (empty)
 * is passed over rather than becoming a new column each time it appears. */
TEST(infer_jsonl_caps_columns)
{
    const char *path = put("wide.jsonl", "{\"y\": 1, \"a\": 2, \"\": 3}\n"
                                         "{\"y\": 0, \"b\": 2, \"\": 4}\n"
                                         "{\"y\": 1, \"a\": 5, \"c\": 6}\n");
    keel_infer_options o;
    keel_infer_options_init(&o);
    o.target = "y";
    o.display_name = "wide.jsonl";
    keel_schema *s = NULL;
    keel_error e;
    CHECK_EQ_INT(keel_infer_file(path, &o, &s, &e), KEEL_OK);
    CHECK_EQ_INT((long long)s->n_columns, 4); /* y, a, b, c: no column for "" */
    CHECK(col(s, "c") != NULL);
    keel_schema_free(s);
    o.max_columns = 3;
    CHECK_EQ_INT(keel_infer_file(path, &o, &s, &e), KEEL_ELIMIT);
    CHECK(s == NULL);
    CHECK_STR(e.msg, "wide.jsonl:3: the key 'c' would be column 4; keel infers at most 3 columns "
                     "from JSON Lines, as every record holds a value for each (keel data infer "
                     "--max-columns N allows more)");
}
