"""The Triton tab in Locust's web UI (Locust 2.18's default, "legacy", UI).

Locust's documented way: a Flask Blueprint whose template extends Locust's index.html and
fills its `extended_tabs`, `extended_panes` and `extended_script` blocks; Locust's index
route (`/`) renders it instead of index.html. The blueprint, under /triton, serves:

- /triton/state: the sweep as the tab shows it (JSON, polled once a second);
- /triton/files/<csv|json|report>: this sweep's result files, and no other file;
- /triton/static/: the tab's own script (it draws the curve as inline SVG) and style.

Locust's /swarm (the start form's Start) is wrapped: the form's values reach our options as
typed ("" unset), the Host box is the Triton URL, and the sweep is built and checked before
Locust starts anything, so that bad input comes back to the form as one line."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from flask import Blueprint, Response, abort, jsonify, render_template, request, send_file
from locust.env import Environment

from analysis.flag_table import FLAGS
from triton_user.options import RepeatedValues, locust_dest
from triton_user.web.tab import TritonTab
from triton_user.web.view import FILE_KINDS

STATIC_VERSION = "1"  # bump to make browsers fetch the tab's script and style anew


def install(environment: Environment, web_ui: Any) -> TritonTab:
    """The tab on Locust's web UI, before it serves its first request."""
    tab = TritonTab.attach(environment)
    app = web_ui.app
    app.register_blueprint(_blueprint(tab, web_ui.auth_required_if_enabled))
    locust_index = app.view_functions["index"]
    locust_swarm = app.view_functions["swarm"]

    @web_ui.auth_required_if_enabled
    def index() -> Any:
        if web_ui.modern_ui or environment.runner is None:
            return locust_index()
        web_ui.update_template_args()
        return render_template(
            "triton/index.html",
            **web_ui.template_args,
            triton_form=form_labels(),
            triton_static=STATIC_VERSION,
        )

    @web_ui.auth_required_if_enabled
    def swarm() -> Any:
        prepare: Callable[[], str | None] | None = getattr(environment.shape_class, "prepare", None)
        if prepare is None:  # not our shape: Locust's own start
            return locust_swarm()
        apply_form(environment, request.form)
        error = prepare()
        if error is not None:
            return jsonify({"success": False, "message": error, "host": environment.host})
        url = environment.host  # the Triton URL the sweep measures
        response = locust_swarm()  # sets the Host box's text again, starts the shape
        environment.host = url
        data = response.get_json(silent=True) or {}
        data.update(host=url, triton_run=tab.runs)
        return jsonify(data)

    app.view_functions["index"] = index
    app.view_functions["swarm"] = swarm
    return tab


def apply_form(environment: Environment, form: Any) -> None:
    """What Locust's /swarm does with the start form, done first for our options: each value
    as typed (from_locust_options reads strings, "" as unset), and the Host box as the
    Triton URL ("" for the protocol's default)."""
    options = environment.parsed_options
    for flag in FLAGS:
        key = locust_dest(flag)
        if flag.locust is None or key not in form or not hasattr(options, key):
            continue
        value = form[key]
        setattr(options, key, RepeatedValues(value) if flag.action == "append" else value)
    if "host" in form:
        host = str(form["host"]).replace("<", "").replace(">", "").strip()  # as Locust does
        environment.host = host
        options.triton_url = host


def form_labels() -> dict[str, dict[str, str]]:
    """The start form's fields by name, labelled as the command line spells them."""
    labels = {}
    for flag in FLAGS:
        if flag.locust is None:
            continue
        words = flag.locust.lstrip("-").replace("-", " ")
        labels[locust_dest(flag)] = {
            "label": words[:1].upper() + words[1:],
            "flag": flag.locust,
            "help": flag.help,
        }
    return labels


def _blueprint(tab: TritonTab, auth: Callable[[Any], Any]) -> Blueprint:
    here = os.path.dirname(os.path.abspath(__file__))
    bp = Blueprint(
        "triton",
        __name__,
        url_prefix="/triton",
        template_folder=os.path.join(here, "templates"),
        static_folder=os.path.join(here, "static"),
    )

    @bp.route("/state")
    @auth
    def state() -> Response:
        response = jsonify(tab.state())
        response.headers["Cache-Control"] = "no-store"
        return response

    @bp.route("/files/<kind>")
    @auth
    def files(kind: str) -> Response:
        """This sweep's result files only: the path comes from the sweep, never the URL."""
        view = tab.view
        path = view.path(kind) if view is not None and kind in FILE_KINDS else None
        if path is None:
            abort(404)
        inline = kind == "report" and not request.args.get("download")
        return send_file(
            os.path.abspath(path),
            as_attachment=not inline,
            download_name=os.path.basename(path),
            max_age=0,
        )

    return bp
