"""The `hf` backend with a tiny, randomly initialised Qwen2.5-VL built here, offline (no download)."""

from __future__ import annotations

import os

import pytest

transformers = pytest.importorskip("transformers", reason="the hf backend needs the vlm extra")

from leverplus.backends import Example, HFBackend, VQARequest, build_prompt  # noqa: E402

SPECIAL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>", "<|image_pad|>",
           "<|video_pad|>"]
WORDS = ["Question:", "Short", "answer:", "What", "color", "is", "it?", "How", "many", "dogs?", "red", "blue", "2",
         "3", "user", "assistant", "[UNK]"]


def build_tiny_qwen(directory):
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import (
        Qwen2_5_VLConfig,
        Qwen2_5_VLForConditionalGeneration,
        Qwen2_5_VLProcessor,
        Qwen2TokenizerFast,
        Qwen2VLImageProcessor,
    )

    vocab = {token: index for index, token in enumerate(SPECIAL + WORDS)}
    core = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
    core.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    core.decoder = decoders.WordPiece(prefix="##")
    tokenizer = Qwen2TokenizerFast(tokenizer_object=core, unk_token="[UNK]", eos_token="<|im_end|>",
                                   pad_token="<|endoftext|>", bos_token=None, additional_special_tokens=SPECIAL[1:])
    assert len(tokenizer) == len(SPECIAL) + len(WORDS), "the vocabulary built in code must be the one used"
    processor = Qwen2_5_VLProcessor(tokenizer=tokenizer, image_processor=Qwen2VLImageProcessor(
        min_pixels=28 * 28 * 4, max_pixels=28 * 28 * 4, patch_size=14, merge_size=2, temporal_patch_size=2))
    ids = {token: tokenizer.convert_tokens_to_ids(token) for token in SPECIAL}
    config = Qwen2_5_VLConfig(
        vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
        num_key_value_heads=1, max_position_embeddings=512, rope_scaling={"type": "mrope", "mrope_section": [2, 2, 4]},
        vision_config={"depth": 1, "hidden_size": 16, "num_heads": 2, "intermediate_size": 32, "out_hidden_size": 32,
                       "patch_size": 14, "spatial_merge_size": 2, "temporal_patch_size": 2,
                       "fullatt_block_indexes": [0], "window_size": 56},
        image_token_id=ids["<|image_pad|>"], video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"], vision_end_token_id=ids["<|vision_end|>"],
        bos_token_id=ids["<|endoftext|>"], eos_token_id=ids["<|im_end|>"], pad_token_id=ids["<|endoftext|>"])
    torch.manual_seed(0)
    Qwen2_5_VLForConditionalGeneration(config).save_pretrained(directory)
    processor.save_pretrained(directory)


def image(color):
    from PIL import Image

    return Image.new("RGB", (56, 56), color)


REQUEST = VQARequest(Example(image=image((0, 0, 255)), question="What color is it?"),
                     (Example(image=image((255, 0, 0)), question="What color is it?", answer="red"),
                      Example(image=image((9, 9, 9)), question="How many dogs?", answer="2")))


def test_prompt_fills_questions_and_answers():
    assert build_prompt(REQUEST) == (
        "<|im_start|>user\n"
        "<|vision_start|><|image_pad|><|vision_end|>Question: What color is it? Short answer: red\n"
        "<|vision_start|><|image_pad|><|vision_end|>Question: How many dogs? Short answer: 2\n"
        "<|vision_start|><|image_pad|><|vision_end|>Question: What color is it? Short answer:<|im_end|>\n"
        "<|im_start|>assistant\n")


def test_tiny_qwen_answers_offline(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    build_tiny_qwen(tmp_path / "tiny")
    backend = HFBackend(str(tmp_path / "tiny"), max_new_tokens=3, batch_size=2)
    zero_shot = VQARequest(Example(image=image((0, 255, 0)), question="How many dogs?"))
    answers = backend.answer([REQUEST, zero_shot, REQUEST])
    assert len(answers) == 3 and all(isinstance(a, str) for a in answers)
    assert answers[0] == answers[2], "greedy decoding of the same prompt is deterministic"
    assert os.environ["HF_HUB_OFFLINE"] == "1"


def test_rl_data_generation_with_the_hf_backend(tmp_path, monkeypatch):
    import json

    import torch

    from leverplus.data import load_rl_data, load_vqa_items, save_embeddings
    from leverplus.rl_data import generate_to_file

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    build_tiny_qwen(tmp_path / "tiny")
    colors = [(255, 0, 0), (0, 0, 255), (0, 255, 0), (9, 9, 9), (200, 200, 0), (0, 200, 200)]
    entries = []
    for index, color in enumerate(colors):
        image(color).save(tmp_path / f"{index}.png")
        entries.append({"id": index, "image": f"{index}.png", "question": "What color is it?", "answer": "red",
                        "annotations": ["red"] * 10 if index % 2 == 0 else None})
    (tmp_path / "items.json").write_text(json.dumps(entries))
    save_embeddings(tmp_path / "e.pt", torch.nn.functional.normalize(torch.randn(6, 8), dim=-1))
    data = generate_to_file(load_vqa_items(tmp_path / "items.json"), [0, 1], tmp_path / "rl.json", pool_size=4,
                            backend=HFBackend(str(tmp_path / "tiny"), max_new_tokens=2),
                            embeddings=torch.load(tmp_path / "e.pt")["embeddings"], log=lambda m: None,
                            num_beams=2, temperatures=(1.0,), samples_per_temperature=1, num_random=1)
    assert load_rl_data(tmp_path / "rl.json").to_json() == data.to_json()
    modes = {q: {c.vqa_eval_mode for c in r.pointer_candidates} for q, r in data.queries.items()}
    assert modes == {0: {"file"}, 1: {"fallback"}}
    assert data.meta["backend"] == "HFBackend" and data.meta["model"].endswith("tiny")
