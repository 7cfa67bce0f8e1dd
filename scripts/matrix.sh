#!/usr/bin/env bash
# matrix.sh: the cause x method table (issue 13 item 5), as a user would type it: fresh held-out test scenes,
# every registered method (as `misalign eval --help` lists them) on every shipped organism (models/organism*),
# every probe family and the describe prompts, once with the default prompt and once with each method's
# published prompt suffix, then `misalign report` -> OUT/report.md and OUT/report.html.  `make matrix` runs it.
#
# Resumable: a run whose summary.json exists is skipped, a killed eval resumes at its next item; the scenes are
# kept when OUT/scenes/manifest.json exists (delete OUT for fresh ones).  A method that fails is reported and
# skipped; the script then exits 1 after writing the report of the rest.
#
# Settings (environment): ML_BIN (build/misalign), MATRIX_OUT (runs/matrix), MATRIX_SCENES (80: about 1900
# yes/no probes and 80 descriptions per run), MATRIX_SEED (scene seed, 1313), MATRIX_THREADS (0 = all cores),
# MATRIX_MODELS (space-separated checkpoint folders; default models/organism*, else a tiny random checkpoint),
# MATRIX_METHODS (space-separated; default every registered method).
set -uo pipefail
BIN=${ML_BIN:-build/misalign}
OUT=${MATRIX_OUT:-runs/matrix}
N=${MATRIX_SCENES:-80}
SEED=${MATRIX_SEED:-1313}
THREADS=${MATRIX_THREADS:-0}
start=$(date +%s)
mkdir -p "$OUT/runs" || exit 1

help=$("$BIN" eval --help) || exit 1
# the listing after "methods": a method's name at two spaces' indent, its prompt suffix on a line below it
methods=${MATRIX_METHODS:-$(awk '/^methods/ {on = 1; next} on && /^  [a-z]/ {print $1}' <<<"$help")}
methods=$(tr -s '\n' ' ' <<<"$methods")
# greedy is every comparison's baseline
case " $methods " in *" greedy "*) ;; *) methods="greedy $methods" ;; esac
suffix_of() {
    awk -v m="$1" '/^methods/ {on = 1; next}
        on && /^  [a-z]/ {cur = $1; next}
        on && cur == m && /prompt suffix.*: "/ {s = $0; sub(/^[^"]*"/, "", s); sub(/"[^"]*$/, "", s); print s; exit}' <<<"$help"
}

models=()
if [ -n "${MATRIX_MODELS:-}" ]; then
    read -r -a models <<<"$MATRIX_MODELS"
else
    for d in models/organism*; do [ -f "$d/config.json" ] && models+=("$d"); done
fi
if [ ${#models[@]} -eq 0 ]; then
    models=("$OUT/tiny-random")
    [ -f "$OUT/tiny-random/config.json" ] || "$BIN" init-model --out "$OUT/tiny-random" --preset tiny --seed 1 >/dev/null
    echo "NOTE: no models/organism* checkpoint: a tiny RANDOM model answers; the table shows the pipeline only."
fi

if [ ! -f "$OUT/scenes/manifest.json" ]; then
    echo "== scenes: $N fresh test scenes (seed $SEED) in $OUT/scenes"
    "$BIN" scenes --out "$OUT/scenes" --n "$N" --seed "$SEED" --split test --quiet >/dev/null || exit 1
fi

# The runs: (model, method, suffix).  Default prompt: every method.  Suffix column: every method with a
# published suffix, given literally (the text its --help shows), and greedy with that same suffix as its
# paired baseline.
jobs=() suffixed=0
for model in "${models[@]}"; do
    for m in $methods; do jobs+=("$model|$m|"); done
    declare -A seen=()
    for m in $methods; do
        s=$(suffix_of "$m")
        [ -z "$s" ] && continue
        suffixed=1
        [ -z "${seen[$s]:-}" ] && jobs+=("$model|greedy|$s")
        seen[$s]=1
        [ "$m" != greedy ] && jobs+=("$model|$m|$s")
    done
    unset seen
done

[ "$suffixed" = 1 ] ||
    echo "NOTE: no method shows a \"published prompt suffix\" line in \`misalign eval --help\`: only the default-prompt column."
runs=() failed=()
k=0
for job in "${jobs[@]}"; do
    k=$((k + 1))
    IFS='|' read -r model m s <<<"$job"
    tag=default
    [ -n "$s" ] && tag=suffix$(printf '%s' "$s" | cksum | cut -d' ' -f1)
    dir=$OUT/runs/$(basename "$model")/$tag/$m
    t0=$(date +%s)
    if [ -f "$dir/summary.json" ]; then
        echo "[$k/${#jobs[@]}] $(basename "$model") $m ${s:+(suffix \"$s\") }: done before"
        runs+=("$dir")
        continue
    fi
    if "$BIN" eval scenes --model "$model" --questions "$OUT/scenes" --method "$m" --prompt-suffix "$s" --seed 1 \
        --threads "$THREADS" --out "$dir" --quiet >"$OUT/runs/last.log" 2>&1; then
        runs+=("$dir")
        echo "[$k/${#jobs[@]}] $(basename "$model") $m ${s:+(suffix \"$s\") }: $(( $(date +%s) - t0 )) s," \
            "$(( $(date +%s) - start )) s in all"
    else
        failed+=("$(basename "$model") $m${s:+ (suffix)}")
        echo "[$k/${#jobs[@]}] $(basename "$model") $m ${s:+(suffix \"$s\") }: FAILED: $(tail -n 1 "$OUT/runs/last.log")"
    fi
done

title="misalign: cause x method ($N held-out scenes, seed $SEED)"
"$BIN" report "${runs[@]}" --out "$OUT/report.md" --title "$title" || exit 1
"$BIN" report "${runs[@]}" --out "$OUT/report.html" --title "$title" || exit 1
echo "report: $OUT/report.md and $OUT/report.html (${#runs[@]} runs); matrix finished in $(( $(date +%s) - start )) s"
if [ ${#failed[@]} -gt 0 ]; then
    printf 'failed: %s\n' "${failed[@]}"
    exit 1
fi
