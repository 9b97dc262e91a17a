"""The VQA metric: the official vectors, both variants, and the fallback."""

import pytest

from leverplus.metrics import official_accuracy, postprocess_generation, vqa_score


@pytest.mark.parametrize("matches,expected", [(0, 0.0), (1, 0.3), (2, 0.6), (3, 0.9), (4, 1.0), (10, 1.0)])
def test_accuracy_by_number_of_matching_annotators(matches, expected):
    answers = ["cats"] * matches + ["dog"] * (10 - matches)
    assert official_accuracy("cats", answers) == pytest.approx(expected)


@pytest.mark.parametrize("variant", ["official", "openflamingo"])
def test_normalisation_vectors(variant):
    assert official_accuracy("The Cats.", ["cats"] * 3 + ["dog"] * 7, variant) == pytest.approx(0.9)
    assert official_accuracy("two", ["2"] * 3 + ["dog"] * 7, variant) == pytest.approx(0.9)
    assert official_accuracy("", ["cats"] * 10, variant) == 0.0


def test_unanimous_answers_tell_the_variants_apart():
    assert official_accuracy("Two", ["two"] * 10, "official") == 0.0
    assert official_accuracy("Two", ["two"] * 10, "openflamingo") == 1.0


def test_modes_are_reported():
    assert vqa_score("cats", ["cats"] * 10).mode == "file"
    fallback = vqa_score("a cat", None, ["cat"])
    assert (fallback.mode, fallback.accuracy, fallback.correct) == ("fallback", 0.5, 1)
    assert vqa_score("", None, ["cat"]).accuracy == 0.0, "an empty answer is not a substring match"
    assert vqa_score("cat", None, ["cat"]).accuracy == 1.0


def test_postprocess_generation():
    assert postprocess_generation(" red, blue Question: x") == " red"
