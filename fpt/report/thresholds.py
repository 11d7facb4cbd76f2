"""A threshold as judged, in words: what was measured, or why nothing was."""

from __future__ import annotations

from fpt.config.thresholds import Threshold, ThresholdOutcome, Unmeasurable, Unmeasured


def threshold_words(t: ThresholdOutcome) -> str:
    """One threshold as judged: ``p90<300ms: measured 250.0ms ok``, or why it was not measured."""
    u = t.unmeasured
    if t.measured is not None:
        return f"{t.expr}: measured {t.threshold.show(t.measured)} {'ok' if t.passed else 'FAILED'}"
    if u is None:  # not made by fpt's evaluator: nothing says why
        return f"{t.expr}: not evidenced"
    if u.why is Unmeasurable.WRITTEN:
        return u.words
    return f"{t.expr}: not evidenced ({unmeasured_words(t.threshold, u)})"


def unmeasured_words(th: Threshold, u: Unmeasured) -> str:
    """Why ``th`` has no measured value."""
    window = f"seconds {u.start:g}-{u.end:g}"
    words = {
        Unmeasurable.NO_ITERATION_DUE: "no iteration was due",
        Unmeasurable.NO_ITERATION_COMPLETED: "no iteration completed",
        Unmeasurable.STEP_NEVER_RAN: f"step '{th.step}' never ran",
        Unmeasurable.NOT_A_WINDOW_METRIC: f"{th.metric} is not judged on a window of seconds",
        Unmeasurable.NONE_DUE_IN_HELD_STAIRS: f"no iteration was due in the stairs that held ({window})",
        Unmeasurable.NOTHING_FINISHED_IN_HELD_STAIRS: f"nothing finished in the stairs that held ({window})",
        Unmeasurable.NO_SERVICE_SAMPLED: "no service resources sampled (set service_pids or metrics_url, "
                                         "or pass service_pid=)",
        Unmeasurable.SERVICE_EXITED: f"{u.source} exited at {u.seconds:.0f}s: its memory trend is cut short",
        Unmeasurable.SHORT_SPAN: f"service RSS samples span {u.seconds:.0f}s, under soak_min_span "
                                 f"{u.needed:g}s",
        Unmeasurable.NO_VOLUME_RUN: "no volume run (seed_volume=)",
        Unmeasurable.VOLUME_SEEDING_FAILED: f"volume p90 growth not shown: seeding {u.volume} failed for "
                                            f"{u.failures} users, e.g. {u.source}",
        Unmeasurable.TOO_FEW_VOLUMES: "volume p90 growth not shown (two volumes with a p90 each are needed)",
        Unmeasurable.MERGED_NOT_JUDGED: "merged, not judged yet",
        Unmeasurable.WRITTEN: u.words,
    }
    return words[u.why]
