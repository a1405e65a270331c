/* Tests of field conversion: numbers, timestamps, booleans. */
#include "harness.h"

#include "data/convert.h"

#include <stdlib.h>

static double num(const char *s, int *rc)
{
    double v = -12345;
    *rc = keel_parse_number(s, strlen(s), '.', &v);
    return v;
}

TEST(convert_numbers_exact)
{
    int rc;
    const char *cases[] = {"0",
                           "-0",
                           "1",
                           "3.14159",
                           "  42  ",
                           "+7",
                           "1e10",
                           "1E-5",
                           "0.1",
                           "123456789012345678",
                           ".5",
                           "5.",
                           "2.2250738585072014e-308",
                           "1.7976931348623157e308",
                           "123456789012345678901234567890",
                           "0.000000000000000000000000001"};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        double v = num(cases[i], &rc);
        CHECK_EQ_INT(rc, KEEL_OK);
        double want = strtod(cases[i], NULL);
        if (v != want)
            harness_fail(__FILE__, __LINE__, "'%s': %.17g != strtod %.17g", cases[i], v, want);
    }
    double v;
    CHECK_EQ_INT(keel_parse_number("3,25", 4, ',', &v), KEEL_OK);
    CHECK(v == 3.25);
    CHECK_EQ_INT(keel_parse_number("-1,5e2", 6, ',', &v), KEEL_OK);
    CHECK(v == -150);
}

TEST(convert_numbers_random_match_strtod)
{
    keel_rng r;
    keel_rng_seed(&r, 1);
    char buf[64];
    for (int i = 0; i < 100000; i++) {
        int digits = 1 + (int)(keel_rng_next(&r) % 17);
        int point = (int)(keel_rng_next(&r) % (unsigned)(digits + 1));
        int k = 0;
        if (keel_rng_next(&r) & 1) buf[k++] = '-';
        for (int d = 0; d < digits; d++) {
            if (d == point && d > 0) buf[k++] = '.';
            buf[k++] = (char)('0' + keel_rng_next(&r) % 10);
        }
        if (keel_rng_next(&r) % 4 == 0)
            k += snprintf(buf + k, sizeof buf - (size_t)k, "e%d",
                          (int)(keel_rng_next(&r) % 60) - 30);
        buf[k] = '\0';
        double v;
        int rc = keel_parse_number(buf, (size_t)k, '.', &v);
        if (rc != KEEL_OK || v != strtod(buf, NULL)) {
            harness_fail(__FILE__, __LINE__, "'%s': rc %d, %.17g vs %.17g", buf, rc, v,
                         strtod(buf, NULL));
            break;
        }
    }
}

TEST(convert_numbers_rejected)
{
    const char *bad[] = {"",    " ",    "-",     "abc", "1.2.3", "1e", "1e+", "nan",
                         "inf", "0x10", "1,000", "12a", "--1",   ".",  "e5",  "1 2"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        int rc;
        num(bad[i], &rc);
        if (rc != KEEL_EPARSE)
            harness_fail(__FILE__, __LINE__, "'%s' accepted (rc %d)", bad[i], rc);
    }
    int rc;
    num("1e400", &rc);
    CHECK_EQ_INT(rc, KEEL_ELIMIT);
}

static int64_t ts(const char *s, const char *fmt, int *rc)
{
    int64_t v = 0;
    *rc = keel_parse_timestamp(s, strlen(s), fmt, &v);
    return v;
}

TEST(convert_timestamps)
{
    int rc;
    CHECK_EQ_INT(ts("1970-01-01", NULL, &rc), 0);
    CHECK_EQ_INT(rc, KEEL_OK);
    CHECK_EQ_INT(ts("2024-02-29T12:30:15.25Z", NULL, &rc),
                 (keel_days_from_civil(2024, 2, 29) * 86400 + 45015) * 1000000LL + 250000);
    CHECK_EQ_INT(ts("2024-02-29 12:30", NULL, &rc),
                 (keel_days_from_civil(2024, 2, 29) * 86400 + 45000) * 1000000LL);
    CHECK_EQ_INT(ts("1970-01-01T01:00:00+01:00", NULL, &rc), 0);
    CHECK_EQ_INT(ts("31/12/1999", "%d/%m/%Y", &rc),
                 keel_days_from_civil(1999, 12, 31) * 86400000000LL);
    CHECK_EQ_INT(rc, KEEL_OK);
    const char *bad[] = {"2023-02-29", "2024-13-01",           "2024-01-01T25:00", "2024-1-1",
                         "yesterday",  "2024-01-01T10:00:00+", "2024-01-01x",      ""};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        ts(bad[i], NULL, &rc);
        if (rc != KEEL_EPARSE) harness_fail(__FILE__, __LINE__, "'%s' accepted", bad[i]);
    }
    ts("2024-01-01", "%Y-%m-%d %q", &rc);
    CHECK_EQ_INT(rc, KEEL_EPARSE);
}

TEST(convert_booleans)
{
    CHECK_EQ_INT(keel_parse_bool("TRUE", 4), 1);
    CHECK_EQ_INT(keel_parse_bool("no", 2), 0);
    CHECK_EQ_INT(keel_parse_bool("Y", 1), 1);
    CHECK_EQ_INT(keel_parse_bool("0", 1), 0);
    CHECK_EQ_INT(keel_parse_bool("maybe", 5), -1);
    CHECK_EQ_INT(keel_parse_bool("", 0), -1);
}
