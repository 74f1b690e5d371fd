// The Triton tab: polls ./triton/state once a second and draws the sweep, its levels in
// perf_analyzer's columns and the throughput-latency curve (inline SVG, no library: the page
// works offline). Also the start form: our labels, and a refused Start said in the form.
(function () {
    "use strict";

    var POLL_MS = 1000;
    var SVG_NS = "http://www.w3.org/2000/svg";
    var PICK_NAMES = {
        max_throughput: "max throughput",
        saturation: "saturation",
        knee: "knee",
        latency_budget: "latency budget"
    };

    // -- small helpers -------------------------------------------------------------------
    function el(tag, attrs, children) {
        var node = document.createElement(tag);
        setAttrs(node, attrs);
        append(node, children);
        return node;
    }

    function svg(tag, attrs, children) {
        var node = document.createElementNS(SVG_NS, tag);
        setAttrs(node, attrs);
        append(node, children);
        return node;
    }

    function setAttrs(node, attrs) {
        Object.keys(attrs || {}).forEach(function (k) {
            if (attrs[k] !== null && attrs[k] !== undefined) node.setAttribute(k, attrs[k]);
        });
    }

    function append(node, children) {
        [].concat(children === undefined ? [] : children).forEach(function (c) {
            if (c === null || c === undefined) return;
            node.appendChild(typeof c === "object" ? c : document.createTextNode(String(c)));
        });
    }

    function clear(node) {
        while (node.firstChild) node.removeChild(node.firstChild);
    }

    function $id(id) {
        return document.getElementById(id);
    }

    function num(x, digits) {
        if (x === null || x === undefined) return "–";
        return Number(x).toLocaleString("en-US", {
            minimumFractionDigits: digits, maximumFractionDigits: digits
        });
    }

    function us(x) {
        return x === null || x === undefined ? "–" : String(x);
    }

    function spreadText(pct) {
        return pct === null || pct === undefined ? "–" : num(pct, 1) + "%";
    }

    function ordinal(n) {
        var s = ["th", "st", "nd", "rd"], v = n % 100;
        return n + (s[(v - 20) % 10] || s[v] || s[0]);
    }

    // -- the start form --------------------------------------------------------------------
    function relabelForm() {
        var form = $id("swarm_form");
        if (!form) return;
        Object.keys(window.tritonForm || {}).forEach(function (key) {
            var label = form.querySelector('label[for="' + key + '"]');
            if (!label) return;
            var info = window.tritonForm[key];
            clear(label);
            append(label, [info.label + " ", el("span", {"class": "triton-help"},
                "(" + info.flag + ": " + info.help + ")")]);
        });
        var host = form.querySelector('label[for="host"]');
        if (host) {
            clear(host);
            append(host, ["Triton server ", el("span", {"class": "triton-help"},
                "(HOST:PORT, Locust's --host or --triton-url; empty: localhost:8000 for " +
                "HTTP, localhost:8001 for gRPC)")]);
        }
        // A sweep sets the users itself, one level at a time.
        ["user_count", "spawn_rate"].forEach(function (key) {
            var box = form.querySelector('input.val_disabled[name="' + key + '"]');
            var label = form.querySelector('label[for="' + key + '"]');
            if (box && label) {
                clear(label);
                append(label, [key === "user_count" ? "Number of users " : "Spawn rate ",
                    el("span", {"class": "triton-help"}, "(set by Concurrency range)")]);
                box.value = "set by Concurrency range";
                box.classList.add("triton-set-by");
            }
        });
        Array.prototype.forEach.call(form.querySelectorAll("label"), function (label) {
            if (label.textContent.trim() === "Custom parameters:") {
                clear(label);
                append(label, el("b", {}, "Sweep options (perf_analyzer's flags, as the README's table maps them)"));
            }
        });
        var button = form.querySelector('button[type="submit"]');
        var note = el("p", {"class": "triton-help triton-note"},
            "Result files left empty: each run writes a new folder, " +
            "results/<date-time>-<model>/ (perf.csv, perf.json, perf.html), named in the Triton tab.");
        var error = el("div", {id: "triton-form-error", "class": "triton-error", hidden: "hidden"});
        button.parentNode.insertBefore(note, button);
        button.parentNode.insertBefore(error, button);
    }

    function showFormError(message) {
        var box = $id("triton-form-error");
        if (!box) return;
        box.textContent = message || "";
        box.hidden = !message;
        if (message && box.scrollIntoView) box.scrollIntoView({block: "nearest"});
    }

    function selectTab() {
        var link = $id("triton-tab-link");
        var api = window.jQuery && jQuery("ul.tabs").data("tabs");
        if (!link || !api) return;
        api.click(jQuery("ul.tabs li").index(jQuery(link).parent()));
    }

    // Locust's own Start handler (locust.js) hides the form and waits; ours keeps the form
    // open with the error when the sweep is refused (bad model, range, server...).
    function takeOverStart() {
        var form = jQuery("#swarm_form");
        form.off("submit");
        form.on("submit", function (event) {
            event.preventDefault();
            var button = form.find('button[type="submit"]');
            showFormError(null);
            button.prop("disabled", true).text("Checking the server and model…");
            jQuery.post(form.attr("action"), form.serialize())
                .done(function (response) {
                    if (!response.success) {
                        showFormError(response.message || "the sweep could not start");
                        return;
                    }
                    // What locust.js does on Start.
                    jQuery("body").attr("class", "spawning");
                    jQuery("#start").hide();
                    jQuery("#main").show();
                    jQuery(".box_running").show();
                    jQuery("#new-test").hide();
                    jQuery("#edit-test").show();
                    jQuery(".user_count").show();
                    if (typeof setHostName === "function") setHostName(response.host);
                    if (typeof stats_history !== "undefined" && stats_history.time.length > 0 &&
                        typeof markerFlags !== "undefined") {
                        markerFlags.start = true;
                    }
                    selectTab();
                    poll.now();
                })
                .fail(function (xhr) {
                    showFormError(xhr.responseText || "the start request failed");
                })
                .always(function () {
                    button.prop("disabled", false).text("Start swarming");
                });
        });
        jQuery("#new-test").on("click", function () { showFormError(null); });
    }

    // -- the tab ---------------------------------------------------------------------------
    function render(state) {
        var errorBox = $id("triton-error");
        errorBox.textContent = state.error ? "Not started: " + state.error : "";
        errorBox.hidden = !state.error;
        var sweep = state.sweep;
        $id("triton-idle").hidden = !!sweep || !!state.error;
        $id("triton-sweep").hidden = !sweep;
        if (!sweep) return;
        var s = sweep.settings;
        var title = $id("triton-title");
        clear(title);
        append(title, ["Sweep " + sweep.number + ": ", el("b", {}, s.model),
            (s.model_version ? " v" + s.model_version : "") + " at " + s.url +
            " (" + s.protocol.toUpperCase() + ")"]);
        renderStatus(sweep);
        renderLive(sweep);
        renderLevels(sweep);
        renderCurve(sweep);
        renderRecommendation(sweep);
        renderFiles(sweep);
    }

    function renderStatus(sweep) {
        var s = sweep.settings, cur = sweep.current, status = $id("triton-status");
        var text;
        var levelsDone = sweep.levels.length;
        var total = s.levels ? s.levels.length : null;
        if (cur) {
            var nth = total ? " (" + ordinal(levelsDone + 1) + " of " + total + " levels)" : "";
            text = "Measuring concurrency " + cur.concurrency + nth + ": window " +
                (cur.windows_done + 1) + " of at most " + s.max_trials + ", " +
                cur.windows_done + " measured, " + num(cur.elapsed_s, 0) + " s at this level.";
        } else if (sweep.status === "starting" || sweep.status === "running") {
            text = "Starting the users…";
        } else if (sweep.status === "stopped") {
            var last = sweep.levels[sweep.levels.length - 1];
            text = "Stopped" + (last && last.status === "interrupted" ?
                " during concurrency " + last.concurrency + ": that level is interrupted, not " +
                "reported; the finished levels are kept." : ".");
        } else if (sweep.status === "failed") {
            text = "The sweep ended early: " + sweep.stop_reason.replace(/^error: /, "") +
                ". The levels measured are kept.";
        } else {
            text = "Finished: " + levelsDone + " level" + (levelsDone === 1 ? "" : "s") +
                (sweep.stop_reason === "latency_threshold" ? ", stopped at the latency threshold" : "") + ".";
        }
        status.textContent = text;
        status.className = "triton-status triton-" + sweep.status;
        $id("triton-chart-caption").textContent = "Throughput (infer/s) against " +
            s.latency_label + " latency (ms), one point per concurrency; " + s.measurement +
            ", stable within " + s.stability_pct + "% over " + s.window_count + " windows";
    }

    function liveBox(label, value, note, cls) {
        return el("div", {"class": "triton-box " + (cls || "")}, [
            el("div", {"class": "triton-box-label"}, label),
            el("div", {"class": "triton-box-value"}, value),
            el("div", {"class": "triton-box-note"}, note)
        ]);
    }

    function renderLive(sweep) {
        var live = $id("triton-live"), cur = sweep.current, s = sweep.settings;
        clear(live);
        live.hidden = !cur;
        if (!cur) return;
        var sp = cur.spread, limit = s.stability_pct;
        function within(pct) {  // judged as the stabiliser does: over its full count of windows
            if (pct === null || pct === undefined || !sp || sp.over < s.window_count) return "";
            return pct <= limit ? "triton-ok" : "triton-over";
        }
        var over = sp ? "over the last " + sp.over + " window" + (sp.over === 1 ? "" : "s") +
            (sp.over < s.window_count ? " (needs " + s.window_count + ")" : "") : "from the 2nd window on";
        append(live, [
            liveBox("Concurrency", String(cur.concurrency),
                "window " + (cur.windows_done + 1) + " of at most " + s.max_trials),
            liveBox("Throughput", cur.throughput === null ? "–" : num(cur.throughput, 1) + " infer/s",
                "last window"),
            liveBox(s.latency_label + " latency", cur.latency_ms === null ? "–" : num(cur.latency_ms, 2) + " ms",
                "last window"),
            liveBox("Throughput spread", sp ? spreadText(sp.throughput) : "–",
                "limit -s " + limit + "%, " + over, within(sp && sp.throughput)),
            liveBox("Latency spread", sp ? spreadText(sp.latency) : "–",
                "limit -s " + limit + "%, " + over, within(sp && sp.latency))
        ]);
    }

    function renderLevels(sweep) {
        var table = $id("triton-levels");
        var head = table.querySelector("thead tr"), body = table.querySelector("tbody");
        clear(head);
        clear(body);
        var cols = ["Concurrency", "Inferences/Second"];
        sweep.percentiles.forEach(function (p) { cols.push("p" + p + " (µs)"); });
        cols = cols.concat(["Avg latency (µs)", "Server queue (µs)", "Server compute (µs)"]);
        // --streaming: perf_analyzer's Response Throughput, then the latency to the first
        // response and between responses (ours).
        var streamed = sweep.streaming, sp = sweep.stream_percentiles || [];
        if (streamed) {
            cols = cols.concat(["Responses/Second",
                "First response " + sp.map(function (p) { return "p" + p; }).join(" / ") + " (µs)",
                "Inter-response " + sp.map(function (p) { return "p" + p; }).join(" / ") + " (µs)"]);
        }
        cols = cols.concat(["Status", "Spread throughput / latency", "Windows"]);
        cols.forEach(function (c, i) {
            append(head, el("th", {"class": i === 0 || i >= cols.length - 3 ? "" : "numeric"}, c));
        });
        var rows = sweep.levels.slice();
        if (sweep.current) rows.push({current: sweep.current});
        if (!rows.length) {
            append(body, el("tr", {}, el("td", {colspan: cols.length, "class": "triton-muted"},
                "No level finished yet.")));
            return;
        }
        rows.forEach(function (row) {
            var tr = el("tr", {"class": "triton-level triton-" + (row.current ? "measuring" : row.status),
                "data-concurrency": row.current ? row.current.concurrency : row.concurrency});
            if (row.current) {
                append(tr, el("td", {}, String(row.current.concurrency)));
                append(tr, el("td", {colspan: cols.length - 4, "class": "triton-muted"},
                    "measuring: " + row.current.windows_done + " window" +
                    (row.current.windows_done === 1 ? "" : "s") + " so far"));
                append(tr, el("td", {"class": "triton-status-cell"}, "measuring"));
                append(tr, el("td", {}, row.current.spread ?
                    spreadText(row.current.spread.throughput) + " / " + spreadText(row.current.spread.latency) : "–"));
                append(tr, el("td", {}, String(row.current.windows_done)));
                append(body, tr);
                return;
            }
            append(tr, el("td", {}, String(row.concurrency)));
            if (row.reported) {
                append(tr, el("td", {"class": "numeric"}, row.throughput_text));
                // Whole microseconds, printed as perf_analyzer prints them.
                sweep.percentiles.forEach(function (p) {
                    append(tr, el("td", {"class": "numeric"}, us(row.percentiles_us[String(p)])));
                });
                append(tr, el("td", {"class": "numeric"}, us(row.avg_us)));
                append(tr, el("td", {"class": "numeric"}, us(row.queue_us)));
                append(tr, el("td", {"class": "numeric"}, us(row.compute_us)));
                if (streamed) {
                    append(tr, el("td", {"class": "numeric"}, row.response_throughput_text || "–"));
                    append(tr, el("td", {"class": "numeric"}, streamText(row.first_response_us, sp)));
                    append(tr, el("td", {"class": "numeric"}, streamText(row.inter_response_us, sp)));
                }
            } else {
                append(tr, el("td", {colspan: cols.length - 4, "class": "triton-muted"},
                    row.status === "interrupted" ?
                        "stopped after " + row.windows + " window" + (row.windows === 1 ? "" : "s") +
                        ": not reported, not in the CSV" :
                        "not reported (perf_analyzer reports no level over -l)"));
            }
            append(tr, el("td", {"class": "triton-status-cell"}, row.status_text));
            append(tr, el("td", {}, spreadText(row.spread.throughput) + " / " + spreadText(row.spread.latency)));
            append(tr, el("td", {}, String(row.windows) + (row.remeasured ? " (measured again " + row.remeasured + "×)" : "")));
            append(body, tr);
        });
    }

    // A streamed level's percentiles, "p50 / p95 / p99" in whole µs ("–" when none).
    function streamText(byPercentile, percentiles) {
        if (!byPercentile) return "–";
        return percentiles.map(function (p) { return us(byPercentile[String(p)]); }).join(" / ");
    }

    // Round axis steps: 1, 2 or 5 times a power of ten, about `count` of them.
    function ticks(max, count) {
        if (!(max > 0)) max = 1;
        var raw = max / count, mag = Math.pow(10, Math.floor(Math.log10(raw)));
        var step = [1, 2, 5, 10].map(function (m) { return m * mag; })
            .filter(function (s) { return s >= raw; })[0];
        var out = [];
        for (var v = 0; v <= max * 1.0001 + step; v += step) {
            out.push(Number(v.toPrecision(12)));
            if (v >= max) break;
        }
        return out;
    }

    function renderCurve(sweep) {
        var root = $id("triton-curve");
        clear(root);
        var W = 640, H = 360, L = 64, R = 24, T = 20, B = 48;
        var points = sweep.levels.filter(function (r) { return r.reported; })
            .map(function (r) {
                return {c: r.concurrency, x: r.latency_ms, y: r.throughput, stable: r.status === "stable"};
            });
        var cur = sweep.current, live = null;
        if (cur && cur.latency_ms !== null && cur.throughput !== null) {
            live = {c: cur.concurrency, x: cur.latency_ms, y: cur.throughput};
        }
        var all = points.concat(live ? [live] : []);
        if (!all.length) {
            append(root, svg("text", {x: W / 2, y: H / 2, "text-anchor": "middle", "class": "triton-axis-label"},
                "The curve draws itself as windows are measured."));
            return;
        }
        var xt = ticks(Math.max.apply(null, all.map(function (p) { return p.x; })) * 1.1, 6);
        var yt = ticks(Math.max.apply(null, all.map(function (p) { return p.y; })) * 1.1, 5);
        var xmax = xt[xt.length - 1], ymax = yt[yt.length - 1];
        function X(v) { return L + (W - L - R) * v / xmax; }
        function Y(v) { return H - B - (H - T - B) * v / ymax; }
        xt.forEach(function (v) {
            append(root, svg("line", {x1: X(v), x2: X(v), y1: T, y2: H - B, "class": "triton-grid"}));
            append(root, svg("text", {x: X(v), y: H - B + 16, "text-anchor": "middle", "class": "triton-tick"}, String(v)));
        });
        yt.forEach(function (v) {
            append(root, svg("line", {x1: L, x2: W - R, y1: Y(v), y2: Y(v), "class": "triton-grid"}));
            append(root, svg("text", {x: L - 6, y: Y(v) + 4, "text-anchor": "end", "class": "triton-tick"}, String(v)));
        });
        append(root, svg("text", {x: (L + W - R) / 2, y: H - 8, "text-anchor": "middle", "class": "triton-axis-label"},
            sweep.settings.latency_label + " latency (ms)"));
        append(root, svg("text", {x: 14, y: (T + H - B) / 2, "text-anchor": "middle", "class": "triton-axis-label",
            transform: "rotate(-90 14 " + (T + H - B) / 2 + ")"}, "infer/s"));
        if (points.length > 1) {
            // By concurrency, not in measured order: a binary search jumps back and forth.
            var curve = points.slice().sort(function (a, b) { return a.c - b.c; });
            append(root, svg("polyline", {"class": "triton-line", points: curve.map(function (p) {
                return X(p.x) + "," + Y(p.y);
            }).join(" ")}));
        }
        if (live && points.length) {
            var prev = points[points.length - 1];
            append(root, svg("line", {x1: X(prev.x), y1: Y(prev.y), x2: X(live.x), y2: Y(live.y), "class": "triton-line-live"}));
        }
        // A point's labels go left of it in the right part of the chart, to stay inside.
        function label(p, dy, cls, text) {
            var right = X(p.x) > L + (W - L - R) * 0.6;
            return svg("text", {x: X(p.x) + (right ? -12 : 12), y: Y(p.y) + dy, "class": cls,
                "text-anchor": right ? "end" : "start"}, text);
        }
        var picks = (sweep.recommendation && sweep.recommendation.picks) || {};
        points.forEach(function (p) {
            var names = Object.keys(PICK_NAMES).filter(function (k) {
                return picks[k] && picks[k].concurrency === p.c;
            }).map(function (k) { return PICK_NAMES[k]; });
            var g = svg("g", {"class": "triton-point" + (p.stable ? "" : " triton-unstable"),
                "data-concurrency": p.c});
            if (names.length) {
                append(g, svg("circle", {cx: X(p.x), cy: Y(p.y), r: 10, "class": "triton-pick"}));
            }
            append(g, svg("circle", {cx: X(p.x), cy: Y(p.y), r: 5}));
            append(g, svg("title", {}, "c=" + p.c + ": " + num(p.y, 1) + " infer/s at " + num(p.x, 2) + " ms" +
                (p.stable ? "" : " (unstable)") + (names.length ? " — " + names.join(", ") : "")));
            append(g, label(p, -9, "triton-point-label", "c=" + p.c + (p.stable ? "" : " (unstable)")));
            if (names.length) append(g, label(p, 22, "triton-pick-label", names.join(", ")));
            append(root, g);
        });
        if (live) {
            var g = svg("g", {"class": "triton-point triton-live-point", "data-concurrency": live.c});
            append(g, svg("circle", {cx: X(live.x), cy: Y(live.y), r: 5}));
            append(g, label(live, -9, "triton-point-label", "c=" + live.c + " (measuring)"));
            append(root, g);
        }
    }

    function renderRecommendation(sweep) {
        var box = $id("triton-recommendation");
        clear(box);
        var rec = sweep.recommendation;
        if (!rec || !Object.keys(rec.picks).length) {
            append(box, el("p", {"class": "triton-muted"}, "After the first level."));
            return;
        }
        // One line per level picked, naming every reading that picks it.
        var list = el("ul", {"class": "triton-picks"}), byLevel = {}, order = [];
        Object.keys(PICK_NAMES).forEach(function (k) {
            var p = rec.picks[k];
            if (!p) return;
            if (!byLevel[p.concurrency]) { byLevel[p.concurrency] = {pick: p, names: []}; order.push(p.concurrency); }
            byLevel[p.concurrency].names.push(PICK_NAMES[k]);
        });
        order.forEach(function (c) {
            var p = byLevel[c].pick;
            append(list, el("li", {"data-concurrency": c}, [el("b", {}, "Concurrency " + c),
                " (" + byLevel[c].names.join(", ") + "): " + num(p.throughput, 1) + " infer/s at " +
                rec.latency + " " + num(p.latency_us / 1000, 2) + " ms" + (p.stable ? "" : ", unstable")]));
        });
        append(box, list);
        if (sweep.status === "running" || sweep.status === "starting") {
            append(box, el("p", {"class": "triton-muted"}, "So far: from the levels finished."));
        }
    }

    function renderFiles(sweep) {
        var box = $id("triton-files");
        clear(box);
        var names = {csv: "perf_analyzer CSV", json: "JSON (every level and window)", report: "HTML report"};
        var kinds = Object.keys(sweep.files);
        if (!kinds.length) {
            append(box, el("p", {"class": "triton-muted"}, "None."));
            return;
        }
        var folder = sweep.files[kinds[0]].path.replace(/[^/\\]*$/, "");
        append(box, el("p", {}, ["Folder: ", el("code", {id: "triton-results-folder"}, folder || "./")]));
        var list = el("ul", {"class": "triton-file-list"});
        kinds.forEach(function (kind) {
            var f = sweep.files[kind];
            var name = f.path.split(/[/\\]/).pop();
            var item;
            if (f.ready) {
                var attrs = {id: "triton-file-" + kind, href: "./triton/files/" + kind, title: f.path};
                if (kind === "report") attrs.target = "_blank"; else attrs.download = name;
                item = el("a", attrs, names[kind] + " (" + name + ")");
            } else {
                item = el("span", {id: "triton-file-" + kind, "class": "triton-muted", title: f.path},
                    names[kind] + " (" + name + "): " + (kind === "report" ? "at the end" : "after the first level"));
            }
            append(list, el("li", {}, item));
        });
        append(box, list);
    }

    // -- polling ---------------------------------------------------------------------------
    var poll = (function () {
        var timer = null;
        function run() {
            clearTimeout(timer);
            jQuery.ajax({url: "./triton/state", dataType: "json", cache: false})
                .done(function (state) {
                    try { render(state); } catch (e) { if (window.console) console.error(e); }
                })
                .always(function () { timer = setTimeout(run, POLL_MS); });
        }
        return {start: run, now: run};
    })();

    jQuery(function () {
        relabelForm();
        takeOverStart();
        selectTab();
        poll.start();
    });
})();
