#!/usr/bin/env python3
"""Trims fuzz/corpus/<target>/ to a budget of files (default 40) after `cargo fuzz cmin`.

Keeps every valid seed (`seed-NN-name`, not its `-short`/`-flip-*` copies), then
adds, one at a time, the file that covers the most edges not yet covered (then the
most new libFuzzer features, then the smallest), until the budget is reached or no
file adds anything. Files whose bytes equal a seed's are dropped first. Coverage
comes from the target binary's own merge control file (`-merge=1`).

    cargo fuzz build                     # (RUSTC_BOOTSTRAP=1 on stable)
    cargo fuzz cmin <target>
    SOTTO_REGENERATE_CORPUS=1 cargo test -p sotto-protocol -p sotto-client --test fuzz_corpus
    python3 trim_corpus.py <target> [budget] [--bin PATH]

It deletes files from the corpus directory: run it on a clean git tree.
"""

import argparse
import os
import re
import subprocess
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
VALID_SEED = re.compile(r"^seed-\d\d-.*$")
SEED_COPY = re.compile(r"-(short|flip-start|flip-middle)$")


def read(path):
    with open(path, "rb") as f:
        return f.read()


def coverage(binary, corpus):
    """Runs a libFuzzer merge and returns {path: (edges, features)}."""
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "out")
        control = os.path.join(tmp, "control")
        os.makedirs(out)
        subprocess.run(
            [binary, "-merge=1", f"-merge_control_file={control}", "-rss_limit_mb=2048", out, corpus],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            check=True,
        )
        lines = read(control).decode().split("\n")
    count = int(lines[0])
    files = lines[2 : 2 + count]
    result = {f: (set(), set()) for f in files}
    for line in lines[2 + count :]:
        parts = line.split()
        if parts and parts[0] in ("COV", "FT"):
            edges, features = result[files[int(parts[1])]]
            (edges if parts[0] == "COV" else features).update(map(int, parts[2:]))
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("target")
    parser.add_argument("budget", type=int, nargs="?", default=40)
    parser.add_argument("--bin", help="the fuzz binary (default: cargo fuzz's release build)")
    args = parser.parse_args()
    corpus = os.path.join(HERE, "corpus", args.target)
    binary = args.bin or os.path.join(
        HERE, "target", "x86_64-unknown-linux-gnu", "release", args.target
    )

    seeds = {read(os.path.join(corpus, f)) for f in os.listdir(corpus) if f.startswith("seed-")}
    for f in os.listdir(corpus):
        path = os.path.join(corpus, f)
        if not f.startswith("seed-") and read(path) in seeds:
            os.remove(path)

    cov = coverage(binary, corpus)
    all_edges = set().union(*(e for e, _ in cov.values()))
    kept = [
        p for p in cov if VALID_SEED.match(os.path.basename(p)) and not SEED_COPY.search(p)
    ]
    edges = set().union(*(cov[p][0] for p in kept))
    features = set().union(*(cov[p][1] for p in kept))
    rest = [p for p in cov if p not in kept]
    while len(kept) < args.budget and rest:
        best = max(
            rest,
            key=lambda p: (len(cov[p][0] - edges), len(cov[p][1] - features), -os.path.getsize(p)),
        )
        if not (cov[best][0] - edges or cov[best][1] - features):
            break
        kept.append(best)
        rest.remove(best)
        edges |= cov[best][0]
        features |= cov[best][1]
    for p in rest:
        os.remove(p)
    size = sum(os.path.getsize(p) for p in kept)
    print(f"{args.target}: kept {len(kept)} files ({size} bytes), edges {len(edges)}/{len(all_edges)}")


if __name__ == "__main__":
    main()
