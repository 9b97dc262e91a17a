"""A seeded synthetic VQA world for demos, tests and benchmarks (no images, no downloads).

Items have a topic and an answer type (yes/no, number, colour, object); their embeddings are a topic
direction, a weaker answer-type direction, a faint "misleading" signature for decoy items, and noise.
Most questions carry ten annotator answers (the official metric applies: "file" mode); the rest
carry only a reference answer ("fallback" mode). The simulated VLM answers correctly with a
probability that depends on its demonstrations in ways cosine similarity alone does not capture:
matching the query's answer type helps more than matching its topic, and decoy demonstrations —
similar-looking, since their signature is faint — mislead. Everything is a pure function of the seed.
"""

from __future__ import annotations

import hashlib
import math
import random
from dataclasses import dataclass, field

import torch

ANSWER_TYPES = {
    "yes/no": ["yes", "no"],
    "number": ["1", "2", "3", "4", "5", "6"],
    "color": ["red", "blue", "green", "white", "black", "yellow"],
    "object": ["dog", "cat", "car", "pizza", "surfboard", "umbrella", "kite", "train"],
}
TYPE_NAMES = list(ANSWER_TYPES)


@dataclass(frozen=True)
class WorldConfig:
    num_items: int = 600
    num_topics: int = 10
    dim: int = 64
    topic_scale: float = 1.0
    type_scale: float = 0.45
    decoy_scale: float = 0.35
    noise: float = 0.45
    annotated_fraction: float = 0.8
    decoy_fraction: float = 0.2
    base_logit: float = -1.2
    type_match_weight: float = 1.6
    topic_match_weight: float = 0.5
    decoy_weight: float = -2.2
    seed: int = 0


@dataclass(frozen=True)
class Item:
    id: int
    topic: int
    answer_type: str
    question: str
    answer: str
    annotations: tuple[str, ...] | None  # ten annotator answers, or None (fallback mode)
    decoy: bool


@dataclass
class World:
    config: WorldConfig
    items: list[Item] = field(default_factory=list)
    embeddings: torch.Tensor | None = None

    @classmethod
    def build(cls, config: WorldConfig = WorldConfig()) -> "World":
        rng = random.Random(config.seed)
        generator = torch.Generator().manual_seed(config.seed)
        topics = torch.nn.functional.normalize(torch.randn(config.num_topics, config.dim, generator=generator), dim=-1)
        types = torch.nn.functional.normalize(torch.randn(len(TYPE_NAMES), config.dim, generator=generator), dim=-1)
        decoy_direction = torch.nn.functional.normalize(torch.randn(config.dim, generator=generator), dim=0)
        world = cls(config)
        rows = []
        for item_id in range(config.num_items):
            topic = rng.randrange(config.num_topics)
            answer_type = rng.choice(TYPE_NAMES)
            answer = rng.choice(ANSWER_TYPES[answer_type])
            decoy = rng.random() < config.decoy_fraction
            annotations = None
            if rng.random() < config.annotated_fraction:
                alternates = [a for a in ANSWER_TYPES[answer_type] if a != answer]
                agreeing = rng.choice([10, 10, 9, 8, 7, 6, 4])
                annotations = tuple([answer] * agreeing + [rng.choice(alternates) for _ in range(10 - agreeing)])
            question = f"[topic {topic}] {_QUESTION[answer_type]}"
            world.items.append(Item(item_id, topic, answer_type, question, answer, annotations, decoy))
            row = (config.topic_scale * topics[topic] + config.type_scale * types[TYPE_NAMES.index(answer_type)]
                   + (config.decoy_scale * decoy_direction if decoy else 0.0)
                   + config.noise * torch.randn(config.dim, generator=generator) / math.sqrt(config.dim) * 4)
            rows.append(row)
        world.embeddings = torch.nn.functional.normalize(torch.stack(rows), dim=-1)
        return world

    def example(self, item_id: int, with_answer: bool = True):
        from leverplus.backends import Example

        item = self.items[item_id]
        return Example(item_id=item_id, image=None, question=item.question, answer=item.answer if with_answer else None)

    # -- the simulated VLM ---------------------------------------------------------------------
    def success_probability(self, query_id: int, demo_ids: list[int], decoys_matter: bool = True) -> float:
        """P(correct answer). `decoys_matter=False` is the proxy the SFT beams were scored with (like
        InfoScore from another model): it sees answer types and topics but not the decoys."""
        config, query = self.config, self.items[query_id]
        logit = config.base_logit
        for demo_id in demo_ids:
            demo = self.items[demo_id]
            logit += (config.type_match_weight * (demo.answer_type == query.answer_type)
                      + config.topic_match_weight * (demo.topic == query.topic)
                      + config.decoy_weight * demo.decoy * decoys_matter) / max(len(demo_ids), 1) * 1.5
        return 1.0 / (1.0 + math.exp(-logit))

    def answer(self, query_id: int, demo_ids: list[int]) -> str:
        """Deterministic per (seed, query, demonstrations): the same prompt gets the same answer."""
        key = f"{self.config.seed}:{query_id}:{','.join(map(str, demo_ids))}".encode()
        rng = random.Random(int.from_bytes(hashlib.sha256(key).digest()[:8], "big"))
        query = self.items[query_id]
        if rng.random() < self.success_probability(query_id, demo_ids):
            return query.answer if rng.random() < 0.85 else f"the {query.answer}."
        if query.annotations and rng.random() < 0.3:  # a minority annotator's answer: partial credit
            minority = [a for a in query.annotations if a != query.answer]
            if minority:
                return rng.choice(minority)
        wrong_type = rng.choice([t for t in TYPE_NAMES if t != query.answer_type] + [query.answer_type])
        return rng.choice([a for a in ANSWER_TYPES[wrong_type] if a != query.answer] or ["unknown"])


_QUESTION = {
    "yes/no": "Is there something unusual here?",
    "number": "How many are there?",
    "color": "What color is it?",
    "object": "What is this?",
}
