#!/usr/bin/env python3
"""Crash test of the run system: SIGKILLs a training child at random instants, resumes it each
time, and checks that the final model.safetensors is byte-identical to an uninterrupted run's.

    python3 Tools/crash_test.py [--kills 50] [--binary .build/release/fluxion] [--seed 0]

Runs two cases with a checkpoint every step (so many kills land inside a checkpoint write): a
flow (realnvp on moons) and a sequence model (lstm on --task chars). A kill "inside a checkpoint
write" is one after which the checkpoint folder holds an `.incomplete-*` folder (killed between
creating the new checkpoint and committing it) or the run folder a half-exported link. Prints one
line per case and exits non-zero on any mismatch."""
import argparse, os, random, shutil, signal, subprocess, sys, tempfile, time

def main():
    p = argparse.ArgumentParser()
    p.add_argument("--kills", type=int, default=50)
    p.add_argument("--binary", default=".build/release/fluxion")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max-delay", type=float, default=0.5, help="longest time a child runs before it is killed (s)")
    a = p.parse_args()
    binary = os.path.abspath(a.binary)
    if not os.path.exists(binary):
        sys.exit(f"{binary}: not built (swift build -c release)")
    rng = random.Random(a.seed)
    work = tempfile.mkdtemp(prefix="fluxion-crash-")
    text = os.path.join(work, "text.txt")
    words = "the quick brown fox jumps over the lazy dog while seven wizards quietly hex".split()
    with open(text, "w") as f:
        f.write(" ".join(rng.choice(words) for _ in range(4000)))
    cases = [
        ("realnvp", ["realnvp", "--data", "moons", "--steps", "1500", "--set", "hidden=128", "--batch-size", "64"]),
        ("lstm", ["lstm", "--task", "chars", "--text", text, "--length", "16", "--steps", "1500", "--batch-size", "8",
                  "--state-size", "32", "--width", "16"]),
    ]
    failed = False
    env = dict(os.environ, FLUXION_THREADS="1")
    for name, args in cases:
        common = ["--checkpoint-every", "1", "--no-pictures", "--threads", "1"]
        ref = os.path.join(work, name + "-ref")
        subprocess.run([binary, "train", *args, *common, "--out", ref], check=True, env=env,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        victim = os.path.join(work, name + "-victim")
        kills = inside = resumes = 0
        command = [binary, "train", *args, *common, "--out", victim]
        while True:
            child = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            if kills < a.kills:
                time.sleep(rng.uniform(0.02, a.max_delay))
            if kills < a.kills and child.poll() is None:
                child.send_signal(signal.SIGKILL)
                child.wait()
                kills += 1
                checkpoints = os.path.join(victim, "checkpoints")
                leftovers = [n for n in (os.listdir(checkpoints) if os.path.isdir(checkpoints) else []) if n.startswith(".incomplete-")]
                leftovers += [n for n in (os.listdir(victim) if os.path.isdir(victim) else []) if ".link-" in n or ".tmp-" in n]
                inside += bool(leftovers)
            else:
                _, err = child.communicate()
                if child.returncode != 0:
                    print(f"{name}: resumed child failed with exit code {child.returncode}: {err.decode()[-500:]}")
                    failed = True
                    break
                with open(os.path.join(ref, "model.safetensors"), "rb") as f1, open(os.path.join(victim, "model.safetensors"), "rb") as f2:
                    same = f1.read() == f2.read()
                print(f"{name}: {kills} kills ({inside} inside a checkpoint write), {resumes} resumes; "
                      f"final model.safetensors {'byte-identical to' if same else 'DIFFERS from'} the uninterrupted run's")
                failed |= not same
                break
            if os.path.exists(os.path.join(victim, "config.json")):
                command = [binary, "train", "--resume", victim, "--no-pictures", "--threads", "1"]
                resumes += 1
            else:
                shutil.rmtree(victim, ignore_errors=True)   # killed before the run folder existed
    shutil.rmtree(work, ignore_errors=True)
    sys.exit(1 if failed else 0)

if __name__ == "__main__":
    main()
