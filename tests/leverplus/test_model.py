"""PointerSelector: sizes, the freeze split, batched losses equal to per-query losses, refusals."""

from __future__ import annotations

import pytest
import torch

from leverplus.dataset import RLBeamDatasetWithEmbedding, RLCollate
from leverplus.model import PointerSelector, SelectorConfig, load_sft_weights, parameter_count


def test_parameter_counts_match_the_reference():
    one = PointerSelector(SelectorConfig(d_model=512, hidden_dim=256, num_layers=1))
    three = PointerSelector(SelectorConfig(d_model=512, hidden_dim=256, num_layers=3))
    assert parameter_count(one.parameters()) == 525_824 and len(one.state_dict()) == 9
    assert parameter_count(three.parameters()) == 1_053_184 and len(three.state_dict()) == 21


def test_backbone_and_head_split():
    model = PointerSelector(SelectorConfig(d_model=512, hidden_dim=256, num_layers=1))
    head = parameter_count(model.head_parameters())
    backbone = parameter_count(model.backbone_parameters())
    assert head == 131_072 and head + backbone == 525_824


def test_select_refuses_more_shots_than_the_pool():
    model = PointerSelector(SelectorConfig(d_model=8, hidden_dim=8, shot_num=4))
    query, cands = torch.randn(1, 8), torch.randn(1, 2, 8)
    with pytest.raises(ValueError, match="larger than the candidate pool"):
        model.select(query, cands, torch.ones(1, 2, dtype=torch.bool))
    picks = model.select(query, torch.randn(1, 5, 8), torch.ones(1, 5, dtype=torch.bool))
    assert len(set(picks[0].tolist())) == 4


def test_step_logits_mask_earlier_choices():
    scores = torch.tensor([[1.0, 2.0, 3.0]])
    logits = PointerSelector.step_logits(scores, torch.tensor([[[2, 0]]]))
    assert logits[0, 0, 0].tolist() == [1.0, 2.0, 3.0]
    assert logits[0, 0, 1].tolist() == [1.0, 2.0, -100.0]


@pytest.fixture()
def batched(small_data, small_world):
    dataset = RLBeamDatasetWithEmbedding(small_data, small_world.embeddings)
    model = PointerSelector(SelectorConfig(d_model=32, hidden_dim=16, shot_num=small_data.shot_num)).eval()
    return model, dataset, RLCollate(small_world.embeddings)


def test_batched_losses_equal_the_mean_of_per_query_losses(batched):
    model, dataset, collate = batched
    samples = [dataset[i] for i in range(12)]
    batch = collate(samples)
    singles = [collate([s]) for s in samples]
    torch.testing.assert_close(model.rce_loss(batch, batch.beam_rewards, 1.3),
                               torch.stack([model.rce_loss(b, b.beam_rewards, 1.3) for b in singles]).mean(),
                               atol=1e-5, rtol=0)
    labels = batch.beam_labels[:, 0]
    torch.testing.assert_close(model.sft_loss(batch, labels),
                               torch.stack([model.sft_loss(b, b.beam_labels[:, 0]) for b in singles]).mean(),
                               atol=1e-5, rtol=0)
    full = model.sequence_log_probs(batch)
    for row, single in enumerate(singles):
        n = int(single.beam_mask.sum())
        torch.testing.assert_close(full[row, :n], model.sequence_log_probs(single)[0, :n], atol=1e-5, rtol=0)


def test_batched_grpo_loss_equals_the_mean_over_queries_of_equal_size(batched):
    model, dataset, collate = batched
    samples = [s for s in (dataset[i] for i in range(len(dataset))) if len(s.labels) == 10][:6]
    assert len(samples) == 6
    batch = collate(samples)
    old = model.sequence_log_probs(batch).detach() + 0.05
    whole = model.grpo_loss(batch, old, top_k=5, kl_beta=0.1)["loss"]
    parts = [model.grpo_loss(collate([s]), old[i:i + 1], top_k=5, kl_beta=0.1)["loss"] for i, s in enumerate(samples)]
    torch.testing.assert_close(whole, torch.stack(parts).mean(), atol=1e-5, rtol=0)


def test_sft_guard_raises_on_a_checkpoint_of_another_model():
    model = PointerSelector(SelectorConfig(d_model=32, hidden_dim=16, num_layers=1))
    legacy = {k.replace("cross_attn_layers.0.", "cross_attn.").replace("attn_norms.0.", "attn_norm."): v
              for k, v in model.state_dict().items()}
    messages = []
    with pytest.raises(RuntimeError, match="leaves 6 of 9 tensors unloaded"):
        load_sft_weights(PointerSelector(model.config), legacy, log=messages.append)
    assert any("unexpected" in m for m in messages), "unexpected keys are reported before raising"
    missing, unexpected = load_sft_weights(PointerSelector(model.config), legacy, max_missing_fraction=0.7,
                                           log=messages.append)
    assert len(missing) == 6 and len(unexpected) == 6, "a stated fraction is allowed, and still reported"
    other = PointerSelector(SelectorConfig(d_model=64, hidden_dim=16)).state_dict()
    with pytest.raises(RuntimeError):
        load_sft_weights(PointerSelector(model.config), other, log=messages.append)
    assert load_sft_weights(PointerSelector(model.config), model.state_dict(), log=messages.append) == ([], [])


def test_shared_item_attention_equals_torch_multihead_attention():
    torch.manual_seed(0)
    model = PointerSelector(SelectorConfig(d_model=12, hidden_dim=8, num_heads=2)).eval()
    layer = model.cross_attn_layers[0]
    query, items = torch.randn(3, 1, 8), torch.randn(7, 8)
    pool_index = torch.tensor([[0, 1, 2, 3], [2, 3, 4, 0], [5, 6, 1, 0]])
    mask = torch.tensor([[True] * 4, [True] * 4, [True, True, True, False]])
    expected, _ = layer(query, items[pool_index], items[pool_index], key_padding_mask=~mask)
    torch.testing.assert_close(model._attend(layer, query, items, pool_index, mask), expected, atol=1e-6, rtol=1e-5)
