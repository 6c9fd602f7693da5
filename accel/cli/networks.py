"""``accel networks``: the built-in networks and their size."""

from __future__ import annotations

import argparse

NAME = "networks"
HELP = "list the built-in networks"


def add_arguments(p: argparse.ArgumentParser) -> None:
    """No flags of its own."""


def run(args: argparse.Namespace) -> int:
    from ..workloads.zoo import NETWORKS, get_network

    for name in NETWORKS:
        layers = get_network(name)
        macs = sum(layer.macs for layer in layers)
        print(f"{name:<14} {len(layers):>4} layers {macs / 1e9:>8.3f} GMAC (default shape)")
    return 0
