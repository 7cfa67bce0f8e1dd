#!/usr/bin/env bash
# shard.sh: runs that outgrow one process.  `eval --shard I/N` + `merge` and `mpirun -np 3` give the answers and
# summary of a one-process run (apart from timing); a run killed with kill -9 resumes in another shape (other N)
# with nothing lost or answered twice; one writer per run directory (a second one is refused naming the pid, and
# kill -9 frees the lock); merging unfinished shards names them; ranks running different commands are refused;
# `merge --repair` mends a log answered twice by older versions.
. "$(dirname "$0")/../cli_lib.sh"

PY=/usr/bin/python3
T=$ML_TEST_TMP/shard
rm -rf "$T" && mkdir -p "$T" || exit 1
M=$T/tiny
S=$T/scenes
"$ML_BIN" init-model --out "$M" --preset tiny --seed 4 >/dev/null 2>"$T/err" || { fail "init-model: $(cat "$T/err")"; cli_summary shard; exit 1; }
"$ML_BIN" scenes --out "$S" --n 30 --seed 7 --quiet >/dev/null 2>"$T/err" || { fail "scenes: $(cat "$T/err")"; cli_summary shard; exit 1; }

# yes/no and description probes, sampled: per-item seeds must not depend on the shard
run=(eval scenes --questions "$S" --files pope_random,count,describe --method sample --seed 5 --max-tokens-open 24
    --threads 1 --model "$M" --quiet)
untimed() { sed -E 's/"seconds":[-0-9.e+]+,//' "$1"; }
same_summary() { "$PY" -c "
import json, sys
a, b = (json.load(open(f)) for f in sys.argv[1:])
a.pop('seconds_per_item'); b.pop('seconds_per_item')
assert a == b, (a, b)" "$1" "$2"; }
# waits (up to a minute) until the files DIR/GLOB (expanded as they appear) hold at least N lines in all
wait_lines() {
    local n=$1 dir=$2 glob=$3 have
    for _ in $(seq 1 6000); do
        # shellcheck disable=SC2086
        have=$(cd "$dir" 2>/dev/null && cat $glob 2>/dev/null | wc -l)
        [ "${have:-0}" -ge "$n" ] && return 0
        sleep 0.01
    done
    return 1
}

"$ML_BIN" "${run[@]}" --out "$T/whole" >/dev/null 2>"$T/err" || fail "one-process run: $(cat "$T/err")"
total=$(wc -l <"$T/whole/items.jsonl")

# --shard by hand, then merge: the one-process answers, byte for byte apart from "seconds"
for i in 0 1 2; do
    "$ML_BIN" "${run[@]}" --out "$T/hand" --shard $i/3 >"$T/out" 2>"$T/err" || fail "shard $i/3: $(cat "$T/err")"
done
grep -q "shard 2 of 3 done" "$T/out" && [ ! -e "$T/hand/items.jsonl" ] && pass || fail "a shard wrote the joined log"
"$ML_BIN" merge "$T/hand" >/dev/null 2>"$T/err" || fail "merge: $(cat "$T/err")"
[ "$(untimed "$T/whole/items.jsonl")" = "$(untimed "$T/hand/items.jsonl")" ] && pass || fail "--shard + merge differs from one process"
same_summary "$T/whole/summary.json" "$T/hand/summary.json" 2>"$T/err" && pass || fail "--shard summary: $(cat "$T/err")"
ls "$T/hand" | grep -q shard- && fail "merge left the segments" || pass
# items in question order: the probe files in order, each in file order
"$PY" - "$S" "$T/hand/items.jsonl" <<'PY' 2>"$T/err" && pass || fail "question order: $(cat "$T/err")"
import json, sys, os
names = ["pope_random", "count", "describe"]
want = []
for n in names:
    p = os.path.join(sys.argv[1], "probes", n + ".jsonl")
    if os.path.exists(p): want += ["%s/%s" % (n, json.loads(l)["question_id"]) for l in open(p)]
got = [json.loads(l)["question_id"] for l in open(sys.argv[2])]
assert got == want, (got[:5], want[:5])
PY
# the shards are balanced by question count
"$ML_BIN" "${run[@]}" --out "$T/bal" --shard 0/2 >/dev/null 2>&1
"$ML_BIN" "${run[@]}" --out "$T/bal" --shard 1/2 >/dev/null 2>&1
# (greedy, largest image first: the counts differ by at most one image's questions)
a=$(wc -l <"$T/bal/shard-0-of-2.jsonl"); b=$(wc -l <"$T/bal/shard-1-of-2.jsonl")
most=$("$PY" -c "
import json, sys, collections
print(max(collections.Counter(json.loads(l)['image'] for l in open(sys.argv[1])).values()))" "$T/whole/items.jsonl")
[ $((a + b)) -eq "$total" ] && [ $((a - b)) -le "$most" ] && [ $((b - a)) -le "$most" ] && pass || fail "unbalanced shards: $a and $b"

# merging unfinished shards names them and writes nothing
"$ML_BIN" "${run[@]}" --out "$T/part" --shard 0/3 >/dev/null 2>&1
"$ML_BIN" "${run[@]}" --out "$T/part" --shard 2/3 >/dev/null 2>&1
expect_fail "unfinished merge" "questions have no answer.*unfinished shards of 3: 1/3$|unfinished shards of 3: 1/3;" "$ML_BIN" merge "$T/part"
[ ! -e "$T/part/items.jsonl" ] && [ ! -e "$T/part/summary.json" ] && pass || fail "a refused merge wrote files"
expect_fail "merge a non-run" "run.json: not found" "$ML_BIN" merge "$T/nowhere"

# one writer per run directory: a second process is refused, naming the first one's pid
"$ML_BIN" "${run[@]}" --out "$T/busy" >/dev/null 2>&1 &
pid=$!
wait_lines 2 "$T/busy" items.jsonl || fail "the first writer did not start"
expect_fail "second writer" "process $pid is already writing this run" "$ML_BIN" "${run[@]}" --out "$T/busy"
expect_fail "writer of another shape" "process $pid is writing this run directory in another shape" "$ML_BIN" "${run[@]}" --out "$T/busy" --shard 1/2
expect_fail "merge while writing" "process $pid is writing this run directory" "$ML_BIN" merge "$T/busy"
kill -9 $pid 2>/dev/null
wait $pid 2>/dev/null
# the lock died with it: resume as two shards, then as one process (which joins)
"$ML_BIN" "${run[@]}" --out "$T/busy" --shard 1/2 >/dev/null 2>"$T/err" || fail "resume after kill -9: $(cat "$T/err")"
"$ML_BIN" "${run[@]}" --out "$T/busy" >/dev/null 2>"$T/err" || fail "resume as one process: $(cat "$T/err")"
[ "$(untimed "$T/whole/items.jsonl")" = "$(untimed "$T/busy/items.jsonl")" ] && pass || fail "resume across shapes lost or repeated items"
# another command in that directory is refused and changes nothing
before=$(md5sum <"$T/busy/items.jsonl")
expect_fail "other command" "different run \(seed" "$ML_BIN" "${run[@]}" --out "$T/busy" --seed 6 --shard 0/2
[ "$(md5sum <"$T/busy/items.jsonl")" = "$before" ] && [ ! -e "$T/busy/shard-0-of-2.jsonl" ] && pass || fail "a refused writer changed the run"

# --repair: a log an older version wrote twice over (two processes, one --out) keeps each first answer
cp -r "$T/whole" "$T/twice"
head -n 5 "$T/whole/items.jsonl" | sed 's/"text":"/"text":"again /' >>"$T/twice/items.jsonl"
expect_fail "twice-written log" "items.jsonl:$((total + 1)): question_id .* appears twice" "$ML_BIN" merge "$T/twice"
"$ML_BIN" merge --repair "$T/twice" >"$T/out" 2>"$T/err" && grep -q "dropped 5 repeated answers" "$T/out" &&
    [ "$(untimed "$T/whole/items.jsonl")" = "$(untimed "$T/twice/items.jsonl")" ] && pass || fail "repair: $(cat "$T/out" "$T/err")"

# MPI: three ranks on this machine (oversubscribed), as root where CI runs
if ! command -v mpirun >/dev/null; then
    echo "shard.sh: MPI tests skipped: mpirun is not installed (scripts/deps.sh installs openmpi-bin)"
elif ! ldd "$ML_BIN" | grep -q libmpi; then
    echo "shard.sh: MPI tests skipped: $ML_BIN is built without MPI (sanitizer builds leave it out: OpenMPI's own leaks)"
else
    mpi=(mpirun --oversubscribe)
    [ "$(id -u)" -eq 0 ] && mpi+=(--allow-run-as-root)
    "${mpi[@]}" -np 3 "$ML_BIN" "${run[@]}" --out "$T/mpi" >"$T/out" 2>"$T/err" || fail "mpirun -np 3: $(cat "$T/err")"
    [ "$(untimed "$T/whole/items.jsonl")" = "$(untimed "$T/mpi/items.jsonl")" ] && pass || fail "MPI run differs from one process"
    same_summary "$T/whole/summary.json" "$T/mpi/summary.json" 2>"$T/err" && pass || fail "MPI summary: $(cat "$T/err")"
    [ "$(grep -c summary.json "$T/out")" -eq 1 ] && pass || fail "MPI result lines: $(cat "$T/out")"
    # kill -9 one rank once 20 answers are in; the job dies; rerun as 2 ranks: nothing lost, nothing twice
    "${mpi[@]}" -np 3 "$ML_BIN" "${run[@]}" --out "$T/mkill" >/dev/null 2>&1 &
    mpid=$!
    wait_lines 20 "$T/mkill" 'shard-*-of-3.jsonl' || fail "the MPI run did not start"
    rank=$(pgrep -P $mpid -f "misalign eval" | head -n 1)
    [ -n "$rank" ] && kill -9 "$rank"
    wait $mpid 2>/dev/null
    got=$(cat "$T"/mkill/shard-*-of-3.jsonl | wc -l)
    [ "$got" -lt "$total" ] && [ ! -e "$T/mkill/summary.json" ] && pass || fail "the kill came too late ($got of $total)"
    "${mpi[@]}" -np 2 "$ML_BIN" "${run[@]}" --out "$T/mkill" >/dev/null 2>"$T/err" || fail "MPI resume with 2 ranks: $(cat "$T/err")"
    [ "$(untimed "$T/whole/items.jsonl")" = "$(untimed "$T/mkill/items.jsonl")" ] && pass || fail "MPI resume lost or repeated items"
    same_summary "$T/whole/summary.json" "$T/mkill/summary.json" 2>"$T/err" && pass || fail "MPI resume summary: $(cat "$T/err")"
    # ranks that run different commands: one error, nothing written
    "${mpi[@]}" -np 1 "$ML_BIN" "${run[@]}" --out "$T/mixed" : -np 2 "$ML_BIN" "${run[@]}" --out "$T/mixed" --seed 6 \
        >/dev/null 2>"$T/err" && fail "mixed commands ran" || pass
    [ "$(grep -c "misalign: error" "$T/err")" -eq 1 ] && grep -q "MPI rank 1 runs another command than rank 0 (seed: rank 0 has 5, rank 1 6)" "$T/err" &&
        pass || fail "mixed commands error: $(cat "$T/err")"
    [ ! -e "$T/mixed" ] && pass || fail "mixed commands created the run directory"
    # --shard under several ranks is a usage error
    "${mpi[@]}" -np 2 "$ML_BIN" "${run[@]}" --out "$T/both" --shard 0/2 >/dev/null 2>"$T/err" && fail "--shard with MPI ran" || pass
fi
cli_summary shard
