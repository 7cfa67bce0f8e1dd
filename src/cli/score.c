/* score.c: `misalign score pope|chair|amber|scenes|hallusionbench`: benchmark scores from answer files, no model. */
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "eval/amber.h"
#include "eval/chair.h"
#include "eval/coco.h"
#include "eval/hallusionbench.h"
#include "eval/pope.h"
#include "eval/scenes.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: misalign score pope|chair|amber|scenes|hallusionbench [options]\n\n"
            "Scores answer files as the benchmarks' reference scripts do (docs/evaluation.md).\n\n"
            "misalign score pope --questions F --answers F [--parser P] [--json]\n"
            "  --questions F      POPE questions: question_id, image, text, label (JSONL or JSON array)\n"
            "  --answers F        answers: LLaVA form {question_id, text} matched by id, or POPE form\n"
            "                     {question, answer} matched by line order; a run's items.jsonl works too\n"
            "  --parser P         official (default; RUCAIBox/POPE evaluate.py = LLaVA), opera, vcd\n\n"
            "misalign score chair --captions F --gt F|--coco-annotations DIR [--synonyms F] [--id-key K] [--caption-key K]\n"
            "                     [--json]\n"
            "  --captions F       captions, e.g. OPERA's log JSONL {image_id, caption}, or a JSON array\n"
            "  --gt F             ground-truth objects {\"<image id>\": [names]} (data/chair/gt_objects_subset.json)\n"
            "  --coco-annotations DIR  instead of --gt: COCO's instances_val2014.json and captions_val2014.json\n"
            "                     (and the train2014 pair if both are there), read as chair.py reads them\n"
            "  --synonyms F       CHAIR synonym list (default data/chair/synonyms.txt; data/ is the repository's\n"
            "                     data folder, found from the binary's place: build/misalign -> data/)\n"
            "  --id-key K         image id field (default image_id)\n"
            "  --caption-key K    caption field (default caption)\n\n"
            "misalign score amber --responses F [--annotations F] [--relation F] [--safe-words F] [--queries F] [--json]\n"
            "  --responses F      [{\"id\", \"response\"}] (JSON array or JSONL)\n"
            "  --annotations F    default data/amber/annotations.json\n"
            "  --relation F       default: relation.json beside the annotations\n"
            "  --safe-words F     default: safe_words.txt beside the annotations\n"
            "  --queries F        an AMBER query file the responses must cover exactly (default: none)\n\n"
            "misalign score scenes --probes DIR --answers F [--parser P] [--json]\n"
            "  --probes DIR       a test split written by `misalign scenes` (DIR/probes/*.jsonl)\n"
            "  --answers F        answers to its probes (LLaVA form {question_id, text}); describe answers are\n"
            "                     scored for object, attribute and relation hallucination\n"
            "  --parser P         yes/no parser as for pope (default official)\n\n"
            "misalign score hallusionbench --answers F [--questions F] [--json]\n"
            "  --answers F        {\"id\": \"VD_illusion_0_0_0\", \"answer\": text} (JSONL or JSON array); the five id\n"
            "                     fields or \"index\" (position in the questions, from 0) may stand for id, and\n"
            "                     model_prediction for answer (the official result file)\n"
            "  --questions F      default data/hallusionbench/HallusionBench.json (in the repository's data/)\n"
            "                     answers are read as yes / no / unclear (docs/evaluation.md), not judged by GPT-4\n\n"
            "  --json             print the scores as one JSON object instead of text\n");
}

/* Python's repr of a float: the shortest text that reads back the same. */
static void print_repr(const char *label, double v) {
    char buf[40];
    if (!isfinite(v)) {
        printf("%s%s\n", label, isnan(v) ? "nan" : v > 0 ? "inf" : "-inf");
        return;
    }
    for (int p = 1; p <= 17; p++) {
        snprintf(buf, sizeof buf, "%.*g", p, v);
        if (strtod(buf, NULL) == v) break;
    }
    /* Python writes integral floats as "1.0" */
    printf("%s%s%s\n", label, buf, strpbrk(buf, ".en") ? "" : ".0");
}

static void print_json(cJSON *o) {
    char *s = cJSON_Print(o);
    if (s) puts(s);
    free(s);
    cJSON_Delete(o);
}

static void add_num(cJSON *o, const char *k, double v) {
    if (isfinite(v)) cJSON_AddNumberToObject(o, k, v);
    else cJSON_AddNullToObject(o, k);
}

typedef struct Args {
    const char *questions, *answers, *parser, *captions, *gt, *synonyms, *id_key, *caption_key;
    const char *responses, *annotations, *relation, *safe_words, *queries, *probes;
    const char *coco;
    int json;
} Args;

static int parse_args(const char *cmd, int argc, char **argv, Args *a) {
    static const struct {
        const char *flag;
        size_t offset;
    } flags[] = {
        {"--questions", offsetof(Args, questions)},     {"--answers", offsetof(Args, answers)},
        {"--parser", offsetof(Args, parser)},           {"--captions", offsetof(Args, captions)},
        {"--gt", offsetof(Args, gt)},                   {"--synonyms", offsetof(Args, synonyms)},
        {"--id-key", offsetof(Args, id_key)},           {"--caption-key", offsetof(Args, caption_key)},
        {"--responses", offsetof(Args, responses)},     {"--annotations", offsetof(Args, annotations)},
        {"--relation", offsetof(Args, relation)},       {"--safe-words", offsetof(Args, safe_words)},
        {"--queries", offsetof(Args, queries)},         {"--probes", offsetof(Args, probes)},
        {"--coco-annotations", offsetof(Args, coco)},
    };
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--json")) {
            a->json = 1;
            continue;
        }
        size_t f = 0;
        while (f < sizeof flags / sizeof flags[0] && strcmp(argv[i], flags[f].flag)) f++;
        if (f == sizeof flags / sizeof flags[0]) return ml_cli_usage_error(cmd, "unknown option '%s'", argv[i]);
        const char *v = ml_cli_value(cmd, argc, argv, &i);
        if (!v) return 2;
        *(const char **)((char *)a + flags[f].offset) = v;
    }
    return 0;
}

static int need(const char *cmd, const char *flag, const char *v) {
    return v ? 0 : ml_cli_usage_error(cmd, "%s is required", flag);
}

static int parser_of(const char *cmd, const char *name, MlYesNoParser *p) {
    if (ml_yesno_parser_from_name(name ? name : "official", p))
        return ml_cli_usage_error(cmd, "--parser: '%s' is not official, opera or vcd", name);
    return 0;
}

static int score_pope(const Args *a) {
    const char *cmd = "score pope";
    MlYesNoParser parser;
    int rc;
    if ((rc = need(cmd, "--questions", a->questions)) || (rc = need(cmd, "--answers", a->answers)) ||
        (rc = parser_of(cmd, a->parser, &parser)))
        return rc;
    MlError err = {0};
    MlPopeSet qs;
    char **answers = NULL;
    if (ml_pope_questions_load(a->questions, &qs, &err)) return ml_cli_fail(&err);
    if (ml_pope_answers_load(&qs, a->answers, &answers, &err)) {
        ml_pope_questions_free(&qs);
        return ml_cli_fail(&err);
    }
    MlBinaryScore s;
    ml_pope_score(&qs, answers, parser, &s, NULL);
    size_t n = qs.count;
    ml_pope_answers_free(&qs, answers);
    ml_pope_questions_free(&qs);
    if (a->json) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "benchmark", "pope");
        cJSON_AddStringToObject(o, "parser", ml_yesno_parser_name(parser));
        cJSON_AddNumberToObject(o, "n", (double)n);
        ml_binary_add_json(o, &s);
        print_json(o);
        return 0;
    }
    /* the official evaluate.py's output */
    printf("TP\tFP\tTN\tFN\t\n%lld\t%lld\t%lld\t%lld\n", (long long)s.tp, (long long)s.fp, (long long)s.tn,
           (long long)s.fn);
    print_repr("Accuracy: ", s.accuracy);
    print_repr("Precision: ", s.precision);
    print_repr("Recall: ", s.recall);
    print_repr("F1 score: ", s.f1);
    print_repr("Yes ratio: ", s.yes_ratio);
    return 0;
}

static int score_chair(const Args *a) {
    const char *cmd = "score chair";
    int rc;
    if ((rc = need(cmd, "--captions", a->captions))) return rc;
    if (!a->gt == !a->coco) return ml_cli_usage_error(cmd, "give one of --gt F and --coco-annotations DIR");
    char syn_buf[4096];
    MlError err = {0};
    const char *syn = ml_cli_data_file(a->synonyms, "chair/synonyms.txt", "--synonyms", syn_buf, sizeof syn_buf, &err);
    if (!syn) return ml_cli_fail(&err);
    MlChairVocab v;
    MlChairTruth gt;
    MlChairScore s;
    if (ml_chair_vocab_load(syn, &v, &err)) return ml_cli_fail(&err);
    if (a->gt ? ml_chair_truth_load(a->gt, &gt, &err) : ml_coco_truth_load(&v, a->coco, 1, &gt, &err)) {
        ml_chair_vocab_free(&v);
        return ml_cli_fail(&err);
    }
    rc = ml_chair_score_file(&v, &gt, a->captions, a->id_key ? a->id_key : "image_id",
                             a->caption_key ? a->caption_key : "caption", &s, &err);
    ml_chair_truth_free(&gt);
    ml_chair_vocab_free(&v);
    if (rc) return ml_cli_fail(&err);
    if (a->json) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "benchmark", "chair");
        cJSON_AddNumberToObject(o, "captions", (double)s.captions);
        add_num(o, "CHAIRs", s.chair_s);
        add_num(o, "CHAIRi", s.chair_i);
        add_num(o, "Recall", s.recall);
        add_num(o, "Len", s.avg_len);
        cJSON_AddNumberToObject(o, "hallucinated_captions", (double)s.hallucinated_captions);
        cJSON_AddNumberToObject(o, "mentions", (double)s.mentions);
        cJSON_AddNumberToObject(o, "hallucinated_mentions", (double)s.hallucinated_mentions);
        cJSON_AddNumberToObject(o, "gt_objects", (double)s.gt_objects);
        cJSON_AddNumberToObject(o, "recalled_objects", (double)s.recalled_objects);
        print_json(o);
        return 0;
    }
    /* as the reference prints them: x100, one decimal; Len in tokens */
    printf("CHAIRs    : %.1f\nCHAIRi    : %.1f\nRecall    : %.1f\nLen       : %.1f\n", 100 * s.chair_s, 100 * s.chair_i,
           100 * s.recall, s.avg_len);
    return 0;
}

static void disc_json(cJSON *o, const char *name, const MlAmberDisc *d) {
    cJSON *x = cJSON_AddObjectToObject(o, name);
    cJSON_AddNumberToObject(x, "n", (double)d->n);
    add_num(x, "Accuracy", d->accuracy);
    add_num(x, "Precision", d->precision);
    add_num(x, "Recall", d->recall);
    add_num(x, "F1", d->f1);
}

static void disc_text(const char *name, const MlAmberDisc *d) {
    if (!d->n) return;
    printf("%s:\nAccuracy:\t %.1f\nPrecision:\t %.1f\nRecall:\t\t %.1f\nF1:\t\t %.1f\n\n", name, d->accuracy, d->precision,
           d->recall, d->f1);
}

static int score_amber(const Args *a) {
    const char *cmd = "score amber";
    int rc;
    if ((rc = need(cmd, "--responses", a->responses))) return rc;
    char ann_buf[4096];
    MlError err = {0};
    const char *ann = ml_cli_data_file(a->annotations, "amber/annotations.json", "--annotations", ann_buf,
                                       sizeof ann_buf, &err);
    if (!ann) return ml_cli_fail(&err);
    MlAmber amber;
    MlAmberScore s;
    if (ml_amber_load(&amber, ann, a->relation, a->safe_words, &err))
        return ml_cli_fail(&err);
    rc = ml_amber_score_file(&amber, a->responses, a->queries, &s, &err);
    ml_amber_free(&amber);
    if (rc) return ml_cli_fail(&err);
    if (a->json) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "benchmark", "amber");
        cJSON_AddNumberToObject(o, "generative", (double)s.n_generative);
        cJSON_AddNumberToObject(o, "discriminative", (double)s.n_discriminative);
        add_num(o, "CHAIR", s.chair);
        add_num(o, "Cover", s.cover);
        add_num(o, "Hal", s.hal);
        add_num(o, "Cog", s.cog);
        disc_json(o, "overall", &s.overall);
        disc_json(o, "existence", &s.existence);
        disc_json(o, "attribute", &s.attribute);
        disc_json(o, "state", &s.state);
        disc_json(o, "number", &s.number);
        disc_json(o, "action", &s.action);
        disc_json(o, "relation", &s.relation);
        add_num(o, "AMBER", s.amber);
        print_json(o);
        return 0;
    }
    if (s.n_generative)
        printf("Generative Task:\nCHAIR:\t\t %.1f\nCover:\t\t %.1f\nHal:\t\t %.1f\nCog:\t\t %.1f\n\n", s.chair, s.cover, s.hal,
               s.cog);
    disc_text("Discriminative Task", &s.overall);
    disc_text("Existence", &s.existence);
    disc_text("Attribute", &s.attribute);
    disc_text("State", &s.state);
    disc_text("Number", &s.number);
    disc_text("Action", &s.action);
    disc_text("Relation", &s.relation);
    if (isfinite(s.amber)) printf("AMBER score:\t %.1f\n", s.amber);
    return 0;
}

static void yesno_line(const char *name, const MlYesNoTally *t) {
    const MlBinaryScore *b = &t->s;
    double fpw = t->neg_severity > 0 ? t->fp_severity / t->neg_severity : NAN;
    printf("%-18s %6lld %6.1f %6.1f %6.1f %6.1f %6.1f %8.1f\n", name, (long long)(b->tp + b->fp + b->tn + b->fn),
           100 * b->accuracy, 100 * b->precision, 100 * b->recall, 100 * b->f1, 100 * b->yes_ratio, 100 * fpw);
}

static int score_scenes(const Args *a) {
    const char *cmd = "score scenes";
    MlYesNoParser parser;
    int rc;
    if ((rc = need(cmd, "--probes", a->probes)) || (rc = need(cmd, "--answers", a->answers)) ||
        (rc = parser_of(cmd, a->parser, &parser)))
        return rc;
    MlError err = {0};
    MlSceneProbes p;
    MlSceneScore s;
    if (ml_scenes_load(&p, a->probes, &err)) return ml_cli_fail(&err);
    rc = ml_scenes_score(&p, a->answers, parser, &s, &err);
    ml_scenes_free(&p);
    if (rc) return ml_cli_fail(&err);
    if (a->json) {
        cJSON *o = ml_scenes_json(&s);
        if (o) cJSON_AddStringToObject(o, "parser", ml_yesno_parser_name(parser));
        print_json(o);
        return 0;
    }
    printf("%-18s %6s %6s %6s %6s %6s %6s %8s\n", "family / file", "n", "Acc", "P", "R", "F1", "yes%", "FP sev%");
    for (int f = 0; f < ML_N_FAMS; f++)
        if (s.family[f].s.tp + s.family[f].s.fp + s.family[f].s.tn + s.family[f].s.fn)
            yesno_line(ml_scenes_family_name(f), &s.family[f]);
    for (int f = 0; f < ML_SCENES_DESCRIBE; f++)
        if (s.answered[f]) yesno_line(ml_scenes_file_name(f), &s.file[f]);
    if (s.n_kinds) {
        printf("\nnegatives answered yes:");
        for (size_t k = 0; k < s.n_kinds; k++)
            printf(" %s %.1f%% (%zu)", s.kind_name[k], 100.0 * (double)s.kind_yes[k] / (double)s.kind_n[k], s.kind_n[k]);
        printf("\n");
    }
    if (s.answered[ML_SCENES_DESCRIBE]) {
        printf("\ndescribe: %zu descriptions, %.1f%% with a wrong claim\n%-10s %7s %7s %8s %10s\n", s.descriptions,
               100.0 * (double)s.descriptions_wrong / (double)s.descriptions, "claims", "n", "wrong", "wrong%", "sev-wt%");
        for (int k = 0; k < ML_N_CLAIMS; k++) {
            const MlClaimTally *t = &s.claim[k];
            double n = (double)t->claims;
            printf("%-10s %7zu %7zu %8.1f %10.1f\n", ml_scenes_claim_name(k), t->claims, t->errors,
                   n > 0 ? 100 * (double)t->errors / n : NAN, n > 0 ? 100 * t->severity / (2 * n) : NAN);
        }
    }
    return 0;
}

static void hb_part_json(cJSON *o, const MlHallusionPart *p) {
    add_num(o, "qAcc", p->qacc.percent);
    add_num(o, "fAcc", p->facc.percent);
    add_num(o, "aAcc", p->aacc.percent);
    add_num(o, "easy_aAcc", p->easy.percent);
    add_num(o, "hard_aAcc", p->hard.percent);
    cJSON_AddNumberToObject(o, "questions", (double)p->aacc.total);
    cJSON_AddNumberToObject(o, "question_pairs", (double)p->qacc.total);
    cJSON_AddNumberToObject(o, "figures", (double)p->facc.total);
}

static void hb_line(const char *name, const MlHallusionPart *p) {
    printf("%-8s %9.4f %9.4f %9.4f %9.4f %9.4f\n", name, p->qacc.percent, p->facc.percent, p->easy.percent,
           p->hard.percent, p->aacc.percent);
}

static int score_hallusionbench(const Args *a) {
    const char *cmd = "score hallusionbench";
    int rc;
    if ((rc = need(cmd, "--answers", a->answers))) return rc;
    MlError err = {0};
    char q_buf[4096];
    const char *questions = ml_cli_data_file(a->questions, "hallusionbench/HallusionBench.json", "--questions", q_buf,
                                             sizeof q_buf, &err);
    if (!questions) return ml_cli_fail(&err);
    MlHallusionSet set;
    MlHallusionScore s;
    if (ml_hallusionbench_load(questions, &set, &err)) return ml_cli_fail(&err);
    rc = ml_hallusionbench_score_file(&set, a->answers, &s, &err);
    ml_hallusionbench_free(&set);
    if (rc) return ml_cli_fail(&err);
    if (a->json) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "benchmark", "hallusionbench");
        cJSON_AddStringToObject(o, "judge", "yes-no words");
        hb_part_json(o, &s.all);
        cJSON_AddNumberToObject(o, "answered_yes", (double)s.yes);
        cJSON_AddNumberToObject(o, "answered_no", (double)s.no);
        cJSON_AddNumberToObject(o, "unclear", (double)s.unclear);
        hb_part_json(cJSON_AddObjectToObject(o, "VD"), &s.vd);
        hb_part_json(cJSON_AddObjectToObject(o, "VS"), &s.vs);
        print_json(o);
        return 0;
    }
    /* evaluation.py's leaderboard columns, per category too */
    printf("%-8s %9s %9s %9s %9s %9s\n", "", "qAcc", "fAcc", "easy aAcc", "hard aAcc", "aAcc");
    hb_line("VD", &s.vd);
    hb_line("VS", &s.vs);
    hb_line("Overall", &s.all);
    printf("answers read as yes %zu, no %zu, unclear %zu\n", s.yes, s.no, s.unclear);
    return 0;
}

int cmd_score(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    for (int i = 2; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return 0;
        }
    const char *what = argv[1];
    char cmd[64];
    snprintf(cmd, sizeof cmd, "score %.40s", what);
    Args a = {0};
    int rc = parse_args(cmd, argc, argv, &a);
    if (rc) return rc;
    if (!strcmp(what, "pope")) return score_pope(&a);
    if (!strcmp(what, "chair")) return score_chair(&a);
    if (!strcmp(what, "amber")) return score_amber(&a);
    if (!strcmp(what, "scenes")) return score_scenes(&a);
    if (!strcmp(what, "hallusionbench")) return score_hallusionbench(&a);
    return ml_cli_usage_error("score", "unknown benchmark '%s' (pope, chair, amber, scenes, hallusionbench)", what);
}
