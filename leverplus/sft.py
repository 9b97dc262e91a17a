"""SFT of the selector from the legacy beam JSON: every beam's demonstrations (`id_list[b][:-1]`, in
prompt order) mapped to positions in the query's explicit pool — the same pool RL generation, RL
training and evaluation use — never to `global index mod K` as the research code did."""

from __future__ import annotations

import random
from dataclasses import dataclass

import torch
from torch.utils.data import DataLoader

from leverplus.data import LegacyBeamRecord
from leverplus.dataset import RLCollate, RLSample
from leverplus.model import PointerSelector, SelectorConfig, checkpoint_payload
from leverplus.rl_data import candidate_pool


@dataclass
class SFTConfig:
    epochs: int = 10
    lr: float = 1e-3
    batch_size: int = 64
    pool_size: int = 32
    seed: int = 0
    hidden_dim: int = 256
    num_layers: int = 1
    dropout: float = 0.1
    label_smoothing: float = 0.0
    weight_decay: float = 0.01


def sft_samples(beams: dict[int, LegacyBeamRecord], embeddings: torch.Tensor, pool_size: int, seed: int) -> list[RLSample]:
    samples = []
    for query_id in sorted(beams):
        pool = candidate_pool(embeddings, query_id, pool_size, seed)
        position = {item: index for index, item in enumerate(pool)}
        for beam_index, beam in enumerate(beams[query_id].id_list):
            *demonstrations, last = beam
            if last != query_id:
                raise ValueError(f"query {query_id}: id_list[{beam_index}] must end with the query id, not {last}")
            missing = [item for item in demonstrations if item not in position]
            if missing:
                raise KeyError(f"query {query_id}: id_list[{beam_index}] items {missing} are not in its candidate pool")
            samples.append(RLSample(query_id, pool, [[position[item] for item in demonstrations]], [1.0], [None]))
    return samples


def train_sft(samples: list[RLSample], embeddings: torch.Tensor, config: SFTConfig, log=print,
              progress=None) -> PointerSelector:
    random.seed(config.seed)
    torch.manual_seed(config.seed)
    shot_num = len(samples[0].labels[0])
    model = PointerSelector(SelectorConfig(d_model=embeddings.shape[1], hidden_dim=config.hidden_dim,
                                           num_layers=config.num_layers, dropout=config.dropout,
                                           label_smoothing=config.label_smoothing, shot_num=shot_num))
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    collate = RLCollate(embeddings)
    for epoch in range(config.epochs):
        model.train()
        loader = DataLoader(samples, batch_size=config.batch_size, shuffle=True, collate_fn=collate,
                            generator=torch.Generator().manual_seed(config.seed * 1000 + epoch))
        total = 0.0
        for batch in loader:
            loss = model.sft_loss(batch, batch.beam_labels[:, 0])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            total += loss.item() * len(batch)
            if progress:
                progress()
        log(f"sft epoch {epoch + 1}/{config.epochs}: loss {total / len(samples):.4f}")
    return model


def save_sft(model: PointerSelector, path, config: SFTConfig) -> None:
    from leverplus.train import atomic_torch_save

    atomic_torch_save(checkpoint_payload(model, phase="sft", sft_config=config.__dict__), path)
