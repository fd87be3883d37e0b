"""The fuzz corpus (tests/data/fuzz/initializers, made by cpp/fuzz/initializers_fuzz_target.cpp under
libFuzzer and tests/fuzz_initializers.py under atheris; see docs/hardening.md, "Fuzzing") replayed through the Python
API: every input either reads (read-only arrays, every byte readable) or raises the package's FormatError."""

from __future__ import annotations

from pathlib import Path

from fuzz_initializers import replay

from ortdiffusion.errors import FormatError

CORPUS = Path(__file__).parent / "data" / "fuzz" / "initializers"


def test_corpus_reads_or_raises_format_error(tmp_path):
    files = sorted(CORPUS.iterdir())
    assert len(files) >= 100, "the regression corpus is missing"
    refused = []
    for file in files:
        try:
            replay(file.read_bytes(), tmp_path)
        except FormatError:
            refused.append(file.name)
    # the seeds (scripts/make_fuzz_seeds.py: valid models of every type, external data, a .lora) must read
    seeds = [f.name for f in files if f.name.startswith("seed-")]
    assert len(seeds) >= 4 and not set(seeds) & set(refused), refused
    assert len(refused) >= len(files) // 2, "the corpus should be mostly malformed inputs"
