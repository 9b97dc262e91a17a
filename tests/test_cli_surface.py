"""CLI surfaces: dest derivation, actions, set_defaults, groups, subparsers, typer and click."""

import libcst  # noqa: F401

from leveraudit.extract.cli import extract_cli
from leveraudit.extract.module import parse_module


def options(code: str):
    module = parse_module("x.py", code)
    return {o.dest: o for o in extract_cli(module)}


def test_argparse_dest_from_first_long_flag_and_explicit_dest():
    found = options(
        "import argparse\n"
        "p = argparse.ArgumentParser()\n"
        "p.add_argument('-r', '--rce-epochs', type=int, default=5)\n"
        "p.add_argument('--lr_grpo', dest='grpo_lr', type=float, default=1e-5)\n"
        "p.add_argument('beam_data')\n")
    assert found["rce_epochs"].default == 5 and found["rce_epochs"].flags == ["-r", "--rce-epochs"]
    assert found["grpo_lr"].default == 1e-5 and found["grpo_lr"].flags == ["--lr_grpo"]
    assert "beam_data" in found


def test_store_actions_and_set_defaults_override():
    found = options(
        "import argparse\n"
        "parser = argparse.ArgumentParser()\n"
        "group = parser.add_argument_group('rl')\n"
        "group.add_argument('--no_skip', dest='skip', action='store_false')\n"
        "parser.add_argument('--raw', action='store_true')\n"
        "parser.add_argument('--epochs', type=int, default=3)\n"
        "parser.set_defaults(epochs=0)\n"
        "parser.set_defaults(skip=True)\n")
    assert found["raw"].default is False
    assert found["skip"].default is True and found["skip"].default_line == 8, "set_defaults on the parent applies to its group"
    assert found["epochs"].default == 0 and found["epochs"].default_line == 7


def test_store_false_without_set_defaults_defaults_to_true():
    found = options("import argparse\np = argparse.ArgumentParser()\np.add_argument('--no_x', dest='x', action='store_false')\n")
    assert found["x"].default is True


def test_subparsers_are_separate_programs():
    module = parse_module("x.py",
        "import argparse\n"
        "p = argparse.ArgumentParser()\n"
        "subs = p.add_subparsers()\n"
        "train = subs.add_parser('train')\n"
        "train.add_argument('--epochs', type=int, default=5)\n"
        "ev = subs.add_parser('eval')\n"
        "ev.add_argument('--epochs', type=int, default=1)\n"
        "train.set_defaults(epochs=7)\n")
    found = sorted((o.program.rsplit(":", 1)[-1], o.default) for o in extract_cli(module))
    assert found == [("eval", 1), ("train", 7)]


def test_non_literal_default_is_not_guessed():
    found = options("import argparse, os\np = argparse.ArgumentParser()\np.add_argument('--x', default=os.environ['X'])\n")
    assert found["x"].default_known is False


def test_module_constant_defaults_are_followed():
    found = options("import argparse\nEPOCHS = 5\np = argparse.ArgumentParser()\np.add_argument('--epochs', default=EPOCHS)\n")
    assert found["epochs"].default == 5


def test_typer_annotated_old_style_and_switches():
    found = options(
        "from typing import Annotated\n"
        "import typer\n"
        "app = typer.Typer()\n"
        "@app.command()\n"
        "def train(\n"
        "    rce_epochs: Annotated[int, typer.Option(help='RCE epochs')] = 5,\n"
        "    grpo_lr: float = typer.Option(1e-5, '--grpo-lr', help='lr'),\n"
        "    skip_fallback_reward: Annotated[bool, typer.Option('--skip-fallback-reward/--no-skip-fallback-reward')] = False,\n"
        "    raw: Annotated[bool, typer.Option()] = False,\n"
        "    data: Annotated[str, typer.Argument()] = 'x.json',\n"
        "):\n"
        "    pass\n")
    assert found["rce_epochs"].default == 5 and found["rce_epochs"].flags == ["--rce-epochs"]
    assert found["grpo_lr"].default == 1e-5
    assert found["skip_fallback_reward"].flags == ["--skip-fallback-reward", "--no-skip-fallback-reward"]
    assert found["raw"].action == "switch" and found["raw"].flags == ["--raw", "--no-raw"]
    assert found["data"].action == "argument"


def test_typer_through_import_alias():
    found = options("import typer as t\ndef main(n: int = t.Option(3)):\n    pass\n")
    assert found["n"].default == 3


def test_click_options():
    found = options("import click\n@click.command()\n@click.option('--epochs', default=4)\n"
                    "@click.option('--fast/--slow', default=False)\ndef main(epochs, fast):\n    pass\n")
    assert found["epochs"].default == 4 and found["fast"].action == "switch"
