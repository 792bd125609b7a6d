"""Notebook 02's curation machinery: the noisy pool has the noise it claims, and each filter finds its noise.

Small pools keep this fast; the sentence-embedding tests embed a few hundred short texts (seconds) into a
temporary cache.
"""
from __future__ import annotations

import random

import pytest

from ftlab.lessons import curation as cur
from ftlab.core.data import validate_rows
from ftlab.core.instructions import GROUNDED_TASKS, load_instructions
from ftlab.core.profiles import Profile

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


def test_embeddings_are_cached_per_list_and_never_depend_on_what_came_before(tmp_path, monkeypatch):
    texts = ["a frenzied attack", "How many words are in this sentence?\n\nblock an attack"]
    monkeypatch.setenv("FTLAB_CACHE", str(tmp_path / "cold"))
    cold = cur.embed(texts)
    monkeypatch.setenv("FTLAB_CACHE", str(tmp_path / "warm"))
    cur.embed([texts[0], "another text entirely, of another length than the rest"])  # history of other lists
    first = cur.embed(texts)
    assert cur.embedding_cache_path(texts).exists()
    assert first.tolist() == cold.tolist() == cur.embed(texts).tolist()  # bit for bit, cache or not
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


# --- the experiment machinery of notebook 02 (arms, the comparison loop, summaries) -------------------------


def test_build_arms_gives_four_sets_of_the_asked_size(pool):
    test = load_instructions("test", GROUNDED_TASKS)
    arms, reports = cur.build_arms(pool, test, k=100, embed_sample=300)
    assert tuple(arms) == cur.ARMS and arms["full"] is pool
    assert [len(arms[a]) for a in ("curated", "random", "longest")] == [100, 100, 100]
    assert reports[-1].kept == 100
    stats = {s["arm"]: s for s in cur.arm_stats(arms, test[:200])}
    assert stats["curated"]["clean_share"] > stats["random"]["clean_share"]
    assert stats["longest"]["mean_response_chars"] > stats["random"]["mean_response_chars"]
    assert stats["curated"]["test_leaks"] == 0


def test_every_run_of_the_step_matched_experiment_carries_its_sets_selection_facts(pool, monkeypatch):
    """A stored reference of notebook 02 judges the data claims too: each row holds its arm's clean share and
    test leaks as `arm_stats` measures them, and the curated rows the diversity and decontamination figures."""
    test = load_instructions("test", GROUNDED_TASKS)
    arms, reports = cur.build_arms(pool, test, k=100, embed_sample=300)
    monkeypatch.setattr(cur, "run_arm", lambda profile, arm, rows, test_rows, seed, steps, progress:
                        fake_result(arm, seed, steps, 0.5))
    rows = cur.step_matched(Profile(name="t", model="tiny", description="", seeds=(0,)), arms, test,
                            reports).results()
    stats = {s["arm"]: s for s in cur.arm_stats(arms, test)}
    by_arm = {r["arm"]: r["selection"] for r in rows}
    assert {a: (f["clean_share"], f["test_leaks"]) for a, f in by_arm.items()} == \
        {a: (s["clean_share"], s["test_leaks"]) for a, s in stats.items()}
    assert by_arm["full"]["test_leaks"] >= 1 and by_arm["curated"]["test_leaks"] == 0  # the pool plants test rows
    diversity, decontaminate = reports[-1], next(r for r in reports if r.name == "decontaminate")
    assert by_arm["curated"]["mean_cos_selected"] == diversity.details["mean_cos_selected"] \
        < by_arm["curated"]["mean_cos_candidates"]
    assert (by_arm["curated"]["decontaminate_recall"], by_arm["curated"]["decontaminate_removed"]) == \
        (decontaminate.recall, decontaminate.removed) and decontaminate.removed >= 1
    assert "mean_cos_selected" not in by_arm["random"]


def test_steps_for_epochs():
    assert cur.steps_for_epochs(1000, 1.0, 16) == 63
    assert cur.steps_for_epochs(20_000, 1.0, 16) == 1250
    assert cur.steps_for_epochs(3, 0.1, 16) == 1


def fake_result(arm, seed, steps, accuracy, loss=1.0):
    return {"arm": arm, "seed": seed, "rows": 10, "steps": steps, "epochs": 1.0, "accuracy": accuracy,
            "per_task": {"title": accuracy}, "response_loss": loss, "wall_time_s": 1.0, "card_path": ""}


def test_compare_arms_runs_each_arm_and_seed_once_and_reuses_done(monkeypatch):
    calls = []

    def run_arm(profile, arm, rows, test_rows, seed, steps, progress=True):
        calls.append((arm, seed, steps))
        return fake_result(arm, seed, steps, 0.5)

    monkeypatch.setattr(cur, "run_arm", run_arm)
    arms = {"a": [{}] * 10, "b": [{}] * 200}
    done = [fake_result("a", 0, 5, 0.4)]
    seen = []
    results = cur.compare_arms(None, arms, [], [0, 1], {"a": 5, "b": 7}, done=done, on_result=seen.append)
    assert calls == [("b", 0, 7), ("a", 1, 5), ("b", 1, 7)] and len(seen) == 3
    assert results[0] is done[0] and len(results) == 4
    cur.compare_arms(None, arms, [], [0], 9)  # one budget for every arm
    assert calls[-2:] == [("a", 0, 9), ("b", 0, 9)]


def test_summaries_and_the_spread_rule():
    results = [fake_result("curated", s, 50, a) for s, a in enumerate((0.40, 0.42, 0.44))]
    results += [fake_result("random", s, 50, a, loss=1.2) for s, a in enumerate((0.30, 0.31, 0.32))]
    summary = cur.summarise_arms(results)
    assert summary["curated"]["accuracy"][0] == pytest.approx(0.42)
    assert summary["curated"]["accuracy"][1] == pytest.approx(0.02)
    assert cur.compare(summary["curated"]["accuracy"], summary["random"]["accuracy"]) == "better"
    assert cur.compare(summary["random"]["accuracy"], summary["curated"]["accuracy"]) == "worse"
    assert cur.compare((0.42, 0.02), (0.40, 0.01)) == "tie"
    assert cur.compare(summary["curated"]["response_loss"], summary["random"]["response_loss"],
                       higher_is_better=False) == "better"  # lower loss is better
    table = cur.summary_table(results)
    assert list(table.index) == ["curated", "random"] and table.loc["curated", "accuracy"] == "42.0% ± 2.0%"


def test_epoch_results_missing_says_how_to_make_them():
    with pytest.raises(FileNotFoundError, match="bench/curation_epochs.py"):
        cur.load_epoch_results("no-such-profile")


def test_profiles_size_the_curation_experiment():
    from ftlab.core.profiles import PROFILES

    for p in PROFILES.values():
        assert p.curation_pool_size >= 20_000 and p.curation_k <= p.curation_embed_sample
        assert p.curation_steps > 0 and p.curation_epochs > 0
