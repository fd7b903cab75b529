"""The outcome monitor: realised precision of a served model, one lookahead late.

A candidate's outcome is known one label lookahead after the decision, from the
same price records the labels are made of. So a recent export, labelled with
the model's own label parameters and scored with its served variant, tells
whether the gate still delivers the precision it promised on its test split,
even when the inputs look unchanged (a change in the features→outcome
relationship that input drift cannot see).

Modules, one concept each:

* figures: the figures of one group of scored, labelled rows (approvals,
  precision, expected precision, ECE, AUC, log-loss);
* bootstrap: the time-block bootstrap that gives precision an honest interval;
* window: recent records → labelled candidates (the model's label parameters);
* served: the model directory as infer loads it, its thresholds, its promise;
* evaluate: score a model directory on a window → figures, overall and per symbol;
* verdict: realised vs promised → healthy / degraded, and for whom;
* compare: champion vs challenger on one window (for a deploy check);
* promise: the test-split figures and per-symbol thresholds `train fit` stores;
* render: the table, the JSON document and the Prometheus textfile;
* cli: `train monitor`.
"""
