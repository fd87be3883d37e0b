"""The fuzz corpus (tests/data/fuzz/initializers, made by cpp/fuzz/initializers_fuzz_target.cpp under
libFuzzer and tests/fuzz_initializers.py under atheris; see README "Fuzzing") replayed through the Python
API: every input either reads (read-only arrays, every byte readable) or raises the package's FormatError."""

from __future__ import annotations

from pathlib import Path

from fuzz_initializers import replay

from ortdiffusion.errors import FormatError

CORPUS = Path(__file__).parent / "data" / "fuzz" / "initializers"


def test_corpus_reads_or_raises_format_error(tmp_path):
    files = sorted(CORPUS.iterdir())
    assert len(files) >= 100, "the regression corpus is missing"
    outcomes = {"read": 0, "refused": 0}
    for file in files:
        try:
            tensors = replay(file.read_bytes(), tmp_path)
        except FormatError:
            outcomes["refused"] += 1
            continue
        outcomes["read"] += 1 if tensors is not None else 0
    # the corpus must exercise both sides, or it no longer tests what it was made for
    assert outcomes["read"] >= 10 and outcomes["refused"] >= 10, outcomes
