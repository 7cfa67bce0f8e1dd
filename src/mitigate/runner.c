/* runner.c: any method's passes, prefixes, hooks and loop (see runner.h). */
#include "mitigate/runner.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mitigate/noise.h"

#define P ML_LOCKSTEP_MAX_PASSES

/* A prefilled prefix that questions fork. */
typedef struct Prefix {
    int source; /* the features it holds: 0 the clean image, 1 + p pass p's pixels */
    int owner;  /* -1: any pass; p: only pass p (it hooks its prefix) */
    int32_t *ids;
    size_t len;
    MlSession *s;
} Prefix;

struct MlRunner {
    MlMethodRun run;
    MlRunnerOptions o;
    int64_t n_img, pixel_n; /* n_img: rows the current image gave (every pass's image gives as many) */
    int has_image;
    float *pass_pixels;   /* (pixel_n) scratch */
    MlImage decoded;      /* ml_runner_set_decoded's image, kept when a pass transforms it */
    MlAspect aspect;
    char *name;           /* the current image's name (seeds) */
    uint64_t drawn[P];    /* the seed of the image an ML_PASS_DECODED pass holds now, 0: none */
    float *feats[1 + P];  /* [0] the clean image, [1 + p] pass p's pixels; (n_img, hidden) each */
    float *logits[P];
    float *scores;
    int32_t *tokens;      /* a method's own loop writes here when the caller gives no out */
    int64_t tokens_cap;
    int32_t *ids[P];      /* the question's prompts */
    size_t n[P], image_end[P];
    Prefix prefix[P];
    int n_prefix;
};

static const MlMethod *method_of(const MlRunner *r) { return r->run.cfg->method; }

/* The features pass p reads (an index into feats), -1 for none. */
static int pass_source(const MlRunner *r, int p) {
    if (!r->has_image) return -1;
    switch (ml_method_pass(method_of(r), p).image) {
    case ML_PASS_CLEAN:
        return 0;
    case ML_PASS_PIXELS:
    case ML_PASS_DECODED:
        return 1 + p;
    default:
        return -1;
    }
}

static int check_method(const MlMethod *m, MlError *err) {
    if (m->n_passes < 1 || m->n_passes > P)
        return ml_error_set(err, ML_ERR_ARG, "method %s: %d passes (1 to %d allowed)", m->name, m->n_passes, P);
    for (int p = 0; p < m->n_passes; p++) {
        MlPass d = ml_method_pass(m, p);
        if (d.image == ML_PASS_PIXELS && !m->pass_pixels)
            return ml_error_set(err, ML_ERR_ARG, "method %s: pass %d sees other pixels but has no pass_pixels", m->name, p);
        if (d.image == ML_PASS_DECODED && !m->pass_image)
            return ml_error_set(err, ML_ERR_ARG, "method %s: pass %d sees its own image but has no pass_image", m->name,
                                p);
        if (d.prompt == ML_PASS_OWN_PROMPT && !m->pass_prompt)
            return ml_error_set(err, ML_ERR_ARG, "method %s: pass %d asks its own prompt but has no pass_prompt",
                                m->name, p);
    }
    return ML_OK;
}

int ml_runner_new(MlRunner **out, MlLvlm *m, const MlMethodConfig *cfg, const MlRunnerOptions *o, MlError *err) {
    *out = NULL;
    int rc = check_method(cfg->method, err);
    if (rc) return rc;
    MlRunner *r = calloc(1, sizeof *r);
    if (!r) return ml_error_set(err, ML_ERR_NOMEM, "runner: out of memory");
    r->run = (MlMethodRun){.cfg = cfg, .m = m, .n_passes = cfg->method->n_passes};
    r->o = *o;
    r->pixel_n = ml_lvlm_pixel_floats(m);
    const int64_t V = ml_lvlm_vocab(m);
    const size_t feat_n = (size_t)(ml_lvlm_max_image_tokens(m) * ml_lvlm_hidden(m));
    r->scores = malloc(sizeof(float) * (size_t)V);
    int ok = r->scores != NULL;
    for (int p = 0; p < r->run.n_passes && ok; p++) {
        r->logits[p] = malloc(sizeof(float) * (size_t)V);
        ok = r->logits[p] != NULL;
        MlPass d = ml_method_pass(cfg->method, p);
        int src = d.image == ML_PASS_CLEAN ? 0 : d.image == ML_PASS_NO_IMAGE ? -1 : 1 + p;
        if (ok && src >= 0 && !r->feats[src]) ok = (r->feats[src] = malloc(sizeof(float) * feat_n)) != NULL;
        if (ok && d.image != ML_PASS_CLEAN && d.image != ML_PASS_NO_IMAGE && !r->pass_pixels)
            ok = (r->pass_pixels = malloc(sizeof(float) * (size_t)r->pixel_n)) != NULL;
    }
    if (!ok) {
        ml_runner_free(r);
        return ml_error_set(err, ML_ERR_NOMEM, "runner: out of memory");
    }
    if (cfg->method->state_new && (rc = cfg->method->state_new(&r->run, err))) {
        ml_runner_free(r);
        return rc;
    }
    *out = r;
    return ML_OK;
}

static void free_prefixes(MlRunner *r) {
    for (int i = 0; i < r->n_prefix; i++) {
        ml_session_free(r->prefix[i].s);
        free(r->prefix[i].ids);
    }
    r->n_prefix = 0;
}

static void free_prompts(MlRunner *r) {
    for (int p = 0; p < P; p++) {
        free(r->ids[p]);
        r->ids[p] = NULL;
        r->n[p] = r->image_end[p] = 0;
    }
}

void ml_runner_end(MlRunner *r) {
    for (int p = 0; p < r->run.n_passes; p++) {
        ml_session_free(r->run.session[p]);
        r->run.session[p] = NULL;
    }
}

void ml_runner_free(MlRunner *r) {
    if (!r) return;
    ml_runner_end(r);
    free_prefixes(r);
    free_prompts(r);
    if (r->run.state && r->run.cfg->method->state_free) r->run.cfg->method->state_free(&r->run);
    for (int i = 0; i < 1 + P; i++) free(r->feats[i]);
    for (int p = 0; p < P; p++) free(r->logits[p]);
    free(r->pass_pixels);
    ml_image_free(&r->decoded);
    free(r->name);
    free(r->scores);
    free(r->tokens);
    free(r);
}

int ml_runner_set_image(MlRunner *r, const float *pixels, const char *name, MlError *err) {
    ml_runner_end(r);
    free_prefixes(r);
    ml_image_free(&r->decoded);
    memset(r->drawn, 0, sizeof r->drawn);
    free(r->name);
    r->has_image = 0;
    if (!(r->name = strdup(name ? name : ""))) return ml_error_set(err, ML_ERR_NOMEM, "runner: out of memory");
    if (!pixels) return ML_OK;
    const MlMethod *m = method_of(r);
    int rc = ML_OK;
    r->n_img = -1;
    if (r->feats[0])
        rc = ml_lvlm_encode_image(r->run.m, r->feats[0], pixels, ml_method_hooks(&r->run, 0, ML_STEP_IMAGE), &r->n_img,
                                  err);
    for (int p = 0; p < r->run.n_passes && !rc; p++) {
        if (ml_method_pass(m, p).image != ML_PASS_PIXELS) continue;
        char tag[32];
        snprintf(tag, sizeof tag, "pass %d", p);
        uint64_t seed = ml_seed_mix(ml_seed_mix(r->o.seed, tag), name ? name : "");
        int64_t rows = 0;
        if (!(rc = m->pass_pixels(r->run.cfg, p, r->pass_pixels, pixels, r->pixel_n, seed, err)))
            rc = ml_lvlm_encode_image(r->run.m, r->feats[1 + p], r->pass_pixels,
                                      ml_method_hooks(&r->run, p, ML_STEP_IMAGE), &rows, err);
        if (!rc && r->n_img >= 0 && rows != r->n_img)
            rc = ml_error_set(err, ML_ERR_SHAPE, "%s: pass %d's image gave %lld tokens, the image %lld", name ? name : "image",
                              p, (long long)rows, (long long)r->n_img);
        if (!rc) r->n_img = rows;
    }
    r->has_image = !rc;
    return rc;
}

static int has_decoded_pass(const MlMethod *m, int n_passes) {
    for (int p = 0; p < n_passes; p++)
        if (ml_method_pass(m, p).image == ML_PASS_DECODED) return 1;
    return 0;
}

int ml_runner_set_decoded(MlRunner *r, const MlImage *image, MlAspect aspect, const char *name, MlError *err) {
    float *px = malloc(sizeof(float) * (size_t)r->pixel_n);
    if (!px) return ml_error_set(err, ML_ERR_NOMEM, "runner: out of memory");
    int rc = ml_lvlm_preprocess_image(r->run.m, image, aspect, px, err);
    if (rc) ml_error_prefix(err, name ? name : "image");
    else rc = ml_runner_set_image(r, px, name, err);
    free(px);
    if (rc || !has_decoded_pass(method_of(r), r->run.n_passes)) return rc;
    if ((rc = ml_image_alloc(&r->decoded, image->width, image->height, err))) return rc;
    memcpy(r->decoded.rgb, image->rgb, (size_t)image->width * image->height * 3);
    r->aspect = aspect;
    return ML_OK;
}

/* Pass p's own image for this question (ML_PASS_DECODED): drawn, preprocessed and encoded unless it holds it. */
static int draw_pass_image(MlRunner *r, int p, const char *question, MlError *err) {
    const MlMethod *m = method_of(r);
    if (!r->decoded.rgb)
        return ml_error_set(err, ML_ERR_ARG,
                            "method %s transforms the decoded image: give it with ml_runner_set_decoded", m->name);
    char tag[32];
    snprintf(tag, sizeof tag, "pass %d", p);
    uint64_t seed = ml_seed_mix(ml_seed_mix(ml_seed_mix(r->o.seed, tag), r->name), question);
    seed += !seed; /* 0 marks "none" */
    if (r->drawn[p] == seed) return ML_OK;
    r->drawn[p] = 0;
    MlImage out = {0};
    int64_t rows = 0;
    int rc = m->pass_image(r->run.cfg, p, &r->decoded, seed, &out, err);
    if (!rc) rc = ml_lvlm_preprocess_image(r->run.m, &out, r->aspect, r->pass_pixels, err);
    if (!rc) rc = ml_lvlm_encode_image(r->run.m, r->feats[1 + p], r->pass_pixels, NULL, &rows, err);
    ml_image_free(&out);
    if (!rc && r->n_img >= 0 && rows != r->n_img)
        rc = ml_error_set(err, ML_ERR_SHAPE, "%s: pass %d's image gave %lld tokens, the image %lld", r->name, p,
                          (long long)rows, (long long)r->n_img);
    if (!rc) r->drawn[p] = seed, r->n_img = rows;
    return rc;
}

const float *ml_runner_features(const MlRunner *r) { return r->has_image ? r->feats[0] : NULL; }

int64_t ml_runner_image_rows(const MlRunner *r) { return r->has_image ? r->n_img : 0; }

/* Pass p's prompt: the method's system text and question for its own prompt, the run's otherwise. */
static int build_prompt(MlRunner *r, int p, const char *question, MlError *err) {
    const MlMethod *m = method_of(r);
    MlPromptOptions popts = r->o.prompt;
    char *system = NULL, *text = NULL;
    int rc = ML_OK;
    if (r->has_image && ml_method_pass(m, p).image == ML_PASS_DECODED && (rc = draw_pass_image(r, p, question, err)))
        return rc;
    if (ml_method_pass(m, p).prompt == ML_PASS_OWN_PROMPT &&
        (rc = m->pass_prompt(r->run.cfg, p, popts.system, question, &system, &text, err)))
        return rc;
    if (system) popts.system = system;
    const int has_image = pass_source(r, p) >= 0;
    rc = ml_lvlm_prompt(r->run.m, &popts, text ? text : question, has_image ? r->n_img : 0, &r->ids[p], &r->n[p],
                        &r->image_end[p], err);
    free(system);
    free(text);
    if (rc) return rc;
    if (r->o.prefix != ML_PREFIX_ONE_CALL && has_image && r->image_end[p] >= r->n[p])
        return ml_error_set(err, ML_ERR_ARG, "the prompt ends with the image: nothing is asked after it");
    r->run.prompt_len[p] = (int64_t)r->n[p];
    r->run.image_end[p] = (int64_t)r->image_end[p];
    r->run.image_begin[p] = has_image ? r->run.image_end[p] - r->n_img : r->run.image_end[p];
    return ML_OK;
}

int ml_runner_ask(MlRunner *r, const char *question, MlError *err) {
    ml_runner_end(r);
    free_prompts(r);
    int rc = ML_OK;
    for (int p = 0; p < r->run.n_passes && !rc; p++) rc = build_prompt(r, p, question, err);
    return rc;
}

const int32_t *ml_runner_prompt(const MlRunner *r, int pass, size_t *n) {
    *n = r->n[pass];
    return r->ids[pass];
}

const float *ml_runner_logits(const MlRunner *r, int pass) { return r->logits[pass]; }

/* Who may fork pass p's prefix: anyone, unless the pass hooks it. */
static int prefix_owner(MlRunner *r, int p, const MlHooks **hooks) {
    *hooks = ml_method_hooks(&r->run, p, ML_STEP_PREFIX);
    return *hooks ? p : -1;
}

/* Whether pass p's prefix is prefilled with every question: it hooks it, and the method says the hooks read the question. */
static int question_prefix(const MlRunner *r, int p, int owner) {
    return owner >= 0 && (int)((method_of(r)->question_prefix >> p) & 1u);
}

static Prefix *find_prefix(MlRunner *r, int p, int owner) {
    const int src = pass_source(r, p);
    for (int i = 0; i < r->n_prefix; i++) {
        Prefix *x = &r->prefix[i];
        if (x->source == src && x->owner == owner && x->len == r->image_end[p] &&
            !memcmp(x->ids, r->ids[p], sizeof(int32_t) * x->len))
            return x;
    }
    return NULL;
}

int ml_runner_prepare(MlRunner *r, const char *question, MlError *err) {
    ml_runner_end(r); /* the prefixes' forks go first */
    free_prefixes(r);
    int rc = ml_runner_ask(r, question, err);
    for (int p = 0; p < r->run.n_passes && !rc; p++) {
        const int src = pass_source(r, p);
        const MlHooks *hooks;
        const int owner = prefix_owner(r, p, &hooks);
        /* a pass's own image changes with the question, and so does a prefix its hooks read: nothing to share */
        if (src < 0 || ml_method_pass(method_of(r), p).image == ML_PASS_DECODED || question_prefix(r, p, owner) ||
            find_prefix(r, p, owner))
            continue;
        Prefix *x = &r->prefix[r->n_prefix];
        *x = (Prefix){.source = src, .owner = owner, .len = r->image_end[p]};
        if (!(x->ids = malloc(sizeof(int32_t) * x->len))) return ml_error_set(err, ML_ERR_NOMEM, "runner: out of memory");
        memcpy(x->ids, r->ids[p], sizeof(int32_t) * x->len);
        r->n_prefix++;
        if (!(rc = ml_session_new(&x->s, r->run.m, (int64_t)x->len, err)))
            rc = ml_session_prefill(x->s, x->ids, (int64_t)x->len, r->feats[src], r->n_img, hooks, NULL, err);
    }
    return rc;
}

/* Pass p's session after its prompt, with room for `more` tokens. */
static int prefill_pass(MlRunner *r, int p, int64_t more, MlError *err) {
    MlSession **s = &r->run.session[p];
    const int src = pass_source(r, p);
    const float *feats = src >= 0 ? r->feats[src] : NULL;
    const int64_t n_feats = src >= 0 ? r->n_img : 0, n = (int64_t)r->n[p], head = (int64_t)r->image_end[p];
    const MlHooks *prompt_hooks = ml_method_hooks(&r->run, p, ML_STEP_PROMPT);
    const int32_t *ids = r->ids[p];
    int rc;
    if (r->o.prefix == ML_PREFIX_ONE_CALL || head == 0) {
        if ((rc = ml_session_new(s, r->run.m, n + more, err))) return rc;
        return ml_session_prefill(*s, ids, n, feats, n_feats, prompt_hooks, r->logits[p], err);
    }
    const MlHooks *prefix_hooks;
    const int owner = prefix_owner(r, p, &prefix_hooks);
    Prefix *x = r->o.prefix == ML_PREFIX_SHARED && !question_prefix(r, p, owner) ? find_prefix(r, p, owner) : NULL;
    if (x) {
        rc = ml_session_fork(s, x->s, n - head + more, err);
    } else {
        if (!(rc = ml_session_new(s, r->run.m, n + more, err)))
            rc = ml_session_prefill(*s, ids, head, feats, n_feats, prefix_hooks, NULL, err);
    }
    if (!rc) rc = ml_session_prefill(*s, ids + head, n - head, NULL, 0, prompt_hooks, r->logits[p], err);
    return rc;
}

int ml_runner_prefill(MlRunner *r, int64_t max_tokens, MlError *err) {
    ml_runner_end(r);
    if (!r->ids[0]) return ml_error_set(err, ML_ERR_ARG, "runner: nothing asked before the prefill");
    int rc = ML_OK;
    for (int p = 0; p < r->run.n_passes && !rc; p++) rc = prefill_pass(r, p, max_tokens, err);
    return rc;
}

static const MlHooks *step_hooks(void *user, int pass, int64_t step) { return ml_method_hooks(user, pass, step); }

int ml_runner_generate(MlRunner *r, const MlSamplerConfig *sc, int64_t max_tokens, int32_t eos_id, MlTokenFn on_token,
                       void *user, int32_t *out, int64_t *n_out, MlError *err) {
    *n_out = 0;
    if (!r->run.session[0]) return ml_error_set(err, ML_ERR_ARG, "runner: generate needs a prefill first");
    const MlMethod *m = method_of(r);
    MlSampler smp;
    int rc = ml_sampler_init(&smp, sc, (int)ml_lvlm_vocab(r->run.m), err);
    if (rc) return rc;
    if (!m->generate) {
        MlLockstep how = {.combine = m->combine, .combine_user = &r->run, .hooks = m->pass_hooks ? step_hooks : NULL,
                          .hooks_user = &r->run, .on_token = on_token, .token_user = user};
        rc = ml_lockstep_run(r->run.session, r->run.n_passes, r->logits, &how, &smp, max_tokens, eos_id, r->scores, out,
                             n_out, err);
    } else {
        if (!out && max_tokens > r->tokens_cap) {
            int32_t *t = realloc(r->tokens, sizeof(int32_t) * (size_t)max_tokens);
            if (!t) rc = ml_error_set(err, ML_ERR_NOMEM, "runner: out of memory");
            else r->tokens = t, r->tokens_cap = max_tokens;
        }
        int32_t *dst = out ? out : r->tokens;
        if (!rc) rc = m->generate(&r->run, r->logits, r->scores, &smp, max_tokens, eos_id, dst, n_out, err);
        for (int64_t i = 0; !rc && on_token && i < *n_out; i++)
            if (on_token(dst[i], user)) break;
    }
    ml_sampler_free(&smp);
    return rc;
}
