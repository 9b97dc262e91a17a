"""Item embeddings from a CLIP model (transformers, local directory): for each item, the L2-normalised
mean of its normalised image and question embeddings, one row per item id — the matrix the pools,
SFT, RL generation and training all read."""

from __future__ import annotations

import torch


def clip_embeddings(model_path: str, dataset, batch_size: int = 32, device: str = "cpu", progress=None) -> torch.Tensor:
    from PIL import Image
    from transformers import CLIPModel, CLIPProcessor

    ids = sorted(dataset.items)
    if ids != list(range(len(ids))):
        raise ValueError("item ids must be 0..N-1 so that row i is item i")
    model = CLIPModel.from_pretrained(model_path).to(device).eval()
    processor = CLIPProcessor.from_pretrained(model_path)
    rows = []
    for start in range(0, len(ids), batch_size):
        chunk = [dataset.example(i) for i in ids[start:start + batch_size]]
        images = [Image.open(e.image).convert("RGB") if isinstance(e.image, str) else e.image for e in chunk]
        inputs = processor(text=[e.question for e in chunk], images=images, return_tensors="pt", padding=True).to(device)
        with torch.no_grad():
            image = torch.nn.functional.normalize(model.get_image_features(pixel_values=inputs["pixel_values"]), dim=-1)
            text = torch.nn.functional.normalize(model.get_text_features(input_ids=inputs["input_ids"],
                                                                         attention_mask=inputs["attention_mask"]), dim=-1)
        rows.append(torch.nn.functional.normalize((image + text) / 2, dim=-1).cpu())
        if progress:
            progress()
    return torch.cat(rows)
