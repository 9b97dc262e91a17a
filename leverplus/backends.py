"""VLM backends behind one small protocol: batched `answer(requests) -> list[str]`.

* `SimulatedBackend` — the seeded synthetic world (demos, tests, benchmarks);
* `HFBackend` — a Hugging Face transformers chat VLM (Qwen2.5-VL style) from a local directory or hub id,
  prompted few-shot with the demonstrations' images, questions and answers, then the query's image and
  question. The prompt text is assembled here, placeholders filled (the research code never substituted
  its `{question}` / `{answer}` template), so a test can compare it with a literal string.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, Sequence

from leverplus.metrics import postprocess_generation


@dataclass(frozen=True)
class Example:
    item_id: int | None = None
    image: Any = None  # a PIL image or a path
    question: str = ""
    answer: str | None = None


@dataclass(frozen=True)
class VQARequest:
    query: Example
    demonstrations: tuple[Example, ...] = ()


class VLMBackend(Protocol):
    def answer(self, requests: Sequence[VQARequest]) -> list[str]: ...


class SimulatedBackend:
    def __init__(self, world) -> None:
        self.world = world

    def answer(self, requests: Sequence[VQARequest]) -> list[str]:
        return [self.world.answer(r.query.item_id, [d.item_id for d in r.demonstrations]) for r in requests]


@dataclass(frozen=True)
class PromptConfig:
    """One prompt format shared by RL generation and evaluation."""

    template: str = "Question: {question} Short answer: {answer}"
    system: str | None = None
    join: str = "\n"
    image_tokens: str = "<|vision_start|><|image_pad|><|vision_end|>"


def build_prompt(request: VQARequest, config: PromptConfig = PromptConfig()) -> str:
    """The chat-formatted prompt: demonstrations with their answers, then the query without one."""
    turns = [config.image_tokens + config.template.format(question=d.question, answer=d.answer or "")
             for d in request.demonstrations]
    turns.append(config.image_tokens + config.template.format(question=request.query.question, answer="").rstrip())
    system = f"<|im_start|>system\n{config.system}<|im_end|>\n" if config.system else ""
    return f"{system}<|im_start|>user\n{config.join.join(turns)}<|im_end|>\n<|im_start|>assistant\n"


def request_images(request: VQARequest) -> list:
    from PIL import Image

    images = []
    for example in (*request.demonstrations, request.query):
        image = example.image
        images.append(Image.open(image).convert("RGB") if isinstance(image, (str, bytes)) or hasattr(image, "__fspath__")
                      else image)
    return images


@dataclass
class HFBackend:
    model_path: str
    device: str = "cpu"
    max_new_tokens: int = 5
    batch_size: int = 8
    prompt: PromptConfig = field(default_factory=PromptConfig)

    def __post_init__(self) -> None:
        from transformers import AutoConfig, AutoProcessor

        config = AutoConfig.from_pretrained(self.model_path)
        if config.model_type == "qwen2_5_vl":
            from transformers import Qwen2_5_VLForConditionalGeneration as ModelClass
        else:
            from transformers import AutoModelForVision2Seq as ModelClass
        self.processor = AutoProcessor.from_pretrained(self.model_path)
        self.processor.tokenizer.padding_side = "left"  # generation continues after the prompt
        self.model = ModelClass.from_pretrained(self.model_path).to(self.device).eval()

    def answer(self, requests: Sequence[VQARequest]) -> list[str]:
        import torch

        answers: list[str] = []
        for start in range(0, len(requests), self.batch_size):
            chunk = requests[start:start + self.batch_size]
            inputs = self.processor(text=[build_prompt(r, self.prompt) for r in chunk],
                                    images=[image for r in chunk for image in request_images(r)],
                                    padding=True, return_tensors="pt").to(self.device)
            with torch.no_grad():
                output = self.model.generate(**inputs, max_new_tokens=self.max_new_tokens, do_sample=False)
            new_tokens = output[:, inputs["input_ids"].shape[1]:]
            texts = self.processor.batch_decode(new_tokens, skip_special_tokens=True)
            answers += [postprocess_generation(text).strip() for text in texts]
        return answers
