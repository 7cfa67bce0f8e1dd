/* tokenize.c: `misalign tokenize`, the ids a model folder's tokenizer gives a text. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "core/file.h"
#include "core/json.h"
#include "io/checkpoint.h"
#include "io/tokenizer.h"
#include "model/prompt.h"

static void help(void) {
    printf("usage: misalign tokenize --model DIR (--text T | --file F) [options]\n\n"
           "Prints the token ids of a text with DIR/tokenizer.json, space-separated (BOS first).\n"
           "With --chat the text is put in the chat template and <image> is expanded to\n"
           "image_seq_length copies of image_token_index (both from DIR/config.json).\n\n"
           "  --model DIR                model folder with tokenizer.json (and config.json for --chat)  [required]\n"
           "  --text T                   the text  [required unless --file]\n"
           "  --file F                   read the text from a file instead\n"
           "  --chat                     apply the chat template, with an image  [off]\n"
           "  --no-image                 with --chat: no image, so no <image> in the template  [image]\n"
           "  --template hf|llava-v1|raw chat template; implies --chat  [hf]\n"
           "  --system S                 system text put first; implies --chat  [none; llava-v1: its own]\n"
           "  --drop-space-after-image   drop the lone 29871 after the image, as transformers v5 may  [keep]\n"
           "  --no-bos                   without --chat: leave out BOS  [BOS first]\n"
           "  --json                     print {\"ids\": [...], \"pieces\": [...]} (and image_end with --chat)\n");
}

typedef struct Options {
    const char *model, *text, *file, *system;
    int chat, no_image, drop_space, no_bos, json;
    MlTemplate tmpl;
} Options;

static int parse_args(int argc, char **argv, Options *o) {
    const char *cmd = "tokenize";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            help();
            return -1;
        } else if (!strcmp(a, "--model")) {
            if (!(o->model = ml_cli_value(cmd, argc, argv, &i))) return 2;
        } else if (!strcmp(a, "--text")) {
            if (!(o->text = ml_cli_value(cmd, argc, argv, &i))) return 2;
        } else if (!strcmp(a, "--file")) {
            if (!(o->file = ml_cli_value(cmd, argc, argv, &i))) return 2;
        } else if (!strcmp(a, "--system")) {
            if (!(o->system = ml_cli_value(cmd, argc, argv, &i))) return 2;
            o->chat = 1;
        } else if (!strcmp(a, "--template")) {
            if (!(v = ml_cli_value(cmd, argc, argv, &i))) return 2;
            if (ml_cli_template(cmd, v, &o->tmpl)) return 2;
            o->chat = 1;
        } else if (!strcmp(a, "--chat")) {
            o->chat = 1;
        } else if (!strcmp(a, "--no-image")) {
            o->no_image = 1;
        } else if (!strcmp(a, "--drop-space-after-image")) {
            o->drop_space = 1;
        } else if (!strcmp(a, "--no-bos")) {
            o->no_bos = 1;
        } else if (!strcmp(a, "--json")) {
            o->json = 1;
        } else {
            return ml_cli_usage_error(cmd, "unknown option '%s'", a);
        }
    }
    if (!o->model) return ml_cli_usage_error(cmd, "--model DIR is required");
    if (!o->text == !o->file) return ml_cli_usage_error(cmd, "give exactly one of --text T and --file F");
    if ((o->no_image || o->drop_space) && !o->chat)
        return ml_cli_usage_error(cmd, "--no-image and --drop-space-after-image need --chat");
    if (o->no_bos && o->chat) return ml_cli_usage_error(cmd, "--no-bos does not combine with --chat");
    return 0;
}

/* image_token_index and image_seq_length from DIR/config.json. */
static int read_image_tokens(const char *dir, int *token_id, int *count, MlError *err) {
    char path[4096], *text;
    size_t len;
    int rc = ml_path_join(path, sizeof path, dir, "config.json", err);
    if (!rc) rc = ml_file_read(path, &text, &len, err);
    if (rc) return rc;
    MlLlavaConfig cfg;
    rc = ml_llava_config_parse(text, len, path, &cfg, err);
    free(text);
    if (rc) return rc;
    *token_id = cfg.image_token_id;
    *count = cfg.image_seq_length;
    return ML_OK;
}

/* Plain mode: BOS (unless --no-bos) + encode(text). */
static int encode_plain(const MlTokenizer *tok, const char *text, size_t len, int bos, int32_t **ids, size_t *n,
                        MlError *err) {
    size_t cap = len + 16, got;
    for (int attempt = 0; attempt < 2; attempt++) {
        int32_t *buf = malloc((cap + 1) * sizeof *buf);
        if (!buf) return ml_error_set(err, ML_ERR_NOMEM, "tokenize: out of memory");
        size_t start = bos >= 0 ? 1 : 0;
        if (bos >= 0) buf[0] = bos;
        int rc = ml_tokenizer_encode(tok, text, len, buf + start, cap, &got, err);
        if (rc == ML_OK) {
            *ids = buf;
            *n = got + start;
            return ML_OK;
        }
        free(buf);
        if (rc != ML_ERR_RANGE) return rc;
        cap = got;
    }
    return ml_error_set(err, ML_ERR_RANGE, "tokenize: the token count changed between calls");
}

static void print_ids(const MlTokenizer *tok, const int32_t *ids, size_t n, int json, int chat, size_t image_end) {
    if (!json) {
        for (size_t i = 0; i < n; i++) printf(i ? " %d" : "%d", ids[i]);
        printf("\n");
        return;
    }
    printf("{\"ids\": [");
    for (size_t i = 0; i < n; i++) printf(i ? ", %d" : "%d", ids[i]);
    printf("], \"pieces\": [");
    char buf[1024];
    for (size_t i = 0; i < n; i++) {
        const char *piece = ml_tokenizer_piece(tok, ids[i]);
        size_t need = ml_json_escape(buf, sizeof buf, piece ? piece : "");
        printf("%s%s", i ? ", " : "", need < sizeof buf ? buf : "\"(long piece)\"");
    }
    printf("]");
    if (chat) printf(", \"image_end\": %zu", image_end);
    printf("}\n");
}

int cmd_tokenize(int argc, char **argv) {
    Options o = {.tmpl = ML_TEMPLATE_HF};
    int rc = parse_args(argc, argv, &o);
    if (rc) return rc < 0 ? 0 : rc;
    MlError err = {0};
    char path[4096], *file_text = NULL;
    size_t len;
    if (ml_path_join(path, sizeof path, o.model, "tokenizer.json", &err)) return ml_cli_fail(&err);
    if (o.file) {
        if (ml_file_read(o.file, &file_text, &len, &err)) return ml_cli_fail(&err);
    } else {
        len = strlen(o.text);
    }
    const char *text = o.file ? file_text : o.text;
    MlTokenizer *tok = NULL;
    int32_t *ids = NULL;
    size_t n = 0, image_end = 0;
    rc = ml_tokenizer_load(&tok, path, &err);
    if (!rc && o.chat) {
        int image_id = -1, n_image = 0, has_image = !o.no_image;
        if (has_image) rc = read_image_tokens(o.model, &image_id, &n_image, &err);
        if (!rc && strlen(text) != len)
            rc = ml_error_set(&err, ML_ERR_ARG, "%s: the text holds a NUL byte, which a chat prompt cannot",
                              o.file ? o.file : "--text");
        MlPromptOptions popts = {o.tmpl, o.system, o.drop_space};
        if (!rc) rc = ml_prompt_build(tok, &popts, text, has_image, image_id, n_image, &ids, &n, &image_end, &err);
    } else if (!rc) {
        rc = encode_plain(tok, text, len, o.no_bos ? -1 : ml_tokenizer_bos_id(tok), &ids, &n, &err);
    }
    if (!rc) print_ids(tok, ids, n, o.json, o.chat, image_end);
    free(ids);
    free(file_text);
    ml_tokenizer_free(tok);
    return rc ? ml_cli_fail(&err) : 0;
}
