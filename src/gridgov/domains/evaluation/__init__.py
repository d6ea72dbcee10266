"""Evaluation (评价一标准): base counts from the event log, indicators as data, rankings, bulletins, ledgers,
special supervision campaigns and the operation centre's dashboard. See docs/evaluation.md."""
