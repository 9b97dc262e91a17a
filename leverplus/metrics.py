"""VQA accuracy: the official metric ("file" mode, when a question has annotations) and a documented
fallback string match otherwise. Every score says which mode produced it.

Official: accuracy = mean over the 10 leave-one-out subsets of min(#matching annotators / 3, 1),
after normalising punctuation, number words, articles and contractions. Two variants:

* `official` (default) — the VQA evaluation code: the prediction and the answers are normalised
  only when the ten annotators disagree; when they all agree, comparison is on the stripped text;
* `openflamingo` — always normalises both sides (what the research code used, spec §6.4).

Fallback (no annotations): exact match of the lower-cased, stripped prediction with a reference
answer scores 1.0, containment either way 0.5, otherwise 0; an empty prediction always scores 0.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

EvalMode = Literal["file", "fallback"]
Variant = Literal["official", "openflamingo"]

CONTRACTIONS = {
    "aint": "ain't", "arent": "aren't", "cant": "can't", "couldve": "could've", "couldnt": "couldn't",
    "couldn'tve": "couldn't've", "couldnt've": "couldn't've", "didnt": "didn't", "doesnt": "doesn't", "dont": "don't",
    "hadnt": "hadn't", "hadnt've": "hadn't've", "hadn'tve": "hadn't've", "hasnt": "hasn't", "havent": "haven't",
    "hed": "he'd", "hed've": "he'd've", "he'dve": "he'd've", "hes": "he's", "howd": "how'd", "howll": "how'll",
    "hows": "how's", "Id've": "I'd've", "I'dve": "I'd've", "Im": "I'm", "Ive": "I've", "isnt": "isn't", "itd": "it'd",
    "itd've": "it'd've", "it'dve": "it'd've", "itll": "it'll", "let's": "let's", "maam": "ma'am", "mightnt": "mightn't",
    "mightnt've": "mightn't've", "mightn'tve": "mightn't've", "mightve": "might've", "mustnt": "mustn't",
    "mustve": "must've", "neednt": "needn't", "notve": "not've", "oclock": "o'clock", "oughtnt": "oughtn't",
    "ow's'at": "'ow's'at", "'ows'at": "'ow's'at", "'ow'sat": "'ow's'at", "shant": "shan't", "shed've": "she'd've",
    "she'dve": "she'd've", "she's": "she's", "shouldve": "should've", "shouldnt": "shouldn't",
    "shouldnt've": "shouldn't've", "shouldn'tve": "shouldn't've", "somebody'd": "somebodyd",
    "somebodyd've": "somebody'd've", "somebody'dve": "somebody'd've", "somebodyll": "somebody'll",
    "somebodys": "somebody's", "someoned": "someone'd", "someoned've": "someone'd've", "someone'dve": "someone'd've",
    "someonell": "someone'll", "someones": "someone's", "somethingd": "something'd",
    "somethingd've": "something'd've", "something'dve": "something'd've", "somethingll": "something'll",
    "thats": "that's", "thered": "there'd", "thered've": "there'd've", "there'dve": "there'd've",
    "therere": "there're", "theres": "there's", "theyd": "they'd", "theyd've": "they'd've", "they'dve": "they'd've",
    "theyll": "they'll", "theyre": "they're", "theyve": "they've", "twas": "'twas", "wasnt": "wasn't",
    "wed've": "we'd've", "we'dve": "we'd've", "weve": "we've", "werent": "weren't", "whatll": "what'll",
    "whatre": "what're", "whats": "what's", "whatve": "what've", "whens": "when's", "whered": "where'd",
    "wheres": "where's", "whereve": "where've", "whod": "who'd", "whod've": "who'd've", "who'dve": "who'd've",
    "wholl": "who'll", "whos": "who's", "whove": "who've", "whyll": "why'll", "whyre": "why're", "whys": "why's",
    "wont": "won't", "wouldve": "would've", "wouldnt": "wouldn't", "wouldnt've": "wouldn't've",
    "wouldn'tve": "wouldn't've", "yall": "y'all", "yall'll": "y'all'll", "y'allll": "y'all'll",
    "yall'd've": "y'all'd've", "y'alld've": "y'all'd've", "y'all'dve": "y'all'd've", "youd": "you'd",
    "youd've": "you'd've", "you'dve": "you'd've", "youll": "you'll", "youre": "you're", "youve": "you've",
}
NUMBER_WORDS = {"none": "0", "zero": "0", "one": "1", "two": "2", "three": "3", "four": "4", "five": "5", "six": "6",
                "seven": "7", "eight": "8", "nine": "9", "ten": "10"}
ARTICLES = {"a", "an", "the"}
PUNCTUATION = [";", "/", "[", "]", '"', "{", "}", "(", ")", "=", "+", "\\", "_", "-", ">", "<", "@", "`", ",", "?", "!"]
_PERIOD_STRIP = re.compile(r"(?!<=\d)(\.)(?!\d)")
_COMMA_STRIP = re.compile(r"(\d)(,)(\d)")


def _process_punctuation(text: str) -> str:
    out = text
    digit_comma_digit = _COMMA_STRIP.search(text) is not None
    for mark in PUNCTUATION:
        if mark not in out:
            continue
        if (mark + " " in text or " " + mark in text) or digit_comma_digit:
            out = out.replace(mark, "")
        else:
            out = out.replace(mark, " ")
    # the official code passes re.UNICODE as `count` here; kept for identical results
    return _PERIOD_STRIP.sub("", out, re.UNICODE)


def _process_digits_articles(text: str) -> str:
    words = []
    for word in text.lower().split():
        word = NUMBER_WORDS.get(word, word)
        if word not in ARTICLES:
            words.append(word)
    return " ".join(CONTRACTIONS.get(word, word) for word in words)


@lru_cache(maxsize=65536)
def normalize_answer(text: str) -> str:
    """Punctuation, number words, articles, contractions: what the official metric compares."""
    text = text.replace("\n", " ").replace("\t", " ").strip()
    return _process_digits_articles(_process_punctuation(text))


@dataclass(frozen=True)
class VQAScore:
    accuracy: float  # in [0, 1]
    correct: int  # 1 iff accuracy > 0
    mode: EvalMode


def official_accuracy(prediction: str, answers: list[str], variant: Variant = "official") -> float:
    """min(#matches among the other 9 annotators / 3, 1), averaged over the 10 leave-one-out subsets."""
    prediction = prediction.replace("\n", " ").replace("\t", " ").strip()
    gts = [a.replace("\n", " ").replace("\t", " ").strip() for a in answers]
    if variant == "openflamingo" or len(set(gts)) > 1:
        prediction = normalize_answer(prediction)
        gts = [normalize_answer(a) for a in gts]
    if not prediction:
        return 0.0
    accuracies = []
    for held_out in range(len(gts)):
        others = gts[:held_out] + gts[held_out + 1:]
        accuracies.append(min(1.0, sum(a == prediction for a in others) / 3.0))
    return round(sum(accuracies) / len(accuracies), 4) if accuracies else 0.0


def fallback_accuracy(prediction: str, references: list[str]) -> float:
    prediction = prediction.strip().lower()
    references = [r.strip().lower() for r in references if r.strip()]
    if not prediction or not references:
        return 0.0
    if prediction in references:
        return 1.0
    if any(prediction in r or r in prediction for r in references):
        return 0.5
    return 0.0


def vqa_score(prediction: str, annotations: list[str] | None, references: list[str] | None = None,
              variant: Variant = "official") -> VQAScore:
    """The official metric when annotations exist ("file" mode), else the fallback string match."""
    if annotations:
        accuracy = official_accuracy(prediction, annotations, variant)
        return VQAScore(accuracy, int(accuracy > 0), "file")
    accuracy = fallback_accuracy(prediction, references or [])
    return VQAScore(accuracy, int(accuracy > 0), "fallback")


def postprocess_generation(text: str) -> str:
    """Keep what precedes a new 'Question'/'Answer'/'Short' turn, then what precedes the first ', '."""
    for stop in ("Question", "Answer", "Short"):
        text = text.split(stop, 1)[0]
    return text.split(", ", 1)[0]
