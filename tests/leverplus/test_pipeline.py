"""The data pipeline on small simulated worlds, in-process: pools, RL generation (resume, shards),
SFT, evaluation, and the CLI stages."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from leverplus.cli import app
from leverplus.data import LegacyBeamRecord, load_rl_data
from leverplus.evaluate import bootstrap_ci, evaluate, model_selector, plot, random_selector, similarity_selector
from leverplus.pipeline import selector_scorer
from leverplus.rl_data import candidate_pool, generate_rl_data, generate_to_file, legacy_beams, merge_rl_data
from leverplus.sft import SFTConfig, sft_samples, train_sft

runner = CliRunner()
QUIET = {"log": lambda message: None}


def test_pools_exclude_the_query_and_random_pointers_stay_in_the_pool(small_world, small_data):
    for query_id, record in small_data.queries.items():
        assert query_id not in record.candidate_pool
        assert record.candidate_pool == candidate_pool(small_world.embeddings, query_id, 16, 3)
        for candidate in record.pointer_candidates:
            assert set(candidate.pointer) <= set(record.candidate_pool) and query_id not in candidate.pointer
    methods = {c.gen_method for q in small_data.queries.values() for c in q.pointer_candidates}
    assert methods == {"beam", "sample", "random"}


def test_interrupted_generation_resumes_without_losing_or_repeating_a_query(tmp_path, small_world):
    queries = list(range(20))
    whole = generate_to_file(small_world, queries, tmp_path / "whole.json", 16, seed=3, **QUIET)

    class Crash(Exception):
        pass

    done = []

    def crash_after_seven():
        done.append(1)
        if len(done) == 7:
            raise Crash

    with pytest.raises(Crash):
        generate_to_file(small_world, queries, tmp_path / "rl.json", 16, seed=3, progress=crash_after_seven, **QUIET)
    partial = tmp_path / "rl.json.partial.jsonl"
    assert len(partial.read_text().splitlines()) == 1 + 7 and not (tmp_path / "rl.json").exists()
    with open(partial, "a") as stream:
        stream.write('{"query_id": 7, "rec')  # the line being written when the process died
    counted = []
    resumed = generate_to_file(small_world, queries, tmp_path / "rl.json", 16, seed=3,
                               progress=lambda: counted.append(1), **QUIET)
    assert len(counted) == 13, "only the missing queries are scored"
    assert resumed.to_json() == whole.to_json() == load_rl_data(tmp_path / "rl.json").to_json()
    assert not partial.exists()


def test_shards_merge_into_the_same_file_as_one_run(tmp_path, small_world):
    queries = list(range(15))
    whole = generate_to_file(small_world, queries, tmp_path / "whole.json", 16, seed=3, **QUIET)
    shards = [generate_to_file(small_world, queries, tmp_path / f"s{i}.json", 16, seed=3, shard=(i, 3), **QUIET)
              for i in range(3)]
    assert sorted(len(s.queries) for s in shards) == [5, 5, 5]
    assert merge_rl_data(shards).to_json() == whole.to_json()
    names = [f"s{i}.json" for i in range(3)]
    with pytest.raises(ValueError, match=r"s0.json: shard 0/3 again \(also s0.json\)"):
        merge_rl_data([shards[0], shards[0], shards[1]], ["s0.json", "s0.json", "s1.json"])
    with pytest.raises(ValueError, match=r"missing shard\(s\) 2/3 \(given: 0/3, 1/3\)"):
        merge_rl_data(shards[:2], names[:2])
    with pytest.raises(ValueError, match="s1.json: not a shard"):
        merge_rl_data([shards[0], whole], ["s0.json", "s1.json"])
    other_seed = generate_to_file(small_world, queries, tmp_path / "t1.json", 16, seed=4, shard=(1, 3), **QUIET)
    with pytest.raises(ValueError, match=r"t1.json: from another generation than s0.json \(seed: 3 -> 4\)"):
        merge_rl_data([shards[0], other_seed, shards[2]], ["s0.json", "t1.json", "s2.json"])
    four = generate_to_file(small_world, queries, tmp_path / "f.json", 16, seed=3, shard=(1, 4), **QUIET)
    with pytest.raises(ValueError, match="f.json: shard 1/4, but s0.json is one of 3"):
        merge_rl_data([shards[0], four, shards[2]], ["s0.json", "f.json", "s2.json"])
    trimmed = shards[1].model_copy(update={"queries": dict(list(shards[1].queries.items())[:-1])})
    with pytest.raises(ValueError, match="the shards hold 14 queries, the generation 15"):
        merge_rl_data([shards[0], trimmed, shards[2]], names)


def test_resuming_generation_with_another_proposer_is_refused_naming_the_difference(tmp_path, small_world):
    class Stop(Exception):
        pass

    def stop_after_three(counter=[]):
        counter.append(1)
        if len(counter) == 3:
            raise Stop

    with pytest.raises(Stop):
        generate_to_file(small_world, list(range(10)), tmp_path / "rl.json", 16, seed=3, progress=stop_after_three,
                         provenance={"proposer": {"sft_ckpt_sha256": "a" * 64}}, **QUIET)
    before = (tmp_path / "rl.json.partial.jsonl").read_bytes()
    with pytest.raises(ValueError, match=r"started with other settings \(proposer: .*aaaa.* -> .*bbbb"):
        generate_to_file(small_world, list(range(10)), tmp_path / "rl.json", 16, seed=3,
                         provenance={"proposer": {"sft_ckpt_sha256": "b" * 64}}, **QUIET)
    assert (tmp_path / "rl.json.partial.jsonl").read_bytes() == before, "the refused run changed nothing"


@pytest.mark.parametrize("cut", ["mid-json", "before-newline"])
def test_a_line_cut_by_a_kill_is_dropped_and_redone_not_appended_to(tmp_path, small_world, cut):
    queries = list(range(8))
    whole = generate_to_file(small_world, queries, tmp_path / "whole.json", 16, seed=3, **QUIET)

    class Stop(Exception):
        pass

    def stop_after_four(counter=[]):
        counter.append(1)
        if len(counter) == 4:
            raise Stop

    with pytest.raises(Stop):
        generate_to_file(small_world, queries, tmp_path / "rl.json", 16, seed=3, progress=stop_after_four, **QUIET)
    partial = tmp_path / "rl.json.partial.jsonl"
    lines = partial.read_bytes().split(b"\n")
    last = lines[-2]  # query 3's complete line
    cut_line = last[: len(last) // 2] if cut == "mid-json" else last
    partial.write_bytes(b"\n".join(lines[:-2]) + b"\n" + cut_line)

    class StopAgain(Exception):
        pass

    def stop_after_one(counter=[]):
        counter.append(1)
        if len(counter) == 1:
            raise StopAgain

    with pytest.raises(StopAgain):  # a second interruption: the file must still be whole lines
        generate_to_file(small_world, queries, tmp_path / "rl.json", 16, seed=3, progress=stop_after_one, **QUIET)
    for line in partial.read_bytes().split(b"\n")[:-1]:
        json.loads(line)
    assert partial.read_bytes().endswith(b"\n")
    counted = []
    resumed = generate_to_file(small_world, queries, tmp_path / "rl.json", 16, seed=3,
                               progress=lambda: counted.append(1), **QUIET)
    assert len(counted) == 4, "query 3 (cut) is redone, 0-2 and the one after the cut are kept"
    assert resumed.to_json() == whole.to_json()


def test_sft_maps_beams_to_pool_positions_and_learns(small_world):
    beams = {int(k): LegacyBeamRecord.model_validate(v) for k, v in legacy_beams(small_world, range(30), 16, seed=3).items()}
    samples = sft_samples(beams, small_world.embeddings, 16, 3)
    first = beams[0].id_list[0][:-1]
    assert [samples[0].pool[p] for p in samples[0].labels[0]] == first
    broken = {0: LegacyBeamRecord(id_list=[[199, 0]], score_list=[1.0])}
    outside = 199 not in candidate_pool(small_world.embeddings, 0, 16, 3)
    if outside:
        with pytest.raises(KeyError, match=r"query 0: id_list\[0\] items \[199\] are not in its candidate pool"):
            sft_samples(broken, small_world.embeddings, 16, 3)
    losses = []
    train_sft(samples, small_world.embeddings, SFTConfig(epochs=6, hidden_dim=16, dropout=0.0),
              log=lambda m: losses.append(float(m.rsplit(" ", 1)[-1])))
    assert losses[-1] < losses[0]


def test_generation_from_the_sft_selector(small_world):
    beams = {int(k): LegacyBeamRecord.model_validate(v) for k, v in legacy_beams(small_world, range(20), 16, seed=3).items()}
    model = train_sft(sft_samples(beams, small_world.embeddings, 16, 3), small_world.embeddings,
                      SFTConfig(epochs=2, hidden_dim=16), **QUIET)
    data = generate_rl_data(small_world, list(range(10)), 16, seed=3, scorer=selector_scorer(model, small_world.embeddings),
                            **QUIET)
    beams_of_model = [c for q in data.queries.values() for c in q.pointer_candidates if c.gen_method == "beam"]
    assert beams_of_model and all(c.logprob_score is not None for c in beams_of_model)


def test_evaluation_with_confidence_intervals_and_a_plot(tmp_path, small_world):
    selectors = {"random": random_selector(0), "similarity": similarity_selector(small_world.embeddings)}
    result = evaluate(small_world, list(range(100, 140)), selectors, shots=(1, 2), pool_size=16, bootstrap=200,
                      reference="similarity")
    for name in selectors:
        for shot in ("1", "2"):
            entry = result["accuracy"][name][shot]
            assert entry["ci95"][0] <= entry["mean"] <= entry["ci95"][1]
    assert set(result["paired_difference"]) == {"similarity-random"}
    plot(result, tmp_path / "plot.png")
    assert (tmp_path / "plot.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert bootstrap_ci([1.0] * 10, 100, 0) == (1.0, 1.0)


def test_model_selector_orders_by_score_and_never_repeats(small_world):
    beams = {int(k): LegacyBeamRecord.model_validate(v) for k, v in legacy_beams(small_world, range(10), 16, seed=3).items()}
    model = train_sft(sft_samples(beams, small_world.embeddings, 16, 3), small_world.embeddings,
                      SFTConfig(epochs=1, hidden_dim=16), **QUIET)
    pool = candidate_pool(small_world.embeddings, 150, 16, 3)
    picks = model_selector(model, small_world.embeddings)(150, pool, 4)
    assert len(set(picks)) == 4 and set(picks) <= set(pool)


def test_cli_stages(tmp_path):
    data = tmp_path / "data"
    assert runner.invoke(app, ["make-example-data", "--output-dir", str(data), "--num-items", "150",
                               "--num-queries", "40", "--pool-size", "12"]).exit_code == 0
    sft = runner.invoke(app, ["sft", "--beams", str(data / "sft_beams.json"), "--embeddings", str(data / "embeddings.pt"),
                              "--output", str(tmp_path / "sft.pt"), "--pool-size", "12", "--epochs", "2"])
    assert sft.exit_code == 0, sft.output
    for shard in ("0/2", "1/2"):
        generated = runner.invoke(app, ["generate-rl-data", "--data-dir", str(data), "--sft-ckpt", str(tmp_path / "sft.pt"),
                                        "--output", str(tmp_path / "rl_data.json"), "--queries", "0:20",
                                        "--pool-size", "12", "--shard", shard])
        assert generated.exit_code == 0, generated.output
        assert "official VQA metric (file)" in generated.output
    merged = runner.invoke(app, ["merge-rl-data", str(tmp_path / "rl_data.shard0of2.json"),
                                 str(tmp_path / "rl_data.shard1of2.json"), "--output", str(tmp_path / "rl.json")])
    assert merged.exit_code == 0 and len(load_rl_data(tmp_path / "rl.json").queries) == 20
    evaluated = runner.invoke(app, ["evaluate", "--data-dir", str(data), "--sft-ckpt", str(tmp_path / "sft.pt"),
                                    "--queries", "100:130", "--pool-size", "12", "--bootstrap", "100",
                                    "--output", str(tmp_path / "eval.json")])
    assert evaluated.exit_code == 0, evaluated.output
    result = json.loads((tmp_path / "eval.json").read_text())
    assert set(result["accuracy"]) == {"random", "similarity", "sft"} and (tmp_path / "eval.png").exists()


def test_generate_refuses_a_checkpoint_of_another_model(tmp_path):
    data = tmp_path / "data"
    runner.invoke(app, ["make-example-data", "--output-dir", str(data), "--num-items", "60", "--num-queries", "10",
                        "--pool-size", "8"])
    from leverplus.model import PointerSelector, SelectorConfig, checkpoint_payload
    from leverplus.train import atomic_torch_save

    other = PointerSelector(SelectorConfig(d_model=64, hidden_dim=16, num_layers=2))
    payload = checkpoint_payload(other)
    payload["selector_config"]["num_layers"] = 1  # claims one layer, carries two
    atomic_torch_save(payload, tmp_path / "bad.pt")
    result = runner.invoke(app, ["generate-rl-data", "--data-dir", str(data), "--sft-ckpt", str(tmp_path / "bad.pt"),
                                 "--output", str(tmp_path / "rl.json"), "--queries", "0:5", "--pool-size", "8"])
    assert result.exit_code == 2
    assert "do not belong to this model (unexpected: cross_attn_layers.1" in result.output
