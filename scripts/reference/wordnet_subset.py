#!/usr/bin/env python3
"""Cuts the part of WordNet 3.0's noun files that the AMBER tests need (tests/data/amber/wordnet).

Every index.noun entry and noun.exc line that NLTK's morphy (nltk/corpus/reader/wordnet.py,
_morphy) can reach from the given words is kept, so the lemmas of those words are the same with
the subset as with the whole database. Usage:
    wordnet_subset.py /usr/share/wordnet OUT_DIR word...
"""
import os
import sys

RULES = [("s", ""), ("ses", "s"), ("ves", "f"), ("xes", "x"), ("zes", "z"),
         ("ches", "ch"), ("shes", "sh"), ("men", "man"), ("ies", "y")]


def entries(path):
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip() and not line.startswith(" "):
                yield line.split()[0], line


def reachable(word, exceptions):
    forms = {word}
    forms.update(exceptions.get(word, []))
    frontier = [word]
    while frontier:
        frontier = [f[: len(f) - len(old)] + new for f in frontier for old, new in RULES if f.endswith(old)]
        forms.update(frontier)
    return forms


def main():
    src, out, words = sys.argv[1], sys.argv[2], sys.argv[3:]
    exc_lines = dict(entries(os.path.join(src, "noun.exc")))
    exceptions = {k: v.split()[1:] for k, v in exc_lines.items()}
    wanted = set()
    for w in words:
        wanted |= reachable(w, exceptions)
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "index.noun"), "w", encoding="utf-8") as f:
        f.writelines(line for lemma, line in entries(os.path.join(src, "index.noun")) if lemma in wanted)
    with open(os.path.join(out, "noun.exc"), "w", encoding="utf-8") as f:
        f.writelines(line for form, line in exc_lines.items() if form in words)


if __name__ == "__main__":
    main()
