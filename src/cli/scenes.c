/* scenes.c: `misalign scenes`, the synthetic scene corpus writer. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "scene/corpus.h"
#include "scene/sheet.h"

#define SHEET_COLS 8
#define SHEET_ROWS 6
#define SHEET_SCALE 4

static void usage(FILE *f) {
    fprintf(f,
            "usage: misalign scenes --out DIR [options]\n\n"
            "Writes synthetic scenes with exact ground truth: images, scene graphs, and\n"
            "probes (test, conflict) or captions and QA pairs (train). Formats: docs/scenes.md.\n\n"
            "  --out DIR            output folder (required; created)\n"
            "  --n N                number of scenes (default 1000, at most %d)\n"
            "  --seed S             random seed (default 0); same seed and world, same bytes\n"
            "  --world FILE         world file (default: built-in, identical to worlds/default.json)\n"
            "  --split NAME         train | test | conflict (default test)\n"
            "  --threads T          worker threads (default 0: all cores); output does not depend on it\n"
            "  --contact-sheet PNG  also write the first %d images as one %dx%d grid, enlarged %dx\n"
            "  --print-world        print the resolved world file and exit\n"
            "  --quiet              no progress bar\n",
            ML_CORPUS_MAX_SCENES, SHEET_COLS * SHEET_ROWS, SHEET_COLS, SHEET_ROWS, SHEET_SCALE);
}

/* The first images of the folder as one enlarged grid (what docs/contact-sheet.png shows). */
static int write_sheet(const char *dir, MlSplit split, int64_t n, const char *out, MlError *err) {
    int count = n < SHEET_COLS * SHEET_ROWS ? (int)n : SHEET_COLS * SHEET_ROWS;
    MlImage tiles[SHEET_COLS * SHEET_ROWS];
    memset(tiles, 0, sizeof tiles);
    int rc = ML_OK;
    for (int i = 0; i < count && !rc; i++) {
        char path[4200];
        snprintf(path, sizeof path, "%s/images/%s_%06d.png", dir, ml_split_name(split), i);
        rc = ml_image_load(path, &tiles[i], err);
    }
    MlImage sheet = {0};
    if (!rc) rc = ml_scene_contact_sheet(tiles, count, SHEET_COLS, SHEET_SCALE, &sheet, err);
    if (!rc) rc = ml_image_write_png(out, &sheet, err);
    ml_image_free(&sheet);
    for (int i = 0; i < count; i++) ml_image_free(&tiles[i]);
    return rc;
}

int cmd_scenes(int argc, char **argv) {
    const char *out = NULL, *world_path = NULL, *sheet = NULL;
    long long n = 1000, seed = 0, threads = 0;
    int split = ML_SPLIT_TEST, print_world = 0, quiet = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--out")) {
            if (!(out = ml_cli_value("scenes", argc, argv, &i))) return 2;
        } else if (!strcmp(a, "--world")) {
            if (!(world_path = ml_cli_value("scenes", argc, argv, &i))) return 2;
        } else if (!strcmp(a, "--contact-sheet")) {
            if (!(sheet = ml_cli_value("scenes", argc, argv, &i))) return 2;
        } else if (!strcmp(a, "--n")) {
            if (!(v = ml_cli_value("scenes", argc, argv, &i)) ||
                ml_cli_int("scenes", a, v, 1, ML_CORPUS_MAX_SCENES, &n))
                return 2;
        } else if (!strcmp(a, "--seed")) {
            if (!(v = ml_cli_value("scenes", argc, argv, &i)) || ml_cli_int("scenes", a, v, 0, 1LL << 62, &seed))
                return 2;
        } else if (!strcmp(a, "--threads")) {
            if (!(v = ml_cli_value("scenes", argc, argv, &i)) || ml_cli_int("scenes", a, v, 0, 256, &threads)) return 2;
        } else if (!strcmp(a, "--split")) {
            if (!(v = ml_cli_value("scenes", argc, argv, &i))) return 2;
            if ((split = ml_split_find(v)) < 0)
                return ml_cli_usage_error("scenes", "--split: '%s' is not train, test or conflict", v);
        } else if (!strcmp(a, "--print-world")) {
            print_world = 1;
        } else if (!strcmp(a, "--quiet")) {
            quiet = 1;
        } else {
            return ml_cli_usage_error("scenes", "unknown option '%s'", a);
        }
    }
    MlError err = {0};
    MlWorld world;
    if (world_path) {
        if (ml_world_load(world_path, &world, &err)) return ml_cli_fail(&err);
    } else {
        ml_world_default(&world);
    }
    if (print_world) {
        MlStrBuf b = {0};
        ml_world_to_json(&world, &b);
        fputs(b.data ? b.data : "", stdout);
        ml_strbuf_free(&b);
        return 0;
    }
    if (!out) return ml_cli_usage_error("scenes", "--out DIR is required");
    MlCorpusOptions opt = {.out_dir = out,
                           .n = n,
                           .seed = (uint64_t)seed,
                           .split = (MlSplit)split,
                           .threads = (int)threads,
                           .world_source = world_path,
                           .progress = !quiet};
    MlCorpusSummary sum;
    if (ml_corpus_generate(&world, &opt, &sum, &err)) return ml_cli_fail(&err);
    if (sheet && write_sheet(out, opt.split, n, sheet, &err)) return ml_cli_fail(&err);
    double secs = sum.seconds_images + sum.seconds_text;
    printf("{\"out\": \"%s\", \"split\": \"%s\", \"scenes\": %lld, \"seconds\": %.3f, \"images_per_second\": %.1f",
           out, ml_split_name(opt.split), (long long)sum.scenes, secs, secs > 0 ? (double)sum.scenes / secs : 0.0);
    if (opt.split == ML_SPLIT_TRAIN) {
        printf(", \"captions\": %lld, \"qa\": %lld}\n", (long long)sum.captions, (long long)sum.qa);
    } else {
        printf(", \"pope_eligible_scenes\": %lld, \"probes\": {", (long long)sum.pope_eligible);
        for (int f = 0; f < ML_N_PROBE_FILES; f++)
            printf("%s\"%s\": [%lld, %lld]", f ? ", " : "", ml_probe_file_name(f), (long long)sum.file[f].yes,
                   (long long)(sum.file[f].total - sum.file[f].yes));
        printf(", \"describe\": %lld}}\n", (long long)sum.describe);
    }
    return 0;
}
