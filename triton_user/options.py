"""Registers the sweep's options with Locust's parser, so `locust -f` takes them on the
command line and the web UI's start form shows them."""

from __future__ import annotations

from typing import Any

from locust import events

from triton_locust.flags import add_locust_flags

_registered = False


def register() -> None:
    global _registered
    if _registered:
        return
    _registered = True

    @events.init_command_line_parser.add_listener
    def _add_options(parser: Any) -> None:
        # On the parser itself: Locust's include_in_web_ui is not known to argument groups.
        add_locust_flags(parser)
