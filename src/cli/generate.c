/* generate.c: `misalign generate`, one prompt (and optionally one image) through a model. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "core/json.h"
#include "core/npy.h"
#include "core/progress.h"
#include "decode/sampler.h"
#include "mitigate/runner.h"
#include "model/lvlm.h"
#include "model/prompt.h"

static void help(void) {
    printf("usage: misalign generate --model DIR --prompt TEXT [options]\n\n"
           "Runs a LLaVA checkpoint folder on a prompt (and an image) and streams the answer to stdout.\n\n"
           "  --model DIR              Hugging Face LLaVA folder  [required]\n"
           "  --prompt TEXT            the user's text  [required]\n"
           "  --image FILE             PNG or JPEG; without it the prompt has no image tokens  [none]\n"
           "  --max-tokens N           tokens to generate; 0 runs the prefill only  [256]\n"
           "  --temperature T          0 = greedy  [0]\n"
           "  --top-p P                nucleus sampling, 1 = off  [1]\n"
           "  --top-k K                keep the K best tokens, 0 = off  [0]\n"
           "  --method NAME            decoding method, see below; its parameters replace --temperature,\n"
           "                           --top-p and --top-k  [greedy with those three]\n"
           "  --param K=V              a method parameter, repeatable  [the method's published defaults]\n"
           "  --steer FILE             steering directions for --method vti (misalign steer fit)  [none]\n"
           "  --seed S                 sampling seed  [0]\n"
           "  --template NAME          hf, llava-v1 or raw  [hf]\n"
           "  --system TEXT            system text placed before the user turn  [none]\n"
           "  --image-aspect MODE      resize (llava-hf) or pad (original LLaVA: pad to square)  [resize]\n"
           "  --dump-logits F.npy      float32 [vocab]: logits at the last prompt position after prefill  [none]\n"
           "  --dump-image-features F.npy  float32 [image_tokens, hidden]: projector output  [none]\n"
           "  --json                   print one JSON object instead of streaming: prompt_ids, ids (generated,\n"
           "                           EOS included when it stopped generation), text, image_seconds,\n"
           "                           prefill_seconds, decode_tokens_per_second  [off]\n"
           "  --threads N              worker threads (OpenMP; OpenBLAS runs inside them), 0 = all cores  [0]\n");
    ml_cli_method_help();
}

#define MAX_PARAMS 16

typedef struct Opts {
    MlCliModelOpts mo;
    const char *prompt, *image, *dump_logits, *dump_feats, *method, *steer;
    const char *params[MAX_PARAMS];
    int n_params, sampling_flags;
    long long max_tokens, top_k;
    double temperature, top_p;
    int json;
} Opts;

static const MlCliOption options[] = {
    ML_CLI_S("--prompt", prompt), ML_CLI_S("--image", image), ML_CLI_S("--dump-logits", dump_logits),
    ML_CLI_S("--dump-image-features", dump_feats), ML_CLI_I("--max-tokens", max_tokens, 0, 1 << 30),
    ML_CLI_S("--method", method), ML_CLI_S("--steer", steer), ML_CLI_B("--json", json, 1),
};

/* --param may repeat, and the sampling flags are counted: --method takes
   its sampling through --param instead. */
static int other_option(const char *cmd, int argc, char **argv, int *i, void *opts) {
    Opts *o = opts;
    const char *a = argv[*i];
    const int is_param = !strcmp(a, "--param"), is_top_k = !strcmp(a, "--top-k");
    const int is_temperature = !strcmp(a, "--temperature"), is_top_p = !strcmp(a, "--top-p");
    if (!is_param && !is_top_k && !is_temperature && !is_top_p) return ML_CLI_NOT_MINE;
    const char *v = ml_cli_value(cmd, argc, argv, i);
    if (!v) return 2;
    if (is_param) {
        if (o->n_params == MAX_PARAMS) return ml_cli_usage_error(cmd, "more than %d --param options", MAX_PARAMS);
        o->params[o->n_params++] = v;
        return 0;
    }
    o->sampling_flags++;
    if (is_top_k) return ml_cli_int(cmd, a, v, 0, 1 << 30, &o->top_k) ? 2 : 0;
    if (is_temperature) return ml_cli_float(cmd, a, v, 0, 1e6, &o->temperature) ? 2 : 0;
    return ml_cli_float(cmd, a, v, 0, 1, &o->top_p) ? 2 : 0;
}

static int parse(int argc, char **argv, Opts *o) {
    static const MlCliCommand command = {"generate",   options, ML_CLI_COUNT(options), ML_CLI_SEED | ML_CLI_SYSTEM,
                                         help,         other_option};
    const char *cmd = command.name;
    *o = (Opts){.max_tokens = 256, .top_p = 1.0};
    int rc = ml_cli_parse(&command, argc, argv, 1, o, &o->mo);
    if (rc) return rc;
    if (!o->prompt) return ml_cli_usage_error(cmd, "--prompt TEXT is required");
    if (o->dump_feats && !o->image) return ml_cli_usage_error(cmd, "--dump-image-features needs --image");
    if (o->method && o->sampling_flags)
        return ml_cli_usage_error(cmd, "--method sets sampling through --param temperature=, top_p=, top_k=");
    if (o->n_params && !o->method) return ml_cli_usage_error(cmd, "--param needs --method");
    return 0;
}

/* Streaming: decode everything generated so far and print what is new,
   holding back a trailing U+FFFD (a character whose bytes are still coming). */
typedef struct Stream {
    const MlTokenizer *tok;
    int32_t *ids;
    int64_t n;
    size_t printed;
    char *buf;
    size_t cap;
    int32_t eos;
} Stream;

static size_t stream_decode(Stream *s) {
    size_t need = ml_tokenizer_decode(s->tok, s->ids, (size_t)s->n, 1, s->buf, s->cap);
    if (need + 1 > s->cap) {
        size_t cap = (need + 1) * 2;
        char *b = realloc(s->buf, cap);
        if (!b) return 0;
        s->buf = b;
        s->cap = cap;
        need = ml_tokenizer_decode(s->tok, s->ids, (size_t)s->n, 1, s->buf, s->cap);
    }
    return need;
}

static void stream_flush(Stream *s, int final) {
    size_t len = stream_decode(s);
    if (!final && len >= 3 && !memcmp(s->buf + len - 3, "\xEF\xBF\xBD", 3)) len -= 3;
    if (len > s->printed) {
        fwrite(s->buf + s->printed, 1, len - s->printed, stdout);
        fflush(stdout);
        s->printed = len;
    }
}

static int on_token(int32_t id, void *user) {
    Stream *s = user;
    s->ids[s->n++] = id;
    stream_flush(s, 0);
    return 0;
}

static int collect_token(int32_t id, void *user) {
    Stream *s = user;
    s->ids[s->n++] = id;
    return 0;
}

static int write_npy(const char *path, const float *data, const int64_t *shape, int ndim) {
    MlError err = {0};
    if (ml_npy_write_f32(path, data, shape, ndim, &err)) return ml_cli_fail(&err);
    return 0;
}

static void print_json(const Stream *s, const int32_t *prompt, size_t n_prompt, double t_image, double t_prefill,
                       double tps) {
    printf("{\"prompt_ids\":[");
    for (size_t i = 0; i < n_prompt; i++) printf(i ? ",%d" : "%d", prompt[i]);
    printf("],\"ids\":[");
    for (int64_t i = 0; i < s->n; i++) printf(i ? ",%d" : "%d", s->ids[i]);
    size_t need = ml_json_escape(NULL, 0, s->buf ? s->buf : "");
    char *esc = malloc(need + 1);
    if (esc) ml_json_escape(esc, need + 1, s->buf ? s->buf : "");
    printf("],\"text\":%s,\"image_seconds\":%.6f,\"prefill_seconds\":%.6f,\"decode_tokens_per_second\":%.3f}\n",
           esc ? esc : "\"\"", t_image, t_prefill, tps);
    free(esc);
}

int cmd_generate(int argc, char **argv) {
    Opts o;
    int rc = parse(argc, argv, &o);
    if (rc) return rc < 0 ? 0 : rc;
    MlMethodConfig mc;
    if (ml_cli_method("generate", o.method ? o.method : "greedy", o.params, o.n_params, &mc)) return 2;
    mc.steer = o.steer;
    if (o.steer && !mc.method->reads_steer)
        return ml_cli_usage_error("generate", "--steer: method %s reads no directions (vti does)", mc.method->name);
    MlError err = {0};
    MlLvlm *m = NULL;
    MlRunner *r = NULL;
    MlImage img = {0};
    Stream st = {0};
    int exit_code = 1;
    double t_image = 0, t_prefill = 0, tps = 0;
    if (ml_cli_model_open(&o.mo, &m, &err)) goto fail;
    const int64_t D = ml_lvlm_hidden(m), V = ml_lvlm_vocab(m);
    MlRunnerOptions ro = {.prompt = ml_cli_prompt_options(&o.mo),
                          .seed = (uint64_t)o.mo.seed,
                          .prefix = ML_PREFIX_ONE_CALL};
    if (ml_runner_new(&r, m, &mc, &ro, &err)) goto fail;
    if (o.image) {
        if (ml_image_load(o.image, &img, &err)) goto fail;
        double t0 = ml_time_now();
        if (ml_runner_set_decoded(r, &img, o.mo.aspect, o.image, &err)) goto fail;
        t_image = ml_time_now() - t0;
        if (o.dump_feats &&
            (exit_code = write_npy(o.dump_feats, ml_runner_features(r), (int64_t[]){ml_runner_image_rows(r), D}, 2)))
            goto out;
    }
    if (ml_runner_ask(r, o.prompt, &err)) goto fail;
    size_t n = 0;
    const int32_t *ids = ml_runner_prompt(r, 0, &n);
    const int64_t max_pos = ml_lvlm_context(m);
    if ((int64_t)n > max_pos) {
        ml_error_set(&err, ML_ERR_RANGE, "%s/config.json: the prompt has %zu tokens, more than max_position_embeddings %lld",
                     o.mo.model, n, (long long)max_pos);
        goto fail;
    }
    st.ids = malloc(sizeof(int32_t) * (size_t)(o.max_tokens > 0 ? o.max_tokens : 1));
    st.tok = ml_lvlm_tokenizer(m);
    if (!st.ids) {
        ml_error_set(&err, ML_ERR_NOMEM, "out of memory");
        goto fail;
    }
    double t0 = ml_time_now();
    if (ml_runner_prefill(r, o.max_tokens, &err)) goto fail;
    t_prefill = ml_time_now() - t0;
    if (o.dump_logits && (exit_code = write_npy(o.dump_logits, ml_runner_logits(r, 0), (int64_t[]){V}, 1))) goto out;
    MlSamplerConfig sc = {.temperature = (float)o.temperature, .top_p = (float)o.top_p, .top_k = (int)o.top_k,
                          .seed = (uint64_t)o.mo.seed};
    if (o.method) ml_method_sampler(&mc, (uint64_t)o.mo.seed, &sc);
    int64_t n_out = 0;
    t0 = ml_time_now();
    if (ml_runner_generate(r, &sc, o.max_tokens, ml_lvlm_eos_id(m), o.json ? collect_token : on_token, &st,
                           NULL, &n_out, &err))
        goto fail;
    double t_decode = ml_time_now() - t0;
    tps = n_out > 1 && t_decode > 0 ? (double)(n_out - 1) / t_decode : 0.0;
    if (o.json) {
        stream_decode(&st);
        print_json(&st, ids, n, t_image, t_prefill, tps);
    } else {
        stream_flush(&st, 1);
        if (st.printed) putchar('\n');
    }
    exit_code = 0;
    goto out;
fail:
    exit_code = ml_cli_fail(&err);
out:
    ml_runner_free(r);
    ml_lvlm_close(m);
    ml_image_free(&img);
    free(st.ids);
    free(st.buf);
    return exit_code;
}
