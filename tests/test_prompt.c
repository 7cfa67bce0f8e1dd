/* test_prompt.c: prompt ids for the real LLaVA tokenizer: the ids of LLAVA.md §5
   written out by hand, and templates against the naive Python reference
   (tests/reference/hf_tokenizer.py builds each template from the HF chat
   template and LLaVA's conv_vicuna_v1 on its own). */
#include "test.h"

#include "io/tokenizer.h"
#include "model/prompt.h"

#define LLAVA_TOKENIZER "data/llava-1.5-7b-hf/tokenizer.json"
#define REFERENCE "/usr/bin/python3 tests/reference/hf_tokenizer.py"

static MlTokenizer *tok;

/* LLAVA.md §5: "USER: <image>\nWhat's the content of the image? ASSISTANT:" */
static const int32_t head5[] = {1, 3148, 1001, 29901, 29871};
static const int32_t tail5[] = {29871, 13, 5618, 29915, 29879, 278, 2793, 310, 278, 1967, 29973, 319, 1799, 9047, 13566, 29901};
#define N_HEAD 5
#define N_TAIL 16

static int image_run(const int32_t *ids, size_t from, size_t count) {
    for (size_t i = 0; i < count; i++)
        if (ids[from + i] != 32000) return 0;
    return 1;
}

static void test_llava_section5(void) {
    if (!tok) return;
    MlError err = {0};
    MlPromptOptions opts = {ML_TEMPLATE_HF, NULL, 0};
    int32_t *ids = NULL;
    size_t n, image_end;
    CHECK_OK(ml_prompt_build(tok, &opts, "What's the content of the image?", 1, 32000, 576, &ids, &n, &image_end, &err),
             &err);
    if (!ids) return;
    CHECK(n == N_HEAD + 576 + N_TAIL);
    CHECK(image_end == N_HEAD + 576);
    CHECK(!memcmp(ids, head5, sizeof head5));
    CHECK(image_run(ids, N_HEAD, 576));
    CHECK(n == N_HEAD + 576 + N_TAIL && !memcmp(ids + N_HEAD + 576, tail5, sizeof tail5));
    free(ids);

    /* NULL options are the HF defaults. */
    CHECK_OK(ml_prompt_build(tok, NULL, "What's the content of the image?", 1, 32000, 576, &ids, &n, &image_end, &err),
             &err);
    CHECK(ids && n == N_HEAD + 576 + N_TAIL && !memcmp(ids + N_HEAD + 576, tail5, sizeof tail5));
    free(ids);

    /* The transformers v5 variant: the 29871 after the image goes. */
    opts.drop_space_after_image = 1;
    CHECK_OK(ml_prompt_build(tok, &opts, "What's the content of the image?", 1, 32000, 576, &ids, &n, &image_end, &err),
             &err);
    CHECK(ids && n == N_HEAD + 576 + N_TAIL - 1 && image_end == N_HEAD + 576);
    if (ids && n == N_HEAD + 576 + N_TAIL - 1) CHECK(!memcmp(ids + image_end, tail5 + 1, sizeof tail5 - sizeof *tail5));
    free(ids);
}

static void test_template_text(void) {
    MlError err = {0};
    char *text;
    MlPromptOptions opts = {ML_TEMPLATE_HF, NULL, 0};
    CHECK_OK(ml_prompt_text(&opts, "Hi?", 1, &text, &err), &err);
    CHECK_STR(text, "USER: <image>\nHi? ASSISTANT:");
    free(text);
    CHECK_OK(ml_prompt_text(&opts, "Hi?", 0, &text, &err), &err);
    CHECK_STR(text, "USER: Hi? ASSISTANT:");
    free(text);
    opts.system = "Be brief.";
    CHECK_OK(ml_prompt_text(&opts, "Hi?", 1, &text, &err), &err);
    CHECK_STR(text, "Be brief. USER: <image>\nHi? ASSISTANT:");
    free(text);
    opts = (MlPromptOptions){ML_TEMPLATE_LLAVA_V1, NULL, 0};
    CHECK_OK(ml_prompt_text(&opts, "Hi?", 1, &text, &err), &err);
    CHECK_STR(text, "A chat between a curious human and an artificial intelligence assistant. The assistant gives "
                    "helpful, detailed, and polite answers to the human's questions. USER: <image>\nHi? ASSISTANT:");
    free(text);
    opts = (MlPromptOptions){ML_TEMPLATE_RAW, NULL, 0};
    CHECK_OK(ml_prompt_text(&opts, "<image>\nHi", 1, &text, &err), &err);
    CHECK_STR(text, "<image>\nHi");
    free(text);
}

static void test_template_names(void) {
    MlError err = {0};
    MlTemplate t;
    CHECK(ml_template_parse("hf", &t, &err) == ML_OK && t == ML_TEMPLATE_HF);
    CHECK(ml_template_parse("llava-v1", &t, &err) == ML_OK && t == ML_TEMPLATE_LLAVA_V1);
    CHECK(ml_template_parse("raw", &t, &err) == ML_OK && t == ML_TEMPLATE_RAW);
    CHECK(ml_template_parse("chatml", &t, &err) == ML_ERR_ARG);
    CHECK(strstr(err.msg, "chatml") && strstr(err.msg, "llava-v1"));
    CHECK_STR(ml_template_name(ML_TEMPLATE_LLAVA_V1), "llava-v1");
}

static int hex_decode(const char *hex, char *out) {
    size_t n = strlen(hex);
    for (size_t i = 0; i + 1 < n; i += 2) {
        unsigned v;
        if (sscanf(hex + i, "%2x", &v) != 1) return -1;
        out[i / 2] = (char)v;
    }
    out[n / 2] = 0;
    return 0;
}

static void test_python_reference(void) {
    if (!tok) return;
    char path[600], tj[512], cmd[2048];
    snprintf(path, sizeof path, "%s/reference_prompt.txt", test_tmpdir("test_prompt"));
    snprintf(tj, sizeof tj, "%s", test_repo_path(LLAVA_TOKENIZER));
    snprintf(cmd, sizeof cmd, REFERENCE " prompt '%s' '%s'", tj, path);
    CHECK(system(cmd) == 0);
    FILE *f = fopen(path, "r");
    CHECK(f != NULL);
    if (!f) return;
    static char line[1 << 16], system_text[4096], user[4096];
    static int32_t want[4096];
    int cases = 0, same = 0;
    while (fgets(line, sizeof line, f)) {
        char *field[5], *save = NULL;
        int k = 0;
        for (char *p = strtok_r(line, "\t\n", &save); p && k < 5; p = strtok_r(NULL, "\t\n", &save)) field[k++] = p;
        if (k != 5) continue;
        MlPromptOptions opts = {0};
        MlError err = {0};
        CHECK_OK(ml_template_parse(field[0], &opts.tmpl, &err), &err);
        int has_image = atoi(field[1]);
        if (strcmp(field[2], "-")) {
            hex_decode(field[2], system_text);
            opts.system = system_text;
        }
        hex_decode(field[3], user);
        size_t n_want = 0;
        for (char *p = field[4], *end; n_want < 4096; p = end) {
            long v = strtol(p, &end, 10);
            if (end == p) break;
            want[n_want++] = (int32_t)v;
        }
        int32_t *ids = NULL;
        size_t n, image_end;
        cases++;
        int rc = ml_prompt_build(tok, &opts, user, has_image, 32000, 576, &ids, &n, &image_end, &err);
        size_t want_end = 0;
        for (size_t i = 0; i < n_want; i++)
            if (want[i] == 32000) want_end = i + 1;
        if (rc == ML_OK && n == n_want && !memcmp(ids, want, n * sizeof *ids) && image_end == want_end) same++;
        else fprintf(stderr, "  prompt case %d (%s, image %d, \"%s\"): %s\n", cases, field[0], has_image, user,
                     rc ? err.msg : "ids differ");
        free(ids);
    }
    fclose(f);
    CHECK(cases == 9);
    CHECK(same == cases);
}

static void test_bad_prompts(void) {
    if (!tok) return;
    MlError err = {0};
    int32_t *ids = (int32_t *)1;
    size_t n, image_end;
    MlPromptOptions raw = {ML_TEMPLATE_RAW, NULL, 0};
    CHECK(ml_prompt_build(tok, &raw, "no placeholder", 1, 32000, 576, &ids, &n, &image_end, &err) == ML_ERR_ARG);
    CHECK(ids == NULL && strstr(err.msg, "no <image>"));
    CHECK(ml_prompt_build(tok, NULL, "look: <image>", 0, 32000, 576, &ids, &n, &image_end, &err) == ML_ERR_ARG);
    CHECK(strstr(err.msg, "no image is given") != NULL);
    CHECK(ml_prompt_build(tok, NULL, "<image> and <image>", 1, 32000, 576, &ids, &n, &image_end, &err) == ML_ERR_ARG);
    CHECK(strstr(err.msg, "more than one") != NULL);
    CHECK(ml_prompt_build(tok, NULL, "x", 1, 32000, 0, &ids, &n, &image_end, &err) == ML_ERR_ARG);
    CHECK(ml_prompt_build(tok, NULL, "x", 1, -1, 576, &ids, &n, &image_end, &err) == ML_ERR_ARG);
    CHECK(ml_prompt_build(tok, NULL, NULL, 1, 32000, 576, &ids, &n, &image_end, &err) == ML_ERR_ARG);
    /* No image: image_end stays 0 and the prompt is BOS + text. */
    CHECK_OK(ml_prompt_build(tok, &raw, "Hello", 0, 32000, 576, &ids, &n, &image_end, &err), &err);
    CHECK(ids && n == 2 && ids[0] == 1 && ids[1] == 15043 && image_end == 0);
    free(ids);
}

int main(void) {
    MlError err = {0};
    if (ml_tokenizer_load(&tok, test_repo_path(LLAVA_TOKENIZER), &err)) {
        fprintf(stderr, "  cannot load the LLaVA tokenizer: %s\n", err.msg);
        test_failed++;
    }
    RUN(test_llava_section5);
    RUN(test_template_text);
    RUN(test_template_names);
    RUN(test_python_reference);
    RUN(test_bad_prompts);
    ml_tokenizer_free(tok);
    return test_summary("test_prompt");
}
