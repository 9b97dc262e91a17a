"""Data files fail with the query and key that are wrong; the dataset maps strictly and filters."""

from __future__ import annotations

import json

import pytest
import torch

from leverplus.data import DataError, load_embeddings, load_rl_data, parse_rl_data, save_embeddings
from leverplus.dataset import RLBeamDatasetWithEmbedding, RLCollate


def candidate(pointer, mode="file", correct=1, acc=1.0, method="beam"):
    return {"pointer": pointer, "gen_method": method, "beam_score": 0.5, "logprob_score": -1.0,
            "vqa_pred_answer": "cat", "vqa_correct": correct, "vqa_acc_score": acc, "vqa_eval_mode": mode}


def document(**queries):
    return {"_meta": {"shot_num": 2}, **queries}


def test_errors_name_the_query_and_the_key(tmp_path):
    bad_mode = document(**{"7": {"candidate_pool": [1, 2, 3], "pointer_candidates": [candidate([1, 2], mode="vqaEval")]}})
    with pytest.raises(DataError, match=r"query 7: pointer_candidates\[0\]\.vqa_eval_mode: Input should be 'file' or 'fallback'"):
        parse_rl_data(bad_mode, "rl.json")
    missing = document(**{"3": {"candidate_pool": [1, 2], "pointer_candidates": [{"pointer": [1, 2]}]}})
    with pytest.raises(DataError, match=r"query 3: pointer_candidates\[0\]\.gen_method: Field required"):
        parse_rl_data(missing)
    outside = document(**{"4": {"candidate_pool": [1, 2], "pointer_candidates": [candidate([1, 9])]}})
    with pytest.raises(DataError, match=r"query 4: .*items \[9\] are not in candidate_pool"):
        parse_rl_data(outside)
    own = document(**{"5": {"candidate_pool": [5, 6], "pointer_candidates": [candidate([5, 6])]}})
    with pytest.raises(DataError, match="query 5: candidate_pool contains the query itself"):
        parse_rl_data(own)
    with pytest.raises(DataError, match="query key 'x'"):
        parse_rl_data({"x": {}})
    broken = tmp_path / "rl.json"
    broken.write_text('{"1": {', encoding="utf-8")
    with pytest.raises(DataError, match=r"rl.json:1:\d+: not JSON"):
        load_rl_data(broken)


def _data(candidates_by_query):
    return parse_rl_data(document(**{str(q): {"candidate_pool": [10, 11, 12, 13], "pointer_candidates": cands}
                                     for q, cands in candidates_by_query.items()}))


EMBEDDINGS = torch.randn(20, 8)


def test_skip_fallback_reward_drops_candidates_and_empty_queries():
    data = _data({1: [candidate([10, 11]), candidate([12, 13], mode="fallback", acc=0.5)],
                  2: [candidate([10, 12], mode="fallback")]})
    kept = RLBeamDatasetWithEmbedding(data, EMBEDDINGS, skip_fallback_reward=False)
    assert [len(s.labels) for s in kept.samples] == [2, 1]
    skipped = RLBeamDatasetWithEmbedding(data, EMBEDDINGS, skip_fallback_reward=True)
    assert [s.query_id for s in skipped.samples] == [1] and skipped.samples[0].labels == [[0, 1]]
    assert skipped.skipped_fallback == 2 and skipped.dropped_queries["no_candidate_left"] == 1


def test_pointers_map_to_pool_positions_and_rewards_keep_raw_values():
    data = _data({1: [candidate([13, 10], correct=1, acc=0.3), candidate([11, 12], correct=0, acc=0.0)]})
    dataset = RLBeamDatasetWithEmbedding(data, EMBEDDINGS)
    assert dataset.samples[0].labels == [[3, 0], [1, 2]]
    batch = RLCollate(EMBEDDINGS)([dataset[0]])
    assert batch.beam_rewards_raw[0].tolist() == pytest.approx([1.3, 0.0])
    assert batch.beam_rewards[0].tolist() == pytest.approx([0.7071, -0.7071], abs=1e-4)
    assert torch.equal(batch.cand_emb[0], EMBEDDINGS[[10, 11, 12, 13]])


def test_filters_and_missing_embedding_rows():
    data = _data({1: [candidate([10, 11], method="random", correct=0, acc=0.0)], 2: [candidate([10, 11])]})
    only_beam = RLBeamDatasetWithEmbedding(data, EMBEDDINGS, filter_gen_methods=["beam"])
    assert [s.query_id for s in only_beam.samples] == [2]
    positive = RLBeamDatasetWithEmbedding(data, EMBEDDINGS, require_positive_query=True)
    assert [s.query_id for s in positive.samples] == [2] and positive.dropped_queries["no_positive"] == 1
    with pytest.raises(KeyError, match="query 1: item ids .* have no embedding row"):
        RLBeamDatasetWithEmbedding(data, torch.randn(12, 8))


def test_collate_pads_many_queries_with_masks():
    data = parse_rl_data(document(**{"1": {"candidate_pool": [10, 11, 12], "pointer_candidates": [candidate([10, 11])]},
                                     "2": {"candidate_pool": [10, 11, 12, 13, 14],
                                           "pointer_candidates": [candidate([10, 11]), candidate([12, 14])]}}))
    dataset = RLBeamDatasetWithEmbedding(data, EMBEDDINGS)
    batch = RLCollate(EMBEDDINGS)([dataset[0], dataset[1]])
    assert batch.cand_mask.tolist() == [[True] * 3 + [False] * 2, [True] * 5]
    assert batch.beam_mask.tolist() == [[True, False], [True, True]]
    assert batch.beam_labels.shape == (2, 2, 2) and batch.beam_rewards[0, 0] == 0.0


def test_embeddings_round_trip_and_validation(tmp_path):
    save_embeddings(tmp_path / "e.pt", EMBEDDINGS)
    assert torch.equal(load_embeddings(tmp_path / "e.pt"), EMBEDDINGS)
    torch.save(torch.randn(3), tmp_path / "bad.pt")
    with pytest.raises(DataError, match="2-D tensor"):
        load_embeddings(tmp_path / "bad.pt")
    (tmp_path / "junk.pt").write_text("not a tensor")
    with pytest.raises(DataError, match="not a tensor file"):
        load_embeddings(tmp_path / "junk.pt")


def test_generated_data_round_trips_through_json(tmp_path, small_data):
    path = tmp_path / "rl.json"
    path.write_text(json.dumps(small_data.to_json()), encoding="utf-8")
    again = load_rl_data(path)
    assert again.queries == small_data.queries
    modes = {c.vqa_eval_mode for q in again.queries.values() for c in q.pointer_candidates}
    assert modes == {"file", "fallback"}
    for query_id, record in again.queries.items():
        assert query_id not in record.candidate_pool
        pointers = [tuple(c.pointer) for c in record.pointer_candidates]
        assert len(pointers) == len(set(pointers)), "ordered duplicates are removed"


def test_strict_mapping_names_the_query_and_the_item_even_without_file_validation():
    from leverplus.data import PointerCandidate, QueryRecord, RLData

    stray = PointerCandidate.model_validate(candidate([10, 19]))
    record = QueryRecord.model_construct(candidate_pool=[10, 11, 12], pointer_candidates=[stray])
    data = RLData.model_construct(meta={}, queries={4: record})
    with pytest.raises(KeyError, match=r"query 4: pointer_candidates\[0\] points at item 19"):
        RLBeamDatasetWithEmbedding(data, EMBEDDINGS, shot_num=2)


def test_generated_candidates_carry_their_info_score(small_world, small_data):
    from leverplus.rl_data import info_score

    candidates = [(q, c) for q, r in small_data.queries.items() for c in r.pointer_candidates]
    assert candidates and all(isinstance(c.info_score, float) for _, c in candidates)
    query_id, candidate = candidates[0]
    gain = (small_world.success_probability(query_id, candidate.pointer, decoys_matter=False)
            - small_world.success_probability(query_id, candidate.pointer[1:], decoys_matter=False))
    assert candidate.info_score == pytest.approx(gain, abs=1e-6)
    assert info_score(object(), query_id, candidate.pointer) is None, "no world, no beam file: no score"


def test_info_scores_come_from_a_legacy_beam_file_when_given(small_world):
    from leverplus.data import LegacyBeamRecord
    from leverplus.rl_data import info_score, info_scores_from_beams, legacy_beams

    beams = {int(k): LegacyBeamRecord.model_validate(v) for k, v in legacy_beams(small_world, range(3), 16, seed=3).items()}
    known = info_scores_from_beams(beams)
    first = beams[0]
    assert info_score(small_world, 0, first.id_list[1][:-1], known) == first.score_list[1]
    assert info_score(small_world, 0, [10**6, 10**6 + 1], known) is None, "a sequence the file lacks has none"


def test_hybrid_refuses_candidates_without_info_score(small_world, small_data):
    document = small_data.to_json()
    first = next(k for k in document if k != "_meta")
    del document[first]["pointer_candidates"][0]["info_score"]
    data = parse_rl_data(document)
    with pytest.raises(ValueError, match=rf"query {first}: pointer_candidates\[0\] has no info_score, which reward_mode hybrid needs"):
        RLBeamDatasetWithEmbedding(data, small_world.embeddings, reward_mode="hybrid")
    RLBeamDatasetWithEmbedding(data, small_world.embeddings, reward_mode="hard_plus_soft")  # other modes need none
    dataset = RLBeamDatasetWithEmbedding(small_data, small_world.embeddings, reward_mode="hybrid")
    assert len(dataset) == len(small_data.queries)


def test_the_trainer_config_reaches_the_legacy_reward(small_world, small_data):
    from leverplus.train import TrainerConfig, build_datasets

    train_set, _ = build_datasets(TrainerConfig(reward_mode="legacy", legacy_beta=1.0, legacy_correctness="pm1"),
                                  small_data, small_world.embeddings)
    rewards = {r for sample in train_set.samples for r in sample.rewards}
    assert rewards == {-1.0, 1.0}, "pm1 correctness with beta 1: every reward is -1 or +1"
