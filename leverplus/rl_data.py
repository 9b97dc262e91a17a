"""RL data: candidate pools, candidate pointer sequences, and their VQA scores.

Per query: an explicit candidate pool (the query excluded), candidate sequences from a proposer
(beam search over selector scores, temperature samples, uniform random draws from the real pool),
deduplicated as *ordered* sequences (prompt order matters), each answered by a VLM backend and scored
with the VQA metric, recording `vqa_eval_mode` ("file" or "fallback") on every candidate.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections import Counter
from pathlib import Path

import torch

from leverplus.backends import SimulatedBackend, VLMBackend, VQARequest
from leverplus.data import PointerCandidate, QueryRecord, RLData, write_json_atomic
from leverplus.metrics import vqa_score
from leverplus.world import World


def candidate_pool(embeddings: torch.Tensor, query_id: int, size: int, seed: int = 0,
                   similar_fraction: float = 0.5) -> list[int]:
    """The one pool definition shared by SFT, RL generation, training and evaluation: the most similar
    `similar_fraction` of `size` items and a seeded random rest, never the query itself."""
    rng = random.Random(f"pool:{seed}:{query_id}")
    similarity = embeddings @ embeddings[query_id]
    similarity[query_id] = float("-inf")
    similar = similarity.topk(int(size * similar_fraction)).indices.tolist()
    taken = set(similar) | {query_id}
    rest = [i for i in range(embeddings.shape[0]) if i not in taken]
    return similar + rng.sample(rest, size - len(similar))


def beam_search(scores: torch.Tensor, shot_num: int, num_beams: int) -> list[tuple[list[int], float, float]]:
    """Pointer beam search over stateless step scores: (positions, Σ prob, Σ log-prob), best first."""
    beams: list[tuple[list[int], float, float]] = [([], 0.0, 0.0)]
    for _ in range(shot_num):
        expanded = []
        for positions, prob_sum, logprob in beams:
            logits = scores.clone()
            if positions:
                logits[positions] = -100.0
            log_probs = torch.log_softmax(logits, dim=-1)
            top = log_probs.topk(min(num_beams, len(logits) - len(positions)))
            for value, index in zip(top.values.tolist(), top.indices.tolist()):
                expanded.append((positions + [index], prob_sum + float(torch.exp(torch.tensor(value))), logprob + value))
        beams = sorted(expanded, key=lambda beam: -beam[2])[:num_beams]
    return beams


def sample_sequence(scores: torch.Tensor, shot_num: int, temperature: float, generator: torch.Generator):
    positions, logprob = [], 0.0
    for _ in range(shot_num):
        logits = scores.clone()
        if positions:
            logits[positions] = float("-inf")
        probs = torch.softmax(logits / temperature, dim=-1)
        index = int(torch.multinomial(probs, 1, generator=generator))
        positions.append(index)
        logprob += float(torch.log(probs[index] + 1e-8))
    return positions, logprob


def propose(scores: torch.Tensor, shot_num: int, rng: random.Random, generator: torch.Generator, num_beams: int = 5,
            temperatures: tuple[float, ...] = (1.0, 1.3), samples_per_temperature: int = 2, num_random: int = 1) -> list[dict]:
    """Candidate sequences as pool positions with provenance; ordered duplicates keep the first."""
    proposals = []
    for rank, (positions, prob_sum, logprob) in enumerate(beam_search(scores, shot_num, num_beams)):
        proposals.append({"positions": positions, "gen_method": "beam", "beam_rank": rank, "beam_score": prob_sum,
                          "logprob_score": logprob})
    for temperature in temperatures:
        for _ in range(samples_per_temperature):
            positions, logprob = sample_sequence(scores, shot_num, temperature, generator)
            proposals.append({"positions": positions, "gen_method": "sample", "temperature": temperature,
                              "logprob_score": logprob})
    for _ in range(num_random):
        proposals.append({"positions": rng.sample(range(len(scores)), shot_num), "gen_method": "random"})
    unique, seen = [], set()
    for proposal in proposals:
        key = tuple(proposal["positions"])
        if key not in seen:
            seen.add(key)
            unique.append(proposal)
    return unique


def info_score(world, query_id: int, pointer: list[int], known: dict | None = None) -> float | None:
    """The InfoScore of a candidate, as the legacy beam file defines it: the gain in the probability of the
    right answer that the last-added demonstration brings (`pointer[0]`: each new demonstration is
    prepended). From `known` (query -> {ordered pointer: score}, read from a legacy beam file) when it
    has the sequence; else, in the simulated world, from the same decoy-blind proxy the legacy beams
    were scored with; else None."""
    if known is not None:
        return known.get(query_id, {}).get(tuple(pointer))
    if hasattr(world, "success_probability"):
        gain = (world.success_probability(query_id, list(pointer), decoys_matter=False)
                - world.success_probability(query_id, list(pointer[1:]), decoys_matter=False))
        return round(gain, 6)
    return None


def info_scores_from_beams(beams: dict) -> dict[int, dict[tuple, float]]:
    """query -> {ordered pointer: InfoScore} from legacy beam records (`id_list[b][:-1]` is the prompt)."""
    return {query_id: {tuple(ids[:-1]): score for ids, score in zip(record.id_list, record.score_list)}
            for query_id, record in beams.items()}


def score_candidates(world, query_id: int, pool: list[int], proposals: list[dict],
                     backend: VLMBackend | None = None, known_info: dict | None = None) -> list[PointerCandidate]:
    """Answer every proposal with the backend (one batch per query) and score it with the VQA metric.
    `world` is the simulated world or a `VQADataset` (items with annotations; `example(id)`)."""
    backend = backend or SimulatedBackend(world)
    query = world.items[query_id]
    pointers = [[pool[p] for p in proposal["positions"]] for proposal in proposals]
    requests = [VQARequest(world.example(query_id, with_answer=False), tuple(world.example(i) for i in pointer))
                for pointer in pointers]
    scored = []
    for proposal, pointer, prediction in zip(proposals, pointers, backend.answer(requests)):
        score = vqa_score(prediction, list(query.annotations) if query.annotations else None, [query.answer])
        scored.append(PointerCandidate(
            pointer=pointer, gen_method=proposal["gen_method"], beam_rank=proposal.get("beam_rank"),
            beam_score=proposal.get("beam_score"), logprob_score=proposal.get("logprob_score"),
            temperature=proposal.get("temperature"), info_score=info_score(world, query_id, pointer, known_info),
            vqa_pred_answer=prediction, vqa_correct=score.correct, vqa_acc_score=score.accuracy,
            vqa_eval_mode=score.mode))
    return scored


def eval_mode_counts(data: RLData) -> Counter:
    return Counter(c.vqa_eval_mode for q in data.queries.values() for c in q.pointer_candidates)


def query_record(world: World, query_id: int, pool_size: int, shot_num: int, seed: int, scorer=None,
                 backend: VLMBackend | None = None, embeddings: torch.Tensor | None = None,
                 known_info: dict | None = None, **proposal_options) -> QueryRecord:
    """One query's RL record: its pool, proposed sequences (scorer: selector scores over the pool; by
    default cosine / 0.1), each answered and scored."""
    embeddings = world.embeddings if embeddings is None else embeddings
    rng = random.Random(f"{seed}:{query_id}")
    generator = torch.Generator().manual_seed(seed * 1_000_003 + query_id)
    pool = candidate_pool(embeddings, query_id, pool_size, seed)
    scores = scorer(query_id, pool) if scorer else (embeddings[pool] @ embeddings[query_id]) / 0.1
    proposals = propose(scores, shot_num, rng, generator, **proposal_options)
    return QueryRecord(candidate_pool=pool,
                       pointer_candidates=score_candidates(world, query_id, pool, proposals, backend, known_info))


def report_eval_modes(data: RLData, log=print) -> None:
    counts = eval_mode_counts(data)
    total = sum(counts.values())
    log(f"scored {total} candidates of {len(data.queries)} queries")
    log(f"  official VQA metric (file): {counts['file']} ({counts['file'] / max(total, 1):.1%})")
    log(f"  fallback string match:      {counts['fallback']} ({counts['fallback'] / max(total, 1):.1%})")


def generation_meta(world, pool_size: int, shot_num: int, seed: int, backend: VLMBackend | None = None,
                    **extra) -> dict:
    source = {"world": world.config.__dict__} if hasattr(world, "config") else {"items": len(world.items)}
    name = "simulated" if backend is None or isinstance(backend, SimulatedBackend) else type(backend).__name__
    if hasattr(backend, "model_path"):
        source["model"] = backend.model_path
    meta = {"generator": "leverplus.rl_data", "backend": name, **source, "pool_size": pool_size,
            "shot_num": shot_num, "seed": seed, **extra}
    return json.loads(json.dumps(meta))  # exactly what a reader of the file gets back (lists, not tuples)


def generate_rl_data(world: World, query_ids: list[int], pool_size: int = 32, shot_num: int = 2, seed: int = 0,
                     scorer=None, log=print, **proposal_options) -> RLData:
    """RL data for `query_ids`, in memory."""
    queries = {q: query_record(world, q, pool_size, shot_num, seed, scorer, **proposal_options) for q in query_ids}
    data = RLData(meta=generation_meta(world, pool_size, shot_num, seed, **proposal_options), queries=queries)
    report_eval_modes(data, log)
    return data


def shard_of(query_ids: list[int], shard: tuple[int, int] | None) -> list[int]:
    if shard is None:
        return list(query_ids)
    index, count = shard
    if not 0 <= index < count:
        raise ValueError(f"shard {index}/{count}: need 0 <= I < N")
    return [q for position, q in enumerate(sorted(query_ids)) if position % count == index]


def queries_fingerprint(query_ids: list[int]) -> dict:
    """How many queries a generation covers and a digest of exactly which: shards of one generation share
    it, so `merge_rl_data` can tell a complete set from a partial or foreign one."""
    ordered = sorted(query_ids)
    digest = hashlib.sha256(",".join(map(str, ordered)).encode("ascii")).hexdigest()
    return {"count": len(ordered), "sha256": digest}


def meta_differences(old: dict, new: dict) -> list[str]:
    keys = sorted(set(old) | set(new))
    return [f"{k}: {json.dumps(old.get(k))[:60]} -> {json.dumps(new.get(k))[:60]}" for k in keys if old.get(k) != new.get(k)]


def _read_partial(partial: Path, meta: dict) -> dict[int, QueryRecord]:
    """The finished queries of an interrupted run. A last line the kill cut (no newline, or not JSON) is
    cut off the file, so the resumed run redoes that query and appends after whole lines only."""
    data = partial.read_bytes()
    done: dict[int, QueryRecord] = {}
    good_end, offset, first = 0, 0, True
    for raw in data.split(b"\n")[:-1]:  # the piece after the last newline is incomplete by definition
        offset += len(raw) + 1
        try:
            entry = json.loads(raw)
        except ValueError:
            break
        if first:
            first = False
            if not isinstance(entry, dict) or "meta" not in entry:
                raise ValueError(f"{partial}: not a leverplus partial file (no _meta line first); delete it to start over")
            if entry["meta"] != meta:
                raise ValueError(f"{partial}: started with other settings ({'; '.join(meta_differences(entry['meta'], meta))}); "
                                 f"rerun with the same settings to resume it, or delete it to start over")
        else:
            done[entry["query_id"]] = QueryRecord.model_validate(entry["record"])
        good_end = offset
    if good_end < len(data):
        with open(partial, "r+b") as stream:
            stream.truncate(good_end)
    return done


def generate_to_file(world, query_ids: list[int], output: Path, pool_size: int = 32, shot_num: int = 2,
                     seed: int = 0, scorer=None, shard: tuple[int, int] | None = None, log=print, progress=None,
                     backend: VLMBackend | None = None, embeddings: torch.Tensor | None = None,
                     provenance: dict | None = None, known_info: dict | None = None, **proposal_options) -> RLData:
    """Generate incrementally: each finished query is appended to `<output>.partial.jsonl`, so an
    interrupted run resumes where it stopped; the RL JSON is written atomically at the end.

    `provenance`: what else the data depends on (the proposer's checkpoint digest, the embeddings'),
    recorded in `_meta`; resuming with any other setting or input is refused, naming the difference."""
    if not query_ids:
        raise ValueError("no query to generate (an empty --queries range)")
    output = Path(output)
    partial = output.with_name(output.name + ".partial.jsonl")
    meta = generation_meta(world, pool_size, shot_num, seed, backend, **proposal_options,
                           **(provenance or {}), queries=queries_fingerprint(query_ids),
                           **({"shard": list(shard)} if shard else {}))
    done = _read_partial(partial, meta) if partial.exists() else {}
    if done:
        log(f"resuming: {len(done)} queries already in {partial}")
    todo = [q for q in shard_of(query_ids, shard) if q not in done]
    partial.parent.mkdir(parents=True, exist_ok=True)
    with open(partial, "a", encoding="utf-8") as stream:
        if stream.tell() == 0:
            stream.write(json.dumps({"meta": meta}) + "\n")
        for query_id in todo:
            record = query_record(world, query_id, pool_size, shot_num, seed, scorer, backend, embeddings,
                                  known_info, **proposal_options)
            stream.write(json.dumps({"query_id": query_id, "record": record.model_dump(exclude_none=True)}) + "\n")
            stream.flush()
            done[query_id] = record
            if progress:
                progress()
    data = RLData(meta=meta, queries=dict(sorted(done.items())))
    write_json_atomic(output, data.to_json())
    partial.unlink()
    report_eval_modes(data, log)
    return data


def merge_rl_data(parts: list[RLData], names: list[str] | None = None) -> RLData:
    """Shards of one generation -> one RL JSON, identical to an unsharded run. Refuses, naming the file:
    a file that is not a shard, shards of another generation (any other `_meta` setting), a shard given
    twice, a missing shard, overlapping queries, and a set whose queries do not add up to the generation's."""
    if not parts:
        raise ValueError("nothing to merge")
    names = names or [f"shard file {i + 1}" for i in range(len(parts))]
    for name, part in zip(names, parts):
        if not (isinstance(part.meta.get("shard"), list) and len(part.meta["shard"]) == 2):
            raise ValueError(f"{name}: not a shard (its _meta has no shard: [I, N]; written without --shard?)")
    meta = {k: v for k, v in parts[0].meta.items() if k != "shard"}
    count = parts[0].meta["shard"][1]
    seen: dict[int, str] = {}
    queries: dict[int, QueryRecord] = {}
    for name, part in zip(names, parts):
        other = {k: v for k, v in part.meta.items() if k != "shard"}
        if other != meta:
            raise ValueError(f"{name}: from another generation than {names[0]} "
                             f"({'; '.join(meta_differences(meta, other))})")
        index, total = part.meta["shard"]
        if total != count:
            raise ValueError(f"{name}: shard {index}/{total}, but {names[0]} is one of {count}")
        if index in seen:
            raise ValueError(f"{name}: shard {index}/{count} again (also {seen[index]})")
        seen[index] = name
        overlap = set(queries) & set(part.queries)
        if overlap:
            raise ValueError(f"{name}: query {min(overlap)} is in two shards")
        queries.update(part.queries)
    missing = sorted(set(range(count)) - set(seen))
    if missing:
        raise ValueError(f"missing shard(s) {', '.join(f'{i}/{count}' for i in missing)} "
                         f"(given: {', '.join(f'{i}/{count}' for i in sorted(seen))})")
    expected = meta.get("queries")
    if expected is not None and queries_fingerprint(list(queries)) != expected:
        raise ValueError(f"the shards hold {len(queries)} queries, the generation {expected['count']}: "
                         f"a shard is incomplete or was edited")
    return RLData(meta=meta, queries=dict(sorted(queries.items())))


def legacy_beams(world: World, query_ids: list[int], pool_size: int = 32, shot_num: int = 2, seed: int = 0,
                 beam_size: int = 5) -> dict:
    """Legacy beam JSON (`id_list` / `score_list`) from a beam search over a proxy of the world's success
    probability that does not see decoys — the simulated stand-in for InfoScore, which the research code
    measured with another model: `id_list[b] = [icd_S, ..., icd_1, query]`, so `id_list[b][:-1]` is the
    prompt order."""
    document = {}
    for query_id in query_ids:
        pool = candidate_pool(world.embeddings, query_id, pool_size, seed)
        beams: list[tuple[list[int], float]] = [([], 0.0)]
        for _ in range(shot_num):
            expanded = [(seq + [item], world.success_probability(query_id, seq + [item], decoys_matter=False))
                        for seq, _ in beams for item in pool if item not in seq]
            beams = sorted(expanded, key=lambda beam: (-beam[1], beam[0]))[:beam_size]
        document[str(query_id)] = {"id_list": [seq + [query_id] for seq, _ in beams],
                                   "score_list": [round(score, 6) for _, score in beams]}
    return document
