/* The DDSP pipeline from C: load a model, play a pitch at a loudness, check what comes out.
 *
 *   cargo build --release -p ddsp-engine
 *   cc -O2 -Iinclude examples/c/pipeline.c -Ltarget/release -lddsp -lm -o pipeline
 *   LD_LIBRARY_PATH=target/release ./pipeline [MODEL]
 *
 * Checks (exit status 1 when one fails): the pitch played is within 5 cents of the one asked for
 * (measured by YIN here, independently of the engine), the level rises with the loudness, 0 is
 * silence, a bad model path fails with a message while the previous model keeps playing, and bad
 * arguments do not crash. Prints the pipeline's speed (x real time, 256-sample blocks). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ddsp.h"
#include "../common/measure.h"

#define RATE 48000.0
#define BLOCK 256

static int failures = 0;
static void check(int ok, const char *what) {
    printf("%s %s\n", ok ? "ok  " : "FAIL", what);
    if (!ok) failures++;
}

/* Renders `seconds` in BLOCK-sample blocks into buf (which holds at least that many samples). */
static void render(DdspPipeline *p, float *buf, double seconds) {
    size_t n = (size_t)(seconds * RATE);
    for (size_t at = 0; at < n; at += BLOCK) {
        size_t len = n - at < BLOCK ? n - at : BLOCK;
        ddsp_pipeline_process(p, buf + at, (uint32_t)len);
    }
}

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

int main(int argc, char **argv) {
    const char *model = argc > 1 ? argv[1] : "Violin";
    float *buf = calloc((size_t)(10 * RATE), sizeof(float));
    DdspModelInfo info;

    printf("libddsp %s\n", ddsp_version());
    check(ddsp_pipeline_new(0.0, BLOCK) == NULL, "a 0 Hz pipeline is refused (NULL)");
    check(ddsp_pipeline_new(RATE, 0) == NULL, "a 0-sample block is refused (NULL)");

    DdspPipeline *p = ddsp_pipeline_new(RATE, BLOCK);
    check(p != NULL, "pipeline at 48 kHz, 256-sample blocks");
    if (!p) return 1;
    if (ddsp_pipeline_load_model(p, model) != 0) {
        printf("FAIL loading %s: %s\n", model, ddsp_pipeline_last_error(p));
        return 1;
    }
    ddsp_pipeline_model_info(p, &info);
    printf("model %s (%s): %u harmonics, %.0f frames/s, f0 %.0f..%.0f Hz, loudness %.1f..%.1f dB\n", info.name,
           info.instrument, info.n_harmonics, info.frame_rate_hz, info.f0_min_hz, info.f0_max_hz,
           info.loudness_min_db, info.loudness_max_db);

    /* Pitch: a note in the model's range, measured over its last half second. */
    double f0 = sqrt(info.f0_min_hz * info.f0_max_hz);
    ddsp_pipeline_set_f0_hz(p, (float)f0);
    ddsp_pipeline_set_loudness_norm(p, 0.8f);
    render(p, buf, 1.0);
    double measured = measure_pitch_hz(buf + 24000, 24000, RATE, 0.5 * info.f0_min_hz, 2.0 * info.f0_max_hz);
    printf("     asked %.2f Hz, measured %.2f Hz (%+.2f cents)\n", f0, measured, cents(measured, f0));
    check(measured > 0 && fabs(cents(measured, f0)) < 5.0, "pitch within 5 cents");

    /* Level follows loudness. */
    double level[3];
    const float norms[3] = {0.2f, 0.5f, 0.9f};
    for (int i = 0; i < 3; i++) {
        ddsp_pipeline_set_loudness_norm(p, norms[i]);
        render(p, buf, 0.5);
        level[i] = 20.0 * log10(measure_rms(buf + 12000, 12000) + 1e-12);
        printf("     loudness %.1f: %.1f dBFS RMS\n", norms[i], level[i]);
    }
    check(level[0] < level[1] && level[1] < level[2] && level[2] - level[0] > 10.0,
          "level rises with loudness (> 10 dB from 0.2 to 0.9)");
    ddsp_pipeline_set_loudness_norm(p, 0.0f);
    render(p, buf, 0.5);
    check(measure_rms(buf + 12000, 12000) == 0.0, "loudness 0 is silence");

    /* A bad path: an error with a message, and the previous model still plays. */
    check(ddsp_pipeline_load_model(p, "/no/such/model.onnx") != 0, "a missing model file fails");
    printf("     error: %s\n", ddsp_pipeline_last_error(p));
    check(strlen(ddsp_pipeline_last_error(p)) > 0, "... with a message");
    check(ddsp_pipeline_load_model(p, NULL) != 0, "a NULL path fails");
    check(ddsp_pipeline_load_model(p, "\xff\xfe") != 0, "a non-UTF-8 path fails");
    char playing[64];
    memcpy(playing, info.name, sizeof playing);
    ddsp_pipeline_model_info(p, &info);
    check(strcmp(info.name, playing) == 0, "model info still names the previous model");
    ddsp_pipeline_set_loudness_norm(p, 0.8f);
    render(p, buf, 0.5);
    double after = measure_pitch_hz(buf + 12000, 12000, RATE, 0.5 * info.f0_min_hz, 2.0 * info.f0_max_hz);
    check(after > 0 && fabs(cents(after, f0)) < 5.0, "the previous model keeps playing");

    /* Bad arguments: nothing crashes, output stays finite. */
    ddsp_pipeline_set_f0_hz(p, NAN);
    ddsp_pipeline_set_f0_hz(p, -100.0f);
    ddsp_pipeline_set_f0_hz(p, INFINITY);
    ddsp_pipeline_set_loudness_norm(p, NAN);
    ddsp_pipeline_set_loudness_norm(p, -INFINITY);
    ddsp_pipeline_set_loudness_norm(p, 7.0f);
    ddsp_pipeline_process(p, NULL, 256);
    ddsp_pipeline_process(p, buf, 0);
    ddsp_pipeline_process(p, buf, 4 * BLOCK + 17); /* longer than max_block */
    ddsp_pipeline_process(NULL, buf, 256);
    ddsp_pipeline_set_f0_hz(NULL, 440.0f);
    check(ddsp_pipeline_load_model(NULL, "Violin") != 0, "NULL pipeline: load fails");
    check(ddsp_pipeline_set_master(p, "no-such-preset", NULL) != 0, "an unknown mastering preset fails");
    int finite = 1;
    for (size_t i = 0; i < 4 * BLOCK + 17; i++) finite &= isfinite(buf[i]) != 0;
    check(finite, "bad arguments: output stays finite");
    ddsp_pipeline_free(NULL);

    /* Morph: two models, a place that fails, the position between them. */
    ddsp_pipeline_set_f0_hz(p, (float)f0);
    ddsp_pipeline_set_loudness_norm(p, 0.7f);
    const char *pair[] = {"Flute", "Trumpet"};
    check(ddsp_pipeline_load_morph(p, pair, 2) == 0, "a morph of two library models loads");
    double corner[2];
    for (int i = 0; i < 2; i++) {
        ddsp_pipeline_set_morph(p, (float)i, 0.0f);
        render(p, buf, 0.5);
        corner[i] = measure_rms(buf + 12000, 12000);
    }
    ddsp_pipeline_set_morph(p, 0.5f, 0.0f);
    render(p, buf, 0.5);
    double half = measure_rms(buf + 12000, 12000);
    double pitch = measure_pitch_hz(buf + 12000, 12000, RATE, 0.5 * f0, 2.0 * f0);
    check(pitch > 0 && fabs(cents(pitch, f0)) < 5.0, "halfway the morph plays the pitch");
    check(half > 0.5 * fmin(corner[0], corner[1]) && half < 2.0 * fmax(corner[0], corner[1]),
          "halfway its level lies near the corners'");
    printf("morph: rms at A %.4f, halfway %.4f, at B %.4f\n", corner[0], half, corner[1]);
    const char *with_bad[] = {"Violin", "/no/such/model.onnx", "Cello"};
    check(ddsp_pipeline_load_morph(p, with_bad, 3) == 2, "a place that fails is reported in the mask (bit 1)");
    check(strstr(ddsp_pipeline_last_error(p), "place B") != NULL, "... and named in the last error");
    const char *none[] = {"/no/such/a.onnx", "/no/such/b.onnx"};
    check(ddsp_pipeline_load_morph(p, none, 2) == DDSP_ERROR, "a morph with no model fails");
    check(ddsp_pipeline_load_morph(p, NULL, 2) == DDSP_ERROR, "a NULL list fails");
    check(ddsp_pipeline_load_morph(p, pair, 5) == DDSP_ERROR, "five places fail");
    check(ddsp_pipeline_set_morph_source(p, 1) == 0, "the mod wheel can move the morph");
    check(ddsp_pipeline_set_morph_source(p, DDSP_MORPH_SOURCE_TIMBRE) == 0, "so can MPE timbre");
    check(ddsp_pipeline_set_morph_source(p, 500) != 0, "an unknown source is refused");
    ddsp_pipeline_set_morph(p, NAN, INFINITY);
    render(p, buf, 0.2);
    finite = 1;
    for (size_t i = 0; i < (size_t)(0.2 * RATE); i++) finite &= isfinite(buf[i]) != 0;
    check(finite, "NaN and infinite morph positions: output stays finite");
    check(ddsp_pipeline_load_model(p, model) == 0, "one model again ends the morph");

    /* Weight precision: the default stores f16 where the CPU converts it in hardware; f32 forced
       for the next load plays the same note within 0.1 dB. */
    check(ddsp_set_precision(7) == DDSP_ERROR, "an unknown precision is refused");
    ddsp_pipeline_set_f0_hz(p, (float)f0);
    ddsp_pipeline_set_loudness_norm(p, 0.7f);
    double rms_of[2];
    const int precisions[2] = {DDSP_PRECISION_F32, DDSP_PRECISION_AUTO};
    for (int i = 0; i < 2; i++) {
        check(ddsp_set_precision(precisions[i]) == DDSP_OK, "a precision is set");
        check(ddsp_pipeline_load_model(p, model) == 0, "... and the model loads with it");
        render(p, buf, 1.0);
        rms_of[i] = measure_rms(buf + 24000, 24000);
    }
    printf("precision: f32 %.6f rms, auto %.6f rms (%+.4f dB)\n", rms_of[0], rms_of[1],
           20.0 * log10(rms_of[1] / rms_of[0]));
    check(fabs(20.0 * log10(rms_of[1] / rms_of[0])) < 0.1, "auto plays the note within 0.1 dB of f32");

    /* Speed: 10 s of a held note in 256-sample blocks, mastering off. */
    ddsp_pipeline_set_f0_hz(p, (float)f0);
    ddsp_pipeline_set_loudness_norm(p, 0.7f);
    double elapsed = 1e9;
    for (int run = 0; run < 5; run++) { /* best of five: the machine is shared */
        double t0 = now_s();
        render(p, buf, 10.0);
        double t = now_s() - t0;
        if (t < elapsed) elapsed = t;
    }
    printf("speed: %.1fx real time (10 s at 48 kHz in 256-sample blocks, best of 5: %.3f s)\n", 10.0 / elapsed, elapsed);

    ddsp_pipeline_free(p);
    free(buf);
    printf("%s\n", failures ? "FAILED" : "all checks passed");
    return failures ? 1 : 0;
}
