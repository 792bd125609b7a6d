"""Notebook 02's curation machinery: the noisy pool has the noise it claims, and each filter finds its noise.

Small pools keep this fast; the sentence-embedding tests embed a few hundred short texts (seconds) into a
temporary cache.
"""
from __future__ import annotations

import random

import pytest

from ftlab import curation as cur
from ftlab.data import validate_rows
from ftlab.instructions import GROUNDED_TASKS, load_instructions

SMALL = 2000


@pytest.fixture(scope="module")
def pool():
    return cur.noisy_pool(GROUNDED_TASKS, size=SMALL, seed=0)


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("FTLAB_CACHE", str(tmp_path / "cache"))


def ids(rows):
    return {r["id"] for r in rows}


def test_default_pool_has_documented_size_and_rates():
    pool = cur.noisy_pool()
    assert len(pool) == cur.DEFAULT_POOL_SIZE >= 20_000
    for line in cur.pool_summary(pool):
        assert abs(line["share"] - line["documented_rate"]) < 1e-4, line
    assert len(ids(pool)) == len(pool)


def test_small_pool_counts_are_exact_and_rows_are_valid_chat(pool):
    counts = cur.noise_counts(pool)
    for kind, rate in cur.NoiseRates().as_dict().items():
        assert counts[kind] == round(rate * SMALL), kind
    assert sum(counts.values()) == SMALL
    validate_rows(pool, "noisy pool")
    assert all(r["answer"] == cur.response_of(r) for r in pool)


def test_pool_is_deterministic_per_seed(pool):
    assert cur.noisy_pool(size=SMALL, seed=0) == pool
    assert ids(cur.noisy_pool(size=SMALL, seed=1)) != ids(pool)


def test_rates_are_configurable_and_checked():
    pool = cur.noisy_pool(size=500, rates=cur.NoiseRates(garbled=0.2, exact_duplicate=0.0))
    assert cur.noise_counts(pool)["garbled"] == 100 and "exact_duplicate" not in cur.noise_counts(pool)
    with pytest.raises(ValueError, match="nothing is left"):
        cur.noisy_pool(size=100, rates=cur.NoiseRates(mismatched=0.99))


def test_each_noise_kind_really_is_that_noise(pool):
    by_id = {r["id"]: r for r in cur.clean_base(GROUNDED_TASKS)}
    for row in pool:
        original = by_id.get(row["noise_of"])
        if row["noise"] == "exact_duplicate":
            assert row["messages"] == original["messages"]
        elif row["noise"] == "near_duplicate":
            assert cur.dedup_key(row) != cur.dedup_key(original) and cur.response_of(row) == original["answer"]
        elif row["noise"] in ("mismatched", "wrong_answer", "truncated"):
            assert cur.prompt_of(row) == cur.prompt_of(original) and row["answer"] != original["answer"]
            assert row["noise"] != "truncated" or original["answer"].startswith(row["answer"])
        elif row["noise"] == "garbled":
            assert cur.junk_share(cur.response_of(row)) > 0 or cur.junk_share(cur.prompt_of(row)) > 0


def test_originals_come_before_their_copies(pool):
    position = {r["id"]: i for i, r in enumerate(pool)}
    copies = [r for r in pool if r["noise"] in cur.DUPLICATE_KINDS]
    assert copies and all(position[r["noise_of"]] < position[r["id"]] for r in copies)


def check_counts(report, rows_in, kept):
    assert report.rows_in == len(rows_in) == report.kept + report.removed
    assert report.kept == len(kept)


def test_exact_dedup_removes_exactly_the_exact_duplicates(pool):
    kept, report = cur.exact_dedup(pool)
    check_counts(report, pool, kept)
    removed = ids(pool) - ids(kept)
    assert removed == {r["id"] for r in pool if r["noise"] == "exact_duplicate"}
    assert report.precision == report.recall == 1.0


# Bars for MinHash: on the default 20k pool near_dedup measured precision 0.97 / recall 0.98 (2026-11-29):
# the misses are near duplicates of very short rows (one typo in a 3-word passage), the false hits clean
# rows the templates make alike. 0.9 leaves room for a smaller pool's noise and fails if shingling, the
# threshold or the LSH banding break (measured on this 2,000-row pool: 0.75 gives precision 1.00 / recall
# 0.97; a 0.5 threshold falls to precision 0.40, a 0.95 one to recall 0.18).
NEAR_DUP_BAR = 0.9


def test_minhash_finds_injected_near_duplicates(pool):
    deduped, _ = cur.exact_dedup(pool)
    kept, report = cur.near_dedup(deduped)
    check_counts(report, deduped, kept)
    removed = [r for r in deduped if r["id"] not in ids(kept)]
    near = [r for r in deduped if r["noise"] == "near_duplicate"]
    recall = sum(r["noise"] == "near_duplicate" for r in removed) / len(near)
    assert recall >= NEAR_DUP_BAR and report.precision >= NEAR_DUP_BAR, (recall, report)


def test_quality_filters_find_their_noise(pool):
    rows, report = cur.length_filter(pool)
    check_counts(report, pool, rows)
    kept, report = cur.garbled_filter(rows)
    check_counts(report, rows, kept)
    assert report.precision >= 0.95 and report.recall >= 0.95, report  # measured 1.00 / 1.00 on 20k
    kept, report = cur.truncation_filter(rows)
    assert report.precision >= 0.7 and report.recall >= 0.6, report  # measured 0.83 / 0.74 on 20k


def test_truncation_signs():
    row = {"messages": [{"role": "user", "content": "Quote it.\n\nx: y; \"the strike lasted more than a month\""},
                        {"role": "assistant", "content": "the strike lasted more tha"}]}
    assert cur.truncation_signs(row) == ["cut_word"]
    row["messages"][1]["content"] = "the strike lasted more than a month"
    assert cur.truncation_signs(row) == []
    row["messages"][1]["content"] = "the strike lasted more than a"
    assert cur.truncation_signs(row) == ["dangling_word"]


def test_contamination_step_removes_a_planted_test_row(pool):
    clean = [r for r in pool if r["noise"] is None]
    test = load_instructions("test", GROUNDED_TASKS)
    planted = dict(random.Random(0).choice(test), noise="contaminated")
    rows = clean[:300] + [planted] + clean[300:600]
    kept, report = cur.decontaminate_pool(rows, test)
    check_counts(report, rows, kept)
    assert ids(rows) - ids(kept) == {planted["id"]}
    assert report.precision == report.recall == 1.0


def auroc(scores: list[float], positive: list[bool]) -> float:
    """Probability that a random positive scores above a random negative (ties count half)."""
    pos = [s for s, p in zip(scores, positive) if p]
    neg = [s for s, p in zip(scores, positive) if not p]
    wins = sum((a > b) + 0.5 * (a == b) for a in pos for b in neg)
    return wins / (len(pos) * len(neg))


def test_relevance_flags_mismatched_pairs_better_than_chance(pool):
    rows = [r for r in pool if r["noise"] is None][:150] + [r for r in pool if r["noise"] == "mismatched"][:50]
    mismatched = [r["noise"] == "mismatched" for r in rows]
    scores = cur.relevance_scores(rows).tolist()
    assert auroc([-s for s in scores], mismatched) > 0.8  # chance is 0.5; measured 0.97 on 3,000 rows
    kept, report = cur.relevance_filter(rows)
    check_counts(report, rows, kept)
    base_rate = sum(mismatched) / len(rows)
    assert report.precision > 2 * base_rate, (report, base_rate)


def test_embeddings_are_cached_by_content(tmp_path):
    texts = ["a frenzied attack", "How many words are in this sentence?\n\nblock an attack"]
    first = cur.embed(texts)
    assert cur.embedding_cache_path().exists()
    again = cur.embed(list(reversed(texts)))
    assert first[0].tolist() == again[1].tolist()
    exact = cur.embed_uncached(texts, bf16=False)
    assert (first * exact).sum(dim=1).min() > 0.99  # bf16 autocast barely moves the embedding
    assert abs(float(first[0].norm()) - 1) < 1e-4


def test_curate_is_deterministic_and_reports_add_up(pool):
    test = load_instructions("test", GROUNDED_TASKS)
    picked, reports = cur.curate(pool, test, k=100, embed_sample=300, seed=0)
    again, _ = cur.curate(pool, test, k=100, embed_sample=300, seed=0)
    assert [r["id"] for r in picked] == [r["id"] for r in again] and len(picked) == 100
    assert reports[0].rows_in == len(pool) and reports[-1].kept == len(picked)
    for before, after in zip(reports, reports[1:]):
        assert before.kept == after.rows_in
    for report in reports:
        assert report.rows_in == report.kept + report.removed
        if report.removed and report.targets:
            assert report.precision is not None
    clean_share = cur.noise_counts(picked).get("clean", 0) / len(picked)
    assert clean_share > cur.NoiseRates().clean + 0.1  # curation leaves much less noise than the pool has
    table = cur.report_table(reports)
    assert list(table.index) == [r.name for r in reports]


def test_baseline_selectors(pool):
    longest = cur.longest_k(pool, 50)
    cut = len(cur.response_of(longest[-1]))
    assert all(len(cur.response_of(r)) <= cut for r in pool if r["id"] not in ids(longest))
    assert cur.random_k(pool, 50, seed=3) == cur.random_k(pool, 50, seed=3) != cur.random_k(pool, 50, seed=4)
