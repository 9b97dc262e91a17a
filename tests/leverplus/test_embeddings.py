"""`leverplus export-embeddings` with a tiny, randomly initialised CLIP built here, offline."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("transformers", reason="CLIP export needs the vlm extra")

from typer.testing import CliRunner  # noqa: E402

from leverplus.cli import app  # noqa: E402

CHARS = "abcdefghijklmnopqrstuvwxyz?"


def build_tiny_clip(directory):
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPProcessor, CLIPTokenizerFast

    vocab = ["<|startoftext|>", "<|endoftext|>", "[UNK]"] + list(CHARS) + [c + "</w>" for c in CHARS]
    core = Tokenizer(models.BPE(vocab={w: i for i, w in enumerate(vocab)}, merges=[], unk_token="[UNK]",
                                end_of_word_suffix="</w>"))
    core.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.WhitespaceSplit()])
    tokenizer = CLIPTokenizerFast(tokenizer_object=core, unk_token="[UNK]", bos_token="<|startoftext|>",
                                  eos_token="<|endoftext|>", pad_token="<|endoftext|>")
    assert len(tokenizer) == len(vocab), "the vocabulary built in code must be the one used"
    processor = CLIPProcessor(tokenizer=tokenizer, image_processor=CLIPImageProcessor(
        size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}))
    config = CLIPConfig(text_config={"vocab_size": len(tokenizer), "hidden_size": 16, "num_hidden_layers": 1,
                                     "num_attention_heads": 2, "intermediate_size": 32, "max_position_embeddings": 32,
                                     "bos_token_id": 0, "eos_token_id": 1, "pad_token_id": 1},
                        vision_config={"hidden_size": 16, "num_hidden_layers": 1, "num_attention_heads": 2,
                                       "intermediate_size": 32, "image_size": 32, "patch_size": 16},
                        projection_dim=8)
    torch.manual_seed(0)
    CLIPModel(config).save_pretrained(directory)
    processor.save_pretrained(directory)


def test_export_embeddings(tmp_path, monkeypatch):
    import torch
    from PIL import Image

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    build_tiny_clip(tmp_path / "clip")
    entries = []
    for index, color in enumerate([(255, 0, 0), (0, 0, 255), (255, 0, 0)]):
        Image.new("RGB", (40, 40), color).save(tmp_path / f"{index}.png")
        entries.append({"id": index, "image": f"{index}.png", "question": "what color is it?", "answer": "red"})
    (tmp_path / "items.json").write_text(json.dumps(entries))
    result = CliRunner().invoke(app, ["export-embeddings", "--model", str(tmp_path / "clip"), "--items",
                                      str(tmp_path / "items.json"), "--output", str(tmp_path / "e.pt"),
                                      "--batch-size", "2"])
    assert result.exit_code == 0, result.output
    matrix = torch.load(tmp_path / "e.pt")["embeddings"]
    assert matrix.shape == (3, 8)
    torch.testing.assert_close(matrix.norm(dim=-1), torch.ones(3))
    torch.testing.assert_close(matrix[0], matrix[2])  # same image and question, same row
    assert not torch.allclose(matrix[0], matrix[1])
