/*
 * progress.c — a one-line progress bar for long work.
 *
 * Drawn at most ten times a second with a carriage return, so that a terminal shows one
 * line that updates in place. The CLI only hands in stderr when it is a terminal; a log
 * file or a CI run gets no bar at all.
 */
#include "base/base.h"

#include <string.h>

void keel_progress_bar_init(keel_progress_bar *bar, FILE *out)
{
    memset(bar, 0, sizeof *bar);
    bar->out = out;
}

static void human_bytes(double v, char out[16])
{
    const char *units[] = {"B", "KB", "MB", "GB", "TB"};
    int u = 0;
    while (v >= 1000 && u < 4) {
        v /= 1000;
        u++;
    }
    snprintf(out, 16, u ? "%.1f %s" : "%.0f %s", v, units[u]);
}

void keel_progress_bar_update(void *p, uint64_t done, uint64_t total, const char *what)
{
    keel_progress_bar *bar = p;
    if (!bar || !bar->out) return;
    double now = keel_now_seconds();
    if (!bar->started) bar->started = now;
    if (now - bar->last_draw < 0.1 && done < total) return;
    bar->last_draw = now;
    double frac = total ? (double)done / (double)total : 0;
    if (frac > 1) frac = 1;
    char bars[31];
    int filled = (int)(frac * 30);
    for (int i = 0; i < 30; i++)
        bars[i] = i < filled ? '#' : '.';
    bars[30] = '\0';
    double elapsed = now - bar->started;
    double rate = elapsed > 0 ? (double)done / elapsed : 0;
    double eta = rate > 0 && total > done ? (double)(total - done) / rate : 0;
    char d[16], t[16], r[16];
    human_bytes((double)done, d);
    human_bytes((double)total, t);
    human_bytes(rate, r);
    fprintf(bar->out, "\r%s [%s] %3.0f%% %s/%s %s/s ETA %.0fs \033[K", what ? what : "", bars,
            frac * 100, d, t, r, eta);
    fflush(bar->out);
    bar->drawn = 1;
}

void keel_progress_bar_finish(keel_progress_bar *bar)
{
    if (bar && bar->out && bar->drawn) {
        fputs("\r\033[K", bar->out);
        fflush(bar->out);
        bar->drawn = 0;
    }
}
