"""``accel config``: the resolved configuration, defaults, file and flags merged, as TOML.

Named ``show_config`` so that it is not mistaken for ``accel.config``, which it reads.
"""

from __future__ import annotations

import argparse

from .common import add_config_flags, resolve_config

NAME = "config"
HELP = "print the resolved configuration as TOML"


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_config_flags(p)


def run(args: argparse.Namespace) -> int:
    print(resolve_config(args).to_toml(), end="")
    return 0
