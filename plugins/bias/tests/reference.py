#!/usr/bin/env python3
"""Reference values for the bias plugin's test suite, from Fairlearn and AIF360.

The trace fixtures in fixtures/ are generated here from small tables of
(group, prediction, label, count) rows, so the data is easy to read and to
change. Every metric that tests/suite.yaml expects is recomputed with the
reference libraries on the same spans, read with the same rules as the
plugin (src/collect.rs, src/scalar.rs):

- a span counts when it has the group attribute with a string, integer or
  boolean value of 1 to 64 bytes, and a prediction that is a string, integer
  or boolean; booleans name groups `true`/`false`;
- outcomes compare as text with booleans read as 1 and 0; equal to
  positiveValue (labelPositiveValue for labels) is favourable (1), anything
  else unfavourable (0);
- groups with fewer than minSamplesPerGroup spans are left out; the error
  rates use the labelled spans of groups with at least minSamplesPerGroup
  labelled spans.

Usage (Python 3.10+, in a throwaway virtual environment):

    python -m venv /tmp/bias-venv
    /tmp/bias-venv/bin/pip install fairlearn==0.15.0 aif360==0.6.1 pyyaml
    /tmp/bias-venv/bin/python plugins/bias/tests/reference.py write   # regenerate fixtures/
    /tmp/bias-venv/bin/python plugins/bias/tests/reference.py check   # compare suite.yaml with the libraries
    /tmp/bias-venv/bin/python plugins/bias/tests/reference.py show FIXTURE [SETTINGS_JSON]

`check` fails when a metric the suite expects differs from the library's
value by more than 1e-12, or when the library has no value for it.
"""

import json
import logging
import math
import sys
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent
FIXTURES = HERE / "fixtures"

GROUP = "gen_ai.fairness.group"
PREDICTION = "gen_ai.fairness.prediction"
LABEL = "gen_ai.fairness.label"

# --------------------------------------------------------------- fixture data
#
# Each fixture: a list of rows (attributes, count); attributes map an
# attribute key to a typed value ("str", "int", "boolean", "float",
# "str-array") or are absent. Spans are interleaved round-robin across rows,
# the way traffic from several groups arrives.


def s(v):
    return {"type": "str", "value": v}


def i(v):
    return {"type": "int", "value": v}


def b(v):
    return {"type": "boolean", "value": v}


def f(v):
    return {"type": "float", "value": v}


def credit(group, prediction, label, n):
    attrs = {GROUP: s(group), PREDICTION: s(prediction)}
    if label is not None:
        attrs[LABEL] = i(label)
    return (attrs, n)


def outcome(group, prediction, label, n):
    attrs = {GROUP: s(group), PREDICTION: i(prediction)}
    if label is not None:
        attrs[LABEL] = i(label)
    return (attrs, n)


def hiring(band, shortlisted, hired, n):
    attrs = {"hr.applicant.age_band": i(band), "hr.shortlisted": b(shortlisted)}
    if hired is not None:
        attrs["hr.hired"] = b(hired)
    return (attrs, n)


DATA = {
    # Approval rates within four-fifths of each other: nothing to report.
    "credit-fair.json": ("credit-scorer-v3", [
        credit("under-25", "approved", 1, 21), credit("under-25", "approved", 0, 6),
        credit("under-25", "declined", 1, 8), credit("under-25", "declined", 0, 22),
        credit("25-60", "approved", 1, 33), credit("25-60", "approved", 0, 7),
        credit("25-60", "declined", 1, 9), credit("25-60", "declined", 0, 24),
        credit("25-60", "approved", None, 5),
        credit("over-60", "approved", 1, 17), credit("over-60", "approved", 0, 5),
        credit("over-60", "declined", 1, 6), credit("over-60", "declined", 0, 19),
    ]),
    # After a retrain, applicants under 25 are approved far less often.
    "credit-drift.json": ("credit-scorer-v4", [
        credit("under-25", "approved", 1, 12), credit("under-25", "approved", 0, 3),
        credit("under-25", "declined", 1, 19), credit("under-25", "declined", 0, 27),
        credit("25-60", "approved", 1, 34), credit("25-60", "approved", 0, 8),
        credit("25-60", "declined", 1, 7), credit("25-60", "declined", 0, 25),
        credit("over-60", "approved", 1, 20), credit("over-60", "approved", 0, 9),
        credit("over-60", "declined", 1, 5), credit("over-60", "declined", 0, 15),
    ]),
    # Integer groups, boolean outcomes, custom attribute names; band 1 has few
    # labels yet, band 2 little traffic.
    "hiring-bands.json": ("cv-ranker-1.2", [
        hiring(0, True, True, 14), hiring(0, True, False, 6),
        hiring(0, False, True, 5), hiring(0, False, False, 20),
        hiring(1, True, True, 7), hiring(1, True, False, 3),
        hiring(1, False, True, 2), hiring(1, False, False, 8),
        hiring(1, True, None, 10), hiring(1, False, None, 22),
        hiring(2, True, True, 3), hiring(2, False, False, 9),
    ]),
    # Group x has no negative labels (FPR 0 by Fairlearn's rule), group y no
    # positive labels (TPR 0), group w both.
    "missing-outcomes.json": ("fraud-v7", [
        outcome("x", 1, 1, 18), outcome("x", 0, 1, 14),
        outcome("y", 1, 0, 9), outcome("y", 0, 0, 27),
        outcome("w", 1, 1, 10), outcome("w", 0, 1, 10),
        outcome("w", 1, 0, 5), outcome("w", 0, 0, 15),
    ]),
    # No false positive anywhere: the FPR ratio is 0/0, and Fairlearn's
    # equalized_odds_ratio falls back to the TPR ratio.
    "no-false-positives.json": ("fraud-v8", [
        outcome("x", 1, 1, 15), outcome("x", 0, 1, 15), outcome("x", 0, 0, 10),
        outcome("y", 1, 1, 30), outcome("y", 0, 0, 12),
    ]),
    # The reference group is never selected: AIF360's disparate impact is
    # infinite and the plugin omits the metric.
    "reference-never-selected.json": ("tenant-screening-2", [
        outcome("p", 0, None, 30),
        outcome("q", 1, None, 12), outcome("q", 0, None, 23),
    ]),
    # Spans the plugin must skip or count as unlabelled, around usable ones.
    "unusable-attributes.json": ("credit-scorer-v3", [
        outcome("a", 1, None, 15), outcome("a", 0, None, 15),
        outcome("b", 1, None, 14), outcome("b", 0, None, 16),
        ({GROUP: s("a"), PREDICTION: f(0.9)}, 3),
        ({GROUP: s("b")}, 2),
        ({GROUP: {"type": "str-array", "value": ["a", "b"]}, PREDICTION: i(1)}, 1),
        ({GROUP: s("applicant-" + "0" * 60), PREDICTION: i(1)}, 1),
        ({PREDICTION: i(1)}, 4),
        ({GROUP: s("a"), PREDICTION: i(1), LABEL: f(1.0)}, 2),
    ]),
    # A group attribute with too many values (a misconfiguration).
    "many-groups.json": ("recommender", [
        outcome(f"g{k}", k % 2, None, 5) for k in range(1, 7)
    ]),
    # Traffic from a single group.
    "one-group.json": ("triage-v1", [
        outcome("only", 1, None, 26), outcome("only", 0, None, 14),
    ]),
    # Ordinary chat spans: no fairness attributes at all.
    "chat-no-fairness.json": ("llama-3-8b", [
        ({"gen_ai.system": s("vllm"), "gen_ai.response.finish_reasons": {"type": "str-array", "value": ["stop"]}}, 5),
    ]),
}


def spans_of(model, rows):
    """The rows as inference spans (gavel-core's JSON form), interleaved."""
    spans = []
    remaining = [n for _, n in rows]
    start = 1_735_689_600_000_000_000  # 2025-01-01T00:00:00Z
    while any(remaining):
        for k, (attrs, _) in enumerate(rows):
            if not remaining[k]:
                continue
            remaining[k] -= 1
            n = len(spans) + 1
            t = start + n * 250_000_000
            spans.append({
                "traceId": f"{n:032x}", "spanId": f"{n:016x}", "parentSpanId": None,
                "service": "decision-api", "namespace": "lending", "model": model,
                "operation": "chat", "startUnixNano": t, "endUnixNano": t + 180_000_000,
                "inputTokens": 420, "outputTokens": 3, "status": "ok", "gpuSamples": [],
                "attributes": [{"key": key, "value": value} for key, value in attrs.items()],
            })
    return spans


def write():
    FIXTURES.mkdir(exist_ok=True)
    for name, (model, rows) in DATA.items():
        # One span per line, so a change to the data reads as a short diff.
        lines = [json.dumps(span, separators=(",", ":")) for span in spans_of(model, rows)]
        (FIXTURES / name).write_text("[\n" + ",\n".join(lines) + "\n]\n")
        print(f"wrote fixtures/{name}")


# --------------------------------------------------------------- reading spans

DEFAULTS = {
    "groupAttribute": GROUP, "predictionAttribute": PREDICTION, "labelAttribute": LABEL,
    "positiveValue": 1, "labelPositiveValue": None, "minSamplesPerGroup": 30,
    "referenceGroup": None,
}


def outcome_key(value):
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, (int, str)):
        return str(value)
    return None


def typed_outcome_key(v):
    if v is None or v["type"] not in ("str", "int", "boolean"):
        return None
    return outcome_key(v["value"])


def typed_group_name(v):
    if v is None or v["type"] not in ("str", "int", "boolean"):
        return None
    value = v["value"]
    name = ("true" if value else "false") if isinstance(value, bool) else str(value)
    return name if 0 < len(name.encode()) <= 64 else None


def read(spans, settings):
    """(group, prediction 0/1, label 0/1 or None) per usable span, and how
    many spans had the group attribute but were not usable."""
    positive = outcome_key(settings["positiveValue"])
    label_value = settings["labelPositiveValue"]
    label_positive = positive if label_value is None else outcome_key(label_value)
    rows, skipped = [], 0
    for span in spans:
        attrs = {a["key"]: a["value"] for a in span["attributes"]}
        if settings["groupAttribute"] not in attrs:
            continue
        group = typed_group_name(attrs[settings["groupAttribute"]])
        prediction = typed_outcome_key(attrs.get(settings["predictionAttribute"]))
        if group is None or prediction is None:
            skipped += 1
            continue
        label = typed_outcome_key(attrs.get(settings["labelAttribute"])) if settings["labelAttribute"] else None
        rows.append((group, int(prediction == positive), None if label is None else int(label == label_positive)))
    return rows, skipped


# --------------------------------------------------------------- the libraries


def compute(spans, settings):
    """{(name, ((label, value), ...)): value} as Fairlearn and AIF360 compute it."""
    import numpy as np
    import pandas as pd
    from fairlearn import metrics as fl

    settings = {**DEFAULTS, **settings}
    rows, skipped = read(spans, settings)
    out = {}
    minimum = settings["minSamplesPerGroup"]
    count = {}
    labelled = {}
    for g, _, y in rows:
        count[g] = count.get(g, 0) + 1
        labelled[g] = labelled.get(g, 0) + (y is not None)
    # Counts: the reading rules above, not a library's.
    out[("spans_evaluated_count", ())] = len(rows)
    out[("spans_skipped_count", ())] = skipped
    out[("group_count", ())] = len(count)
    for g in count:
        out[("group_sample_count", (("group", g),))] = count[g]
        if settings["labelAttribute"]:
            out[("group_labelled_sample_count", (("group", g),))] = labelled[g]
    judged = sorted(g for g in count if count[g] >= minimum)

    sel = [(g, p) for g, p, _ in rows if g in judged]
    if sel:
        groups, y_pred = [g for g, _ in sel], [p for _, p in sel]
        frame = fl.MetricFrame(metrics=fl.selection_rate, y_true=y_pred, y_pred=y_pred,
                               sensitive_features=groups)
        out[("selection_rate", ())] = frame.overall
        for g, v in frame.by_group.items():
            out[("selection_rate", (("group", g),))] = v
        if len(judged) >= 2:
            out[("demographic_parity_difference", ())] = fl.demographic_parity_difference(
                y_pred, y_pred, sensitive_features=groups)
            out[("demographic_parity_ratio", ())] = fl.demographic_parity_ratio(
                y_pred, y_pred, sensitive_features=groups)

    err_groups = [g for g in judged if labelled[g] >= minimum]
    err = [(g, p, y) for g, p, y in rows if g in err_groups and y is not None]
    if err:
        groups = [g for g, _, _ in err]
        y_pred = [p for _, p, _ in err]
        y_true = [y for _, _, y in err]
        frame = fl.MetricFrame(
            metrics={"true_positive_rate": fl.true_positive_rate,
                     "false_positive_rate": fl.false_positive_rate},
            y_true=y_true, y_pred=y_pred, sensitive_features=groups)
        for name in ("true_positive_rate", "false_positive_rate"):
            out[(name, ())] = frame.overall[name]
            for g, v in frame.by_group[name].items():
                out[(name, (("group", g),))] = v
        if len(err_groups) >= 2:
            kw = {"sensitive_features": groups}
            out[("equalized_odds_difference", ())] = fl.equalized_odds_difference(y_true, y_pred, **kw)
            out[("equalized_odds_ratio", ())] = fl.equalized_odds_ratio(y_true, y_pred, **kw)
            out[("equal_opportunity_difference", ())] = fl.equal_opportunity_difference(y_true, y_pred, **kw)
            out[("equal_opportunity_ratio", ())] = fl.equal_opportunity_ratio(y_true, y_pred, **kw)

    reference = settings["referenceGroup"]
    if reference is not None and sel:
        from aif360.datasets import BinaryLabelDataset
        from aif360.metrics import BinaryLabelDatasetMetric

        reference = typed_group_name({"type": "boolean" if isinstance(reference, bool) else "str",
                                      "value": reference})
        if reference in judged:
            code = {g: k for k, g in enumerate(judged)}
            # AIF360's classification metrics condition on predictions; a
            # dataset whose labels are the predictions gives the same
            # statistical_parity_difference and disparate_impact.
            frame = pd.DataFrame({"group": [code[g] for g, _ in sel], "prediction": [p for _, p in sel]})
            dataset = BinaryLabelDataset(df=frame, label_names=["prediction"],
                                         protected_attribute_names=["group"],
                                         favorable_label=1, unfavorable_label=0)
            for g in judged:
                if g == reference:
                    continue
                metric = BinaryLabelDatasetMetric(dataset, unprivileged_groups=[{"group": code[g]}],
                                                  privileged_groups=[{"group": code[reference]}])
                labels = (("group", g), ("reference", reference))
                out[("statistical_parity_difference", labels)] = metric.statistical_parity_difference()
                out[("disparate_impact_ratio", labels)] = metric.disparate_impact()

    # The plugin omits what has no finite value; so does this table.
    return {k: float(v) for k, v in out.items() if np.isfinite(v)}


def load(name):
    return json.loads((FIXTURES / name).read_text())


def show(fixture, settings):
    for (name, labels), value in sorted(compute(load(fixture), settings).items()):
        line = f"        - {{name: {name}, value: {value!r}"
        if labels:
            line += ", labels: {" + ", ".join(f"{k}: \"{v}\"" for k, v in labels) + "}"
        else:
            line += ", labels: {}"
        print(line + "}")


def check():
    import yaml

    suite = yaml.safe_load((HERE / "suite.yaml").read_text())
    failures, checked = [], 0
    for case in suite["cases"]:
        if "traces" not in case or case["expect"]["decision"] == "error":
            continue
        settings = case.get("settings", suite.get("settings", {}))
        fixture = case["traces"].removeprefix("fixtures/")
        want = compute(load(fixture), settings)
        for m in case["expect"].get("metrics", []):
            checked += 1
            if m.get("labels") is None:
                failures.append(f"{case['name']}: metric {m['name']} has no `labels`; give them, `{{}}` for none")
                continue
            key = (m["name"], tuple(sorted(m["labels"].items())))
            if key not in want:
                failures.append(f"{case['name']}: {key}: the libraries give no value")
            elif abs(want[key] - m["value"]) > 1e-12:
                failures.append(f"{case['name']}: {key}: suite says {m['value']!r}, libraries {want[key]!r}")
    for line in failures:
        print(line)
    print(f"{checked - len(failures)} passed, {len(failures)} failed")
    return not failures


def main():
    logging.disable(logging.WARNING)  # aif360's notes about optional extras
    warnings.filterwarnings("ignore")
    command = sys.argv[1] if len(sys.argv) > 1 else "check"
    if command == "write":
        write()
    elif command == "show":
        show(sys.argv[2], json.loads(sys.argv[3]) if len(sys.argv) > 3 else {})
    elif command == "check":
        sys.exit(0 if check() else 1)
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
